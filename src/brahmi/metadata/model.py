"""The parsed form of ``aramb.toml`` (DESIGN §11): services, references, problems.

Plain frozen dataclasses and the constants of the file format; no I/O. The rules that
check a document are in :mod:`brahmi.metadata.rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The first ``uniqueIdentifier``; the next services are 101, 102, … in file order.
FIRST_ID = 100
#: ``applicationID`` is always this literal; deployment replaces it from ``APPLICATION_ID``.
APPLICATION_ID = "{applicationID}"
#: Every service type the file format knows.
SERVICE_TYPES = (
    "build",
    "backend",
    "frontend",
    "postgres",
    "redis",
    "mongodb",
    "aramb-agent",
    "onboarding",
    "template",
)
DATABASE_TYPES = frozenset({"postgres", "redis", "mongodb"})
#: Settings only a ``build`` service has.
BUILD_FIELDS = ("repoUrl", "buildPath", "targetBranches", "installationId")
#: Settings each type must have, in the order they are reported.
REQUIRED_SETTINGS: Mapping[str, tuple[str, ...]] = {
    "build": BUILD_FIELDS,
    "backend": ("image", "cmd", "commandPort"),
    "frontend": ("staticPath", "cmd", "commandPort"),
    "postgres": ("image",),
    "redis": ("image",),
    "mongodb": ("image",),
}
#: Settings each type must not have.
FORBIDDEN_SETTINGS: Mapping[str, tuple[str, ...]] = {
    "build": ("image", "cmd", "commandPort", "publicNet"),
    "backend": BUILD_FIELDS,
    "frontend": ("image", *BUILD_FIELDS),
    "postgres": BUILD_FIELDS,
    "redis": BUILD_FIELDS,
    "mongodb": BUILD_FIELDS,
}
#: What a build service produces: ``${N.outputs.IMAGE_URL}``, ``${N.outputs.PATH}``.
OUTPUT_KEYS = ("IMAGE_URL", "PATH")
#: The kinds of reference: ``${N.<kind>.KEY}``.
REFERENCE_KINDS = ("vars", "secrets", "outputs")


@dataclass(frozen=True, slots=True)
class Service:
    """One ``[[services]]`` entry, read leniently (wrongly typed fields become None).

    Attributes:
        index: Position in the file, from 0.
        unique_identifier: ``uniqueIdentifier`` when it is an integer.
        name: ``name`` when it is a string.
        type: ``type`` when it is a string (maybe not a known type).
        settings: ``configuration.settings`` (empty when missing or not a table).
        vars: ``configuration.vars`` as ``(key, value)`` pairs, in file order.
        secrets: ``configuration.secrets`` as ``(key, value)`` pairs, in file order.
    """

    index: int
    unique_identifier: int | None
    name: str | None
    type: str | None
    settings: Mapping[str, Any] = field(default_factory=dict)
    vars: tuple[tuple[str, Any], ...] = ()
    secrets: tuple[tuple[str, Any], ...] = ()

    def var_keys(self) -> set[str]:
        """The keys of ``vars``."""
        return {key for key, _ in self.vars}

    def secret_keys(self) -> set[str]:
        """The keys of ``secrets``."""
        return {key for key, _ in self.secrets}


@dataclass(frozen=True, slots=True)
class Reference:
    """One ``${N.kind.KEY}`` found in a value.

    Attributes:
        text: The whole reference as written, ``${101.outputs.IMAGE_URL}``.
        service_id: ``N``, or None when it is not a number.
        kind: ``vars``, ``secrets`` or ``outputs`` (or what was written instead).
        key: ``KEY`` (empty when missing).
        well_formed: False when the text inside ``${…}`` is not ``N.kind.KEY`` with a
            known kind; such a reference is reported as ``bad_reference``.
    """

    text: str
    service_id: int | None
    kind: str
    key: str
    well_formed: bool


@dataclass(frozen=True, slots=True)
class MetadataProblem:
    """One broken rule of DESIGN §11, with where it is.

    Attributes:
        code: Stable identifier: ``id_not_sequential``, ``duplicate_id``,
            ``unknown_type``, ``missing_field``, ``forbidden_field``, ``bad_value``,
            ``bad_reference``, ``forward_reference``, ``literal_secret``,
            ``secret_in_vars``, ``bad_application_id``, ``not_toml``, … (see
            ``docs/decisions.md``, "aramb.toml (§11)").
        message: A sentence for a person naming the service, key and value.
        service_index: Position of the service in the file (from 0), None for the file.
        service_id: The service's ``uniqueIdentifier`` when it has one.
        key: Dotted path, ``services[2].configuration.settings.image``.
        line: 1-based line in the file, when known.
    """

    code: str
    message: str
    service_index: int | None = None
    service_id: int | None = None
    key: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"code", "message", "service", "service_index", "key", "line"}``;
        ``service`` is the ``uniqueIdentifier`` (None when unknown)."""
        return {
            "code": self.code,
            "message": self.message,
            "service": self.service_id,
            "service_index": self.service_index,
            "key": self.key,
            "line": self.line,
        }

    def location(self) -> str:
        """Where, for a person: ``line 12, services[2].configuration.settings.image``."""
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.key:
            parts.append(self.key)
        return ", ".join(parts) or "file"
