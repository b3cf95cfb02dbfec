"""``brahmi deploy`` on the local target, from source: time to the first 200.

The clock starts when ``brahmi deploy DIR`` is started as a process and stops when the
public URL it prints first answers ``GET /`` with 200 (the command itself only prints the
URL once its own probe passed). Also printed: when the command exited, and the in-process
``deploy_project`` call alone (no Python start-up). Each deployment is stopped before the
next run. One untimed deploy first installs what the project installs (a build's
``pip install`` into its virtualenv); the timed runs skip the unchanged install, so the
figure excludes dependency installs, as the target says.

The project is ``--project`` (e.g. ``examples/todo-api``), or by default a generated one
like the tests': PostgreSQL mapped to 127.0.0.1:5432, a stdlib HTTP backend run from its
build folder, a build service writing static files and a frontend serving them.

Target: ≤ 5 s from source.

    python -m benchmarks.deploy_local [--repeat 5] [--project DIR]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.acceptance.test_deploy import BACKEND, FRONTEND, HEAD, backend, project

from brahmi.deploy import api

TARGET_S = 5.0
#: Paths whose first 200 counts.
PATHS = ("/", "/health", "/healthz")
#: Longest a run may take before the benchmark gives up, seconds.
RUN_LIMIT_S = 120.0


def first_200(url: str, deadline: float) -> float:
    """Poll ``GET url`` on ``/`` and the usual health paths until one answers 200 (a
    backend may answer only its health route); the monotonic time it did."""
    parts = urlsplit(url)
    while time.monotonic() < deadline:
        for path in PATHS:
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=2)
            try:
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    return time.monotonic()
            except OSError:
                pass
            finally:
                conn.close()
        time.sleep(0.005)
    raise RuntimeError(f"{url} never answered 200")


def cli_run(brahmi: Path, root: Path, home: Path) -> tuple[float, float]:
    """One ``brahmi deploy``: (seconds to the first 200, seconds to the command's exit)."""
    env = {**os.environ, "BRAHMI_HOME": str(home)}
    start = time.monotonic()
    proc = subprocess.Popen(
        [str(brahmi), "deploy", str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
    )
    assert proc.stdout is not None
    url = None
    for line in proc.stdout:
        if line.startswith("PUBLIC_URL: "):
            url = line.split(" ", 1)[1].strip()
            break
    if url is None:
        raise RuntimeError(f"brahmi deploy failed: {proc.communicate()[1]}")
    try:
        ready = first_200(url, start + RUN_LIMIT_S)
        proc.communicate(timeout=RUN_LIMIT_S)
        exited = time.monotonic()
    finally:
        subprocess.run(
            [str(brahmi), "deploy", "stop", str(root)], env=env, check=True, capture_output=True
        )
    return ready - start, exited - start


def in_process_run(root: Path, home: Path) -> float:
    """One ``deploy_project`` call in this process, to the first 200."""
    start = time.monotonic()
    deployment = api.deploy_project(root, home=home)
    assert deployment.public_url
    try:
        ready = first_200(deployment.public_url, start + RUN_LIMIT_S)
    finally:
        api.stop_deployment(root, home=home)
    return ready - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--project", type=Path, help="a project with an aramb.toml")
    args = parser.parse_args()
    brahmi = Path(sys.executable).with_name("brahmi")
    with tempfile.TemporaryDirectory(prefix="brahmi-deploy-bench-") as tmp:
        base = Path(tmp)
        root = (args.project or project(base, HEAD + backend() + FRONTEND, BACKEND)).resolve()
        home = base / "home"
        # Untimed: installs dependencies (a pip install into the build's virtualenv) once.
        cli_run(brahmi, root, home)
        cli_ready, cli_exit, inproc = [], [], []
        for _ in range(args.repeat):
            ready, exited = cli_run(brahmi, root, home)
            cli_ready.append(ready)
            cli_exit.append(exited)
            inproc.append(in_process_run(root, home))
    print(f"project: {args.project or 'generated (db + build + backend + build + frontend)'}")
    print(f"runs: {args.repeat} (median, min-max)")
    for label, values in [
        ("brahmi deploy → first 200 from PUBLIC_URL", cli_ready),
        ("brahmi deploy → command exited", cli_exit),
        ("deploy_project() in process → first 200", inproc),
    ]:
        print(
            f"  {label:<45} {statistics.median(values):6.2f} s "
            f"({min(values):.2f}-{max(values):.2f})"
        )
    verdict = "met" if statistics.median(cli_ready) <= TARGET_S else "MISSED"
    print(f"target ≤ {TARGET_S:g} s from source: {verdict}")


if __name__ == "__main__":
    main()
