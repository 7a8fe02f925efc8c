"""Imported rows as readable cnncost YAML: one layer per line, and the document the YAML parser would read.

    - conv: {name: conv1, out: 64, kernel: 7, stride: 2, padding: 3, bias: false}
    - batchnorm: {name: bn1}
    - sequence:
        name: layer1
        layers:
          - sequence:
              name: "0"
              layers:
                - conv: {name: conv1, out: 64, kernel: 1, bias: false}

A dotted name (``layer1.0.conv1``) is written as nested sequences, so that
the expanded rows carry the source's names. A layer that reads the layer
before it has no ``input``; any other input is written as the shortest
reference that the expander resolves to it (docs/yaml-reference.md, "Wiring
by name"), found by following the expander's own lookup here. Arguments
equal to the kind's defaults are left out.

``write`` gives the text and the document (LineDict/LineList, with the lines
of the text) together, so an import is expanded without parsing YAML again;
tests/test_import.py checks that parsing the text gives the same document.
"""

from __future__ import annotations

import json
import re
from typing import Sequence

from ..errors import CnnCostError, Location, one_line
from ..graph import INPUT
from ..kinds import KINDS
from ..yamlio import LineDict, LineList

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# words YAML 1.1 reads as booleans or null: quoted when they are names
_YAML_WORDS = {"y", "yes", "n", "no", "true", "false", "on", "off", "null"}
# arguments that take one value for both axes, or a pair: [a, a] is written a
_PAIRED = {"kernel", "stride", "dilation", "padding", "output", "size", "scale", "output_padding"}


def scalar(value) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)


def simplified(kind, key, value):
    """The shortest form of an argument: None when it is the kind's default (then it is left out)."""
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list) and key in _PAIRED:
        if len(value) == 4 and value[0] == value[1] and value[2] == value[3]:
            value = [value[0], value[2]]
        if len(value) == 2 and value[0] == value[1]:
            value = value[0]
    arg = kind.arg_map.get(key)
    if arg is not None and not arg.required:
        try:
            if arg.check(value, key) == kind.defaults[key]:
                return None
        except CnnCostError:
            pass
    return value


class _Frame:
    """An open sequence: its name prefix, the layer it starts from, the last layer written in it."""

    __slots__ = ("prefix", "parts", "input_ref", "cur", "items", "indent")

    def __init__(self, prefix, parts, input_ref, items, indent):
        self.prefix, self.parts, self.input_ref, self.cur = prefix, parts, input_ref, input_ref
        self.items, self.indent = items, indent


