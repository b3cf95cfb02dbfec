"""Usage and budgets (DESIGN §6): tokens and USD per run, added up per task, planner
session and project; a project's budget stops new agent runs when spent.

Every agent run that reports usage adds one ``usage`` row: a task's attempt (``attempt``),
a question to a task's session (``question``), a planner turn (``planner``, with
``planner_session_id``). A project's budget lives in its settings as
``{"budget": {"usd": 5.0, "tokens": 2000000}}`` (either or both); it is spent when the
project's rows reach either limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from brahmi.store import tables as t
from brahmi.store.database import reading

_usage = t.usage.c


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Tokens and cost added up over some runs."""

    input_tokens: int = 0
    output_tokens: int = 0
    #: USD.
    cost_usd: float = 0.0
    #: How many runs reported usage.
    runs: int = 0

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, Any]:
        """As shown by the CLI and the REST API."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens": self.tokens,
            "cost_usd": round(self.cost_usd, 6),
            "runs": self.runs,
        }


@dataclass(frozen=True, slots=True)
class Budget:
    """A project's limits (None: no limit) and what it spent."""

    usd: float | None
    tokens: int | None
    spent: UsageTotals

    @property
    def exceeded(self) -> bool:
        """True when a limit is set and reached."""
        return (self.usd is not None and self.spent.cost_usd >= self.usd) or (
            self.tokens is not None and self.spent.tokens >= self.tokens
        )

    @property
    def remaining_usd(self) -> float | None:
        """USD left to spend (never negative); None without a USD limit."""
        return None if self.usd is None else max(0.0, self.usd - self.spent.cost_usd)

    def describe(self) -> str:
        """For messages: ``$5.0012 of $5.00`` and/or ``2,001,000 of 2,000,000 tokens``."""
        parts = []
        if self.usd is not None:
            # Cents, unless that would hide a smaller limit ($0.001 is not "$0.00").
            limit = f"{self.usd:.2f}" if round(self.usd, 2) == self.usd else f"{self.usd:.4f}"
            parts.append(f"${self.spent.cost_usd:.4f} of ${limit}")
        if self.tokens is not None:
            parts.append(f"{self.spent.tokens:,} of {self.tokens:,} tokens")
        return " and ".join(parts) or "no budget"

    def to_dict(self) -> dict[str, Any]:
        """As shown by the CLI and the REST API."""
        return {
            "usd": self.usd,
            "tokens": self.tokens,
            "spent": self.spent.to_dict(),
            "exceeded": self.exceeded,
        }


def budget_of(settings: dict[str, Any]) -> tuple[float | None, int | None]:
    """The ``(usd, tokens)`` limits in a project's settings."""
    raw = settings.get("budget") or {}
    usd = raw.get("usd")
    tokens = raw.get("tokens")
    return (float(usd) if usd is not None else None, int(tokens) if tokens is not None else None)


def spent_amounts(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """The amounts of a usage row for one run's usage (``Usage.to_dict()`` shape):
    ``input_tokens``, ``output_tokens`` (int), ``cost_usd`` (USD, float),
    ``session_cost_usd`` (USD or None) and ``turns`` (as given); None when the run spent
    nothing (no row is written for it)."""
    if not usage:
        return None
    input_tokens = int(usage.get("input_tokens") or 0)
    output_tokens = int(usage.get("output_tokens") or 0)
    cost = float(usage.get("cost_usd") or 0.0)
    session_cost = usage.get("session_cost_usd")
    if not (input_tokens or output_tokens or cost or session_cost):
        return None
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost_usd": cost,
        "session_cost_usd": float(session_cost) if session_cost is not None else None,
        "turns": usage.get("turns"),
    }


def record_usage(
    conn: Connection,
    *,
    project_id: str,
    usage: dict[str, Any] | None,
    kind: str,
    now: float,
    task_id: str | None = None,
    attempt_id: str | None = None,
    planner_session_id: str | None = None,
    executor: str | None = None,
    session_ref: str | None = None,
) -> None:
    """Add one run's usage (``Usage.to_dict()`` shape); nothing when ``usage`` is empty."""
    amounts = spent_amounts(usage)
    if amounts is None:
        return
    conn.execute(
        insert(t.usage),
        {
            "project_id": project_id,
            "task_id": task_id,
            "attempt_id": attempt_id,
            "planner_session_id": planner_session_id,
            "kind": kind,
            "executor": executor,
            "session_ref": session_ref,
            **amounts,
            "created_at": now,
        },
    )


def totals(
    conn: Connection,
    *,
    project_id: str | None = None,
    task_id: str | None = None,
    planner_session_id: str | None = None,
) -> UsageTotals:
    """Usage added up over the rows matching every filter given."""
    query = select(
        func.coalesce(func.sum(_usage.input_tokens), 0),
        func.coalesce(func.sum(_usage.output_tokens), 0),
        func.coalesce(func.sum(_usage.cost_usd), 0.0),
        func.count(),
    )
    if project_id is not None:
        query = query.where(_usage.project_id == project_id)
    if task_id is not None:
        query = query.where(_usage.task_id == task_id)
    if planner_session_id is not None:
        query = query.where(_usage.planner_session_id == planner_session_id)
    row = conn.execute(query).one()
    return UsageTotals(int(row[0]), int(row[1]), float(row[2]), int(row[3]))


def project_budget(conn: Connection, project_id: str) -> Budget:
    """The project's budget and what it spent."""
    settings = conn.execute(
        select(t.projects.c.settings).where(t.projects.c.id == project_id)
    ).scalar_one_or_none()
    usd, tokens = budget_of(settings or {})
    spent = totals(conn, project_id=project_id) if usd is not None or tokens is not None else None
    return Budget(usd, tokens, spent or UsageTotals())


def session_cost(conn: Connection, session_ref: str) -> float:
    """The last total cost (USD) recorded for an agent session; 0.0 for a new one."""
    value = conn.execute(
        select(_usage.session_cost_usd)
        .where(_usage.session_ref == session_ref, _usage.session_cost_usd.is_not(None))
        .order_by(_usage.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return float(value or 0.0)


class UsageStore:
    """Usage and budgets in one database, each call its own transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, **fields: Any) -> None:
        """:func:`record_usage` in its own transaction."""
        with self.engine.begin() as conn:
            record_usage(conn, **fields)

    def totals(self, **filters: str | None) -> UsageTotals:
        """:func:`totals`."""
        with reading(self.engine) as conn:
            return totals(conn, **filters)

    def budget(self, project_id: str) -> Budget:
        """:func:`project_budget`."""
        with reading(self.engine) as conn:
            return project_budget(conn, project_id)

    def session_cost(self, session_ref: str) -> float:
        """:func:`session_cost`."""
        with reading(self.engine) as conn:
            return session_cost(conn, session_ref)

    def by_task(self, task_ids: list[str]) -> dict[str, UsageTotals]:
        """Totals for each of ``task_ids`` (missing ids have none), in one query."""
        if not task_ids:
            return {}
        query = (
            select(
                _usage.task_id,
                func.sum(_usage.input_tokens),
                func.sum(_usage.output_tokens),
                func.sum(_usage.cost_usd),
                func.count(),
            )
            .where(_usage.task_id.in_(task_ids))
            .group_by(_usage.task_id)
        )
        with reading(self.engine) as conn:
            return {
                str(row[0]): UsageTotals(int(row[1]), int(row[2]), float(row[3]), int(row[4]))
                for row in conn.execute(query)
            }
