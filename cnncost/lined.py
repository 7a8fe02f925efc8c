"""The values a YAML document is parsed into: dicts and lists that remember their file and line."""

from __future__ import annotations


class LineDict(dict):
    """A mapping that remembers its file, and the line of itself and of each key."""

    line: int | None = None
    file: str | None = None
    key_lines: dict
    key_files: dict  # through 'extends': the file each inherited key is written in (only where merged)

    def line_of(self, key) -> int | None:
        return self.key_lines.get(key, self.line)


class LineList(list):
    line: int | None = None
    file: str | None = None
