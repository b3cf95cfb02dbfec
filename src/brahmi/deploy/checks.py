"""The one place deployment asks the metadata validator about a file (DESIGN §11).

When ``brahmi.metadata.rules`` is installed, its ``check(document)`` problems stop a
deployment before anything starts; without it, :func:`brahmi.deploy.plan.parse`'s own
structural checks are all there is.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


def metadata_problems(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every problem the metadata validator finds in ``document``, as ``{"code",
    "message", "service", "key"}`` like :func:`brahmi.deploy.plan.parse`'s (warnings
    excluded); empty when it finds none or is not installed."""
    try:
        rules: Any = importlib.import_module("brahmi.metadata.rules")
    except ImportError:
        return []
    found: list[dict[str, Any]] = []
    for problem in rules.check(document):
        if getattr(problem, "severity", "error") == "warning":
            continue
        found.append(
            {
                "code": str(getattr(problem, "code", "invalid")),
                "message": str(getattr(problem, "message", problem)),
                "service": getattr(problem, "service_id", None),
                "key": getattr(problem, "key", None),
            }
        )
    return found
