"""Crash anywhere, PostgreSQL (issue 17; DESIGN §3, §9): three ``brahmi worker``s and a
``brahmi serve`` on one database, each SIGKILLed and restarted at random, and the database
cut for a moment (its connections dropped, as a restart does) halfway through.

The scenario is the one of ``test_crash_sqlite`` (tests/faults/scenarios.py), submitted by
``brahmi run --no-workers``. The workers and the server reach PostgreSQL through a TCP
proxy (tests/acceptance/test_database_outage.py) that the test stops and starts: the
machine's PostgreSQL server itself is never restarted. Skipped without
``BRAHMI_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from tests.acceptance.test_database_outage import Proxy
from tests.acceptance.test_serve import START_S, free_port
from tests.faults import checks, scenarios

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

KILLS = 8
SEED = 1717
#: How long the database stays cut, in seconds (the fault itself, not a wait for state).
OUTAGE_S = 2.0


def healthy(url: str) -> bool:
    """Whether ``url`` answers 200 within ``START_S``: the server may have been killed and
    restarted just before the plan settled, and be starting still."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[Proxy]:
    url = make_url(postgres_url)
    running = Proxy((url.host or "127.0.0.1", url.port or 5432))
    running.start()
    yield running
    running.stop()


@pytest.mark.timeout(300)
def test_workers_and_server_killed_at_random_finish_every_task_exactly_once(
    brahmi_exe: Path, postgres_url: str, proxy: Proxy, tmp_path: Path
) -> None:
    world = scenarios.write_world(tmp_path / "world", brahmi_exe, SEED, postgres_url)
    via_proxy = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    cluster = scenarios.Cluster(world, via_proxy.render_as_string(hide_password=False), free_port())

    def outage() -> None:
        proxy.stop()
        time.sleep(OUTAGE_S)
        proxy.start()

    try:
        report = scenarios.crash_cluster(
            cluster,
            KILLS,
            rng=random.Random(SEED),
            outage=outage,
        )
        assert report.exit_code == 0, cluster.logs()
        assert report.kills == KILLS, report
        assert healthy(f"http://127.0.0.1:{cluster.serve_port}/healthz"), cluster.logs()
    finally:
        cluster.stop()

    engine = create_engine(postgres_url)
    try:
        with engine.connect() as db:
            assert checks.check_rows(db, world, integrity=False, contiguous=False) == []
    finally:
        engine.dispose()
