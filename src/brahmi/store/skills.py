"""The skill index: sources, skills, tags and problems in the database, searchable.

``search`` filters ``category`` and ``tag`` exactly (case-insensitive) and ranks ``q`` with
SQLite's FTS5 (bm25 over name, description, tags and body) or PostgreSQL's full-text
search (``ts_rank`` over a tsvector weighted name A, tags and description B, body C;
migration 0006). The query text is reduced to its words before it reaches either, so
punctuation or operators in ``q`` can never break a search (the seeds warn that ``q`` broke
search elsewhere). On other databases ``q`` falls back to matching words in name and
description.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Engine,
    Float,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from brahmi.skills.skill import Skill
from brahmi.skills.validate import SkillProblem, severity_of
from brahmi.store import tables as t
from brahmi.store.bulk import bulk_insert
from brahmi.store.database import reading

_skills = t.skills.c
_sources = t.skill_sources.c
#: Words of ``q`` used at most; more only slow the search down.
MAX_QUERY_WORDS = 16
#: Matching skills ranked by bm25, best first: over name, description and tags (weights
#: 10, 4, 6), then over bodies. The score is asked for with ``bm25()`` itself rather than
#: the ``rank`` column (half again as slow), and only for rowids: reading ``full_id`` out of
#: the FTS table for every match costs more than ranking it, so it is read for the best
#: ``limit`` alone (``_TOP``). ``_ALL`` ranks every match, for searches with filters.
_BM25 = {
    "skills_fts": "bm25(skills_fts, 0.0, 10.0, 4.0, 6.0)",
    "skills_fts_body": "bm25(skills_fts_body, 0.0, 1.0)",
}
_TOP = (
    "SELECT f.full_id, r.rank FROM (SELECT rowid AS id, {bm25} AS rank FROM {table} "
    "WHERE {table} MATCH :match ORDER BY rank LIMIT :limit) AS r "
    "JOIN {table} AS f ON f.rowid = r.id"
)
_ALL = "SELECT full_id, {bm25} AS rank FROM {table} WHERE {table} MATCH :match"
#: Per connection: the number of skills holding each indexed term (``fts5vocab``).
_VOCABULARY = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.skills_fts_terms "
    "USING fts5vocab(main, skills_fts, 'row')"
)
_COMMON = (
    "SELECT term FROM temp.skills_fts_terms WHERE term IN :words "
    "AND 2 * doc >= (SELECT count(*) FROM skills)"
)
#: PostgreSQL advisory lock serialising writes to the index: several workers starting at
#: once all index the built-ins, and two inserts of one full_id would collide.
_INDEX_LOCK = 0x6272_6168_6D69  # "brahmi"
#: What a search result carries (not the body: results list skills, ``get`` reads one).
_HIT_COLUMNS = (
    _skills.full_id,
    _skills.name,
    _skills.description,
    _skills.category,
    _skills.tags,
    _skills.version,
    _skills.runtime,
)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A registered source of skills."""

    id: str
    kind: str
    location: str
    owner_repo: str
    path: str
    ref: str | None
    commit: str | None
    added_at: float
    indexed_at: float | None

    def to_dict(self) -> dict[str, Any]:
        """As the CLI prints it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "location": self.location,
            "owner_repo": self.owner_repo,
            "path": self.path,
            "ref": self.ref,
            "commit": self.commit,
        }


@dataclass(frozen=True, slots=True)
class IndexOutcome:
    """What re-indexing one source did."""

    indexed: int
    problems: list[SkillProblem]


class SkillIndex:
    """Skills and their sources in the database.

    Args:
        engine: A migrated engine (see :mod:`brahmi.store.database`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.fts = engine.dialect.name == "sqlite"
        self.tsvector = engine.dialect.name == "postgresql"

    # -- sources --------------------------------------------------------------------------

    def sources(self) -> list[SourceRecord]:
        """Every source, in the order they were added."""
        with reading(self.engine) as conn:
            rows = conn.execute(select(t.skill_sources).order_by(_sources.added_at)).all()
        return [SourceRecord(**r._mapping) for r in rows]

    def upsert_source(
        self,
        *,
        kind: str,
        location: str,
        owner_repo: str,
        path: str,
        ref: str | None,
        commit: str | None,
        now: float,
    ) -> SourceRecord:
        """Register a source, or update the one with the same ``location``."""
        with self.engine.begin() as conn:
            self._serialise(conn)
            row = conn.execute(select(t.skill_sources).where(_sources.location == location)).first()
            values = {
                "kind": kind,
                "owner_repo": owner_repo,
                "path": path,
                "ref": ref,
                "commit": commit,
            }
            if row is None:
                conn.execute(
                    insert(t.skill_sources),
                    {"id": str(uuid.uuid4()), "location": location, "added_at": now, **values},
                )
            else:
                conn.execute(update(t.skill_sources).where(_sources.id == row.id).values(**values))
            found = conn.execute(select(t.skill_sources).where(_sources.location == location)).one()
        return SourceRecord(**found._mapping)

    def remove_source(self, source_id: str) -> int:
        """Forget a source and its skills; returns how many skills went with it."""
        with self.engine.begin() as conn:
            self._serialise(conn)
            removed = self._clear(conn, source_id)
            conn.execute(delete(t.skill_sources).where(_sources.id == source_id))
        return removed

    # -- indexing -------------------------------------------------------------------------

    def replace_skills(
        self,
        source: SourceRecord,
        skills: Sequence[Skill],
        problems: Sequence[SkillProblem],
        *,
        now: float,
    ) -> IndexOutcome:
        """Make ``skills`` the source's skills, in one transaction.

        Conflict rule: a full_id already held by another source stays with that source (the
        one added first); the newcomer is reported as ``duplicate_full_id`` and skipped.
        """
        problems = list(problems)
        with self.engine.begin() as conn:
            self._serialise(conn)
            self._clear(conn, source.id)
            taken = (
                {
                    full_id: owner
                    for full_id, owner in conn.execute(
                        select(_skills.full_id, _sources.location)
                        .join(t.skill_sources, _sources.id == _skills.source_id)
                        .where(_skills.full_id.in_([s.full_id for s in skills]))
                    )
                }
                if skills
                else {}
            )
            kept: list[Skill] = []
            seen: set[str] = set()
            for skill in skills:
                if skill.full_id in taken or skill.full_id in seen:
                    owner = taken.get(skill.full_id, source.location)
                    problems.append(
                        SkillProblem(
                            str(skill.path / "SKILL.md"),
                            None,
                            "duplicate_full_id",
                            f"{skill.full_id} is already provided by {owner}; this copy is skipped",
                        )
                    )
                    continue
                seen.add(skill.full_id)
                kept.append(skill)
            bulk_insert(conn, t.skills, [_row(s, source.id, now) for s in kept])
            bulk_insert(
                conn,
                t.skill_tags,
                [
                    {"full_id": s.full_id, "tag": tag}
                    for s in kept
                    for tag in sorted({tag.lower() for tag in s.tags})
                ],
            )
            if self.fts and kept:
                conn.exec_driver_sql(
                    "INSERT INTO skills_fts (full_id, name, description, tags) VALUES (?, ?, ?, ?)",
                    [(s.full_id, _words(s.name), s.description, " ".join(s.tags)) for s in kept],
                )
                conn.exec_driver_sql(
                    "INSERT INTO skills_fts_body (full_id, body) VALUES (?, ?)",
                    [(s.full_id, s.body) for s in kept],
                )
            if self.tsvector and kept:
                conn.execute(
                    text(_PG_INDEX),
                    [
                        {
                            "full_id": s.full_id,
                            "name": _words(s.name),
                            "head": " ".join(s.tags) + " " + s.description,
                            "body": s.body,
                        }
                        for s in kept
                    ],
                )
            bulk_insert(
                conn,
                t.skill_problems,
                [
                    {
                        "source_id": source.id,
                        "file": p.file,
                        "line": p.line,
                        "code": p.code,
                        "message": p.message,
                    }
                    for p in problems
                ],
            )
            conn.execute(
                update(t.skill_sources).where(_sources.id == source.id).values(indexed_at=now)
            )
        return IndexOutcome(len(kept), problems)

    def _serialise(self, conn: Connection) -> None:
        """On PostgreSQL, wait for any other writer of the index (until commit)."""
        if self.tsvector:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INDEX_LOCK})

    def _clear(self, conn: Connection, source_id: str) -> int:
        ids = list(
            conn.execute(select(_skills.full_id).where(_skills.source_id == source_id)).scalars()
        )
        for chunk in _chunks(ids):
            conn.execute(delete(t.skill_tags).where(t.skill_tags.c.full_id.in_(chunk)))
            if self.fts or self.tsvector:
                for table in ("skills_fts", "skills_fts_body") if self.fts else ("skills_fts",):
                    conn.execute(
                        text(f"DELETE FROM {table} WHERE full_id IN :ids").bindparams(  # noqa: S608
                            bindparam("ids", expanding=True)
                        ),
                        {"ids": list(chunk)},
                    )
        conn.execute(delete(t.skills).where(_skills.source_id == source_id))
        conn.execute(delete(t.skill_problems).where(t.skill_problems.c.source_id == source_id))
        return len(ids)

    # -- reading --------------------------------------------------------------------------

    def versions(self, source_id: str) -> dict[str, str]:
        """``full_id → version`` of a source's indexed skills."""
        with reading(self.engine) as conn:
            return {
                r.full_id: r.version
                for r in conn.execute(
                    select(_skills.full_id, _skills.version).where(_skills.source_id == source_id)
                )
            }

    def full_ids(self) -> set[str]:
        """Every indexed full_id."""
        with reading(self.engine) as conn:
            return set(conn.execute(select(_skills.full_id)).scalars())

    def get(self, full_id: str) -> dict[str, Any] | None:
        """One skill's row (with ``source`` = its source's location), or None."""
        with reading(self.engine) as conn:
            row = conn.execute(
                select(t.skills, _sources.location.label("source"))
                .join(t.skill_sources, _sources.id == _skills.source_id)
                .where(_skills.full_id == full_id)
            ).first()
        return None if row is None else dict(row._mapping)

    def problems(self, source_id: str | None = None) -> list[dict[str, Any]]:
        """Every recorded problem (of one source), with the location of its source and its
        ``severity`` (``error``: the skill was skipped; ``warning``: indexed anyway)."""
        query = (
            select(t.skill_problems, _sources.location.label("source"))
            .join(t.skill_sources, _sources.id == t.skill_problems.c.source_id)
            .order_by(t.skill_problems.c.id)
        )
        if source_id is not None:
            query = query.where(t.skill_problems.c.source_id == source_id)
        with reading(self.engine) as conn:
            rows = conn.execute(query).all()
        return [{**r._mapping, "severity": severity_of(r.code)} for r in rows]

    def named(self, names: Iterable[str], *, besides: str | None = None) -> dict[str, list[str]]:
        """``name → full_ids`` of the skills with one of ``names`` (of sources other than
        the source ``besides``)."""
        found: dict[str, list[str]] = {}
        with reading(self.engine) as conn:
            for chunk in _chunks(sorted(set(names))):
                query = select(_skills.name, _skills.full_id).where(_skills.name.in_(chunk))
                if besides is not None:
                    query = query.where(_skills.source_id != besides)
                rows = conn.execute(query.order_by(_skills.full_id))
                for row in rows:
                    found.setdefault(row.name, []).append(row.full_id)
        return found

    def search(
        self,
        *,
        category: str | None = None,
        tag: str | None = None,
        q: str | None = None,
        limit: int = 20,
    ) -> list[dict[str, Any]]:
        """Skills matching every filter given, best first (DESIGN §8 ``search_skills``).

        Args:
            category: Exact match, case-insensitive.
            tag: Exact match on one of the tags, case-insensitive.
            q: Free text, ranked over name, description, tags and body.
            limit: At most this many results.

        Returns:
            Rows with ``full_id``, ``name``, ``description``, ``category``, ``tags``,
            ``version``, ``runtime``, ``source`` and (with ``q``) ``rank``.
        """
        words = _query_words(q)
        query = select(*_HIT_COLUMNS, _sources.location.label("source")).join(
            t.skill_sources, _sources.id == _skills.source_id
        )
        if category:
            query = query.where(_skills.category_key == category.strip().lower())
        if tag:
            query = query.join(
                t.skill_tags,
                (t.skill_tags.c.full_id == _skills.full_id)
                & (t.skill_tags.c.tag == tag.strip().lower()),
            )
        if words and self.fts:
            return self._ranked(query, words, limit, filtered=bool(category or tag))
        if words and self.tsvector:
            return self._ranked_tsvector(query, words, limit)
        if words:
            text_of = func.lower(_skills.name + " " + _skills.description)
            query = query.where(or_(*(text_of.contains(w) for w in words)))
        # Without text to rank by, a skill named after what was asked for comes first
        # (backend-critique before pytest-critique for critique+backend), then by id.
        named = [
            func.lower(_skills.name).contains(term.strip().lower())
            for term in (tag, category)
            if term and term.strip()
        ]
        order = [case((clause, 0), else_=1) for clause in named]
        with reading(self.engine) as conn:
            rows = conn.execute(query.order_by(*order, _skills.full_id).limit(limit)).all()
        return [dict(r._mapping) for r in rows]

    def _ranked(
        self, query: Any, words: list[str], limit: int, *, filtered: bool
    ) -> list[dict[str, Any]]:
        """Rank with FTS5: first over name, description and tags; only when that finds
        fewer than ``limit`` skills, over the bodies too, which then rank after them (the
        body is the weakest evidence, and scoring every body is what makes a search slow).
        Every word but the last must match whole (stemmed); the last may be a prefix.

        Words held by at least half of the skills are left out of the match while other
        words remain: bm25 gives them no weight (their idf is not positive, which FTS5
        turns into 1e-6), so they change no order and only make FTS5 score thousands of
        extra matches. When the other words match fewer than ``limit`` skills, the full
        match is run to fill the list."""
        found: list[dict[str, Any]] = []
        with reading(self.engine) as conn:
            matches = [_match(words)]
            weighty = self._weighty(conn, words)
            if weighty != words:
                matches.insert(0, _match(weighty))
            for table, bm25 in _BM25.items():
                sql = (_ALL if filtered else _TOP).format(table=table, bm25=bm25)
                # Without filters the best ``limit`` matches are all that is needed; with
                # filters every match is ranked and the filters choose among them.
                fts = (
                    text(sql).columns(full_id=t.skills.c.full_id.type, rank=Float()).subquery("fts")
                )
                ranked = (
                    query.add_columns(fts.c.rank)
                    .join(fts, fts.c.full_id == _skills.full_id)
                    .order_by(fts.c.rank, _skills.full_id)
                    .limit(limit)
                )
                seen = {row["full_id"] for row in found}
                for match in matches:
                    params: dict[str, Any] = {"match": match}
                    if not filtered:
                        params["limit"] = limit + len(found)
                    rows = [r for r in conn.execute(ranked, params) if r.full_id not in seen]
                    if len(found) + len(rows) >= limit or match is matches[-1]:
                        found.extend(dict(r._mapping) for r in rows[: limit - len(found)])
                        break
                if len(found) >= limit:
                    break
        return found

    @staticmethod
    def _weighty(conn: Connection, words: list[str]) -> list[str]:
        """``words`` without those held by half the skills or more (see ``_ranked``); all
        of them when every one is that common. The last word is matched as a prefix, but
        bm25 counts a prefix phrase's matches as one term's, so a word held by half the
        skills makes its prefix at least as common."""
        if len(words) < 2:
            return words
        if not conn.info.get("skills_fts_terms"):
            conn.exec_driver_sql(_VOCABULARY)
            conn.commit()  # a temp table lives as long as the connection, if committed
            conn.info["skills_fts_terms"] = True
        common = set(
            conn.execute(
                text(_COMMON).bindparams(bindparam("words", expanding=True)),
                {"words": words},
            ).scalars()
        )
        kept = [w for w in words if w not in common]
        return kept or words

    def _ranked_tsvector(self, query: Any, words: list[str], limit: int) -> list[dict[str, Any]]:
        """Rank with PostgreSQL's full-text search, like :meth:`_ranked`: skills whose name,
        tags or description match come before those only their body matches; within each,
        by ``ts_rank`` (weights A, B, C). Every word but the last matches whole (stemmed),
        the last also as a prefix. ``rank`` is negated, so lower is better on both
        databases."""
        # The parser splits on underscores anyway; a word of only underscores is no word.
        words = [part for w in words for part in w.split("_") if part]
        if not words:
            return []
        params = {f"w{i}": w for i, w in enumerate(words[:-1])}
        params["last"] = words[-1]

        # Stemmed ('english', without stop words); only a query of nothing but stop words
        # (q="the") falls back to the words as written ('simple'), which the index also holds.
        def query_in(config: str) -> str:
            whole = [f"plainto_tsquery('{config}', :w{i})" for i in range(len(words) - 1)]
            return " || ".join([*whole, f"to_tsquery('{config}', :last || ':*')"])

        english, simple = query_in("english"), query_in("simple")
        tsquery = f"CASE WHEN numnode({english}) > 0 THEN {english} ELSE {simple} END"
        sql = (
            "SELECT f.full_id, -(ts_rank(f.document, q.q) + CASE WHEN f.head @@ q.q "  # noqa: S608
            f"THEN 1 ELSE 0 END) AS rank FROM skills_fts f, (SELECT {tsquery} AS q) q "
            "WHERE f.document @@ q.q"
        )
        fts = text(sql).columns(full_id=t.skills.c.full_id.type, rank=Float()).subquery("fts")
        ranked = (
            query.add_columns(fts.c.rank)
            .join(fts, fts.c.full_id == _skills.full_id)
            .order_by(fts.c.rank, _skills.full_id)
            .limit(limit)
        )
        with reading(self.engine) as conn:
            return [dict(row._mapping) for row in conn.execute(ranked, params)]


