"""Tables drawn as plain text read exactly as Rich draws them, or are left to Rich."""

from __future__ import annotations

import io
from typing import Any

from hypothesis import event, given, note, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.table import Table
from rich.text import Text

from brahmi.cli.plaintable import plain, print_table

_PLAIN = st.sampled_from(list("abcxyz019 .-_/…é:"))
# What Rich treats specially: markup, emoji codes, tabs and newlines, control codes, wide
# and zero-width characters.
_SPECIAL = st.sampled_from(["[", "]", "[b]", "[/]", ":smile:", "\t", "\n", "\x07", "中", "e\u0301"])


def _cells(special: bool) -> st.SearchStrategy[str | Text]:
    chars = st.one_of(_PLAIN, _PLAIN, _PLAIN, _SPECIAL) if special else _PLAIN
    text = st.lists(chars, max_size=10).map("".join)
    if not special:
        return st.one_of(text, text.map(lambda s: Text(s, style="bold")))
    return st.one_of(text, text.map(lambda s: Text(s, justify="right")))


@st.composite
def tables(draw: st.DrawFn) -> Table:
    """Tables as the CLI draws them (plain text, no wrapping, the default layout), or,
    half the time, with what makes Rich lay them out itself."""
    special = draw(st.booleans())
    cell = _cells(special)
    some = st.booleans() if special else st.just(False)
    table = Table(
        expand=draw(some),
        show_lines=draw(some),
        title=draw(st.sampled_from([None, "t"])) if special else None,
        title_justify="left",
    )
    for _ in range(draw(st.integers(1, 5))):
        header = draw(cell)
        no_wrap = draw(st.booleans())
        table.add_column(
            header if isinstance(header, str) else header.plain,
            style=draw(st.sampled_from([None, "bold", "dim"])),
            justify=draw(
                st.sampled_from(["left", "right", "center"] if special else ["left", "right"])
            ),
            no_wrap=no_wrap,
            overflow=draw(st.sampled_from(["ellipsis", "crop", "fold"])),
            max_width=draw(st.one_of(st.none(), st.integers(0 if special else 1, 12)))
            if no_wrap or special
            else None,
            min_width=draw(st.one_of(st.none(), st.integers(0, 8))),
        )
    for _ in range(draw(st.integers(0, 6))):
        table.add_row(*draw(st.lists(cell, min_size=0, max_size=len(table.columns))))
    return table


def _printed(console_args: dict[str, Any], table: Table, *, fast: bool) -> str | None:
    """What printing ``table`` writes: by Rich, or as :func:`plain` draws it when ``fast``
    (None when :func:`plain` leaves it to Rich; an exception's class name when printing
    raises, e.g. for invalid markup)."""
    out = io.StringIO()
    console = Console(file=out, **console_args)
    try:
        if fast:
            drawn = plain(console, table)
            if drawn is None:
                return None
            console.print(drawn)
        else:
            console.print(table)
    except Exception as exc:
        return type(exc).__name__
    return out.getvalue()


@settings(max_examples=600, deadline=None)
@given(table=tables(), width=st.integers(8, 200))
def test_a_table_drawn_as_plain_text_reads_as_rich_draws_it(table: Table, width: int) -> None:
    console = {"width": width, "soft_wrap": False, "color_system": None}
    note(repr([(vars(c), list(c.cells)) for c in table.columns]))
    fast = _printed(console, table, fast=True)
    event("drawn as plain text" if fast is not None else "left to Rich")
    if fast is not None:
        assert fast == _printed(console, table, fast=False)


@settings(max_examples=100, deadline=None)
@given(table=tables())
def test_a_console_that_writes_colours_leaves_the_table_to_rich(table: Table) -> None:
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system="256")
    assert plain(console, table) is None


def test_a_task_table_in_a_pipe_is_drawn_as_plain_text() -> None:
    table = Table(expand=False, show_lines=False, title_justify="left")
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("task")
    table.add_column("skill", style="dim", no_wrap=True, overflow="ellipsis", max_width=12)
    table.add_column("att", justify="right")
    table.add_row("1", "write the README", "brahmi/builtin/run-command", "1")
    table.add_row("1.2", "  a sub-task", "local/x", "12")
    console = Console(file=io.StringIO(), width=160, soft_wrap=False)  # a file: no colours
    print_table(console, table)
    assert console.file.getvalue() == (  # type: ignore[attr-defined]
        "┏━━━━━┳━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━┓\n"
        "┃ id  ┃ task             ┃ skill        ┃ att ┃\n"
        "┡━━━━━╇━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━┩\n"
        "│ 1   │ write the README │ brahmi/buil… │   1 │\n"
        "│ 1.2 │   a sub-task     │ local/x      │  12 │\n"
        "└─────┴──────────────────┴──────────────┴─────┘\n"
    )
