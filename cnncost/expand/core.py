"""The expander's core: one pass over a network description that makes each layer's node, in order.

Expander holds what the pass has made (nodes, shapes, names, aliases); the items of a list are expanded by
item(), which hands a layer kind to primitive(), a construct to constructs.BUILD and a block call to
blocks.call_block. Scopes and references are scopes.py's."""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Mapping, NoReturn

from ..errors import CnnCostError, Location, did_you_mean
from ..graph import INPUT, Graph, Node, make_node
from ..kinds import KINDS, MAX_INT_ARGUMENT, _short, format_shape
from ..yamlio import LineDict
from .limits import COMMON_KEYS, CONSTRUCTS, MAX_NODES, MAX_UNUSED, NAME, TOP_KEYS
from .scopes import CONSTANT, Scope, auto_name, display, inputs_of, local_name, resolve, resolve_ref
from .blocks import call_block, check_blocks
from .constructs import BUILD


class Expander:
    def __init__(self, doc, file: str):
        self.file = file
        if doc is None:
            raise CnnCostError("empty file: expected a network description", location=Location(file, 1))
        if not isinstance(doc, dict):
            raise CnnCostError(
                f"the top level must be a mapping with 'layers', got {type(doc).__name__}",
                location=Location(file, getattr(doc, "line", 1)),
            )
        self.doc = doc
        for key in doc:
            if key not in TOP_KEYS:
                self.fail(f"unknown top-level key '{key}'", doc, key, hint=did_you_mean(key, TOP_KEYS))
        self.nodes: list[Node] = []
        self.shapes: dict[str, tuple] = {}
        self.lines: dict[str, int] = {}
        self.position: dict[str, int] = {}  # each layer's place in self.nodes
        self.aliases: dict[str, str] = {}  # a named block/construct -> its output layer
        self._written_names: set | None = None  # every literal 'name:' in the file, gathered on first need
        self.groups: set[str] = set()  # every dotted prefix that names a group of layers
        self.next_suffix: dict[str, int] = {}  # auto_name's last suffix for each name
        self.call_stack: list[str] = []
        self.left_out: list[tuple[str, str]] = []  # side outputs that do not fit this input, and why
        self.shared: dict[str, str] = {}  # a layer -> the layer whose weights it uses ('shares')
        self.blocks = check_blocks(self, )

    def loc(self, container=None, key=None) -> Location:
        line = file = None
        if isinstance(container, LineDict):
            line = container.line_of(key) if key is not None else container.line
            file = getattr(container, "key_files", {}).get(key)  # inherited through 'extends'
        elif container is not None:
            line = getattr(container, "line", None)
        # content inherited through 'extends' belongs to its own file
        return Location(file or getattr(container, "file", None) or self.file, line)

    def fail(self, message, container=None, key=None, layer=None, hint=None, argument=None) -> NoReturn:
        raise CnnCostError(message, location=self.loc(container, key), layer=layer, hint=hint, argument=argument)

    def _model_params(self, overrides: Mapping[str, Any]) -> dict:
        params = self.doc.get("params") or {}
        if not isinstance(params, dict):
            self.fail("'params' must be a mapping of name to default value", self.doc, "params")
        values, choices = {}, {}
        for key, value in params.items():
            if not isinstance(key, str) or not NAME.match(key):
                self.fail(f"parameter name '{key}' must be an identifier", params, key)
            if isinstance(value, dict):  # {default: ..., choices: [...], doc: ...}
                extra = set(value) - {"default", "choices", "doc"}
                if "default" not in value or extra:
                    self.fail(f"parameter '{key}' must be a value or a mapping with 'default' "
                              "(and optional 'choices', 'doc')", params, key)
                if "choices" in value:
                    if not isinstance(value["choices"], list) or not value["choices"]:
                        self.fail(f"the choices of parameter '{key}' must be a non-empty list", params, key)
                    choices[key] = value["choices"]
                value = value["default"]
            values[key] = value
        for key, value in overrides.items():
            if key not in values:
                raise CnnCostError(
                    f"--set {key}: the model has no parameter '{key}'",
                    location=Location(self.file),
                    hint=did_you_mean(key, values) or (
                        "its parameters are: " + ", ".join(values) if values else "it has no parameters"),
                )
            values[key] = value
        # parameters may be expressions of earlier parameters
        scope_vars: dict = {}
        for key, value in values.items():
            scope_vars[key] = self.value(value, scope_vars, params, key)
            allowed = choices.get(key)
            if allowed is not None and scope_vars[key] not in allowed:
                shown = ", ".join(str(c) for c in allowed)
                raise CnnCostError(
                    f"parameter '{key}' must be one of {shown}, got {scope_vars[key]!r}",
                    location=self.loc(params, key),
                    hint=did_you_mean(scope_vars[key], allowed) if isinstance(scope_vars[key], str) else None,
                )
        return scope_vars

    def build(self, overrides: Mapping[str, Any], input_shape) -> Graph:
        doc = self.doc
        variables = self._model_params(overrides)
        if input_shape is None:
            if "input" not in doc:
                self.fail("missing 'input: [C, H, W]'", doc)
            raw = self.value(doc["input"], variables, doc, "input")
            if not isinstance(raw, list) or not raw:
                self.fail("'input' must be a list [C, H, W]", doc, "input")
            input_shape = tuple(raw)
        for d in input_shape:
            if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_INT_ARGUMENT:
                self.fail(f"input dimensions must be integers from 1 to {MAX_INT_ARGUMENT:,}, got "
                          f"{_short(list(input_shape))}", doc, "input")
        self.shapes[INPUT] = tuple(input_shape)
        layers = doc.get("layers")
        if not layers:
            self.fail("missing or empty 'layers' list", doc, "layers" if "layers" in doc else None)
        scope = Scope("", variables, INPUT)
        out = self.items(layers, scope, INPUT, doc, "layers")
        if out == INPUT:
            self.fail("the network has no layers", doc, "layers")
        name = doc.get("name") or stem(self.file)
        notes = doc.get("notes") or []
        notes = [str(n) for n in notes] if isinstance(notes, list) else [str(notes)]
        notes += [f"The side output '{side}' is left out: at this input, {why}." for side, why in self.left_out]
        torch_names = self._torch_names()
        return Graph(
            name=str(name),
            input_shape=tuple(input_shape),
            nodes=self.nodes,
            output=out,
            params=variables,
            description=str(doc.get("description") or ""),
            source=self.file,
            notes=notes,
            torch_names=torch_names,
            left_out=tuple(side for side, _ in self.left_out),
            shared=dict(self.shared),
            unused_params=self._unused_params(),
        )

    def _unused_params(self) -> dict:
        """``unused_params``: module path -> parameters of a module that forward never runs (from_torch)."""
        raw = self.doc.get("unused_params")
        if raw is None:
            return {}
        if not isinstance(raw, dict) or len(raw) > MAX_UNUSED:
            self.fail(f"'unused_params' must map at most {MAX_UNUSED:,} module paths to parameter counts",
                      self.doc, "unused_params")
        counts = {}
        for path, count in raw.items():
            if not isinstance(path, str) or not 0 < len(path) <= 1000:
                self.fail("unused_params: a module path must be a string of 1 to 1,000 characters", raw, path)
            if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= MAX_INT_ARGUMENT:
                self.fail(f"unused_params: '{path}' must map to a parameter count from 1 to "
                          f"{MAX_INT_ARGUMENT:,}, got {_short(count)}", raw, path)
            counts[path] = count
        return counts

    def _torch_names(self) -> tuple:
        """``torch_names``: (regular expression, module path) pairs that name each layer's torch module."""
        raw = self.doc.get("torch_names")
        if raw is None:
            return ()
        if not isinstance(raw, dict):
            self.fail("'torch_names' must map regular expressions of layer names to torch module paths",
                      self.doc, "torch_names")
        pairs = []
        for pattern, path in raw.items():
            try:
                compiled = re.compile(str(pattern))
                compiled.sub(str(path), "")  # a bad group reference shows here
            except re.error as exc:
                self.fail(f"torch_names: '{pattern}': {exc}", raw, pattern)
            if not isinstance(path, str) or not path:
                self.fail(f"torch_names: '{pattern}' must map to a module path ('.' for the model itself)", raw,
                          pattern)
            pairs.append((str(pattern), path))
        return tuple(pairs)

    def value(self, raw, variables, container=None, key=None):
        """Resolve ``$name``/``${expr}`` (typed) and ``text ${expr}`` (string), recursively in lists."""
        try:
            return resolve(raw, variables)
        except CnnCostError as exc:
            exc.with_context(location=self.loc(container, key))
            raise

    def items(self, items, scope: Scope, cur: str, container=None, key=None) -> str:
        if isinstance(items, dict) or isinstance(items, str):
            items = [items]
        if not isinstance(items, list):
            self.fail("expected a list of layers", container, key)
        for item in items:
            cur = self.item(item, scope, cur, items)
        return cur

    def item(self, item, scope: Scope, cur: str, parent) -> str:
        if isinstance(item, str):
            word, args = item, LineDict()
            args.line, args.key_lines = getattr(parent, "line", None), {}
            line_holder = parent
        elif isinstance(item, dict) and len(item) == 1:
            ((word, args),), line_holder = item.items(), item
            if args is None:
                args = LineDict()
                args.line, args.key_lines = getattr(item, "line", None), {}
            if not isinstance(args, dict):
                self.fail(f"the arguments of '{word}' must be a mapping, got {args!r}", item, word)
        else:
            self.fail(
                "each layer must be a one-key mapping like {conv: {out: 64, kernel: 3}} or a bare kind like relu",
                item if isinstance(item, dict) else parent,
            )
        if not isinstance(word, str):
            self.fail(f"layer kind must be a word, got {word!r}", line_holder)

        if "when" in args:
            cond = self.value(args["when"], scope.vars, args, "when")
            if not isinstance(cond, bool):
                self.fail(f"'when' must be true or false, got {cond!r}", args, "when")
            if not cond:
                return cur
        try:
            if word in KINDS:  # the commonest; no block or construct has a kind's name
                return self.primitive(word, args, scope, cur)
            elif word in CONSTRUCTS:
                out = BUILD[word](self, args, scope, cur)
            elif word in self.blocks:
                out = call_block(self, word, args, scope, cur)
            else:
                out = None
        except CnnCostError as exc:
            exc.with_context(location=self.loc(args))
            raise
        if out is not None:
            if "name" in args and word != "side":
                name = local_name(self, args, scope, None)
                assert name is not None  # args has a name
                self.aliases[scope.prefix + name] = out
            return out
        self.fail(
            f"unknown layer kind '{word}'",
            line_holder,
            word if isinstance(line_holder, dict) else None,
            hint=did_you_mean(word, list(KINDS) + list(self.blocks) + list(CONSTRUCTS)),
        )

    def primitive(self, kind_name: str, args, scope: Scope, cur: str, name: str | None = None) -> str:
        kind = KINDS[kind_name]
        local = name or local_name(self, args, scope, None) or auto_name(self, scope, kind_name)
        full = scope.prefix + local
        try:
            raw = {}
            call = kind.calls[0]
            shares = None
            for key, value in args.items():
                if key in COMMON_KEYS or key == "input":
                    continue
                if key == "shares":  # the weights of an earlier layer (a module called twice)
                    shares = resolve_ref(self, self.value(value, scope.vars, args, key), scope, args, key)
                    continue
                if key == "call":  # how the reference implementation runs it (docs/yaml-reference.md)
                    try:
                        call = kind.check_call(self.value(value, scope.vars, args, key))
                    except CnnCostError as exc:
                        exc.with_context(location=self.loc(args, key))
                        exc.argument = key
                        raise
                    continue
                if key not in kind.arg_map:
                    raise CnnCostError(
                        f"{kind_name} has no argument '{key}'", location=self.loc(args, key), argument=key,
                        hint=did_you_mean(key, kind.arg_map)
                        or ("it takes: " + ", ".join(kind.arg_map) if kind.arg_map else "it takes no arguments"))
                raw[key] = value if type(value) in CONSTANT else self.value(value, scope.vars, args, key)
            try:
                checked = kind.check_args(raw)
            except CnnCostError as exc:
                exc.with_context(location=self.loc(args, exc.argument if exc.argument in raw else None))
                raise
            inputs = inputs_of(self, args, scope, cur)
            if kind.inputs == "one" and len(inputs) != 1:
                self.fail(f"{kind_name} takes one input, got {len(inputs)}", args, "input")
            made = self.add_node(kind_name, checked, inputs, full, scope, args.line, call)
            if shares is not None:
                self.share(full, shares, args)
            return made
        except CnnCostError as exc:
            exc.with_context(location=self.loc(args), layer=full)
            raise

    def share(self, full: str, ref: str, args):
        """The layer just added uses the weights of ``ref``: its parameters and buffers count there, once."""
        ref = self.shared.get(ref, ref)
        node = self.nodes[-1]
        other = self.nodes[self.position[ref]] if ref in self.position else None
        if other is None or other is node:
            self.fail(f"'shares' must name an earlier layer, got '{ref}'", args, "shares")
        if (other.kind, other.args, other.params, other.buffers) != (node.kind, node.args, node.params, node.buffers):
            self.fail(f"'shares': '{other.name}' is not a layer of the same kind and arguments, with the same "
                      "weights", args, "shares")
        self.nodes[-1] = dataclasses.replace(node, params=0, buffers=0)
        self.shared[full] = ref

    def add_node(self, kind_name, checked, inputs, full, scope, line, call=None) -> str:
        if full in self.shapes:
            raise CnnCostError(
                f"layer name '{full}' is already used (at line {self.lines.get(full)})",
                hint="give this layer, or the block or repeat around it, its own name",
            )
        groups = []  # the groups the name is in ('a', 'a.b' for 'a.b.c') not yet known as groups
        last = full.rfind(".")
        if last != -1 and full[:last] not in self.groups:  # a known group was checked with all above it
            dot = full.find(".")
            while dot != -1:
                groups.append(full[:dot])
                dot = full.find(".", dot + 1)
        for group in groups:
            if group in self.shapes:
                raise CnnCostError(f"'{group}' is a layer, so it cannot also name a group ('{full}')",
                                   hint="rename the layer or the group")
        if full in self.groups:
            raise CnnCostError(f"'{full}' already names a group of layers, so it cannot name a layer too",
                               hint="rename the layer or the group")
        if len(self.nodes) >= MAX_NODES:
            raise CnnCostError(f"the network expands to more than {MAX_NODES:,} layers")
        if not scope.side:
            for i in inputs:
                if i != INPUT and self.nodes[self.position[i]].side:
                    raise CnnCostError(
                        f"reads '{display(self, i, scope)}', which is in a side branch: the totals leave side "
                        f"outputs out, so the main chain may not depend on one",
                        hint="move the layers it needs out of 'side'")
        shapes = self.shapes
        kind = KINDS[kind_name]
        in_shapes = (shapes[inputs[0]],) if len(inputs) == 1 else tuple([shapes[i] for i in inputs])
        try:
            if kind.resolve is not None:
                checked = kind.resolve(checked, in_shapes)
            out = tuple(kind.shape(checked, in_shapes))
            if out and min(out) < 1:
                raise CnnCostError(f"output shape {format_shape(out)} has an empty dimension")
        except CnnCostError as exc:
            exc.input_dependent = True  # shapes that do not fit: a side output may be left out for it
            if len(inputs) > 1:  # say which producer has which shape
                exc.message = exc.message.split(":")[0] + ": " + ", ".join(
                    f"'{display(self, i, scope)}' ({format_shape(s)})" for i, s in zip(inputs, in_shapes))
            raise
        self.nodes.append(make_node(  # Node's fields, in order: the quantities are worked out once, here
            full, kind_name, checked, tuple(inputs), in_shapes, out, scope.side, line, call or kind.calls[0],
            *kind.quantities(checked, in_shapes, out)))
        if groups:
            self.groups.update(groups)
        self.shapes[full] = out
        self.lines[full] = line
        self.position[full] = len(self.nodes) - 1
        return full


def stem(file: str) -> str:
    """A file's name without its folder and extension: the network's name when the file gives none."""
    return os.path.splitext(os.path.basename(file))[0]
