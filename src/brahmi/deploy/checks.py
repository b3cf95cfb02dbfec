"""The one place deployment asks the metadata validator about a file (DESIGN §11).

Every problem :func:`brahmi.metadata.rules.check` finds stops a deployment before anything
starts, in the shape :func:`brahmi.deploy.plan.parse` reports its own structural ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brahmi.metadata import rules


def metadata_problems(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every problem the metadata validator finds in ``document``, as ``{"code",
    "message", "service", "key"}`` like :func:`brahmi.deploy.plan.parse`'s; empty when it
    finds none."""
    return [
        {
            "code": problem.code,
            "message": problem.message,
            "service": problem.service_id,
            "key": problem.key,
        }
        for problem in rules.check(document)
    ]
