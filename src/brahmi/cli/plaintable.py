"""Rich tables drawn as plain text when the output takes no colours (a pipe, a file).

Rich lays a table out cell by cell (measure, pad, wrap, justify, crop, style), about half a
millisecond a row: 50 ms of ``brahmi tasks list`` and of ``brahmi run``'s closing table for
100 tasks. When the console writes no colours and the table fits its width without
wrapping a cell, every line is just each cell's text padded to its column's width between
the box's characters; :func:`plain` draws those same characters directly, following Rich's
own rules (column widths from the widest cell, clamped by ``min_width`` and ``max_width``;
a cell too wide for a ``no_wrap`` column cut, with "…" for ``overflow="ellipsis"``;
right-justified text stripped on its right first). Anything else (a terminal with colours,
a cell that would wrap, a feature the tables here do not use) is left to Rich. A test
compares the two on generated tables.
"""

from __future__ import annotations

from rich.cells import get_character_cell_size
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.errors import MarkupError
from rich.padding import Padding
from rich.segment import Segment
from rich.table import Table
from rich.text import Text


class _Lines:
    """Finished lines, handed to Rich as one segment (it splits them into lines and
    writes them as it would the table's own)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Segment(self.text)


def plain(console: Console, table: Table) -> RenderableType | None:
    """``table`` drawn as Rich would draw it on ``console``, as one block of text, or None
    when that takes Rich's own layout: the console writes colours (or is a notebook), the
    table wraps a cell or does not fit the console's width, has a title, caption, footer,
    lines between rows, a fixed or minimum width, or a cell that is not plain one-line text
    of single-width characters.

    Args:
        console: Where the table will be printed (its width, colours, encoding, markup).
        table: A Rich table; not changed.

    Returns:
        A renderable to pass to ``console.print`` instead of ``table``, or None.
    """
    if not _plain_console(console) or not _plain_layout(table):
        return None
    columns = table.columns
    texts: list[list[str]] = []
    for column in columns:
        cells: list[str] = []
        for cell in (column.header, *column.cells):
            text = _text(console, cell)
            if text is None:
                return None
            cells.append(text)
        texts.append(cells)
    extra = 2 + len(columns) - 1  # the edges and a divider between columns
    widths: list[int] = []
    for column, cells in zip(columns, texts, strict=True):
        width = max(len(cell) for cell in cells)  # Rich: widest cell, then clamped
        if column.min_width is not None:
            width = max(width, column.min_width)
        if column.max_width is not None:
            width = min(width, column.max_width)
        if width < 1 and any(cells):
            return None  # Rich's cut to "…" overflows a column this narrow
        widths.append(width)
    if sum(widths) + 2 * len(columns) + extra > console.width:
        return None  # Rich would shrink columns and wrap
    fitted: list[list[str]] = []
    for column, cells, width in zip(columns, texts, widths, strict=True):
        if not column.no_wrap and any(len(cell) > width for cell in cells):
            return None  # Rich would wrap it over more lines
        fitted.append([_fit(cell, width, column.justify, column.overflow) for cell in cells])
    box = table.box
    assert box is not None
    box = box.substitute(
        console.options, safe=table.safe_box if table.safe_box is not None else console.safe_box
    )
    padded = [w + 2 for w in widths]
    rows = list(zip(*fitted, strict=True))
    lines = [box.get_top(padded)]
    for index, row in enumerate(rows):
        if index == 0:
            left, divider, right = box.head_left, box.head_vertical, box.head_right
        elif index == len(rows) - 1:
            left, divider, right = box.foot_left, box.foot_vertical, box.foot_right
        else:
            left, divider, right = box.mid_left, box.mid_vertical, box.mid_right
        lines.append(f"{left} {f' {divider} '.join(row)} {right}")
        if index == 0:
            lines.append(box.get_row(padded, "head", edge=True))
    lines.append(box.get_bottom(padded))
    lines.append("")
    return _Lines("\n".join(lines))


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` on ``console``: as :func:`plain` text when it can, else by Rich."""
    console.print(plain(console, table) or table)


def _plain_console(console: Console) -> bool:
    return (
        console.color_system is None
        and not console.is_jupyter
        and not console.soft_wrap
        and console.encoding.lower().startswith("utf")
        and not console.legacy_windows
    )


def _plain_layout(table: Table) -> bool:
    top, right, bottom, left = Padding.unpack(table.padding)
    return (
        bool(table.columns)
        and table.box is not None
        and table.show_header
        and table.show_edge
        and table.pad_edge
        and not table.show_footer
        and not table.show_lines
        and not table.leading
        and not table.collapse_padding
        and (top, right, bottom, left) == (0, 1, 0, 1)
        and not table.title
        and not table.caption
        and table.width is None
        and table.min_width is None
        and not table.expand
        and not any(row.end_section for row in table.rows)
        and all(_plain_column(c.width, c.ratio, c.justify, c.overflow) for c in table.columns)
    )


def _plain_column(width: int | None, ratio: int | None, justify: str, overflow: str) -> bool:
    return width is None and ratio is None and justify in ("left", "right") and overflow != "ignore"


def _text(console: Console, cell: RenderableType) -> str | None:
    """The characters a cell shows, or None when it is not one line of plain text."""
    if isinstance(cell, str):
        # Markup and emoji codes change the text only when it has "[" or ":".
        try:
            text = console.render_str(cell).plain if "[" in cell or ":" in cell else cell
        except MarkupError:
            return None  # Rich raises it where it draws the cell, if it does
    elif isinstance(cell, Text) and (cell.justify, cell.overflow, cell.no_wrap) == (None,) * 3:
        text = cell.plain
    else:
        return None
    if not text.isprintable():
        return None  # tabs, newlines, control codes
    if text.isascii() or all(get_character_cell_size(c) == 1 for c in text):
        return text
    return None  # wide or zero-width characters


def _fit(text: str, width: int, justify: str, overflow: str) -> str:
    """One line of a cell in its column, as Rich's ``Text.wrap`` lays out a line it does
    not wrap: right-justified text stripped on its right, what is still too long cut (with
    "…" for ``ellipsis``), then padded to the width."""
    if justify == "right":
        text = text.rstrip()
    if len(text) > width:
        text = text[: width - 1] + "…" if overflow == "ellipsis" else text[:width]
    return text.rjust(width) if justify == "right" else text.ljust(width)