class _Writer:
    def __init__(self, file):
        self.file = file
        self.lines: list[str] = []
        self.defined: set = set()
        self.aliases: dict = {}  # a closed sequence's name -> its last layer, as the expander keeps them

    def line(self, text: str) -> int:
        self.lines.append(text)
        return len(self.lines)

    def mapping(self, line: int, pairs: dict, key_lines: dict | None = None) -> LineDict:
        d = LineDict(pairs)
        d.line, d.file = line, self.file
        d.key_lines = key_lines if key_lines is not None else {k: line for k in pairs}
        return d

    def lined(self, value, line: int):
        """A list as the parser gives it (a LineList that knows its line); other values as they are."""
        if not isinstance(value, (list, tuple)):
            return value
        items = LineList(self.lined(v, line) for v in value)
        items.line, items.file = line, self.file
        return items

    def sequence_list(self, line: int) -> LineList:
        items = LineList()
        items.line, items.file = line, self.file
        return items

    # --- references, as expand.scopes.resolve_ref finds them ---

    def resolves_to(self, ref: str, frames: list) -> str | None:
        if ref == INPUT:
            return frames[-1].input_ref
        for frame in reversed(frames):
            full = frame.prefix + ref
            if full in self.defined:
                return full
            if full in self.aliases:
                return self.aliases[full]
        return None

    def reference(self, target: str, frames: list) -> str | None:
        """The shortest text that names ``target`` from the innermost frame, or None when none does."""
        if frames[-1].input_ref == target:
            return INPUT
        if target == INPUT:
            return None
        for frame in reversed(frames):
            if target.startswith(frame.prefix):
                ref = target[len(frame.prefix):]
                if self.resolves_to(ref, frames) == target:
                    return ref
        return None

    # --- sequences ---

    def close(self, frames: list, depth: int):
        while len(frames) > depth:
            frame = frames.pop()
            self.aliases[frame.prefix[:-1]] = frame.cur
            frames[-1].cur = frame.cur

    def open(self, frames: list, parts: list, start: str):
        """Open sequences for ``parts`` below the innermost frame; the first starts at ``start``."""
        for i, part in enumerate(parts):
            outer = frames[-1]
            pad = outer.indent
            item_line = self.line(f"{pad}- sequence:")
            name_line = self.line(f"{pad}    name: {scalar(part)}")
            args = {"name": part}
            key_lines = {"name": name_line}
            first = outer.cur
            if i == 0 and start != outer.cur:
                ref = self.reference(start, frames)
                if ref is None:
                    raise CnnCostError(f"internal error: no reference to '{start}' from '{outer.prefix}'",
                                       location=Location(self.file))
                key_lines["input"] = self.line(f"{pad}    input: {scalar(ref)}")
                args["input"] = ref
                first = start
            layers_line = self.line(f"{pad}    layers:")
            items = self.sequence_list(layers_line + 1)
            args["layers"] = items
            key_lines["layers"] = layers_line
            outer.items.append(self.mapping(item_line, {"sequence": self.mapping(name_line, args, key_lines)}))
            frames.append(_Frame(outer.prefix + part + ".", outer.parts + [part], first, items, pad + "      "))

    # --- layers ---

    def layer(self, frames: list, row):
        parts = row.name.split(".")
        scope, local = parts[:-1], parts[-1]
        first = row.inputs[0].name if row.inputs[0] is not INPUT else INPUT
        refs = self.place(frames, scope, first, row)
        frame = frames[-1]
        kind = KINDS[row.kind]
        pairs = {"name": local}
        if refs is not None:
            pairs["input"] = refs if len(refs) > 1 else refs[0]
        for key, value in row.args.items():
            value = simplified(kind, key, value)
            if value is not None:
                pairs[key] = value
        if row.call is not None:
            pairs["call"] = row.call
        if row.shares is not None:  # a module called again: its weights are the first call's
            pairs["shares"] = row.shares.name
        body = ", ".join(f"{key}: {scalar(value)}" for key, value in pairs.items())
        line = self.line(f"{frame.indent}- {row.kind}: {{{body}}}")
        pairs = {key: self.lined(value, line) for key, value in pairs.items()}
        frame.items.append(self.mapping(line, {row.kind: self.mapping(line, pairs)}))
        frame.cur = row.name
        self.defined.add(row.name)

    def place(self, frames: list, scope: list, first: str, row) -> list | None:
        """Open the row's sequences and work out its input references (None: it reads the layer before it)."""
        depth = 1
        while depth < len(frames) and depth - 1 < len(scope) and frames[depth].parts[-1] == scope[depth - 1]:
            depth += 1
        self.close(frames, depth)
        self.open(frames, scope[depth - 1:], first)
        names = [INPUT if i is INPUT else i.name for i in row.inputs]
        if names == [frames[-1].cur]:
            return None
        refs = [self.reference(n, frames) for n in names]
        if None in refs:
            # a name this scope hides: reopen the row's sequences starting at that input, so that 'input' names it
            hidden = names[refs.index(None)]
            for depth in range(len(frames) - 1, 0, -1):
                self.close(frames, depth)
                if self.reference(hidden, frames) is not None:
                    break
            self.open(frames, scope[len(frames) - 1:], hidden)
            refs = [self.reference(n, frames) for n in names]
            if None in refs:
                raise CnnCostError(f"internal error: cannot write the inputs of '{row.name}'",
                                   location=Location(self.file))
            if names == [frames[-1].cur]:
                return None
        return refs


def write(name: str, input_shape: tuple, rows: list, header: list[str], description: str, file: str,
          notes: Sequence[str] = (), unused_params: dict | None = None):
    """The YAML text of the rows, and the document it parses to (``notes`` are printed under the table;
    ``unused_params``, module path -> count, are the parameters of modules that never run)."""
    w = _Writer(file)
    for comment in header:
        w.line(f"# {one_line(comment)}".rstrip())  # a producer's name with a newline would write YAML
    top: dict = {}
    key_lines: dict = {}
    key_lines["name"] = w.line(f"name: {scalar(name)}")
    top["name"] = name
    if description:
        key_lines["description"] = w.line(f"description: {scalar(description)}")
        top["description"] = description
    key_lines["input"] = w.line(f"input: {scalar(list(input_shape))}")
    shape = LineList(input_shape)
    shape.line, shape.file = key_lines["input"], file
    top["input"] = shape
    key_lines["layers"] = w.line("layers:")
    items = w.sequence_list(key_lines["layers"] + 1)
    top["layers"] = items
    frames = [_Frame("", [], INPUT, items, "  ")]
    for row in rows:
        w.layer(frames, row)
    w.close(frames, 1)
    if notes:
        key_lines["notes"] = w.line("notes:")
        listed = w.sequence_list(key_lines["notes"] + 1)
        for note in notes:
            w.line(f"  - {json.dumps(note)}")
            listed.append(note)
        top["notes"] = listed
    if unused_params:
        key_lines["unused_params"] = first = w.line("unused_params:")
        lines = {path: w.line(f"  {scalar(path)}: {count}") for path, count in unused_params.items()}
        top["unused_params"] = w.mapping(first + 1, dict(unused_params), lines)
    doc = w.mapping(key_lines["name"], top, key_lines)
    return "\n".join(w.lines) + "\n", doc
