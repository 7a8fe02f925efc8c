"""Loading YAML with line numbers kept, so every error can point at its line.

Parsed files are kept, in memory and in the user's cache directory, while they
are unchanged; PyYAML itself (cnncost/_yamlparse.py) is only imported to parse
a file that is not kept.
"""

from __future__ import annotations

import marshal
import os
import re
import stat
import time

try:  # hashlib's own blake2b, without the 2 ms that importing hashlib (OpenSSL) takes
    from _blake2 import blake2b
except ImportError:  # another Python implementation
    from hashlib import blake2b

from .errors import CnnCostError, Location
from .lined import LineDict, LineList  # noqa: F401  (the values load_file returns)
from . import version

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DOCUMENT_ITEMS = 100_000  # values in one document, aliases expanded; the largest zoo file has 1,200


def load_text(text: str, file: str | None = None):
    """Parse YAML text into LineDict/LineList values; errors carry file and line."""
    from ._yamlparse import load_text as parse

    check_items(text, file)
    document = parse(text, file)
    check_expanded_size(document, file)
    return document


def load_value(text: str, where: str):
    """A value given on the command line (--set), read as YAML under a document's limits; text that is not
    valid YAML is taken as the string it is."""
    if len(text.encode("utf-8", "surrogateescape")) > MAX_FILE_BYTES:
        raise CnnCostError(f"larger than {MAX_FILE_BYTES // 1024 // 1024} MiB", location=Location(where))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 on the command line (docs/security.md, F34)
        raise CnnCostError("not UTF-8 text", location=Location(where)) from None
    try:
        return load_text(text, where)
    except CnnCostError as exc:
        if exc.message.startswith("invalid YAML"):
            return text
        raise


_PARSED: dict = {}  # (name, digest of the text) -> document
_MAX_PARSED = 256  # documents kept in memory ...
_MAX_PARSED_CHARS = 64 * 1024 * 1024  # ... and characters of their text, whichever is reached first
_parsed_chars = 0
# Bump when the encoding below, what the parser reads a text as, or the limits load_text applies change:
# entries written under another format (or another cnncost version) are never read.
_CACHE_FORMAT = 5
CACHE_MAX_BYTES = 64 * 1024 * 1024  # the cache folder's entries, in all; the oldest are removed beyond it
CACHE_MAX_FILES = 2048  # and at most this many entries, which keeps the scan on each write short
_CACHE_REFRESH_S = 86400  # an entry read is marked as used (its mtime) at most once a day
_MISS = object()


def load_file(path):
    """read_file and load_text, kept in memory and on disk under a hash of the text.

    The file is read every time and the hash taken of what was read, so an edit is always seen, whatever
    it does to the file's size and mtime. The document is shared by every caller that loads the same text
    under the same name: never change it.
    """
    name = os.fspath(path)
    text = read_file(name)
    digest = blake2b(text.encode("utf-8", "surrogatepass"), digest_size=32).digest()
    key = (name, digest)
    doc = _PARSED.get(key, _MISS)
    if doc is _MISS:
        doc = _from_disk(digest, name)
        if doc is _MISS:
            doc = load_text(text, name)
            _to_disk(digest, doc)
        _keep_in_memory(key, doc, len(text))
    return doc


def _keep_in_memory(key, doc, chars: int) -> None:
    global _parsed_chars
    if len(_PARSED) >= _MAX_PARSED or _parsed_chars + chars > _MAX_PARSED_CHARS:
        _PARSED.clear()
        _parsed_chars = 0
    _PARSED[key] = doc
    _parsed_chars += chars


# --- the parse cache on disk: marshal (no code runs on load, unlike pickle), one file per text ---
#
# An entry is named by a hash of (format, cnncost version, hash of the text) and holds that key again,
# checked on load. Since marshal data is trusted by the loader, the cache is used only in a folder that
# the user owns and that neither group nor others can write, and an entry is read only if it is a regular
# file (not a symlink) owned by the user. Where those checks are not available (no os.getuid, no dir_fd),
# there is no disk cache.

