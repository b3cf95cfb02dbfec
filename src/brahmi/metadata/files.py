"""Reading ``aramb.toml`` files and placing problems on their lines (DESIGN §11).

``tomli`` parses when it is installed (the same parser as the standard library's
``tomllib``, compiled: about three times faster on a 200-service file), else
``tomllib``. Neither gives positions, so :func:`locate_keys` scans the text for
table headers and ``key = value`` lines to map dotted keys to line numbers (best effort:
keys inside inline tables fall back to the line of their table or service).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import tomli

    _loads: Callable[[str], dict[str, Any]] = tomli.loads
    _DECODE_ERRORS: tuple[type[ValueError], ...] = (tomli.TOMLDecodeError, tomllib.TOMLDecodeError)
except ImportError:  # pragma: no cover - tomli is a dependency; tomllib is the fallback
    _loads = tomllib.loads
    _DECODE_ERRORS = (tomllib.TOMLDecodeError,)

from brahmi import errors
from brahmi.metadata import rules
from brahmi.metadata.model import MetadataProblem

#: Files larger than this are refused unread (an aramb.toml is a few KB).
MAX_FILE_BYTES = 4 * 1024 * 1024
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*(\]\]?)\s*(#.*)?$")
_KEY = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)
_AT_LINE = re.compile(r"at line (\d+)")


def parse(text: str, source: str = "aramb.toml") -> dict[str, Any]:
    """Parse TOML text.

    Args:
        text: The file's content.
        source: What to call it in the error.

    Returns:
        The document as plain dicts and lists.

    Raises:
        MetadataNotToml: The text is not TOML; ``fields`` hold ``path`` and ``line``.
    """
    try:
        return _loads(text)
    except _DECODE_ERRORS as exc:
        match = _AT_LINE.search(str(exc))
        line = int(match.group(1)) if match else None
        raise errors.MetadataNotToml(
            f"{source} is not valid TOML: {exc}", path=source, line=line
        ) from exc


def read_text(path: Path) -> str:
    """The file's text (UTF-8).

    Raises:
        MetadataUnreadable: Missing, not a file, over :data:`MAX_FILE_BYTES`, not UTF-8.
    """
    try:
        if not path.is_file():
            raise errors.MetadataUnreadable(f"{path} is not a file", path=str(path))
        if path.stat().st_size > MAX_FILE_BYTES:
            raise errors.MetadataUnreadable(
                f"{path} is larger than {MAX_FILE_BYTES} bytes", path=str(path)
            )
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.MetadataUnreadable(f"{path} cannot be read: {exc}", path=str(path)) from exc


def load(path: Path) -> tuple[dict[str, Any], str]:
    """Read and parse an ``aramb.toml``.

    Args:
        path: The file.

    Returns:
        ``(document, text)``.

    Raises:
        MetadataUnreadable: The file cannot be read.
        MetadataNotToml: It is not TOML.
    """
    text = read_text(path)
    return parse(text, str(path)), text


def validate_text(text: str, source: str = "aramb.toml") -> list[MetadataProblem]:
    """Every problem of :func:`brahmi.metadata.rules.check`, with line numbers.

    Raises:
        MetadataNotToml: The text is not TOML.
    """
    document = parse(text, source)
    return with_lines(rules.check(document), text)


def validate_file(path: Path) -> list[MetadataProblem]:
    """Validate an ``aramb.toml`` file (DESIGN §11).

    Args:
        path: The file.

    Returns:
        Every broken rule, with ``line`` filled where the text shows it; empty when
        the file is valid.

    Raises:
        MetadataUnreadable: The file cannot be read.
        MetadataNotToml: It is not TOML.
    """
    document, text = load(path)
    return with_lines(rules.check(document), text)


def with_lines(problems: list[MetadataProblem], text: str) -> list[MetadataProblem]:
    """``problems`` with ``line`` set from :func:`locate_keys` where it finds the key,
    or the nearest enclosing table or service."""
    if not problems:
        return []  # a valid file needs no scan for lines
    lines = locate_keys(text)
    placed = []
    for problem in problems:
        line = _lookup(lines, problem.key) if problem.key else None
        placed.append(dataclasses.replace(problem, line=line))
    # Within a service (and the file's own problems), in the order of the text.
    group = {id(p): i for i, p in enumerate(placed)}
    first: dict[int | None, int] = {}
    for p in placed:
        first.setdefault(p.service_index, group[id(p)])
    return sorted(
        placed, key=lambda p: (first[p.service_index], p.line if p.line is not None else 1 << 30)
    )


def _lookup(lines: dict[str, int], key: str) -> int | None:
    while key:
        if key in lines:
            return lines[key]
        cut = max(key.rfind("."), key.rfind("["))
        if cut <= 0:
            return lines.get(key)
        key = key[:cut]
    return None


def locate_keys(text: str) -> dict[str, int]:
    """Map dotted keys to 1-based line numbers: ``services[2]`` (its ``[[services]]``
    header), ``services[2].name``, ``services[2].configuration.settings.image``,
    ``services[2].configuration.vars[0].value``, ``config_status.incomplete``.

    Lines inside multi-line strings are skipped. The first occurrence wins."""
    found: dict[str, int] = {}
    arrays: dict[str, int] = {}  # full array path (with parent indexes) -> last index
    prefix = ""
    in_string: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw
        if in_string:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        header = _HEADER.match(line)
        if header and not _KEY.match(line):
            name = _dotted(header.group(2))
            if header.group(1) == "[[":
                parent = _indexed(name, arrays, exclude_last=True)
                full = f"{parent}.{name.rsplit('.', 1)[-1]}" if parent else name
                arrays[full] = arrays.get(full, -1) + 1
                prefix = f"{full}[{arrays[full]}]"
                # A new element resets the counters of arrays nested in the old one.
                for other in [a for a in arrays if a.startswith(f"{full}[")]:
                    del arrays[other]
            else:
                prefix = _indexed(name, arrays, exclude_last=False)
            found.setdefault(prefix, number)
            continue
        key = _KEY.match(line)
        if key:
            dotted = _dotted(key.group(1))
            found.setdefault(f"{prefix}.{dotted}" if prefix else dotted, number)
            rest = line[key.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_string = quote
    return found


def _dotted(name: str) -> str:
    if '"' not in name and "'" not in name:
        return ".".join(part.strip() for part in name.split("."))
    parts = re.findall(r"\"[^\"]*\"|'[^']*'|[^.\s]+", name)
    return ".".join(p.strip("\"'") for p in parts)


def _indexed(name: str, arrays: dict[str, int], exclude_last: bool) -> str:
    """``services.configuration.settings`` -> ``services[2].configuration.settings`` using
    the current index of each array of tables along the way."""
    parts = name.split(".")
    upto = len(parts) - 1 if exclude_last else len(parts)
    out = ""
    for part in parts[:upto]:
        out = f"{out}.{part}" if out else part
        if out in arrays:
            out = f"{out}[{arrays[out]}]"
    return out
