"""Bearer tokens: stored as sha256 hashes, shown once when created (issue 5)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from brahmi.domain.access import Scope
from brahmi.store import tables as t
from brahmi.store.database import reading

_tokens = t.tokens.c
#: Prefix of every secret, so a leaked one is recognisable (and greppable) as Brahmi's.
PREFIX = "brahmi_"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A stored token (never its secret)."""

    id: str
    label: str | None
    project_id: str | None
    task_id: str | None
    read_only: bool
    created_at: float
    expires_at: float | None
    revoked: bool
    #: A planner's per-turn token: the session it acts as (DESIGN §7).
    planner_session_id: str | None = None


def hash_secret(secret: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenStore:
    """Creating, checking and revoking tokens."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self,
        *,
        now: float,
        project_id: str | None = None,
        task_id: str | None = None,
        planner_session_id: str | None = None,
        read_only: bool = False,
        label: str | None = None,
        ttl_s: float | None = None,
    ) -> tuple[str, TokenRecord]:
        """Create a token; returns its secret (shown once) and its record."""
        secret = PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(
            id=str(uuid.uuid4()),
            label=label,
            project_id=project_id,
            task_id=task_id,
            read_only=read_only,
            created_at=now,
            expires_at=None if ttl_s is None else now + ttl_s,
            revoked=False,
            planner_session_id=planner_session_id,
        )
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.tokens),
                {
                    "id": record.id,
                    "token_hash": hash_secret(secret),
                    "label": label,
                    "project_id": project_id,
                    "task_id": task_id,
                    "planner_session_id": planner_session_id,
                    "read_only": read_only,
                    "created_at": now,
                    "expires_at": record.expires_at,
                    "revoked": False,
                },
            )
        return secret, record

    def scope_of(self, secret: str, *, now: float) -> Scope | None:
        """The scope a secret grants, or None when it is unknown, expired or revoked."""
        with reading(self.engine) as conn:
            row = conn.execute(
                select(t.tokens).where(_tokens.token_hash == hash_secret(secret))
            ).first()
        if row is None or row.revoked or (row.expires_at is not None and row.expires_at < now):
            return None
        return Scope(
            project_id=row.project_id,
            read_only=row.read_only,
            task_id=row.task_id,
            planner_session_id=row.planner_session_id,
        )

    def people_tokens_exist(self, *, now: float | None = None) -> bool:
        """Whether any token for people (not an agent's or a planner's) is configured and
        usable: not revoked and, when ``now`` is given, not expired."""
        query = select(_tokens.id).where(
            _tokens.task_id.is_(None),
            _tokens.planner_session_id.is_(None),
            _tokens.revoked.is_(False),
        )
        if now is not None:
            query = query.where(_tokens.expires_at.is_(None) | (_tokens.expires_at > now))
        with reading(self.engine) as conn:
            found = conn.execute(query.limit(1)).first()
        return found is not None

    def revoke(self, token_id: str) -> bool:
        """Revoke a token by id; False when there is none."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(t.tokens).where(_tokens.id == token_id).values(revoked=True)
                ).rowcount
            )

    def list(self) -> list[TokenRecord]:
        """Every token, newest first (secrets are not stored and not shown)."""
        with reading(self.engine) as conn:
            rows = conn.execute(select(t.tokens).order_by(_tokens.created_at.desc())).all()
        return [
            TokenRecord(
                r.id,
                r.label,
                r.project_id,
                r.task_id,
                r.read_only,
                r.created_at,
                r.expires_at,
                r.revoked,
                r.planner_session_id,
            )
            for r in rows
        ]
