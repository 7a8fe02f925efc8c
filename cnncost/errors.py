"""The one exception type users see, carrying where in their file it went wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    def __str__(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class CnnCostError(Exception):
    """A user error: bad YAML, bad arguments, shapes that do not fit.

    Rendered as a single line: ``file:line:col: layer 'a.b': within: message (hint)``.
    Its parts are attributes: ``file``, ``line``, ``column``, ``layer``, ``argument``
    (the layer's argument at fault) and ``within`` (what the error is inside, such as
    ``extends 'resnet50'``), each None where unknown, ``message`` and ``hint``. Code
    that adds what it knows sets these, never edits the message.
    """

    exit_code = 2  # the command line's: a usage or input error
    input_dependent = False  # set by the expander: the layer's input shapes do not fit (a side output may go)

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        layer: str | None = None,
        hint: str | None = None,
        argument: str | None = None,
        within: str | None = None,
    ):
        message = str(message)
        super().__init__(message)
        self.message = message
        self.location = location
        self.layer = layer
        self.hint = hint
        self.argument = argument
        self.within = within

    @property
    def file(self) -> str | None:
        """The file the error is in (a YAML file, ``<stdin>``), or None."""
        return self.location.file if self.location is not None else None

    @property
    def line(self) -> int | None:
        """The 1-based line in ``file``, or None."""
        return self.location.line if self.location is not None else None

    @property
    def column(self) -> int | None:
        """The 1-based column in ``line``, or None."""
        return self.location.column if self.location is not None else None

    def with_context(
        self, *, location: Location | None = None, layer: str | None = None
    ) -> "CnnCostError":
        """Fill in what the raiser did not know; what it did know wins."""
        if location is not None:
            mine = self.location
            if mine is None or mine.line is None:
                self.location = Location(location.file or (mine.file if mine else None), location.line,
                                         location.column)
            elif mine.file is None:
                self.location = Location(location.file, mine.line, mine.column)
        if self.layer is None:
            self.layer = layer
        return self

    def what(self) -> str:
        """The error without its location and hint: ``layer 'a.b': within: message``."""
        return (f"layer '{self.layer}': " if self.layer else "") + (f"{self.within}: " if self.within else "") \
            + self.message

    def __str__(self) -> str:
        text = f"{self.location}: " if self.location is not None else ""
        text += self.what()
        if self.hint:
            text += f" ({self.hint})"
        return text


def did_you_mean(word, choices) -> str | None:
    import difflib  # only when something is wrong: kept off the start-up path

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


class OutputError(CnnCostError):
    """Output that could not be written (a full disk, a closed stdout, a directory as -o): exit 1."""

    exit_code = 1


# C0 and C1 control characters, DEL, the Unicode line and paragraph separators, and lone surrogates (bytes
# that were not UTF-8, in a file name): each would break the one-line error or the terminal.
_UNPRINTABLE = "[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]"
# the same but for the newlines and tabs of a table's or a list's layout
_UNPRINTABLE_IN_LAYOUT = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]"
# the colours of render/grid.py's SGR, kept on a coloured terminal, or any other unprintable character
_OUR_STYLES = "\x1b\\[(?:0|1|2|3|31|1;31)m|" + _UNPRINTABLE_IN_LAYOUT
_COMPILED: dict = {}


def _compiled(pattern: str):
    """The pattern, compiled on first use: re is not imported at start-up (docs/performance.md)."""
    found = _COMPILED.get(pattern)
    if found is None:
        import re

        found = _COMPILED[pattern] = re.compile(pattern)
    return found


def one_line(text: str) -> str:
    """Text with every character that could break a line or a terminal escaped, as Python's repr does."""
    return _compiled(_UNPRINTABLE).sub(_escape, text)


def terminal_text(text: str, styles: bool = False) -> str:
    """Output for a terminal (every format but JSON): control characters escaped as one_line does, except the
    newlines and tabs of the layout and, with ``styles`` (coloured output), the colour codes cnncost writes
    itself (render/grid.py's SGR), so that no name from a file can set the terminal's title, clear it or move
    its cursor. Without styles, every escape is escaped."""
    if not styles:
        return one_line_keeping_layout(text)
    return _compiled(_OUR_STYLES).sub(_escape_unless_ours, text)


def one_line_keeping_layout(text: str) -> str:
    """one_line's escapes, but for the newlines and tabs of a table or a list."""
    return _compiled(_UNPRINTABLE_IN_LAYOUT).sub(_escape, text)


def _escape_unless_ours(match) -> str:
    return match.group() if len(match.group()) > 1 else _escape(match)


def _escape(match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return repr(match.group())[1:-1] if code < 0x100 else f"\\u{code:04x}"
