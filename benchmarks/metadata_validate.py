"""``brahmi metadata validate`` on a 200-service ``aramb.toml`` (DESIGN §11).

Writes a valid file of ``--services`` services in groups of five, as the reference
example's shape: a PostgreSQL database with vars and an empty secret, a build service,
a backend whose image, vars and secret refer to the two before it, a second build, and
a frontend whose ``staticPath`` refers to it, plus a ``[config_status]`` naming every
database. Then times, each ``--repeat`` times after one warm-up:

- **validate_file**: ``brahmi.metadata.files.validate_file`` (read, ``tomllib`` parse,
  every rule, line numbers), which is what the command does after start-up;
- **parse** and **check** alone (``files.parse``: ``tomli``, compiled; ``rules.check``),
  and the standard library's ``tomllib.loads`` for comparison;
- with ``--cli``, the whole ``brahmi metadata validate FILE`` process, for reference
  (interpreter start-up included).

Prints medians and p99 in ms against the target (validate_file p50 <= 50 ms).

    python -m benchmarks.metadata_validate [--services 200] [--repeat 50] [--cli] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from brahmi.metadata import files, rules

TARGET_MS = 50.0


def service_file(count: int) -> str:
    """A valid aramb.toml of ``count`` services (a multiple of 5)."""
    out: list[str] = []
    for group in range(count // 5):
        base = 100 + group * 5
        db, api_build, api, web_build, web = range(base, base + 5)
        out.append(f"""
[[services]]
uniqueIdentifier = {db}
name = "db-{group}"
type = "postgres"
applicationID = "{{applicationID}}"

[services.configuration.settings]
image = "postgres:16"

[[services.configuration.vars]]
key = "POSTGRES_DB"
value = "app{group}"

[[services.configuration.vars]]
key = "POSTGRES_USER"
value = "app{group}"

[[services.configuration.secrets]]
key = "POSTGRES_PASSWORD"
value = ""

[[services]]
uniqueIdentifier = {api_build}
name = "api-{group}-build"
type = "build"
applicationID = "{{applicationID}}"

[services.configuration.settings]
repoUrl = "https://github.com/acme/app{group}"
buildPath = "services/api-{group}"
targetBranches = ["main"]
installationId = ""
installCommand = "pip install -r requirements.txt"

[[services]]
uniqueIdentifier = {api}
name = "api-{group}"
type = "backend"
applicationID = "{{applicationID}}"

[services.configuration.settings]
image = "${{{api_build}.outputs.IMAGE_URL}}"
cmd = "uvicorn app.main:app --host 0.0.0.0 --port 8000"
commandPort = 8000
publicNet = true
healthCheckPath = "/health"

[[services.configuration.vars]]
key = "DB_NAME"
value = "${{{db}.vars.POSTGRES_DB}}"

[[services.configuration.vars]]
key = "DB_USER"
value = "${{{db}.vars.POSTGRES_USER}}"

[[services.configuration.vars]]
key = "LOG_LEVEL"
value = "info"

[[services.configuration.secrets]]
key = "DB_PASSWORD"
value = "${{{db}.secrets.POSTGRES_PASSWORD}}"

[[services]]
uniqueIdentifier = {web_build}
name = "web-{group}-build"
type = "build"
applicationID = "{{applicationID}}"

[services.configuration.settings]
repoUrl = "https://github.com/acme/app{group}"
buildPath = "web/{group}"
targetBranches = ["main", "release"]
installationId = ""
buildCommand = "npm run build"
outputPath = "dist"

[[services]]
uniqueIdentifier = {web}
name = "web-{group}"
type = "frontend"
applicationID = "{{applicationID}}"

[services.configuration.settings]
staticPath = "${{{web_build}.outputs.PATH}}"
cmd = "npx serve -s . -l 3000"
commandPort = 3000
publicNet = true
""")
    databases = ", ".join(str(100 + g * 5) for g in range(count // 5))
    out.append(f"""
[config_status]
status = "incomplete"
incomplete = [{databases}]
message = "Fill in every POSTGRES_PASSWORD."
""")
    return "".join(out).lstrip()


def timed(func: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of ``repeat`` calls, after one warm-up call."""
    func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return times


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def report(name: str, times: list[float], target: float | None = None) -> None:
    median = statistics.median(times)
    verdict = ""
    if target is not None:
        verdict = f"  target <= {target:.0f} ms: {'met' if median <= target else 'MISSED'}"
    print(f"{name:<17} p50 {median:8.2f} ms   p99 {p99(times):8.2f} ms{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=200, help="a multiple of 5")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--cli", action="store_true", help="also time the brahmi process")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one run")
    args = parser.parse_args()
    text = service_file(args.services)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "aramb.toml"
        path.write_text(text, encoding="utf-8")
        document = tomllib.loads(text)
        assert len(document["services"]) == args.services
        problems = files.validate_file(path)
        assert problems == [], problems[:3]
        print(
            f"aramb.toml: {args.services} services, {len(text.splitlines())} lines, "
            f"{len(text.encode()) / 1024:.0f} KiB; {args.repeat} runs each"
        )
        report("validate_file", timed(lambda: files.validate_file(path), args.repeat), TARGET_MS)
        report("parse", timed(lambda: files.parse(text), args.repeat))
        report("parse (tomllib)", timed(lambda: tomllib.loads(text), args.repeat))
        report("check", timed(lambda: rules.check(document), args.repeat))
        if args.cli:
            exe = Path(sys.executable).with_name("brahmi")
            argv = [str(exe), "metadata", "validate", str(path)]
            runs = max(3, args.repeat // 10)
            report(
                "cli process",
                timed(lambda: subprocess.run(argv, check=True, capture_output=True), runs),
            )
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(files.validate_file, path)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(15)


if __name__ == "__main__":
    main()
