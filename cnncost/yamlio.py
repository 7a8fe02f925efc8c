"""Loading YAML with line numbers kept, so every error can point at its line."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from .errors import CnnCostError, Location

try:  # libyaml is several times faster when present
    _BaseLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _BaseLoader = yaml.SafeLoader

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


class _Loader(_BaseLoader):
    pass


def _construct(loader, node):
    # A scalar needs none of construct_object's bookkeeping (aliases, recursion): its value is immutable.
    if node.__class__ is yaml.ScalarNode:
        constructor = loader.yaml_constructors.get(node.tag)
        if constructor is not None:
            return constructor(loader, node)
    return loader.construct_object(node, deep=True)


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.file = loader.file
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = _construct(loader, key_node)
        try:
            hash(key)
        except TypeError:
            raise CnnCostError(
                "mapping keys must be plain values",
                location=Location(None, key_node.start_mark.line + 1, key_node.start_mark.column + 1),
            ) from None
        if key in mapping:
            raise CnnCostError(
                f"duplicate key '{key}'",
                location=Location(None, key_node.start_mark.line + 1, key_node.start_mark.column + 1),
            )
        mapping[key] = _construct(loader, value_node)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


def _construct_sequence(loader, node):
    seq = LineList([_construct(loader, child) for child in node.value])
    seq.line = node.start_mark.line + 1
    seq.file = loader.file
    return seq


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _count_aliases(text: str) -> int:
    # Cheap pre-scan: an alias is '*name' outside quotes; over-counting only errs on the safe side.
    count = 0
    for event in yaml.parse(text, Loader=_BaseLoader):
        if isinstance(event, yaml.AliasEvent):
            count += 1
            if count > MAX_ALIASES:
                break
    return count


def load_text(text: str, file: str | None = None):
    """Parse YAML text into LineDict/LineList values; errors carry file and line."""
    try:
        if len(_MAYBE_ALIAS.findall(text)) > MAX_ALIASES and _count_aliases(text) > MAX_ALIASES:
            raise CnnCostError(
                f"more than {MAX_ALIASES} YAML aliases; refusing (an alias bomb would exhaust memory)",
                location=Location(file),
            )
        loader = _Loader(text)
        loader.file = file
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except CnnCostError as exc:
        if exc.location is not None:
            exc.location = Location(file, exc.location.line, exc.location.column)
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        problem = exc.problem or exc.context or "invalid YAML"
        raise CnnCostError(f"invalid YAML: {problem}", location=loc) from None
    except yaml.YAMLError as exc:
        raise CnnCostError(f"invalid YAML: {exc}", location=Location(file)) from None


_PARSED: dict = {}  # (name, absolute path) -> (file's identity and stamp, document)
_MAX_PARSED = 256


def load_file(path: Path):
    """read_file and load_text, kept while the file is unchanged (same inode, mtime and size).

    The document is shared by every caller that loads the file: never change it.
    """
    name = str(path)
    try:
        st = os.stat(name)
        stamp = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None  # read_file says what is wrong
    key = (name, os.path.abspath(name))
    kept = _PARSED.get(key)
    if stamp is not None and kept is not None and kept[0] == stamp:
        return kept[1]
    doc = load_text(read_file(path), name)
    if stamp is not None:
        if len(_PARSED) >= _MAX_PARSED:
            _PARSED.clear()
        _PARSED[key] = (stamp, doc)
    return doc


def read_file(path: Path) -> str:
    """Read a YAML file as UTF-8 text, refusing what cannot be a network description."""
    name = str(path)
    if not path.exists():
        raise CnnCostError("no such file", location=Location(name))
    if path.is_dir():
        raise CnnCostError("is a directory, not a YAML file", location=Location(name))
    try:
        data = path.read_bytes()
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