_CACHE_ENTRY = re.compile(r"[0-9a-f]{8,64}\.marshal(\.[0-9]+\.[0-9a-f]+\.tmp)?\Z")  # entries, temporaries
# os.replace shares os.rename's dir_fd support but is not listed in os.supports_dir_fd
_CAN_CHECK = (hasattr(os, "getuid") and hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY")
              and {os.open, os.unlink, os.rename} <= os.supports_dir_fd and os.scandir in os.supports_fd)


def cache_dir() -> str | None:
    """$CNNCOST_CACHE_DIR ('' turns the cache off), else $XDG_CACHE_HOME/cnncost or ~/.cache/cnncost."""
    chosen = os.environ.get("CNNCOST_CACHE_DIR")
    if chosen is not None:
        return chosen or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "cnncost")


def _cache_key(digest: bytes) -> tuple:
    return (_CACHE_FORMAT, version.__version__, digest)


def _cache_path(digest: bytes) -> str:
    """The entry's file name inside the cache folder."""
    fmt, version, _ = _cache_key(digest)
    named = blake2b(f"{fmt}\0{version}\0".encode("utf-8", "surrogatepass") + digest, digest_size=20)
    return named.hexdigest() + ".marshal"


def _open_cache_dir(create: bool) -> int | None:
    """A descriptor of the cache folder if it can be trusted: the user's own, and writable by no one else.

    Entries are then opened relative to this descriptor, so the folder checked is the folder used.
    """
    folder = cache_dir()
    if folder is None or not _CAN_CHECK:
        return None
    if create:
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        except OSError:
            return None
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid == os.getuid() and not st.st_mode & 0o022:
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _from_disk(digest: bytes, name: str):
    """The kept document for this text, or _MISS."""
    folder = _open_cache_dir(create=False)
    if folder is None:
        return _MISS
    try:
        fd = os.open(_cache_path(digest), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
        with open(fd, "rb") as f:
            st = os.fstat(fd)
            if (not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022
                    or st.st_size > CACHE_MAX_BYTES):
                return _MISS
            key, encoded = marshal.loads(f.read())
            if key != _cache_key(digest):
                return _MISS
            doc = _decode(encoded, name)
            if time.time() - st.st_mtime > _CACHE_REFRESH_S:
                try:
                    os.utime(fd)  # still in use: keep it from being evicted as old
                except OSError:
                    pass
            return doc
    except Exception:  # missing, from another Python, damaged, a symlink: parse instead
        return _MISS
    finally:
        os.close(folder)


def _to_disk(digest: bytes, doc) -> None:
    try:
        data = marshal.dumps((_cache_key(digest), _encode(doc)))
    except (ValueError, RecursionError):  # a value marshal cannot hold: just do not keep it
        return
    if len(data) > CACHE_MAX_BYTES:
        return
    folder = _open_cache_dir(create=True)
    if folder is None:
        return
    try:
        entry = _cache_path(digest)
        _write_entry(folder, entry, data)
        _evict(folder, entry)
    except OSError:  # a full disk, or another process removing the same file: just do not keep it
        pass
    finally:
        os.close(folder)


def _write_entry(folder: int, entry: str, data: bytes) -> None:
    """Write data to entry in the folder, atomically; the temporary file is removed on every failure."""
    temporary = f"{entry}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=folder)
    replaced = False
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)  # may report ENOSPC too
        # readers see the old file or the new one, never half of one
        os.replace(temporary, entry, src_dir_fd=folder, dst_dir_fd=folder)
        replaced = True
    finally:
        if not replaced:
            try:
                os.unlink(temporary, dir_fd=folder)
            except OSError:
                pass


def _evict(folder: int, keep: str) -> None:
    """Remove the oldest entries (by mtime) until the cache holds CACHE_MAX_BYTES and CACHE_MAX_FILES."""
    entries = []
    with os.scandir(folder) as found:
        for item in found:
            if not _CACHE_ENTRY.match(item.name):
                continue
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                entries.append((st.st_mtime_ns, item.name, st.st_size))
    total = sum(size for _, _, size in entries)
    count = len(entries)
    for _, entry, size in sorted(entries):
        if total <= CACHE_MAX_BYTES and count <= CACHE_MAX_FILES:
            break
        if entry == keep:
            continue
        try:
            os.unlink(entry, dir_fd=folder)
        except OSError:
            continue
        total -= size
        count -= 1


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
    listed = LineList([_decode(v, file) for v in value[2]])
    listed.line, listed.file = value[1], file
    return listed


