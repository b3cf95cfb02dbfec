"""What ``GET /metrics`` shows (DESIGN §9): Prometheus metric families for the operator.

Three sources, chosen by where the truth lives (docs/decisions.md, "Metrics"):

- **The database, at scrape time** (:class:`SystemCollector`): task, attempt, loop-turn,
  usage, trigger and worker numbers are ``GROUP BY`` aggregates over the shared tables,
  so one server's scrape counts what every ``brahmi worker`` process did. Counters are
  monotonic because the rows they count are never deleted.
- **The event log, followed incrementally** (:class:`DurationTracker`): the dispatch
  latency (ready → claimed) and the attempt and task duration histograms are observed
  from ``status_changed`` events read by an id cursor, from the moment this process
  started following; each scrape reads only the events written since the last one.
- **This process** (:mod:`brahmi.store.outages`, through :class:`OutageCollector`): the
  database cannot record its own outages.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from brahmi.domain.models import TERMINAL_STATUSES, TaskStatus
from brahmi.store import metrics as queries
from brahmi.store import outages
from brahmi.store.database import OUTAGE_ERRORS

if TYPE_CHECKING:
    from brahmi.service import Brahmi

#: Upper bounds of the dispatch latency buckets, in seconds.
DISPATCH_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: Upper bounds of the attempt and task duration buckets, in seconds.
DURATION_BUCKETS_S = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
#: Most events one scrape reads; a longer backlog is read by the next scrapes.
EVENTS_PER_SCRAPE = 20_000

S = TaskStatus
_TERMINAL = frozenset(s.value for s in TERMINAL_STATUSES)
#: Attempt statuses that count as failures: the agent's, or a lease that ran out.
_FAILED_ATTEMPTS = frozenset({"failed", "expired"})


@dataclass
class Histogram:
    """Cumulative bucket counts of observed values (the Prometheus histogram model)."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        """Count ``value`` (negative values, from clock skew between machines, count as 0)."""
        value = max(0.0, value)
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        """``(le, cumulative count)`` pairs, ending with ``+Inf``."""
        running, out = 0, []
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out


class DurationTracker:
    """Follows status events and observes the dispatch latency and run durations.

    Pure: it is fed :class:`~brahmi.store.metrics.ActiveTask` rows once, then events in id
    order. Entries are removed when a task settles, so memory follows the live tasks.
    """

    def __init__(self) -> None:
        self.dispatch = Histogram(DISPATCH_BUCKETS_S)
        self.attempts = Histogram(DURATION_BUCKETS_S)
        self.tasks: dict[str, Histogram] = {s: Histogram(DURATION_BUCKETS_S) for s in _TERMINAL}
        self._ready: dict[str, float] = {}
        self._started: dict[str, float] = {}
        self._attempt: dict[str, float] = {}

    def seed(self, active: Iterable[queries.ActiveTask]) -> None:
        """Start from the tasks ready or running now."""
        for task in active:
            if task.ready_since is not None:
                self._ready[task.id] = task.ready_since
            if task.started_at is not None:
                self._started[task.id] = task.started_at
            if task.attempt_id is not None and task.attempt_started_at is not None:
                self._attempt[task.id] = task.attempt_started_at

    def feed(self, events: Iterable[queries.TrackedEvent]) -> None:
        """Observe what ``events`` (in id order) say about waits and runs."""
        for event in events:
            data, at, task = event.data, event.created_at, event.task_id
            if event.kind == "task_created":
                if data.get("status") == S.READY.value:
                    self._ready[task] = at
                continue
            if event.kind == "agent_finished":  # a parent's own run ended; it stays running
                self._end_attempt(task, at)
                continue
            old, new = data.get("from"), data.get("to")
            if old == S.READY.value:
                ready_since = self._ready.pop(task, None)
                if new == S.RUNNING.value and data.get("attempt_id") and ready_since is not None:
                    self.dispatch.observe(at - ready_since)
            if old == S.RUNNING.value:
                self._end_attempt(task, at)
            if new == S.READY.value:
                # An infrastructure retry waits out its backoff first: not dispatch latency.
                self._ready[task] = at + float(data.get("retry_after_s") or 0.0)
            elif new == S.RUNNING.value:
                self._started.setdefault(task, at)
                if data.get("attempt_id"):
                    self._attempt[task] = at
            elif new in _TERMINAL:
                started = self._started.pop(task, None)
                if started is not None:
                    self.tasks[str(new)].observe(at - started)

    def _end_attempt(self, task: str, at: float) -> None:
        started = self._attempt.pop(task, None)
        if started is not None:
            self.attempts.observe(at - started)


class SystemCollector(Collector):
    """Prometheus collector of one Brahmi instance's database (see the module docstring).

    A scrape that cannot reach the database yields ``brahmi_database_up 0`` (and counts a
    database error) instead of failing: the process metrics still reach Prometheus.
    """

    def __init__(self, brahmi: Brahmi) -> None:
        self.brahmi = brahmi
        self.tracker = DurationTracker()
        self._cursor: int | None = None
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        """Read the database and yield every metric family (called per scrape)."""
        began = time.perf_counter()
        try:
            totals = queries.totals(self.brahmi.store.engine)
            with self._lock:
                self._follow()
                histograms = list(self._histograms())
        except OUTAGE_ERRORS:
            outages.count("metrics")
            yield GaugeMetricFamily(
                "brahmi_database_up", "Whether this scrape could read the database.", value=0
            )
            return
        yield GaugeMetricFamily(
            "brahmi_database_up", "Whether this scrape could read the database.", value=1
        )
        yield from _task_families(totals)
        yield from _usage_families(totals)
        yield from _planner_families(totals, now=self.brahmi.clock.now())
        yield from _worker_families(
            totals, now=self.brahmi.clock.now(), stale_after_s=self.brahmi.settings.lease_s
        )
        yield from histograms
        yield GaugeMetricFamily(
            "brahmi_metrics_collect_seconds",
            "Seconds this scrape spent reading the database.",
            value=time.perf_counter() - began,
        )

    def _follow(self) -> None:
        engine = self.brahmi.store.engine
        if self._cursor is None:
            # Start from now: the ids first (an event written meanwhile is read next).
            self._cursor = self.brahmi.store.last_event_id()
            self.tracker.seed(queries.active_tasks(engine))
        events = queries.tracked_events(engine, self._cursor, EVENTS_PER_SCRAPE)
        self.tracker.feed(events)
        if events:
            self._cursor = events[-1].id

    def _histograms(self) -> Iterator[Metric]:
        tracker = self.tracker
        dispatch = HistogramMetricFamily(
            "brahmi_dispatch_latency_seconds",
            "Seconds from a task becoming ready (after any backoff) to a worker claiming it, "
            "for claims since this server started following the event log.",
            buckets=tracker.dispatch.buckets(),
            sum_value=tracker.dispatch.total,
        )
        attempts = HistogramMetricFamily(
            "brahmi_attempt_duration_seconds",
            "Seconds from an attempt's claim to its end, for attempts that ended since this "
            "server started following the event log.",
            buckets=tracker.attempts.buckets(),
            sum_value=tracker.attempts.total,
        )
        tasks = HistogramMetricFamily(
            "brahmi_task_duration_seconds",
            "Seconds from a task's start to its terminal status, by that status, for tasks "
            "that settled since this server started following the event log.",
            labels=["status"],
        )
        for status in sorted(tracker.tasks):
            histogram = tracker.tasks[status]
            tasks.add_metric([status], histogram.buckets(), histogram.total)
        return iter([dispatch, attempts, tasks])


def _label(value: str | None) -> str:
    return value or ""


def _task_families(totals: queries.Totals) -> Iterator[Metric]:
    tasks = GaugeMetricFamily(
        "brahmi_tasks", "Tasks stored, by status and runtime.", labels=["status", "runtime"]
    )
    seen: set[str] = set()
    for (status, runtime), count in sorted(totals.tasks.items(), key=_by_labels):
        tasks.add_metric([status, _label(runtime)], count)
        seen.add(status)
    for status in TaskStatus:  # every status is always there, so alerts can compare to 0
        if status.value not in seen:
            tasks.add_metric([status.value, ""], 0)
    yield tasks

    started = CounterMetricFamily(
        "brahmi_attempts_started", "Attempts started (claims), by runtime.", labels=["runtime"]
    )
    finished = CounterMetricFamily(
        "brahmi_attempts_finished",
        "Attempts that ended, by runtime and how (succeeded, failed, expired, superseded…).",
        labels=["runtime", "status"],
    )
    failed = CounterMetricFamily(
        "brahmi_attempts_failed",
        "Attempts that failed (the agent's failure, or a lease that ran out), by runtime.",
        labels=["runtime"],
    )
    running = GaugeMetricFamily(
        "brahmi_attempts_running", "Attempts running now, by runtime.", labels=["runtime"]
    )
    by_runtime: dict[str, dict[str, int]] = {}
    for (status, executor), count in totals.attempts.items():
        counts = by_runtime.setdefault(_label(executor), {})
        counts[status] = counts.get(status, 0) + count
    for runtime, counts in sorted(by_runtime.items()):
        started.add_metric([runtime], sum(counts.values()))
        running.add_metric([runtime], counts.get("running", 0))
        failed.add_metric([runtime], sum(n for s, n in counts.items() if s in _FAILED_ATTEMPTS))
        for status, count in sorted(counts.items()):
            if status != "running":
                finished.add_metric([runtime, status], count)
    yield from (started, finished, failed, running)

    turns = CounterMetricFamily(
        "brahmi_loop_turns",
        "Correctness-loop turns (QA verdicts), by outcome: pass, fail (sent back for a "
        "rebuild), or the code that stopped the loop (max_rebuilds_exceeded, "
        "rebuild_stalled, budget_exceeded).",
        labels=["outcome"],
    )
    for outcome, count in sorted(totals.loop_turns.items()):
        turns.add_metric([outcome], count)
    yield turns


def _usage_families(totals: queries.Totals) -> Iterator[Metric]:
    cost = CounterMetricFamily(
        "brahmi_cost_usd",
        "USD spent by agent runs, by kind (attempt, question, planner).",
        labels=["kind"],
    )
    tokens = CounterMetricFamily(
        "brahmi_tokens",
        "Tokens used by agent runs, by kind and direction (input, output).",
        labels=["kind", "direction"],
    )
    for usage in sorted(totals.usage, key=lambda u: u.kind):
        cost.add_metric([usage.kind], usage.cost_usd)
        tokens.add_metric([usage.kind, "input"], usage.input_tokens)
        tokens.add_metric([usage.kind, "output"], usage.output_tokens)
    yield from (cost, tokens)


def _planner_families(totals: queries.Totals, *, now: float) -> Iterator[Metric]:
    waiting = GaugeMetricFamily(
        "brahmi_planner_triggers_waiting",
        "Planner triggers not yet handled, by status (pending, handling) and kind.",
        labels=["status", "kind"],
    )
    for (status, kind), count in sorted(totals.triggers.items()):
        waiting.add_metric([status, kind], count)
    yield waiting
    oldest = totals.oldest_trigger_at
    yield GaugeMetricFamily(
        "brahmi_planner_trigger_oldest_wait_seconds",
        "Seconds the oldest waiting planner trigger has waited (0 when none waits).",
        value=0.0 if oldest is None else max(0.0, now - oldest),
    )


def _worker_families(
    totals: queries.Totals, *, now: float, stale_after_s: float
) -> Iterator[Metric]:
    live = [w for w in totals.workers if now - w.heartbeat_at <= stale_after_s]
    yield GaugeMetricFamily(
        "brahmi_workers_live",
        "Workers heard from within a lease (as `brahmi workers` lists them).",
        value=len(live),
    )
    yield GaugeMetricFamily(
        "brahmi_workers_silent",
        "Workers that never stopped cleanly and have not been heard from within a lease.",
        value=len(totals.workers) - len(live),
    )
    age = GaugeMetricFamily(
        "brahmi_worker_heartbeat_age_seconds",
        "Seconds since each live worker's last heartbeat.",
        labels=["worker", "host"],
    )
    for worker in sorted(live, key=lambda w: w.id):
        age.add_metric([worker.id, worker.host], max(0.0, now - worker.heartbeat_at))
    yield age


def _by_labels(item: tuple[tuple[str, str | None], int]) -> tuple[str, str]:
    (first, second), _ = item
    return first, second or ""


class OutageCollector(Collector):
    """``brahmi_database_errors_total{component}``: this process's counts of database
    operations that failed because the database was unavailable."""

    def collect(self) -> Iterator[Metric]:
        """Yield the counter family (called per scrape)."""
        family = CounterMetricFamily(
            "brahmi_database_errors",
            "Database operations of this process that failed because the database was unavailable.",
            labels=["component"],
        )
        for component, value in sorted(outages.counts().items()):
            family.add_metric([component], value)
        yield family


def registry_for(brahmi: Brahmi, *, include_process: bool = True) -> CollectorRegistry:
    """A registry with everything ``/metrics`` shows for ``brahmi``.

    Args:
        brahmi: The instance whose database is read at each scrape.
        include_process: Add the client library's process, platform and GC collectors
            (``process_cpu_seconds_total``, ``python_info``…).
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SystemCollector(brahmi))
    registry.register(OutageCollector())
    if include_process:
        for collector in _standard_collectors():
            registry.register(collector)
    return registry


def _standard_collectors() -> Sequence[Collector]:
    return [PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR]
