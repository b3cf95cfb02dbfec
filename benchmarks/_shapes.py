"""The DAG shapes Brahmi's benchmarks use (the same as ../shared/notes/peer-benchmarks.md)."""

from __future__ import annotations

from typing import Any

SKILL = "brahmi/builtin/run-command"


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


def layered(layers: int = 20, width: int = 25) -> list[dict[str, Any]]:
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


def independent(n: int) -> list[dict[str, Any]]:
    """``n`` tasks without dependencies, for batch-size benchmarks (with a few edges)."""
    return [spec(i, [i - 1] if i % 10 else []) for i in range(1, n + 1)]


SHAPES = {"chain": chain, "fanout": fanout, "layered": layered}
