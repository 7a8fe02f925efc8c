"""Writing -o FILE: as a shell redirection would, but never half a file.

A regular file (or none yet) is written to a temporary file beside it and renamed over it, so readers see
the old file or the new one. The new file gets the mode a redirection gives it (0666 less the umask), or
keeps the mode of the file it replaces. A symlink is written through: its target is replaced and the link
stays. A device or a FIFO (/dev/null, /dev/stdout, a pipe) is written in place, never replaced. Every
failure removes the temporary file and is one OutputError (exit 1).
"""

from __future__ import annotations

import os
import stat
import sys
from typing import Callable

from .errors import OutputError


def write_text(path: str, text: str) -> None:
    write_file(path, lambda f: f.write(text.encode("utf-8")))


def write_file(path: str, write: Callable, *, suffix: str = "", by_name: bool = False) -> None:
    """Write ``path`` with ``write(f)``: f is a binary file object, or with ``by_name`` a path to write to
    (for writers that open files themselves, like matplotlib's savefig, which reads the suffix)."""
    import tempfile  # only for -o: kept off the start-up path

    target = os.path.realpath(path) if os.path.islink(path) else path
    try:
        try:
            existing = os.stat(target)
        except FileNotFoundError:
            existing = None
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            raise IsADirectoryError(21, "Is a directory")
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            _write_in_place(target, write, by_name)
            return
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(target) or ".", prefix=".cnncost-", suffix=suffix)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        if by_name:
            os.close(fd)
            write(temporary)
        else:
            with os.fdopen(fd, "wb") as f:
                write(f)
        os.chmod(temporary, stat.S_IMODE(existing.st_mode) if existing is not None else 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def _write_in_place(target: str, write: Callable, by_name: bool) -> None:
    if by_name:
        write(target)
        return
    with open(target, "wb") as f:
        write(f)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_stdout(text: str) -> None:
    """All of text to stdout; a closed or failing stdout (a full disk: > /dev/full) is an OutputError."""
    stream = sys.stdout
    if stream is None:
        raise OutputError("cannot write to stdout: it is closed")
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as exc:  # ValueError: a stdout closed from inside the process
        _discard_stdout()
        raise OutputError(f"cannot write to stdout: {getattr(exc, 'strerror', None) or exc}") from None


def _discard_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's last flush of what is buffered cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass
