"""Planner sessions, their durable inbox of triggers, and their conversation (DESIGN §7).

Every public function is one transaction. A session's triggers are handled one at a time
in id order by the planner actor holding the session's lease; a trigger whose handler died
(``handling`` with a lease that ran out, or an owner process on this host that is gone) is
delivered again. ``task_completed`` triggers are queued by :mod:`brahmi.store.events` in
the transaction that settles the task.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, exists, func, insert, select, update
from sqlalchemy.engine import Connection

from brahmi import errors
from brahmi.domain.models import TaskStatus
from brahmi.store import tables as t
from brahmi.store.database import reading
from brahmi.store.events import EventWriter
from brahmi.store.usage import record_usage

_sessions = t.planner_sessions.c
_triggers = t.planner_triggers.c
_messages = t.planner_messages.c
_pbatches = t.planner_batches.c
_tasks = t.tasks.c
#: The event each conversation entry is recorded as, by role: the person's message, the
#: planner's reply (the seeds' ``UserResponse``), a notice from Brahmi.
EVENT_KINDS = {"user": "user_message", "planner": "user_response", "brahmi": "planner_notice"}
#: Trigger statuses that still need handling.
UNFINISHED = ("pending", "handling")
_SETTLED = tuple(
    s.value for s in TaskStatus if s.is_settled
)  # completed, failed, cancelled, blocked


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A planner session: one per (project, planner skill)."""

    id: str
    project_id: str
    planner_skill_id: str
    session_ref: str | None
    current_trigger_id: int | None
    lease_owner: str | None
    lease_expires_at: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    last_error: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    """One trigger of a session's inbox."""

    id: int
    session_id: str
    kind: str
    message_id: int | None
    task_id: str | None
    task_status: str | None
    status: str
    deliveries: int
    error: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    created_at: float
    started_at: float | None
    finished_at: float | None

    def to_dict(self) -> dict[str, Any]:
        """As the API shows it."""
        return {
            "trigger_id": self.id,
            "session_id": self.session_id,
            "kind": self.kind,
            "task_id": self.task_id,
            "task_status": self.task_status,
            "status": self.status,
            "deliveries": self.deliveries,
            "error": self.error,
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "cost_usd": self.cost_usd,
            },
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One entry of a conversation: ``user``, ``planner`` or ``brahmi`` (a notice)."""

    id: int
    session_id: str
    project_id: str
    role: str
    text: str
    trigger_id: int | None
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """As the API shows it."""
        return {
            "message_id": self.id,
            "session_id": self.session_id,
            "role": self.role,
            "text": self.text,
            "trigger_id": self.trigger_id,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    """A trigger handed to a planner actor, with its session as it was claimed."""

    session: SessionRecord
    trigger: TriggerRecord


class PlannerStore:
    """Sessions, triggers and messages in one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- sessions --------------------------------------------------------------------------

    def ensure_session(self, project_id: str, planner_skill_id: str, now: float) -> SessionRecord:
        """The session of ``project_id`` with this planner skill, created on first use."""
        with self.engine.begin() as conn:
            found = _session_where(
                conn,
                (_sessions.project_id == project_id)
                & (_sessions.planner_skill_id == planner_skill_id),
            )
            if found is not None:
                return found
            row = {
                "id": str(uuid.uuid4()),
                "project_id": project_id,
                "planner_skill_id": planner_skill_id,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": 0.0,
                "created_at": now,
                "updated_at": now,
            }
            conn.execute(insert(t.planner_sessions), row)
            events = EventWriter(now)
            events.add(
                "planner_session_created",
                project_id,
                None,
                session_id=row["id"],
                planner_skill_id=planner_skill_id,
            )
            events.flush(conn)
            found = _session_where(conn, _sessions.id == row["id"])
            assert found is not None
            return found

    def get_session(self, session_id: str) -> SessionRecord:
        """The session with this id.

        Raises:
            SessionNotFound: When there is none.
        """
        with reading(self.engine) as conn:
            found = _session_where(conn, _sessions.id == session_id)
        if found is None:
            raise errors.SessionNotFound(
                f"no planner session has the id {session_id!r}", session_id=session_id
            )
        return found

    def sessions(self, project_id: str | None = None) -> list[SessionRecord]:
        """Sessions (of one project), most recently active first."""
        query = select(t.planner_sessions).order_by(
            _sessions.updated_at.desc(), _sessions.created_at.desc()
        )
        if project_id is not None:
            query = query.where(_sessions.project_id == project_id)
        with reading(self.engine) as conn:
            return [SessionRecord(**r._mapping) for r in conn.execute(query)]

    def active_session(self, project_id: str) -> SessionRecord | None:
        """The session handling a trigger now, else the most recently active one."""
        found = self.sessions(project_id)
        busy = [s for s in found if s.current_trigger_id is not None]
        chosen = busy or found
        return chosen[0] if chosen else None

    def sessions_with_open_tasks(self) -> list[SessionRecord]:
        """Sessions with a top-level task of theirs that has not settled (unfinished work)."""
        open_task = (
            select(_tasks.id)
            .select_from(t.tasks.join(t.planner_batches, _pbatches.batch_id == _tasks.batch_id))
            .where(
                _pbatches.session_id == _sessions.id,
                _tasks.parent_id.is_(None),
                _tasks.status.not_in(_SETTLED),
            )
        )
        with reading(self.engine) as conn:
            rows = conn.execute(select(t.planner_sessions).where(exists(open_task))).all()
        return [SessionRecord(**r._mapping) for r in rows]

    # -- triggers --------------------------------------------------------------------------

    def post_user_message(
        self, session: SessionRecord, text: str, now: float
    ) -> tuple[MessageRecord, TriggerRecord]:
        """Append the person's ``text`` to the conversation and queue its trigger, together."""
        with self.engine.begin() as conn:
            events = EventWriter(now)
            message_id = _append(conn, events, session, "user", text, None, now)
            trigger_id = _queue(conn, events, session, "user_message", now, message_id=message_id)
            conn.execute(
                update(t.planner_messages)
                .where(_messages.id == message_id)
                .values(trigger_id=trigger_id)
            )
            events.flush(conn)
            message = _message(conn, message_id)
            trigger = _trigger(conn, trigger_id)
        return message, trigger

    def queue_wake_up(self, session: SessionRecord, now: float) -> TriggerRecord | None:
        """Queue a ``wake_up`` trigger, unless one is already waiting (then None)."""
        with self.engine.begin() as conn:
            waiting = conn.execute(
                select(_triggers.id).where(
                    _triggers.session_id == session.id,
                    _triggers.kind == "wake_up",
                    _triggers.status == "pending",
                )
            ).first()
            if waiting is not None:
                return None
            events = EventWriter(now)
            trigger_id = _queue(conn, events, session, "wake_up", now)
            events.flush(conn)
            return _trigger(conn, trigger_id)

    def get_trigger(self, trigger_id: int) -> TriggerRecord:
        """The trigger with this id (KeyError when there is none)."""
        with reading(self.engine) as conn:
            return _trigger(conn, trigger_id)

    def triggers(self, session_id: str) -> list[TriggerRecord]:
        """A session's triggers, oldest first."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(t.planner_triggers)
                .where(_triggers.session_id == session_id)
                .order_by(_triggers.id)
            ).all()
        return [TriggerRecord(**r._mapping) for r in rows]

    def has_unfinished_triggers(self, session_id: str) -> bool:
        """Whether the session has a trigger not yet handled."""
        with reading(self.engine) as conn:
            return (
                conn.execute(
                    select(_triggers.id).where(
                        _triggers.session_id == session_id, _triggers.status.in_(UNFINISHED)
                    )
                ).first()
                is not None
            )

    def claim(
        self,
        owner: str,
        now: float,
        lease_s: float,
        dead_owners: Callable[[Iterable[str]], Iterable[str]] = lambda _owners: (),
        session_id: str | None = None,
    ) -> Delivery | None:
        """Take the oldest unfinished trigger of a session no live actor holds.

        The trigger becomes ``handling`` (its ``deliveries`` counted) and the session's
        lease goes to ``owner`` until ``now + lease_s``. A session whose lease ran out, or
        whose owner is among ``dead_owners(owners)`` (the engine tells which processes of
        this host are gone), is taken over: its interrupted trigger is delivered again.
        ``session_id`` limits the claim to that session.

        Returns:
            None when no session has work for this actor.
        """
        candidates = (
            select(
                _sessions.id,
                _sessions.lease_owner,
                _sessions.lease_expires_at,
                func.min(_triggers.id).label("first"),
            )
            .select_from(
                t.planner_sessions.join(t.planner_triggers, _triggers.session_id == _sessions.id)
            )
            .where(_triggers.status.in_(UNFINISHED))
            .group_by(_sessions.id, _sessions.lease_owner, _sessions.lease_expires_at)
            .order_by("first")
        )
        if session_id is not None:
            candidates = candidates.where(_sessions.id == session_id)
        with self.engine.begin() as conn:
            rows = conn.execute(candidates).all()
            dead = set(dead_owners({r.lease_owner for r in rows if r.lease_owner}))
            for row in rows:
                held = (
                    row.lease_owner is not None
                    and row.lease_owner != owner
                    and row.lease_owner not in dead
                    and (row.lease_expires_at or 0.0) > now
                )
                if held:
                    continue
                taken = conn.execute(
                    update(t.planner_sessions)
                    .where(
                        _sessions.id == row.id,
                        _sessions.lease_owner.is_(None)
                        if row.lease_owner is None
                        else _sessions.lease_owner == row.lease_owner,
                    )
                    .values(
                        lease_owner=owner,
                        lease_expires_at=now + lease_s,
                        current_trigger_id=row.first,
                    )
                ).rowcount
                if not taken:
                    continue
                conn.execute(
                    update(t.planner_triggers)
                    .where(_triggers.id == row.first)
                    .values(
                        status="handling",
                        deliveries=_triggers.deliveries + 1,
                        started_at=now,
                    )
                )
                session = _session_where(conn, _sessions.id == row.id)
                assert session is not None
                trigger = _trigger(conn, row.first)
                events = EventWriter(now)
                events.add(
                    "trigger_delivered",
                    session.project_id,
                    trigger.task_id,
                    session_id=session.id,
                    trigger_id=trigger.id,
                    trigger=trigger.kind,
                    delivery=trigger.deliveries,
                )
                events.flush(conn)
                return Delivery(session, trigger)
        return None

    def extend_lease(self, session_id: str, owner: str, until: float) -> bool:
        """Extend ``owner``'s lease on the session; False when it no longer holds it."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(t.planner_sessions)
                    .where(_sessions.id == session_id, _sessions.lease_owner == owner)
                    .values(lease_expires_at=until)
                ).rowcount
            )

    def finish(
        self,
        delivery: Delivery,
        owner: str,
        now: float,
        *,
        status: str,
        error: str | None = None,
        session_ref: str | None = None,
        usage: dict[str, Any] | None = None,
        notice: str | None = None,
        executor: str | None = None,
    ) -> bool:
        """Close a delivered trigger and release the session, in one transaction.

        Args:
            status: ``done``, ``failed``, or ``pending`` (deliver it again later).
            session_ref: The planner agent's session to resume next time (kept if None).
            usage: This turn's ``Usage.to_dict()`` (``input_tokens``, ``output_tokens``,
                ``cost_usd`` USD, ``session_cost_usd``…): added to the trigger's and the
                session's totals, and stored as a ``planner`` row of the usage table (which
                project totals and budgets add up, DESIGN §6).
            notice: A message from Brahmi to the person (e.g. why the planner failed).
            executor: The runtime that ran the turn, for the usage row.

        Returns:
            False when ``owner`` no longer holds the session: then only the usage row is
            stored (the tokens were spent), nothing else changes.
        """
        used = usage or {}
        tokens_in = int(used.get("input_tokens") or 0)
        tokens_out = int(used.get("output_tokens") or 0)
        cost = float(used.get("cost_usd") or 0.0)
        session = delivery.session
        with self.engine.begin() as conn:
            record_usage(
                conn,
                project_id=session.project_id,
                usage=usage,
                kind="planner",
                now=now,
                planner_session_id=session.id,
                executor=executor,
                session_ref=session_ref,
            )
            released = conn.execute(
                update(t.planner_sessions)
                .where(_sessions.id == session.id, _sessions.lease_owner == owner)
                .values(
                    lease_owner=None,
                    lease_expires_at=None,
                    current_trigger_id=None,
                    session_ref=func.coalesce(session_ref, _sessions.session_ref),
                    input_tokens=_sessions.input_tokens + tokens_in,
                    output_tokens=_sessions.output_tokens + tokens_out,
                    cost_usd=_sessions.cost_usd + cost,
                    last_error=error,
                    updated_at=now,
                )
            ).rowcount
            if not released:
                return False
            conn.execute(
                update(t.planner_triggers)
                .where(_triggers.id == delivery.trigger.id)
                .values(
                    status=status,
                    error=error,
                    input_tokens=_triggers.input_tokens + tokens_in,
                    output_tokens=_triggers.output_tokens + tokens_out,
                    cost_usd=_triggers.cost_usd + cost,
                    finished_at=None if status == "pending" else now,
                )
            )
            events = EventWriter(now)
            if notice:
                _append(conn, events, session, "brahmi", notice, delivery.trigger.id, now)
            events.add(
                "trigger_handled",
                session.project_id,
                delivery.trigger.task_id,
                session_id=session.id,
                trigger_id=delivery.trigger.id,
                trigger=delivery.trigger.kind,
                status=status,
                error=error,
            )
            events.flush(conn)
        return True

    # -- conversation ----------------------------------------------------------------------

    def append_reply(self, session: SessionRecord, text: str, now: float) -> MessageRecord:
        """Append the planner's ``text`` (``user_response``) to the conversation.

        It is filed under the trigger the session is handling. The same text already given
        while handling that trigger (a redelivered trigger saying it again) is not repeated:
        the earlier entry comes back.
        """
        with self.engine.begin() as conn:
            current = conn.execute(
                select(_sessions.current_trigger_id).where(_sessions.id == session.id)
            ).scalar()
            if current is not None:
                earlier = conn.execute(
                    select(_messages.id).where(
                        _messages.session_id == session.id,
                        _messages.trigger_id == current,
                        _messages.role == "planner",
                        _messages.text == text,
                    )
                ).scalar()
                if earlier is not None:
                    return _message(conn, earlier)
            events = EventWriter(now)
            message_id = _append(conn, events, session, "planner", text, current, now)
            conn.execute(
                update(t.planner_sessions).where(_sessions.id == session.id).values(updated_at=now)
            )
            events.flush(conn)
            return _message(conn, message_id)

    def message(self, message_id: int) -> MessageRecord:
        """The conversation entry with this id (NoResultFound when there is none)."""
        with reading(self.engine) as conn:
            return _message(conn, message_id)

    def replies_to(self, trigger_id: int) -> list[MessageRecord]:
        """What the planner and Brahmi said while handling this trigger, oldest first."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(t.planner_messages)
                .where(_messages.trigger_id == trigger_id, _messages.role != "user")
                .order_by(_messages.id)
            ).all()
        return [MessageRecord(**r._mapping) for r in rows]

    def messages(
        self,
        *,
        project_id: str | None = None,
        session_id: str | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[MessageRecord]:
        """Conversation entries with ``id > after_id``, oldest first."""
        query = (
            select(t.planner_messages)
            .where(_messages.id > after_id)
            .order_by(_messages.id)
            .limit(limit)
        )
        if project_id is not None:
            query = query.where(_messages.project_id == project_id)
        if session_id is not None:
            query = query.where(_messages.session_id == session_id)
        with reading(self.engine) as conn:
            return [MessageRecord(**r._mapping) for r in conn.execute(query)]

    # -- batches created by planners -------------------------------------------------------

    def batch_for_trigger(self, trigger_id: int, content_hash: str) -> str | None:
        """The batch created with this content while handling this trigger, if any."""
        with reading(self.engine) as conn:
            found = conn.execute(
                select(_pbatches.batch_id).where(
                    _pbatches.trigger_id == trigger_id, _pbatches.content_hash == content_hash
                )
            ).scalar()
        return None if found is None else str(found)

    def session_task_ids(self, session_id: str) -> list[str]:
        """Ids of the top-level tasks the session's batches created, in creation order."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(_tasks.id)
                .select_from(t.tasks.join(t.planner_batches, _pbatches.batch_id == _tasks.batch_id))
                .where(_pbatches.session_id == session_id, _tasks.parent_id.is_(None))
                .order_by(_tasks.created_at, _tasks.id)
            ).all()
        return [r.id for r in rows]

    def session_batches(self, session_id: str) -> list[tuple[str, int | None]]:
        """The session's batches and the trigger each was created for, oldest first."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(_pbatches.batch_id, _pbatches.trigger_id)
                .select_from(
                    t.planner_batches.join(t.batches, t.batches.c.id == _pbatches.batch_id)
                )
                .where(_pbatches.session_id == session_id)
                .order_by(t.batches.c.created_at)
            ).all()
        return [(r.batch_id, r.trigger_id) for r in rows]


def _session_where(conn: Connection, condition: Any) -> SessionRecord | None:
    row = conn.execute(select(t.planner_sessions).where(condition)).first()
    return None if row is None else SessionRecord(**row._mapping)


def _trigger(conn: Connection, trigger_id: int) -> TriggerRecord:
    row = conn.execute(select(t.planner_triggers).where(_triggers.id == trigger_id)).first()
    if row is None:
        raise KeyError(trigger_id)
    return TriggerRecord(**row._mapping)


def _message(conn: Connection, message_id: int) -> MessageRecord:
    row = conn.execute(select(t.planner_messages).where(_messages.id == message_id)).one()
    return MessageRecord(**row._mapping)


def _append(
    conn: Connection,
    events: EventWriter,
    session: SessionRecord,
    role: str,
    text: str,
    trigger_id: int | None,
    now: float,
) -> int:
    message_id = conn.execute(
        insert(t.planner_messages).returning(_messages.id),
        {
            "session_id": session.id,
            "project_id": session.project_id,
            "role": role,
            "text": text,
            "trigger_id": trigger_id,
            "created_at": now,
        },
    ).scalar_one()
    events.add(
        EVENT_KINDS[role],
        session.project_id,
        None,
        message=text,
        session_id=session.id,
        message_id=message_id,
        trigger_id=trigger_id,
    )
    return int(message_id)


def _queue(
    conn: Connection,
    events: EventWriter,
    session: SessionRecord,
    kind: str,
    now: float,
    **fields: Any,
) -> int:
    trigger_id = conn.execute(
        insert(t.planner_triggers).returning(_triggers.id),
        {
            "session_id": session.id,
            "kind": kind,
            "status": "pending",
            "deliveries": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": 0.0,
            "created_at": now,
            **fields,
        },
    ).scalar_one()
    events.add(
        "trigger_queued", session.project_id, None, session_id=session.id, trigger_id=trigger_id
    )
    return int(trigger_id)


__all__ = [
    "EVENT_KINDS",
    "UNFINISHED",
    "Delivery",
    "MessageRecord",
    "PlannerStore",
    "SessionRecord",
    "TriggerRecord",
]
