"""A network description's file: read it, merge it over the file it ``extends``, and expand it."""

from __future__ import annotations

import os
from typing import Any, Mapping

from ..errors import CnnCostError, Location
from ..graph import Graph
from ..yamlio import LineDict, load_file, load_text
from .limits import MAX_EXTENDS
from .core import Expander, stem


def load_graph(
    source: str | os.PathLike,
    *,
    overrides: Mapping[str, Any] | None = None,
    input_shape: tuple[int, ...] | None = None,
    text: str | None = None,
) -> Graph:
    """Read a YAML file (or ``text``, named ``source``) and expand it."""
    name = os.fspath(source)
    doc = load_file(name) if text is None else load_text(text, name)
    if isinstance(doc, LineDict) and "extends" in doc:  # a parsed mapping is always a LineDict
        doc = with_base(doc, name, [name])
    return Expander(doc, name).build(overrides or {}, input_shape)


def with_base(doc: LineDict, file: str, chain: list) -> LineDict:
    """Merge a file that ``extends`` another over its base.

    params and blocks are merged by name (the derived file wins), and torch_names with the derived file's
    patterns first; name, description, reference, input, layers and notes replace the base's when given.
    """
    from .. import zoo

    ref = doc["extends"]
    where = Location(file, doc.line_of("extends"))
    if not isinstance(ref, str) or not ref:
        raise CnnCostError("'extends' must name a zoo model or a YAML file", location=where)
    base_path = ref if ref.endswith((".yaml", ".yml")) else None
    if base_path is not None and not os.path.isabs(base_path):
        base_path = os.path.join(os.path.dirname(file), base_path)
    try:
        base_path = base_path or zoo.file_of(ref)
    except CnnCostError as exc:
        raise CnnCostError(exc.message, location=where, hint=exc.hint) from None
    base_name = str(base_path)
    if base_name in chain or len(chain) > MAX_EXTENDS:
        raise CnnCostError(f"'extends' goes round in a circle: {' -> '.join(chain + [base_name])}", location=where)
    try:
        base = load_file(base_path)
    except CnnCostError as exc:
        if exc.location is None or exc.location.line is None:  # about the base as a whole: say which
            exc.within = f"extends '{ref}'"
        exc.with_context(location=where)
        raise
    if not isinstance(base, LineDict):
        raise CnnCostError(f"the base {base_name} is not a network description", location=where)
    if "extends" in base:
        base = with_base(base, base_name, chain + [base_name])
    merged = LineDict(base)
    merged.line, merged.file = doc.line, doc.file
    merged.key_lines = {**base.key_lines, **doc.key_lines}
    merged.key_files = _key_files(base, doc)
    merged.pop("extends", None)
    merged["name"] = doc.get("name") or stem(file)
    for key in ("params", "blocks"):
        if key in doc:
            merged[key] = _merge_mapping(base.get(key), doc[key])
    for key in ("description", "reference", "input", "layers", "notes", "unused_params"):
        if key in doc:
            merged[key] = doc[key]
    if isinstance(doc.get("torch_names"), dict) and isinstance(base.get("torch_names"), dict):
        # this file's patterns first, so that they win; then the base's for the layers it shares
        names = LineDict(doc["torch_names"])
        names.line, names.file = doc["torch_names"].line, doc["torch_names"].file
        names.key_lines = dict(doc["torch_names"].key_lines)
        for pattern, path in base["torch_names"].items():
            if pattern not in names:
                names[pattern] = path
        merged["torch_names"] = names
    elif "torch_names" in doc:
        merged["torch_names"] = doc["torch_names"]
    return merged


def _merge_mapping(base, derived):
    if not isinstance(base, LineDict) or not isinstance(derived, LineDict):
        return derived
    merged = LineDict(base)
    merged.line, merged.file = derived.line, derived.file
    merged.key_lines = {**base.key_lines, **derived.key_lines}
    merged.key_files = _key_files(base, derived)
    for key, value in derived.items():
        old = base.get(key)
        if isinstance(old, dict) and "choices" in old and not isinstance(value, dict):
            value = {**old, "default": value}  # a new default keeps the base's allowed values
        merged[key] = value
    return merged


def _key_files(base, derived) -> dict:
    """The file of each key that comes from ``base`` alone, so errors there name that file."""
    files = {key: base.file for key in base}
    files.update(getattr(base, "key_files", {}))
    return {key: f for key, f in files.items() if key not in derived}
