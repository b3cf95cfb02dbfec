"""Who may call the server, and what they may touch (issue 5, DESIGN §8).

Shared by the ASGI gateway (:mod:`brahmi.api.app`, which guards MCP) and the REST routes
(:mod:`brahmi.api.routes`): a bearer token grants its scope; without one, a caller on the
loopback interface is local (everything) as long as no token for people is configured.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from fastapi import Depends, Request

from brahmi import errors
from brahmi.domain.access import LOCAL, Scope
from brahmi.service import Brahmi


def caller_scope(brahmi: Brahmi, headers: dict[str, str], client_host: str | None) -> Scope:
    """The scope of a request, from its bearer token or its address.

    Raises:
        Unauthorized: No valid token where one is needed.
    """
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        scope = brahmi.tokens.scope_of(auth[7:].strip(), now=brahmi.clock.now())
        if scope is None:
            raise errors.Unauthorized("the bearer token is unknown, expired or revoked")
        return scope
    if brahmi.tokens.people_tokens_exist(now=brahmi.clock.now()):
        raise errors.Unauthorized("this server requires a bearer token")
    if not _is_loopback(client_host):
        raise errors.Unauthorized("calls from other machines need a bearer token")
    return LOCAL


def _is_loopback(host: str | None) -> bool:
    if host in (None, "testclient", "localhost"):
        return host is not None
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


def request_brahmi(request: Request) -> Brahmi:
    """The :class:`~brahmi.service.Brahmi` the app serves (a FastAPI dependency)."""
    brahmi: Brahmi = request.app.state.brahmi
    return brahmi


def request_scope(request: Request) -> Scope:
    """The scope of a REST request (a FastAPI dependency).

    Raises:
        Unauthorized: No valid token where one is needed.
    """
    headers = {k.lower(): v for k, v in request.headers.items()}
    client = request.client
    return caller_scope(request_brahmi(request), headers, client.host if client else None)


#: The instance serving a request (a FastAPI dependency).
BrahmiDep = Annotated[Brahmi, Depends(request_brahmi)]
#: The caller's scope (a FastAPI dependency).
ScopeDep = Annotated[Scope, Depends(request_scope)]


def require_readable(brahmi: Brahmi, scope: Scope, project_id: str) -> None:
    """Raise unless ``project_id`` exists and ``scope`` may read it.

    Raises:
        ProjectNotFound: No such project.
        Forbidden: The caller may not read it.
    """
    brahmi.get_project(project_id)
    if not scope.can_read(project_id):
        raise errors.Forbidden(f"this token may not read project {project_id}")


def require_writable(brahmi: Brahmi, scope: Scope, project_id: str) -> None:
    """Raise unless ``scope`` may change ``project_id`` (:func:`require_readable` first)."""
    require_readable(brahmi, scope, project_id)
    if not scope.can_write(project_id):
        raise errors.Forbidden(f"this token may not change project {project_id}")


def require_person(brahmi: Brahmi, scope: Scope, project_id: str) -> None:
    """Raise unless ``scope`` may act as the project's person: change its settings, post
    to its planner (not an agent's or a planner's token)."""
    require_writable(brahmi, scope, project_id)
    if not scope.can_act_as_person(project_id):
        raise errors.Forbidden(f"only a person's token may do this in project {project_id}")


def task_in_scope(brahmi: Brahmi, scope: Scope, task_id: str, *, write: bool = False) -> Any:
    """The task ``task_id`` if ``scope`` may read it (and, with ``write``, change it).

    Raises:
        TaskNotFound: No such task, or one the caller may not read (not told apart).
        Forbidden: ``write`` and the caller may not change it.
    """
    task = brahmi.get_task(task_id)
    if not scope.can_read(task.project_id):
        raise errors.TaskNotFound(f"no task has the id {task_id!r}", task_id=task_id)
    if write and not scope.can_write(task.project_id):
        raise errors.Forbidden(f"this token may not change task {task_id}")
    return task


__all__ = [
    "BrahmiDep",
    "ScopeDep",
    "caller_scope",
    "request_brahmi",
    "request_scope",
    "require_person",
    "require_readable",
    "require_writable",
    "task_in_scope",
]
