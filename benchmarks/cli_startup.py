"""Whole-process times of three commands, optionally interleaved with another checkout.

Times, with ``time.perf_counter`` around ``subprocess.run`` (and the child's CPU time),
``--repeat`` rounds of:

- ``brahmi run`` of the 100-task chain with ``--executor noop`` on a new ``BRAHMI_HOME``
  (output to a pipe);
- ``brahmi --help``;
- ``brahmi tasks list`` on a home holding that chain's 100 tasks.

With ``--other DIR`` (another checkout with its own ``.venv``, e.g. a worktree of the
commit before a change), each round runs the same commands with that checkout's
``brahmi`` too, interleaved, so both see the same load. ``PYTHONDONTWRITEBYTECODE`` is
removed from the children's environment: an installed Brahmi has its bytecode compiled.

    python -m benchmarks.cli_startup [--repeat 5] [--other ../main-before]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter

from benchmarks._shapes import chain

HERE = Path(sys.executable).with_name("brahmi")


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = perf_counter()
    subprocess.run(command, env=env, capture_output=True, check=True)
    wall = perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds (median and best)")
    parser.add_argument("--other", type=Path, help="another checkout with a .venv to compare")
    args = parser.parse_args()
    brahmis = {"this": HERE}
    if args.other is not None:
        brahmis["other"] = args.other.resolve() / ".venv" / "bin" / "brahmi"
    base_env = {
        k: v
        for k, v in os.environ.items()
        if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("BRAHMI_")
    }
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        plan = root / "chain.json"
        plan.write_text(json.dumps(chain(100)), encoding="utf-8")
        homes = {}
        for name, brahmi in brahmis.items():  # a home with 100 tasks, for tasks list
            homes[name] = root / f"listed-{name}"
            env = {**base_env, "BRAHMI_HOME": str(homes[name])}
            run = [str(brahmi), "run", str(plan), "--executor", "noop", "--project", scratch]
            subprocess.run(run, env=env, capture_output=True, check=True)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for round_ in range(args.repeat):
            for name, brahmi in brahmis.items():
                fresh = root / f"fresh-{name}-{round_}"
                commands = {
                    "run chain 100, new home": (
                        [str(brahmi), "run", str(plan), "--executor", "noop", "--project", scratch],
                        fresh,
                    ),
                    "--help": ([str(brahmi), "--help"], homes[name]),
                    "tasks list (100 tasks)": ([str(brahmi), "tasks", "list"], homes[name]),
                }
                for label, (command, home) in commands.items():
                    env = {**base_env, "BRAHMI_HOME": str(home)}
                    results.setdefault((label, name), []).append(_timed(command, env))
    print(f"median (best) of {args.repeat}; this = {HERE}")
    for (label, name), runs in results.items():
        wall = [w for w, _ in runs]
        cpu = [c for _, c in runs]
        print(
            f"{label:<24} {name:<6} wall {statistics.median(wall):.3f} s ({min(wall):.3f})"
            f"   cpu {statistics.median(cpu):.3f} s ({min(cpu):.3f})"
        )


if __name__ == "__main__":
    main()
