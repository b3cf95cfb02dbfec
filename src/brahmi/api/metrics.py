"""``GET /metrics``: Prometheus text for the operator (DESIGN §9).

The same access rule as REST: open on the loopback interface while no token is
configured, otherwise a bearer token whose scope covers every project (read-only is
enough). The numbers are the whole system's, so a token limited to one project, an
agent's or a planner's token gets 403.
"""

from __future__ import annotations

import threading

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from brahmi import errors
from brahmi.api import access
from brahmi.domain.access import Scope
from brahmi.metrics import registry_for
from brahmi.service import Brahmi

router = APIRouter()
_lock = threading.Lock()


def _registry(request: Request) -> CollectorRegistry:
    """The app's registry, made on the first scrape (its collector follows the event log
    from then on)."""
    state = request.app.state
    with _lock:
        registry: CollectorRegistry | None = getattr(state, "metrics_registry", None)
        if registry is None:
            brahmi: Brahmi = state.brahmi
            registry = state.metrics_registry = registry_for(brahmi)
    return registry


def _require_global(scope: Scope) -> None:
    if scope.project_id is not None or scope.task_id is not None or scope.planner_session_id:
        raise errors.Forbidden("metrics cover every project: use a token for every project")


@router.get(
    "/metrics",
    tags=["health"],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."}},
)
def metrics(request: Request) -> Response:
    """Prometheus text format 0.0.4: tasks, attempts, loop turns, usage, planner triggers,
    workers, histograms, database errors (metric names in docs/metrics.md)."""
    _require_global(access.request_scope(request))
    return Response(generate_latest(_registry(request)), media_type=CONTENT_TYPE_LATEST)
