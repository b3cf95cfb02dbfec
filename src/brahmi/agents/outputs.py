"""Reading an agent's outputs from its final message (DESIGN §6).

The contract told to every agent: end with one JSON object, in a fenced ``json`` block or
as the whole final message. Brahmi takes the last JSON object of the final message.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()


def last_json_object(text: str) -> dict[str, Any] | None:
    """The last JSON object in ``text``, or None when there is none.

    Fenced blocks are preferred (the last one that holds an object); otherwise the whole
    text, otherwise the last ``{…}`` that decodes.
    """
    for block in reversed(_FENCE.findall(text)):
        value = _decode(block.strip())
        if isinstance(value, dict):
            return value
    whole = _decode(text.strip())
    if isinstance(whole, dict):
        return whole
    # Scan forwards and skip past each object found, so an object nested inside the last
    # one is never mistaken for it.
    last: dict[str, Any] | None = None
    start = text.find("{")
    while start != -1:
        try:
            value, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            last = value
        start = text.find("{", end)
    return last


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None
