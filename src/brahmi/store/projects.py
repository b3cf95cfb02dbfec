"""Projects: a workspace folder and its settings (DESIGN §1)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from brahmi import errors
from brahmi.store import driver
from brahmi.store import tables as t
from brahmi.store.database import reading
from brahmi.store.events import EventWriter


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    """A stored project. ``settings`` may hold ``env`` (a dict) and ``executor``."""

    id: str
    name: str
    workspace: str
    settings: dict[str, Any]
    created_at: float


def ensure_project(engine: Engine, workspace: str, name: str, now: float) -> ProjectRecord:
    """The project whose workspace is ``workspace`` (an absolute path), created if new."""
    with engine.begin() as conn:
        row = conn.execute(select(t.projects).where(t.projects.c.workspace == workspace)).first()
        if row is not None:
            return ProjectRecord(**row._mapping)
        project = ProjectRecord(str(uuid.uuid4()), name, workspace, {}, now)
        conn.execute(insert(t.projects), vars_of(project))
        events = EventWriter(now)
        events.add("project_created", project.id, None, workspace=workspace)
        events.flush(conn)
        return project


_PROJECT_BY_ID = select(t.projects).where(t.projects.c.id == bindparam("p_id"))


def get_project(
    engine: Engine, project_id: str, *, connection: Connection | None = None
) -> ProjectRecord:
    """The project with this id.

    Args:
        connection: A connection the caller keeps open outside a transaction (a worker's
            :class:`~brahmi.store.claims.Recorder`), to read on instead of one from the
            pool.

    Raises:
        ProjectNotFound: When there is none.
    """
    source = connection or engine
    rows = driver.typed(
        source, t.projects, driver.read(source, _PROJECT_BY_ID, {"p_id": project_id})
    )
    if not rows:
        raise errors.ProjectNotFound(f"no project has the id {project_id!r}", project_id=project_id)
    return ProjectRecord(**rows[0])


def vars_of(project: ProjectRecord) -> dict[str, Any]:
    """The project as a ``projects`` row."""
    return {
        "id": project.id,
        "name": project.name,
        "workspace": project.workspace,
        "settings": project.settings,
        "created_at": project.created_at,
    }


def list_projects(engine: Engine) -> list[ProjectRecord]:
    """Every project, oldest first."""
    with reading(engine) as conn:
        rows = conn.execute(select(t.projects).order_by(t.projects.c.created_at)).all()
    return [ProjectRecord(**r._mapping) for r in rows]


def update_settings(
    engine: Engine, project_id: str, changes: dict[str, Any], now: float
) -> ProjectRecord:
    """Merge ``changes`` into the project's settings (a None value removes the key), with a
    ``project_settings_changed`` event naming the keys changed (never their values: the
    env may hold secrets).

    Raises:
        ProjectNotFound: When there is none.
    """
    with engine.begin() as conn:
        row = conn.execute(
            select(t.projects).where(t.projects.c.id == project_id).with_for_update()
        ).first()
        if row is None:
            raise errors.ProjectNotFound(
                f"no project has the id {project_id!r}", project_id=project_id
            )
        settings = dict(row.settings or {})
        for key, value in changes.items():
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        conn.execute(
            update(t.projects).where(t.projects.c.id == project_id).values(settings=settings)
        )
        events = EventWriter(now)
        events.add("project_settings_changed", project_id, None, keys=sorted(changes))
        events.flush(conn)
    return ProjectRecord(**{**row._mapping, "settings": settings})
