"""Box-drawn terminal tables that fit a width, made of plain strings.

The terminal tables of every command are drawn here rather than by rich's
Table, for two reasons:

- Speed. Importing rich's console and table costs about 40 ms, and it lays
  out about 1 ms per row of the layer table: ResNet-152's 515 rows took 0.46 s
  of a 0.5 s run, and a network of 20,000 layers (the most cnncost expands)
  13 s. The target for the default table is 0.10 s for the whole process.
  This module draws ResNet-152's table in a few milliseconds and imports
  nothing.
- Width. To fit a narrow console rich shortens any cell, numbers included
  (``493,8…``). Here a number is never cut: a table fits by the caller's
  stated order of layouts (headers on two lines, columns merged or left out),
  and only text columns that allow it (names) wrap. Where even the narrowest
  layout does not fit, the table is printed whole and the terminal wraps it.

The look is rich's default table (a heavy header box, sections, a centred
title, bold header, styles per row), so output is as before on a wide terminal.
Numbers in "decimal" columns line up on their decimal point.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Sequence

SGR = {"bold": "1", "dim": "2", "italic": "3", "red": "31", "bold red": "1;31"}
SEPARATORS = "._-/ "  # where a wrapped name prefers to break: after one of these
CONTINUED = "↳ "  # starts each further line of a wrapped name, so that it never reads as a row of its own


class Column(NamedTuple):
    header: str
    align: str = "left"  # left, right, or decimal: right-aligned on the decimal point
    wrap: int = 0  # a text column's narrowest width when wrapping; 0: it never wraps
    stacked: str | None = None  # the header on two lines ("Memory\n(KB)"), for layouts that stack headers
    prose: bool = False  # a wrapping column of words: it breaks at spaces only, never inside a word


class Layout(NamedTuple):
    columns: tuple  # indices into the grid's columns, in the order shown
    stacked: bool = False  # headers on two lines where a column has a stacked form
    wrap: bool = False  # may text columns wrap (down to their Column.wrap)?


def _inside_number(text: str, cut: int) -> bool:
    """Whether a break before text[cut] would split a number (digits, with , or . between digits)."""
    if cut <= 0 or cut >= len(text):
        return False
    before, after = text[cut - 1], text[cut]
    if after in ",." and before.isdigit():  # 1|,234 or 3|.14
        return cut + 1 < len(text) and text[cut + 1].isdigit()
    return after.isdigit() and (before.isdigit() or (before in ",." and cut >= 2 and text[cut - 2].isdigit()))


def longest_number(text: str) -> int:
    """The length of the longest number in text: the narrowest a wrapping column holding it may be."""
    import re

    return max(map(len, re.findall(r"\d(?:\d|[,.](?=\d))*", text)), default=0)


def wrap_text(text: str, width: int) -> list[str]:
    """Lines of at most width characters, broken after a separator where there is one in reach, and
    never inside a number (where width is at least the longest number, see longest_number)."""
    if width < 1:
        width = 1
    lines = []
    while len(text) > width:
        cut = 0
        for at in range(width, 0, -1):  # the last separator in reach that is not inside a number
            if text[at - 1] in SEPARATORS and not _inside_number(text, at):
                cut = at
                break
        if cut <= 0:
            cut = width
            while cut > 0 and _inside_number(text, cut):  # back to the number's start
                cut -= 1
            if cut <= 0:  # a number wider than the line: whole, on a line of its own
                cut = width
                while _inside_number(text, cut):
                    cut += 1
        lines.append(text[:cut].rstrip(" ") or text[:cut])
        text = text[cut:].lstrip(" ")
    if text or not lines:
        lines.append(text)
    return lines


def wrap_continued(text: str, width: int) -> list[str]:
    """wrap_text, with each line after the first marked and indented by CONTINUED."""
    first = wrap_text(text, width)[0]
    rest = text[len(first):].lstrip(" ")
    if not rest:
        return [first]
    return [first] + [CONTINUED + line for line in wrap_text(rest, max(width - len(CONTINUED), 1))]


def wrap_lines(lines: Sequence[str], width: int | None) -> list[str]:
    """Prose lines wrapped at spaces to width (None: as they are); a word or number is never broken."""
    if width is None:
        return list(lines)
    import textwrap

    out = []
    for line in lines:
        out.extend(textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False) or [""])
    return out


_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _one_line(text: str) -> str:
    from ..errors import one_line

    return one_line(text)


def _style(text: str, style: str | None, color: bool) -> str:
    if not color or not style:
        return text
    return f"\x1b[{SGR[style]}m{text}\x1b[0m"


class Grid:
    """Columns, rows of strings (each with an optional style), sections, and a title."""

    def __init__(self, columns: Sequence[Column], title: str | None = None, header_style: str = "bold"):
        self.columns = list(columns)
        self.title = _one_line(title) if title else title
        self.header_style = header_style
        self.rows: list[tuple[list[str], str | None]] = []
        self.rules: set[int] = set()  # a rule is drawn before these rows
        # caches, filled on first use: per column its widths and decimal parts, its cells, its longest number
        self._measured: tuple[list[int], list[tuple[int, int] | None]] | None = None
        self._columnwise: list[tuple[str, ...]] | None = None
        self._numbers: dict[int, int] | None = None
        self.left_out: list[str] = []  # the columns the last render left out to fit its width
        self.shown: list[str] = []  # and those it showed

    def add_row(self, cells: Sequence[str], style: str | None = None):
        cells = list(cells)
        if _BREAKS.search("".join(cells)):  # a name from a file with a newline would forge a row
            cells = [_one_line(c) for c in cells]
        self.rows.append((cells, style))

    def add_section(self):
        self.rules.add(len(self.rows))

    # -- measuring

    def _texts(self) -> list[tuple[str, ...]]:
        """The cells column by column."""
        if self._columnwise is None:
            self._columnwise = (list(zip(*(cells for cells, _ in self.rows))) if self.rows
                                else [() for _ in self.columns])
        return self._columnwise

    def _measure(self):
        """Per column: the widest cell, and for decimal columns the widest integer and fraction parts."""
        if self._measured is None:
            widths: list[int] = []
            parts: list[tuple[int, int] | None] = []
            for column, texts in zip(self.columns, self._texts()):
                if column.align == "decimal":
                    whole = fraction = 0
                    for text in texts:
                        dot = text.find(".")
                        if dot < 0:
                            if len(text) > whole:
                                whole = len(text)
                        else:
                            whole, fraction = max(whole, dot), max(fraction, len(text) - dot)
                    widths.append(whole + fraction)
                    parts.append((whole, fraction))
                else:
                    widths.append(max(map(len, texts), default=0))
                    parts.append(None)
            self._measured = widths, parts
        return self._measured

    def _header(self, index: int, stacked: bool) -> list[str]:
        column = self.columns[index]
        return (column.stacked if stacked and column.stacked else column.header).split("\n")

    def _floor(self, index: int, stacked: bool) -> int:
        """The narrowest a wrapping column may be: its own floor, its header, and its longest number."""
        if self._numbers is None:
            self._numbers = {}
        if index not in self._numbers:
            texts = self._texts()[index]
            self._numbers[index] = longest_number("\n".join(texts))
        return max(self.columns[index].wrap, self._numbers[index], *map(len, self._header(index, stacked)))

    def widths(self, layout: Layout, width: int | None = None) -> list[int]:
        """Column widths for the layout: natural, or with text columns wrapped to fit width where allowed
        (the widest of them narrowed first, each down to its floor)."""
        content, _ = self._measure()
        natural = [max(content[i], *map(len, self._header(i, layout.stacked))) for i in layout.columns]
        if width is None or not layout.wrap:
            return natural
        widths = list(natural)
        floors = {k: self._floor(i, layout.stacked) for k, i in enumerate(layout.columns) if self.columns[i].wrap}
        excess = self.total(natural) - width
        while excess > 0:
            narrower = [k for k, floor in floors.items() if widths[k] > floor]
            if not narrower:
                break
            widest = max(narrower, key=lambda k: widths[k])
            widths[widest] -= 1
            excess -= 1
        return widths

    @staticmethod
    def total(widths: Sequence[int]) -> int:
        return sum(widths) + 3 * len(widths) + 1  # "│ " before each cell, " " after, and the last "│"

    def choose(self, layouts: Sequence[Layout], width: int | None) -> tuple[Layout, list[int]]:
        """The first layout that fits width (its widths), else the last, at its narrowest."""
        if width is None:
            return layouts[0], self.widths(layouts[0])
        for layout in layouts:
            widths = self.widths(layout, width)
            if self.total(widths) <= width:
                return layout, widths
        return layouts[-1], widths

    # -- drawing

    def render(self, layouts: Sequence[Layout] | None = None, width: int | None = None, color: bool = False) -> str:
        """The table as text. width None: the first layout, whole (no wrapping); else it fits if it can."""
        layouts = layouts or [Layout(tuple(range(len(self.columns))))]
        layout, widths = self.choose(layouts, width)
        cols = layout.columns
        self.left_out = [self.columns[i].header for i in layouts[0].columns if i not in cols]
        self.shown = [self.columns[i].header for i in cols]
        _, parts = self._measure()
        out = []
        table_width = self.total(widths)
        if self.title:
            for line in wrap_lines([self.title], table_width) if len(self.title) > table_width else [self.title]:
                pad = max(0, (table_width - len(line)) // 2)
                out.append(" " * pad + _style(line, "italic", color))
        out.append("┏" + "┳".join("━" * (w + 2) for w in widths) + "┓")
        headers = [self._header(i, layout.stacked) for i in cols]
        for n in range(max(map(len, headers))):
            cells = []
            for k, i in enumerate(cols):
                text = headers[k][n] if n < len(headers[k]) else ""
                text = text.ljust(widths[k]) if self.columns[i].align == "left" else text.rjust(widths[k])
                cells.append(_style(text, self.header_style, color))
            out.append("┃ " + " ┃ ".join(cells) + " ┃")
        out.append("┡" + "╇".join("━" * (w + 2) for w in widths) + "┩")
        rule = "├" + "┼".join("─" * (w + 2) for w in widths) + "┤"
        content, _ = self._measure()
        texts = self._texts()
        padded = []  # the shown columns' cells, padded: column by column, which is the fast way round
        wrapping = []  # (position, width) of shown columns whose cells may need wrapping
        for k, i in enumerate(cols):
            align, w, column = self.columns[i].align, widths[k], texts[i]
            if align == "left":
                padded.append([text.ljust(w) for text in column])
            elif align == "right":
                padded.append([text.rjust(w) for text in column])
            else:
                whole, fraction = parts[i]
                blank = " " * fraction
                padded.append([(text.rjust(whole) + blank if (dot := text.find(".")) < 0
                                else text[:dot].rjust(whole) + text[dot:].ljust(fraction)).rjust(w)
                               for text in column])
            if self.columns[i].wrap and content[i] > w:
                wrapping.append((k, i, w))
        lines = ["│ " + " │ ".join(row) + " │" for row in zip(*padded)]
        for r, (cells, style) in enumerate(self.rows) if wrapping or color else ():
            if wrapping and any(len(cells[i]) > w for _, i, w in wrapping):
                lines[r] = self._wrapped_row(cells, [column[r] for column in padded], cols, widths, wrapping,
                                             style, color)
            elif color and style:
                lines[r] = "│ " + " │ ".join(_style(column[r], style, color) for column in padded) + " │"
        for r in sorted(self.rules, reverse=True):
            if 0 < r <= len(lines):
                lines.insert(r, rule)
        out.extend(lines)
        out.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
        return "\n".join(out) + "\n"

    def _wrapped_row(self, cells, shown, cols, widths, wrapping, style, color) -> str:
        """A row over several lines: the wrapping cells broken up, the others on the first line."""
        stacks = [[text] for text in shown]
        for k, i, w in wrapping:
            if len(cells[i]) > w:
                left = self.columns[i].align == "left"
                if self.columns[i].prose:
                    import textwrap  # only for a row that wraps prose

                    pieces = [piece for line in textwrap.wrap(cells[i], w, break_long_words=False,
                                                              break_on_hyphens=False)
                              for piece in (wrap_text(line, w) if len(line) > w else [line])]  # a word too long
                else:
                    pieces = wrap_continued(cells[i], w) if left else wrap_text(cells[i], w)
                stacks[k] = [line.ljust(w) if left else line.rjust(w) for line in pieces]
        lines = []
        for n in range(max(map(len, stacks))):
            row = [stack[n] if n < len(stack) else " " * w for stack, w in zip(stacks, widths)]
            lines.append("│ " + " │ ".join(_style(text, style, color) for text in row) + " │")
        return "\n".join(lines)


def drop_layouts(count: int, order: Sequence[int], stacked: bool = True) -> list[Layout]:
    """Layouts for a table of count columns that fits by leaving out the columns of order, one by one.

    First every column whole; then (if stacked) two-line headers; then text columns wrapped; then the
    columns of order left out in turn, text still wrapping.
    """
    every = tuple(range(count))
    layouts = [Layout(every)]
    if stacked:
        layouts.append(Layout(every, stacked=True))
    layouts.append(Layout(every, stacked=stacked, wrap=True))
    gone: set[int] = set()
    for index in order:
        gone.add(index)
        layouts.append(Layout(tuple(i for i in every if i not in gone), stacked=stacked, wrap=True))
    return layouts


# wrapping columns of names (layer paths, model names), which break after a separator with a marked
# continuation; every other wrapping column is prose, broken at spaces only
NAME_COLUMNS = {"Layer", "Model", "Last layer", "Convention", "Kind", "Device", "Claim"}


def simple_grid(headers: Sequence[str], *, right=(), wrap: dict | None = None, stacked: dict | None = None,
                title: str | None = None) -> Grid:
    """A grid of the given headers: those in right right-aligned, the rest left; wrap: the text columns that
    may wrap, to their narrowest width (prose at spaces, names after separators); stacked: two-line forms of
    long headers."""
    wrap, stacked = wrap or {}, stacked or {}
    return Grid([Column(h, "right" if h in right else "left", wrap.get(h, 0), stacked.get(h),
                        prose=h in wrap and h not in NAME_COLUMNS) for h in headers], title=title)


def draw(grid: Grid, width: int | None, color: bool, drop: Sequence[str] = (), footer: Sequence[str] = ()) -> str:
    """The grid fitted to width (None: whole) by drop_layouts, leaving out the columns named in drop in that
    order; then the footer lines, wrapped to width."""
    headers = [c.header for c in grid.columns]
    order = [headers.index(h) for h in drop if h in headers]
    stacked = any(c.stacked for c in grid.columns)
    text = grid.render(drop_layouts(len(headers), order, stacked=stacked), width, color)
    notes = [left_out_note(grid.left_out)] if grid.left_out else []
    return text + "".join(line + "\n" for line in wrap_lines(notes + list(footer), width))


def left_out_note(headers: Sequence[str]) -> str:
    """The line under a table that was narrowed: which columns it left out, and how to see them."""
    names = ", ".join(h.replace("\n", " ") for h in headers)
    return (f"Left out to fit the terminal: {names}. --wide, piped output, or --format csv/json "
            f"show every column.")