def _match(words: list[str]) -> str:
    """An FTS5 query matching any of ``words``, the last as a prefix; never FTS syntax."""
    terms = [f'"{w}"' for w in words[:-1]] + [f'"{words[-1]}"*']
    return " OR ".join(terms)


#: Index one skill for PostgreSQL's full-text search (the table is made by migration 0006):
#: each field stemmed ('english') and as written ('simple', stop words kept).
_PG_INDEX = """
INSERT INTO skills_fts (full_id, head, document)
SELECT :full_id, h.head, h.head || setweight(to_tsvector('english', :body)
    || to_tsvector('simple', :body), 'C')
FROM (SELECT setweight(to_tsvector('english', :name) || to_tsvector('simple', :name), 'A')
      || setweight(to_tsvector('english', :head) || to_tsvector('simple', :head), 'B')
      AS head) AS h
"""


def _row(skill: Skill, source_id: str, now: float) -> dict[str, Any]:
    return {
        "full_id": skill.full_id,
        "source_id": source_id,
        "name": skill.name,
        "description": skill.description,
        "category": skill.category,
        "category_key": skill.category.lower() if skill.category else None,
        "tags": list(skill.tags),
        "version": skill.version,
        "path": str(skill.path),
        "body": skill.body,
        "runtime": skill.runtime,
        "command": skill.command,
        "license": skill.license,
        "commit": skill.commit,
        "skill_metadata": skill.metadata,
        "resources": list(skill.resources),
        "indexed_at": now,
    }


def _query_words(q: str | None) -> list[str]:
    """The words of a query, lower-cased; never FTS syntax."""
    if not q:
        return []
    return re.findall(r"\w+", q.lower())[:MAX_QUERY_WORDS]


def _words(name: str) -> str:
    """A skill name with its hyphens as spaces, so ``backend-critique`` matches ``critique``."""
    return f"{name} {name.replace('-', ' ')}"


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
