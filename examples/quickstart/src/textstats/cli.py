"""The ``textstats`` command: statistics for files (or stdin) as a table or as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from textstats import __version__
from textstats.stats import DEFAULT_WPM, TextStats, analyze, format_duration


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``textstats [FILE ...] [--wpm N] [--top N] [--json]``."""
    parser = argparse.ArgumentParser(
        prog="textstats",
        description="Count words, sentences and paragraphs and estimate reading time.",
    )
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help="text files to read; '-' or none reads stdin"
    )
    parser.add_argument(
        "--wpm",
        type=_positive_int,
        default=DEFAULT_WPM,
        help=f"reading speed in words per minute (default {DEFAULT_WPM})",
    )
    parser.add_argument(
        "--top", type=int, default=5, help="how many common words to list (default 5)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (0 ok, 1 a file could not be read)."""
    args = build_parser().parse_args(argv)
    names = args.files or ["-"]
    reports: list[tuple[str, TextStats]] = []
    for name in names:
        try:
            text = _read(name)
        except (OSError, UnicodeDecodeError) as exc:
            print(f"textstats: cannot read {name}: {exc}", file=sys.stderr)
            return 1
        reports.append((name, analyze(text, wpm=args.wpm, top=args.top)))
    if args.json:
        print(json.dumps([{"file": name, **stats.to_dict()} for name, stats in reports], indent=2))
    else:
        print("\n\n".join(render(name, stats) for name, stats in reports))
    return 0


def run() -> NoReturn:
    """Entry point for ``python -m textstats`` and the zipapp: exit with main()'s status."""
    sys.exit(main())


def render(name: str, stats: TextStats) -> str:
    """A small aligned table of ``stats`` headed by the file's name."""
    top = ", ".join(f"{word} ({count})" for word, count in stats.top_words) or "-"
    rows = [
        ("words", str(stats.words)),
        ("sentences", str(stats.sentences)),
        ("paragraphs", str(stats.paragraphs)),
        ("characters", str(stats.characters)),
        ("avg word length", f"{stats.average_word_length:g}"),
        ("words/sentence", f"{stats.words_per_sentence:g}"),
        ("reading time", format_duration(stats.reading_time_s)),
        ("top words", top),
    ]
    title = "stdin" if name == "-" else name
    return "\n".join([title, *(f"  {label:<16} {value}" for label, value in rows)])


def _read(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    return Path(name).read_text(encoding="utf-8")


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {value}")
    return number
