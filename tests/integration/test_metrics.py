"""``GET /metrics`` (DESIGN §9, issue 14): Prometheus text that matches the database.

A small plan runs on the real engine (scripted agents, a correctness loop that passes and
one that runs out of rebuilds, an agent failure); the scrape, parsed with the client
library's own parser, must say what the tables say. Requests go through
``httpx.ASGITransport``; "another machine" is the client address ``10.0.0.5``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from brahmi.api.app import create_app
from brahmi.config import Settings
from brahmi.domain.models import TERMINAL_STATUSES, TaskStatus
from brahmi.metrics import registry_for
from brahmi.service import Brahmi
from brahmi.testing import Fail, ScriptedRuntime
from tests.integration.support import create, settle, spec

BASE = "http://127.0.0.1:8421"
LOOPBACK = ("127.0.0.1", 50000)
ELSEWHERE = ("10.0.0.5", 50000)


@pytest.fixture
def database_url(either_database: str | None) -> str | None:
    """The scrape is checked on SQLite and on PostgreSQL."""
    return either_database


class Scraper:
    """``GET /metrics`` on one app, from one client address."""

    def __init__(self, brahmi: Brahmi, client: tuple[str, int] = LOOPBACK) -> None:
        self.runner = asyncio.Runner()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(brahmi), client=client), base_url=BASE
        )

    def get(self, token: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return self.runner.run(self.http.get("/metrics", headers=headers))

    def samples(self) -> dict[str, list[Sample]]:
        response = self.get()
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        return parse(response.text)

    def close(self) -> None:
        self.runner.run(self.http.aclose())
        self.runner.close()


@pytest.fixture
def scraper(brahmi: Brahmi) -> Iterator[Scraper]:
    client = Scraper(brahmi)
    yield client
    client.close()


def parse(text: str) -> dict[str, list[Sample]]:
    """Every sample of the exposition, by sample name (``…_total``, ``…_bucket``…)."""
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def by(samples: list[Sample], *labels: str) -> dict[tuple[str, ...], float]:
    """Sample values keyed by the values of ``labels``, zeros left out."""
    return {tuple(s.labels[k] for k in labels): s.value for s in samples if s.value}


def value(samples: dict[str, list[Sample]], name: str, **labels: str) -> float:
    """The one sample of ``name`` with ``labels``."""
    [found] = [s for s in samples[name] if all(s.labels.get(k) == v for k, v in labels.items())]
    return found.value


def qa_spec(uid: int, name: str, dep: int, **extra: Any) -> dict[str, Any]:
    return spec(uid, name, dep, inputs={"critiques_tasks": [dep]}, order=2, **extra)


def failing(what: str) -> dict[str, Any]:
    return {"verdict": "fail", "feedback_for_rebuild": {"summary": what, "issues": [what]}}


def run_plan(brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path) -> str:
    """A plan with a loop that passes on its 2nd turn, one that exhausts its rebuilds, a
    task downstream of it (blocked) and an agent failure; returns the project id."""
    runtime.enqueue("Test the api", failing("login broken"), {"verdict": "pass"})
    runtime.enqueue("Test the ui", failing("menu broken"), failing("footer broken"))
    runtime.enqueue("Flaky", Fail("it broke"))
    batch_id, _ = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            qa_spec(2, "Test the api", 1),
            spec(3, "Build the ui"),
            qa_spec(4, "Test the ui", 3, max_rebuilds=1),
            spec(5, "Deploy", 4, order=3),
            spec(6, "Flaky"),
        ],
    )
    settle(brahmi, batch_id)
    return brahmi.project_for(workspace).id


# -- the scrape matches the database ---------------------------------------------------------


def test_the_scrape_counts_what_the_database_holds_after_a_plan_runs(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path, scraper: Scraper
) -> None:
    scraper.samples()  # the first scrape starts following the event log
    project_id = run_plan(brahmi, runtime, workspace)

    samples = scraper.samples()

    tasks = brahmi.list_tasks(project_id=project_id)
    stored = Counter((t.status.value, t.runtime or "") for t in tasks)
    assert by(samples["brahmi_tasks"], "status", "runtime") == {
        k: float(n) for k, n in stored.items()
    }
    assert {s.labels["status"] for s in samples["brahmi_tasks"]} == {s.value for s in TaskStatus}
    assert stored[("failed", tasks[0].runtime or "")] == 2  # "Test the ui" and "Flaky"

    attempts = [a for t in tasks for a in brahmi.store.attempts_for(t.id)]
    runtime_of = {a.executor or "" for a in attempts}
    assert sum(by(samples["brahmi_attempts_started_total"], "runtime").values()) == len(attempts)
    assert by(samples["brahmi_attempts_finished_total"], "status") == {
        (status,): float(n) for status, n in Counter(a.status for a in attempts).items()
    }
    failed = [a for a in attempts if a.status in ("failed", "expired")]
    assert len(failed) == 4  # three ``fail`` verdicts and "Flaky"
    assert sum(by(samples["brahmi_attempts_failed_total"], "runtime").values()) == len(failed)
    assert {s.labels["runtime"] for s in samples["brahmi_attempts_started_total"]} == runtime_of

    turns = Counter(
        h.data["outcome"]
        for t in tasks
        for h in brahmi.store.history_for(t.id)
        if h.kind == "verdict"
    )
    assert turns == {"pass": 1, "fail": 2, "max_rebuilds_exceeded": 1}
    assert by(samples["brahmi_loop_turns_total"], "outcome") == {
        (outcome,): float(n) for outcome, n in turns.items()
    }

    usage = brahmi.usage.totals(project_id=project_id)
    assert usage.cost_usd > 0
    assert sum(s.value for s in samples["brahmi_cost_usd_total"]) == pytest.approx(usage.cost_usd)
    assert by(samples["brahmi_tokens_total"], "kind", "direction") == {
        ("attempt", "input"): usage.input_tokens,
        ("attempt", "output"): usage.output_tokens,
    }


def test_the_histograms_observe_every_claim_and_every_run_since_the_first_scrape(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path, scraper: Scraper
) -> None:
    scraper.samples()
    project_id = run_plan(brahmi, runtime, workspace)

    samples = scraper.samples()

    tasks = brahmi.list_tasks(project_id=project_id)
    attempts = [a for t in tasks for a in brahmi.store.attempts_for(t.id)]
    assert value(samples, "brahmi_dispatch_latency_seconds_count") == len(attempts)
    assert value(samples, "brahmi_dispatch_latency_seconds_bucket", le="+Inf") == len(attempts)
    assert value(samples, "brahmi_attempt_duration_seconds_count") == len(attempts)
    settled = Counter(
        e.data["to"]
        for t in tasks
        for e in brahmi.store.events(task_id=t.id)
        if e.kind == "status_changed"
        and e.data.get("from") == "running"
        and e.data["to"] in {s.value for s in TERMINAL_STATUSES}
    )
    assert settled["completed"] >= len(tasks) - 3  # rebuilt tasks complete more than once
    for status in TERMINAL_STATUSES:
        observed = value(samples, "brahmi_task_duration_seconds_count", status=status.value)
        assert observed == settled[status.value]

    # Nothing ran since: the next scrape reads no new event and counts the same.
    again = scraper.samples()
    assert value(again, "brahmi_dispatch_latency_seconds_count") == len(attempts)


def test_waiting_planner_triggers_and_worker_heartbeats_come_from_the_database(
    brahmi: Brahmi, workspace: Path, scraper: Scraper
) -> None:
    project_id = brahmi.project_for(workspace).id
    brahmi.post_message(project_id, "Plan a small website")
    now = brahmi.clock.now()
    for worker_id, heard_at in (("host-a:1:x", now - 1.0), ("host-b:2:y", now - 3600.0)):
        brahmi.store.register_worker(
            worker_id, host=worker_id.split(":")[0], pid=1, runtimes=None, concurrency=2, now=now
        )
        brahmi.store.touch_worker(worker_id, now=heard_at)

    samples = scraper.samples()

    assert by(samples["brahmi_planner_triggers_waiting"], "status", "kind") == {
        ("pending", "user_message"): 1.0
    }
    assert value(samples, "brahmi_planner_trigger_oldest_wait_seconds") >= 0.0
    assert value(samples, "brahmi_workers_live") == 1
    assert value(samples, "brahmi_workers_silent") == 1
    [age] = samples["brahmi_worker_heartbeat_age_seconds"]
    assert age.labels == {"worker": "host-a:1:x", "host": "host-a"}
    assert age.value >= 1.0
    assert value(samples, "brahmi_database_up") == 1


# -- access ------------------------------------------------------------------------------------


def test_loopback_without_tokens_is_open_and_other_machines_need_a_token_for_every_project(
    brahmi: Brahmi, workspace: Path
) -> None:
    project_id = brahmi.project_for(workspace).id
    local, remote = Scraper(brahmi), Scraper(brahmi, ELSEWHERE)
    try:
        assert local.get().status_code == 200
        refused = remote.get()
        assert refused.status_code == 401
        assert refused.json()["error"] == "unauthorized"

        global_reader, _ = brahmi.tokens.create(now=brahmi.clock.now(), read_only=True)
        one_project, _ = brahmi.tokens.create(now=brahmi.clock.now(), project_id=project_id)
        allowed = remote.get(global_reader)
        assert allowed.status_code == 200
        assert "brahmi_tasks" in {f.name for f in text_string_to_metric_families(allowed.text)}
        assert remote.get(one_project).json()["error"] == "forbidden"
        assert remote.get("brahmi_not-a-token").status_code == 401
        # With a token configured, even a loopback caller must show one.
        assert local.get().status_code == 401
        assert local.get(global_reader).status_code == 200
    finally:
        local.close()
        remote.close()


# -- an unreachable database -------------------------------------------------------------------


def test_a_scrape_that_cannot_reach_the_database_says_so_and_counts_a_database_error(
    tmp_path: Path,
) -> None:
    settings = Settings(
        home=tmp_path / "home", database_url="postgresql+psycopg://brahmi@127.0.0.1:1/nothing"
    )
    registry = registry_for(Brahmi(settings))

    first = parse(generate_latest(registry).decode())
    samples = parse(generate_latest(registry).decode())

    assert value(samples, "brahmi_database_up") == 0
    errors_before = value(first, "brahmi_database_errors_total", component="metrics")
    assert errors_before >= 1
    assert value(samples, "brahmi_database_errors_total", component="metrics") == errors_before + 1
    assert "brahmi_tasks" not in samples
    assert "process_cpu_seconds_total" in samples or "python_info" in samples