def read_file(path) -> str:
    """Read a YAML file as UTF-8 text, refusing what cannot be a network description."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise CnnCostError("no such file", location=Location(name))
    if os.path.isdir(name):
        raise CnnCostError("is a directory, not a YAML file", location=Location(name))
    try:
        # non-blocking, so that opening a FIFO with no writer cannot wait forever; a file named by a model (or
        # by a symlink in a pull request) must be a regular file: a FIFO, tty or device may never end
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise CnnCostError("not a regular file (a device, FIFO or socket); to read a stream, pipe it to "
                                   "'-'", location=Location(name))
            data = f.read(MAX_FILE_BYTES + 1)  # never more than the limit, even if the file grows meanwhile
    except OSError as exc:
        raise CnnCostError(f"cannot read: {exc.strerror}", location=Location(name)) from None
    return decode(data, name)


def read_stdin() -> str:
    """Read the network piped in on stdin, with the file's limits and checks."""
    import sys

    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # closed, or replaced by a text-only stream
        if sys.stdin is None:
            raise CnnCostError("stdin is closed", location=Location("<stdin>"))
        return decode(sys.stdin.read(MAX_FILE_BYTES + 1).encode("utf-8", "surrogateescape"), "<stdin>")
    try:
        return decode(stream.read(MAX_FILE_BYTES + 1), "<stdin>")
    except OSError as exc:
        raise CnnCostError(f"cannot read: {exc.strerror}", location=Location("<stdin>")) from None


def decode(data: bytes, name: str) -> str:
    """Bytes of a YAML document as text: at most MAX_FILE_BYTES, no NUL, UTF-8, and not too many items."""
    if len(data) > MAX_FILE_BYTES:
        raise CnnCostError(f"larger than {MAX_FILE_BYTES // 1024 // 1024} MiB", location=Location(name))
    if b"\0" in data:
        raise CnnCostError("binary data, not YAML text", location=Location(name))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CnnCostError("not UTF-8 text", location=Location(name, line)) from None
    return text


def check_items(text: str, name: str | None) -> None:
    """Refuse text with more YAML items than MAX_DOCUMENT_ITEMS, before parsing it.

    Block items need a line each and flow items a comma (nesting is capped by the parser), so lines + commas
    bound the number of values. Parsing 2 million one-letter items took 4.7 s and 660 MiB.
    """
    items = text.count("\n") + text.count(",")
    if items > MAX_DOCUMENT_ITEMS:
        raise CnnCostError(f"more than {MAX_DOCUMENT_ITEMS:,} lines and commas: too large for a network description",
                           location=Location(name))


def check_expanded_size(document, name: str | None) -> None:
    """Refuse a parsed document whose values, each alias expanded, number more than MAX_DOCUMENT_ITEMS.

    Aliases share one object, so a few of them can stand for billions of values that whatever walks the
    document (extends, params, the cache, --set) would expand. Counted once per distinct container, so the
    check itself costs only the document's own size.
    """
    sizes: dict[int, int] = {}
    open_now: set[int] = set()  # containers whose children are being counted: meeting one again is a cycle
    stack = [(document, False)]
    while stack:
        value, done = stack.pop()
        if not isinstance(value, (dict, list)) or (id(value) in sizes and not done):
            continue
        children = value.values() if isinstance(value, dict) else value
        if not done:
            if id(value) in open_now:
                raise CnnCostError("a YAML alias refers to a value that contains it", location=Location(name))
            open_now.add(id(value))
            stack.append((value, True))
            stack.extend((child, False) for child in children if isinstance(child, (dict, list)))
            continue
        total = len(value) + sum(sizes.get(id(c), 0) for c in children if isinstance(c, (dict, list)))
        if total > MAX_DOCUMENT_ITEMS:
            raise CnnCostError(f"the document expands to more than {MAX_DOCUMENT_ITEMS:,} values (through YAML "
                               f"aliases); refusing", location=Location(name))
        sizes[id(value)] = total
        open_now.discard(id(value))
