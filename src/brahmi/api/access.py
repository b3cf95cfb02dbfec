"""Who may call the server, and what they may touch (issue 5, DESIGN §8).

Shared by the ASGI gateway (:mod:`brahmi.api.app`, which guards MCP) and the REST routes
(:mod:`brahmi.api.routes`): a bearer token grants its scope; without one, a caller on the
loopback interface is local (everything) as long as no token for people is configured.
"""

from __future__ import annotations

import ipaddress

from fastapi import Request

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


__all__ = ["caller_scope", "request_brahmi", "request_scope"]
