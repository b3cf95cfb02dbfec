"""Brahmi beside Dask on the same three shapes, runs interleaved, with the ratio.

For each shape of :mod:`benchmarks._shapes`, alternately: one Brahmi run exactly as
``engine_throughput`` measures it (durable: every completion committed to SQLite before the
clock stops; the batch stored before it starts), and one Dask run of the same graph built
from ``dask.delayed`` no-op functions, computed with the threaded scheduler (in memory,
nothing durable; the graph built before the clock starts). Prints the median of
``--repeat`` runs of each and Brahmi ÷ Dask in tasks/s. Interleaving puts both under the
same load on a shared machine.

``--whole-process`` also times whole processes, ``--repeat`` of each, interleaved: ``brahmi
run`` of the 100-task chain with ``--executor noop`` on a fresh ``BRAHMI_HOME`` (output to
a pipe), and a Python script that imports Dask, builds the same chain and computes it.

Needs the ``bench`` extra (``pip install -e '.[bench]'``).

    python -m benchmarks.peer_dask [--repeat 5] [--concurrency 16] [--whole-process]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._shapes import SHAPES, chain
from benchmarks.engine_throughput import measure_with_cpu

BRAHMI = str(Path(sys.executable).with_name("brahmi"))
#: The whole-process Dask script: import, build the 100-task chain, compute it.
DASK_CHAIN_SCRIPT = """
import dask
from dask import delayed

def step(*_):
    return None

node = delayed(step)()
for _ in range(99):
    node = delayed(step)(node)
dask.compute(node, scheduler="threads")
"""


def _noop(*_: Any) -> None:
    return None


def dask_graph(tasks: list[dict[str, Any]]) -> list[Any]:
    """The shape's tasks as ``dask.delayed`` calls, each on its dependencies' results."""
    from dask.delayed import delayed

    built: dict[int, Any] = {}
    for spec in tasks:  # specs come in dependency order
        deps = [built[d] for d in spec["logical_dependencies"]]
        built[spec["unique_id"]] = delayed(_noop, pure=False)(*deps)
    return list(built.values())


def measure_dask(shape: str) -> tuple[float, float]:
    """Wall and CPU seconds of computing one ``shape`` graph on Dask's threads."""
    from dask.base import compute

    graph = dask_graph(SHAPES[shape]())
    cpu = time.process_time()
    started = time.perf_counter()
    compute(*graph, scheduler="threads")  # type: ignore[no-untyped-call]
    return time.perf_counter() - started, time.process_time() - cpu


def _timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def whole_process(repeat: int) -> None:
    """Interleaved whole-process runs: ``brahmi run`` of the chain and the Dask script."""
    with tempfile.TemporaryDirectory() as scratch:
        plan = Path(scratch) / "chain.json"
        plan.write_text(json.dumps(chain(100)), encoding="utf-8")
        brahmi_s: list[float] = []
        dask_s: list[float] = []
        for n in range(repeat + 1):
            home = Path(scratch) / f"home-{n}"
            env = {**os.environ, "BRAHMI_HOME": str(home)}
            command = [BRAHMI, "run", str(plan), "--executor", "noop", "--project", scratch]
            b = _timed(command, env)
            d = _timed([sys.executable, "-c", DASK_CHAIN_SCRIPT])
            if n:  # the first pair warms the file cache
                brahmi_s.append(b)
                dask_s.append(d)
    b, d = statistics.median(brahmi_s), statistics.median(dask_s)
    print(f"\nwhole process, chain 100, median of {repeat} (best):")
    print(f"  brahmi run --executor noop, fresh BRAHMI_HOME  {b:.3f} s ({min(brahmi_s):.3f})")
    print(f"  python + dask script                           {d:.3f} s ({min(dask_s):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each (median)")
    parser.add_argument("--concurrency", type=int, default=16, help="Brahmi's agent runs")
    parser.add_argument("--whole-process", action="store_true", help="also time processes")
    args = parser.parse_args()
    from importlib.metadata import version

    measure_with_cpu("chain", args.concurrency)  # warm-up: imports, first-use caches
    measure_dask("chain")
    print(
        f"Brahmi {args.concurrency} slots, SQLite WAL, durable; Dask {version('dask')} "
        f"delayed, threads, in memory; median of {args.repeat}, runs interleaved"
    )
    print(
        f"{'shape':<8} {'tasks':>6} {'brahmi/s':>9} {'dask/s':>8} {'ratio':>6} "
        f"{'brahmi cpu ms/task':>18} {'dask cpu ms/task':>16}"
    )
    runners: dict[str, Callable[[str], tuple[float, float]]] = {
        "brahmi": lambda shape: measure_with_cpu(shape, args.concurrency),
        "dask": measure_dask,
    }
    for shape, build in SHAPES.items():
        total = len(build())
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
        for _ in range(args.repeat):
            for name, run in runners.items():
                runs[name].append(run(shape))
        wall = {name: statistics.median(w for w, _ in r) for name, r in runs.items()}
        cpu = {name: statistics.median(c for _, c in r) for name, r in runs.items()}
        rate = {name: total / w for name, w in wall.items()}
        print(
            f"{shape:<8} {total:>6} {rate['brahmi']:>9.0f} {rate['dask']:>8.0f} "
            f"{rate['brahmi'] / rate['dask']:>6.2f} {1000 * cpu['brahmi'] / total:>18.3f} "
            f"{1000 * cpu['dask'] / total:>16.3f}"
        )
    if args.whole_process:
        whole_process(args.repeat)


if __name__ == "__main__":
    main()
