"""The DAG shapes Brahmi's benchmarks use (the same as the peer benchmarks').

Every task names the built-in ``run-command`` skill, so batches validate against the real
skill catalog; the benchmarks force the ``noop`` runtime, so no command ever runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SKILL = "brahmi/builtin/run-command"
#: Tasks per layer of :func:`layered`, as in the peer benchmarks.
LAYER_WIDTH = 25


def spec(uid: int, deps: list[int], order: int = 1) -> dict[str, Any]:
    """One snake_case task spec."""
    return {
        "unique_id": uid,
        "task_name": f"task {uid}",
        "description": "benchmark task",
        "skill_id": SKILL,
        "task_order": order,
        "logical_dependencies": deps,
        "inputs": {"command": ["true"]},
    }


def chain(n: int = 100) -> list[dict[str, Any]]:
    """``n`` tasks, each on the previous."""
    return [spec(i, [i - 1] if i > 1 else []) for i in range(1, n + 1)]


def fanout(width: int = 500) -> list[dict[str, Any]]:
    """``width`` independent tasks and one that depends on all of them."""
    tasks = [spec(i, []) for i in range(1, width + 1)]
    tasks.append(spec(width + 1, list(range(1, width + 1))))
    return tasks


def layered(layers: int = 20, width: int = LAYER_WIDTH) -> list[dict[str, Any]]:
    """``layers`` x ``width``; task j of a layer depends on tasks j and (j+1) % width before."""
    tasks = []
    for layer in range(layers):
        for j in range(width):
            uid = layer * width + j + 1
            deps = (
                []
                if layer == 0
                else sorted(
                    {(layer - 1) * width + j + 1, (layer - 1) * width + (j + 1) % width + 1}
                )
            )
            tasks.append(spec(uid, deps))
    return tasks


def layered_tasks(total: int, width: int = LAYER_WIDTH) -> list[dict[str, Any]]:
    """A :func:`layered` graph of exactly ``total`` tasks (a multiple of ``width``)."""
    if total % width:
        raise ValueError(f"{total} tasks do not fill layers of {width}")
    return layered(total // width, width)


#: The engine benchmark's workloads: chain (100), fanout (501), layered (500).
SHAPES: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "chain": chain,
    "fanout": fanout,
    "layered": layered,
}
