"""Where an attempt's transcript lives, and reading it while it is written (DESIGN §3, §8).

The worker names each attempt's file when the attempt starts and records the path on the
attempt only when it finishes; :func:`attempt_transcript` finds the file of a running
attempt too, so the dashboard can tail it as the agent works.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brahmi.domain.models import AttemptRecord

#: Most bytes one read returns; a reader asks again from ``next_offset``.
MAX_CHUNK_BYTES = 256 * 1024


def transcript_path(transcripts_dir: Path, task_id: str, number: int, attempt_id: str) -> Path:
    """The file of attempt ``number`` (id ``attempt_id``) of ``task_id``."""
    return transcripts_dir / task_id / f"attempt-{number:03d}-{attempt_id[:8]}.log"


def attempt_transcript(transcripts_dir: Path, attempt: AttemptRecord) -> Path:
    """The transcript file of ``attempt``: the one recorded, else where the worker writes
    it while the attempt runs (it may not exist yet)."""
    if attempt.transcript_path:
        return Path(attempt.transcript_path)
    return transcript_path(transcripts_dir, attempt.task_id, attempt.number, attempt.id)


@dataclass(frozen=True, slots=True)
class TranscriptChunk:
    """A piece of one attempt's transcript.

    Attributes:
        attempt_id: The attempt it belongs to.
        number: The attempt's number.
        offset: Byte offset the piece starts at.
        next_offset: Byte offset to read from next time.
        text: The piece, decoded as UTF-8 (bad bytes replaced).
        running: True while the attempt has not finished (more may come).
    """

    attempt_id: str
    number: int
    offset: int
    next_offset: int
    text: str
    running: bool

    def to_dict(self) -> dict[str, Any]:
        """As REST returns it."""
        return {
            "attempt_id": self.attempt_id,
            "number": self.number,
            "offset": self.offset,
            "next_offset": self.next_offset,
            "text": self.text,
            "running": self.running,
        }


def read_chunk(
    transcripts_dir: Path, attempt: AttemptRecord, offset: int, max_bytes: int = MAX_CHUNK_BYTES
) -> TranscriptChunk:
    """Up to ``max_bytes`` of ``attempt``'s transcript from byte ``offset``.

    A piece never ends inside a UTF-8 character: bytes of a character not yet complete are
    left for the next read. A missing file reads as empty.
    """
    path = attempt_transcript(transcripts_dir, attempt)
    data = b""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            data = file.read(max(0, min(max_bytes, MAX_CHUNK_BYTES)))
    except (FileNotFoundError, NotADirectoryError):
        pass
    data = data[: _complete_utf8(data)]
    return TranscriptChunk(
        attempt_id=attempt.id,
        number=attempt.number,
        offset=offset,
        next_offset=offset + len(data),
        text=data.decode("utf-8", errors="replace"),
        running=attempt.finished_at is None,
    )


def _complete_utf8(data: bytes) -> int:
    """The length of ``data`` without a trailing UTF-8 character cut short."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: look further back for the lead
            continue
        if byte >= 0xF0:
            need = 4
        elif byte >= 0xE0:
            need = 3
        elif byte >= 0xC0:
            need = 2
        else:
            need = 1
        return len(data) if back >= need else len(data) - back
    return len(data)


__all__ = [
    "MAX_CHUNK_BYTES",
    "TranscriptChunk",
    "attempt_transcript",
    "read_chunk",
    "transcript_path",
]
