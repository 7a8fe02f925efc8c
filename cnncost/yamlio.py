"""Loading YAML with line numbers kept, so every error can point at its line.

Parsed files are kept, in memory and in the user's cache directory, while they
are unchanged; PyYAML itself (cnncost/_yamlparse.py) is only imported to parse
a file that is not kept.
"""

from __future__ import annotations

import marshal
import os
import re
import zlib

from .errors import CnnCostError, Location

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_ALIASES = 100  # anchors are handy; an alias bomb needs thousands
# An alias token is '*' and then its name, never a space. This also counts '*x' in
# strings and comments, so it can only over-count: it spares the full scan below.
_MAYBE_ALIAS = re.compile(r"\*\S")


class LineDict(dict):
    """A mapping that remembers its file, and the line of itself and of each key."""

    line: int | None = None
    file: str | None = None
    key_lines: dict

    def line_of(self, key) -> int | None:
        return self.key_lines.get(key, self.line)


class LineList(list):
    line: int | None = None
    file: str | None = None


def load_text(text: str, file: str | None = None):
    """Parse YAML text into LineDict/LineList values; errors carry file and line."""
    from ._yamlparse import load_text as parse

    return parse(text, file)


_PARSED: dict = {}  # (name, absolute path) -> (file's identity and stamp, document)
_MAX_PARSED = 256
_CACHE_FORMAT = 2  # bump when the encoding below, or what the parser reads a file as, changes


def load_file(path):
    """read_file and load_text, kept while the file is unchanged (same inode, mtime and size).

    The document is shared by every caller that loads the file: never change it.
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
        stamp = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None  # read_file says what is wrong
    key = (name, os.path.abspath(name))
    kept = _PARSED.get(key)
    if stamp is not None and kept is not None and kept[0] == stamp:
        return kept[1]
    doc = _from_disk(key[1], name, stamp) if stamp is not None else None
    if doc is None:
        doc = load_text(read_file(path), name)
        if stamp is not None:
            _to_disk(key[1], name, stamp, doc)
    if stamp is not None:
        if len(_PARSED) >= _MAX_PARSED:
            _PARSED.clear()
        _PARSED[key] = (stamp, doc)
    return doc


# --- the parse cache on disk: marshal (no code runs on load, unlike pickle), one file per YAML file ---


def cache_dir() -> str | None:
    """$CNNCOST_CACHE_DIR ('' turns the cache off), else $XDG_CACHE_HOME/cnncost or ~/.cache/cnncost."""
    chosen = os.environ.get("CNNCOST_CACHE_DIR")
    if chosen is not None:
        return chosen or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "cnncost")


def _cache_path(absolute: str) -> str | None:
    folder = cache_dir()
    if folder is None:
        return None
    return os.path.join(folder, f"{zlib.crc32(absolute.encode('utf-8', 'surrogateescape')):08x}.marshal")


def _cache_key(absolute: str, name: str, stamp) -> tuple:
    from . import __version__

    return (_CACHE_FORMAT, __version__, absolute, name, stamp[2], stamp[3])


def _from_disk(absolute: str, name: str, stamp):
    target = _cache_path(absolute)
    if target is None:
        return None
    try:
        with open(target, "rb") as f:
            key, encoded = marshal.load(f)
        if key != _cache_key(absolute, name, stamp):
            return None
        return _decode(encoded, name)
    except Exception:  # missing, stale, from another Python, or damaged: parse instead
        return None


def _to_disk(absolute: str, name: str, stamp, doc) -> None:
    target = _cache_path(absolute)
    if target is None:
        return
    try:
        data = marshal.dumps((_cache_key(absolute, name, stamp), _encode(doc)))
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        temporary = f"{target}.{os.getpid()}.tmp"
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, target)  # readers see the old file or the new one, never half of one
    except (OSError, ValueError):  # read-only home, or a value marshal cannot hold: just do not keep it
        pass


def _encode(value):
    # Tuples never occur in parsed YAML, so they can mark the line-keeping containers.
    if isinstance(value, LineDict):
        return ("d", value.line, tuple(value.key_lines.items()), tuple((k, _encode(v)) for k, v in value.items()))
    if isinstance(value, LineList):
        return ("l", value.line, tuple(_encode(v) for v in value))
    if isinstance(value, (dict, list)):
        raise ValueError("plain containers are not expected in a parsed document")
    return value


def _decode(value, file):
    if value.__class__ is not tuple:
        return value
    if value[0] == "d":
        out = LineDict((k, _decode(v, file)) for k, v in value[3])
        out.line, out.file, out.key_lines = value[1], file, dict(value[2])
        return out
    out = LineList([_decode(v, file) for v in value[2]])
    out.line, out.file = value[1], file
    return out


def read_file(path) -> str:
    """Read a YAML file as UTF-8 text, refusing what cannot be a network description."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise CnnCostError("no such file", location=Location(name))
    if os.path.isdir(name):
        raise CnnCostError("is a directory, not a YAML file", location=Location(name))
    try:
        with open(name, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CnnCostError(f"cannot read: {exc.strerror}", location=Location(name)) from None
    if len(data) > MAX_FILE_BYTES:
        raise CnnCostError(f"file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB", location=Location(name))
    if b"\0" in data:
        raise CnnCostError("binary file, not YAML text", location=Location(name))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CnnCostError("not UTF-8 text", location=Location(name, line)) from None
