"""Problems found while checking input: where, what kind, and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth a warning) in a piece of input.

    Attributes:
        path: Where in the input, JSONPath-like: ``tasks[2].logical_dependencies[0]``.
        code: Stable identifier of the kind of problem, e.g. ``dependency_cycle``.
        message: A sentence for a person, naming the offending value.
    """

    path: str
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """The problem as ``{"path", "code", "message"}``."""
        return {"path": self.path, "code": self.code, "message": self.message}
