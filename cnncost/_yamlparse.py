"""The YAML parser proper: imported only when a file is not in the parse cache (yamlio.py)."""

from __future__ import annotations

import re

import yaml

from .errors import CnnCostError, Location
from .lined import LineDict, LineList

MAX_ALIASES = 100  # anchors are handy; an alias bomb needs thousands
# An alias token is '*' and then its name, never a space. This also counts '*x' in
# strings and comments, so it can only over-count: it spares the full scan below.
_MAYBE_ALIAS = re.compile(r"\*\S")

try:  # libyaml is several times faster when present
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _BaseLoader

class _Loader(_BaseLoader):
    pass


# YAML 1.1 reads 1e-6 (no dot) as a string; YAML 1.2 and every user read it as a number.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _construct(loader, node):
    # A scalar needs none of construct_object's bookkeeping (aliases, recursion): its value is immutable.
    if node.__class__ is yaml.ScalarNode:
        constructor = loader.yaml_constructors.get(node.tag)
        if constructor is not None:
            return constructor(loader, node)
    return loader.construct_object(node, deep=True)


def _construct_mapping(loader, node):
    explicit = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)
    # flatten_mapping puts the merged pairs first, in the order in which a later one may override an earlier
    # one; YAML's merge rule lets the mapping's own keys override them too. Only an own key written twice is a
    # duplicate.
    merged = len(node.value) - explicit
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.file = loader.file
    mapping.key_lines = {}
    own = set()  # the keys the mapping itself writes
    for position, (key_node, value_node) in enumerate(node.value):
        key = _construct(loader, key_node)
        try:
            hash(key)
        except TypeError:
            raise CnnCostError(
                "mapping keys must be plain values",
                location=Location(None, key_node.start_mark.line + 1, key_node.start_mark.column + 1),
            ) from None
        if key in own:
            raise CnnCostError(
                f"duplicate key '{key}'",
                location=Location(None, key_node.start_mark.line + 1, key_node.start_mark.column + 1),
            )
        mapping[key] = _construct(loader, value_node)
        mapping.key_lines[key] = key_node.start_mark.line + 1
        if position >= merged:
            own.add(key)
    return mapping


def _construct_sequence(loader, node):
    seq = LineList([_construct(loader, child) for child in node.value])
    seq.line = node.start_mark.line + 1
    seq.file = loader.file
    return seq


MAX_NUMBER_TEXT = 100  # characters of one integer literal, in any base YAML knows
_construct_yaml_int = _Loader.yaml_constructors["tag:yaml.org,2002:int"]


def _construct_int(loader, node):
    # YAML 1.1 reads 1:2:3 as base 60, by one big multiplication per group: 200,000 groups took 10 s;
    # hexadecimal and octal have no length limit either. No figure of a network needs 100 characters.
    if len(node.value) > MAX_NUMBER_TEXT:
        raise CnnCostError(f"a number written with more than {MAX_NUMBER_TEXT} characters",
                           location=Location(None, node.start_mark.line + 1, node.start_mark.column + 1))
    return _construct_yaml_int(loader, node)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
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


# Python refuses to read an integer of more than 4,300 digits (sys.int_info), and PyYAML lets that
# ValueError out; no figure of a network needs more than a few dozen.
MAX_DIGITS = 1000
_LONG_NUMBER = re.compile(r"[0-9_]{%d,}" % (MAX_DIGITS + 1))


def load_text(text: str, file: str | None = None):
    """Parse YAML text into LineDict/LineList values; errors carry file and line."""
    long_number = _LONG_NUMBER.search(text)
    if long_number is not None:
        line = text.count("\n", 0, long_number.start()) + 1
        raise CnnCostError(f"a run of more than {MAX_DIGITS:,} digits: no figure of a network is that long",
                           location=Location(file, line))
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


