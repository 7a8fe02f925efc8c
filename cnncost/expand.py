"""Expand a YAML network description into a Graph of primitive layers.

The language (docs/yaml-reference.md has the full reference):

    name: resnet18
    input: [3, 224, 224]
    params: {classes: 1000}          # overridable with --set
    blocks:                          # reusable, with named arguments
      basic: {args: {out: null, stride: 1}, layers: [...]}
    layers:                          # a chain: each item feeds the next
      - conv: {name: conv1, out: 64, kernel: 7, stride: 2, padding: 3}
      - relu
      - repeat: {name: layer1, count: 2, layers: {basic: {out: 64}}}

Each item is a one-key mapping (or a bare word): a layer kind from the
registry, a block, or a construct (sequence, repeat, parallel, residual,
side). ``$name`` and ``${expr}`` are expressions; other strings are literal.
A ``name`` gives the item a scope of its own; without one its contents are
placed in the enclosing scope.
"""

from __future__ import annotations

import dataclasses
import os
import re
from functools import lru_cache
from typing import Any, Mapping, NoReturn

from . import expr
from .errors import CnnCostError, Location, did_you_mean
from .graph import INPUT, Graph, Node, make_node
from .kinds import KINDS, MAX_INT_ARGUMENT, _short, format_shape
from .yamlio import LineDict, load_file, load_text

CONSTRUCTS = ("sequence", "repeat", "parallel", "residual", "side")
TOP_KEYS = ("extends", "name", "description", "reference", "input", "params", "blocks", "layers", "notes",
            "torch_names", "unused_params")
MAX_UNUSED = 100_000  # modules listed under unused_params
MAX_EXTENDS = 8
COMMON_KEYS = ("name", "when")  # allowed on every item
MAX_REPEAT = 10_000
MAX_NODES = 20_000  # 20x the largest zoo network; keeps any command under a second (docs/security.md)
SHORTCUTS = ("auto", "identity", "projection", "zero_pad", "none")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOCAL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")


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
    from . import zoo

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
            exc.message = f"extends '{ref}': {exc.message}"
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
    merged["name"] = doc.get("name") or _stem(file)
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


def _stem(file: str) -> str:
    return os.path.splitext(os.path.basename(file))[0]


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


class Scope:
    """Where names are created and looked up, and which variables are visible."""

    def __init__(self, prefix: str, variables: dict, input_ref: str, parent=None, barrier=False, side=False,
                 bindings=None):
        self.prefix = prefix
        self.vars = variables
        self.input_ref = input_ref
        self.parent = parent
        self.barrier = barrier  # a block body: references do not see the caller
        self.side = side
        self.bindings = bindings or {}  # a block's named inputs -> the layers the call handed it
        self.first_node = 0  # a block body: the position of the first layer this call of it made

    def child(self, name: str | None, input_ref: str, variables=None, barrier=False, side=None,
              bindings=None) -> "Scope":
        prefix = self.prefix + name + "." if name else self.prefix
        return Scope(
            prefix,
            self.vars if variables is None else variables,
            input_ref,
            self,
            barrier,
            self.side if side is None else side,
            bindings,
        )


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
        self.blocks = self._blocks()

    # --- errors ---

    def loc(self, container=None, key=None) -> Location:
        line = file = None
        if isinstance(container, LineDict):
            line = container.line_of(key) if key is not None else container.line
            file = getattr(container, "key_files", {}).get(key)  # inherited through 'extends'
        elif container is not None:
            line = getattr(container, "line", None)
        # content inherited through 'extends' belongs to its own file
        return Location(file or getattr(container, "file", None) or self.file, line)

    def fail(self, message, container=None, key=None, layer=None, hint=None) -> NoReturn:
        raise CnnCostError(message, location=self.loc(container, key), layer=layer, hint=hint)

    # --- the whole network ---

    def _blocks(self) -> dict:
        blocks = self.doc.get("blocks") or {}
        if not isinstance(blocks, dict):
            self.fail("'blocks' must be a mapping of block name to definition", self.doc, "blocks")
        for name, body in blocks.items():
            if not isinstance(name, str) or not _NAME.match(name):
                self.fail(f"block name '{name}' must be an identifier", blocks, name)
            if name in KINDS or name in CONSTRUCTS:
                self.fail(f"block '{name}' has the name of a built-in layer kind or construct", blocks, name)
            if not isinstance(body, dict) or "layers" not in body:
                self.fail(f"block '{name}' must be a mapping with 'layers' (and optional 'args')", blocks, name)
            for key in body:
                if key not in ("args", "layers", "doc", "inputs"):
                    self.fail(f"unknown key '{key}' in block '{name}'", body, key,
                              hint=did_you_mean(key, ("args", "layers", "doc", "inputs")))
            inputs = body.get("inputs")
            if inputs is not None and (not isinstance(inputs, list) or not inputs or len(set(map(str, inputs))) !=
                                       len(inputs) or not all(isinstance(i, str) and _NAME.match(i) and
                                                              i != INPUT for i in inputs)):
                self.fail(f"the 'inputs' of block '{name}' must be a list of distinct names (not 'input'), "
                          "one per input the block is handed", body, "inputs")
            args = body.get("args") or {}
            if not isinstance(args, dict):
                self.fail(f"'args' of block '{name}' must be a mapping of name to default (null: required)",
                          body, "args")
        return blocks

    def _model_params(self, overrides: Mapping[str, Any]) -> dict:
        params = self.doc.get("params") or {}
        if not isinstance(params, dict):
            self.fail("'params' must be a mapping of name to default value", self.doc, "params")
        values, choices = {}, {}
        for key, value in params.items():
            if not isinstance(key, str) or not _NAME.match(key):
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
        name = doc.get("name") or _stem(self.file)
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

    # --- values ---

    def value(self, raw, variables, container=None, key=None):
        """Resolve ``$name``/``${expr}`` (typed) and ``text ${expr}`` (string), recursively in lists."""
        try:
            return resolve(raw, variables)
        except CnnCostError as exc:
            exc.with_context(location=self.loc(container, key))
            raise

    # --- items ---

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
                out = getattr(self, "construct_" + word)(args, scope, cur)
            elif word in self.blocks:
                out = self.call_block(word, args, scope, cur)
            else:
                out = None
        except CnnCostError as exc:
            exc.with_context(location=self.loc(args))
            raise
        if out is not None:
            if "name" in args and word != "side":
                name = self.local_name(args, scope, None)
                assert name is not None  # args has a name
                self.aliases[scope.prefix + name] = out
            return out
        self.fail(
            f"unknown layer kind '{word}'",
            line_holder,
            word if isinstance(line_holder, dict) else None,
            hint=did_you_mean(word, list(KINDS) + list(self.blocks) + list(CONSTRUCTS)),
        )

    # --- naming and references ---

    def local_name(self, args, scope: Scope, default: str | None) -> str | None:
        if "name" not in args:
            return default
        name = self.value(args["name"], scope.vars, args, "name")
        if isinstance(name, int) and not isinstance(name, bool):
            name = str(name)
        if not isinstance(name, str) or not _LOCAL_NAME.match(name):
            self.fail(f"layer name {name!r} must be letters, digits, '_' or '-' (no dots)", args, "name")
        if name == INPUT:
            self.fail("'input' is reserved for the network's input", args, "name")
        return name

    def auto_name(self, scope: Scope, base: str) -> str:
        # Resume where the last search for this name stopped: names are never freed, so every
        # smaller suffix is still taken, and a chain of many unnamed layers stays linear.
        key = scope.prefix + base
        n = self.next_suffix.get(key, 1)
        name = base if n == 1 else f"{base}_{n}"
        while scope.prefix + name in self.shapes:
            n += 1
            name = f"{base}_{n}"
        self.next_suffix[key] = n
        return name

    def resolve_ref(self, ref, scope: Scope, args, key) -> str:
        if not isinstance(ref, str):
            self.fail(f"a reference must be a layer name, got {ref!r}", args, key)
        if ref == INPUT:
            return scope.input_ref
        s = scope
        block_scope = next((b for b in self._scopes_up_to_block(scope) if b.barrier), None)
        while s is not None:
            if ref in s.bindings:
                return s.bindings[ref]
            found = s.prefix + ref if s.prefix + ref in self.shapes else self.aliases.get(s.prefix + ref)
            # inside a block, only what this call of it made: an unnamed call shares its caller's names
            if found is not None and (block_scope is None or self.position.get(found, -1) >= block_scope.first_node):
                return found
            if s.barrier:
                break
            s = s.parent
        known = [n[len(scope.prefix):] for n in list(self.shapes) + list(self.aliases)
                 if n.startswith(scope.prefix) and "." not in n[len(scope.prefix):]]
        known += [name for s in self._scopes_up_to_block(scope) for name in s.bindings]
        if block_scope is not None and self._visible_outside(ref, block_scope.parent):
            self.fail(f"'{ref}' is outside the block: a block sees only its own layers and the inputs its call "
                      "hands it", args, key,
                      hint=f"hand it in: input: [..., {ref}] on the call, and inputs: [..., {ref}] in the block")
        later = self._defined_later(ref)
        self.fail(
            f"reference to unknown layer '{ref}'"
            + (" (layers may only use earlier layers: a cycle?)" if later else ""),
            args,
            key,
            hint=did_you_mean(ref, known),
        )

    @staticmethod
    def _scopes_up_to_block(scope: Scope):
        while scope is not None:
            yield scope
            if scope.barrier:
                return
            scope = scope.parent

    def _visible_outside(self, ref, scope: Scope | None) -> bool:
        """Whether ``ref`` names a layer from the scopes around a block (ignoring block boundaries)."""
        while scope is not None:
            if ref in scope.bindings or scope.prefix + ref in self.shapes or scope.prefix + ref in self.aliases:
                return True
            scope = scope.parent
        return False

    def _defined_later(self, ref) -> bool:
        """Whether some item, anywhere in the file, is literally named ``ref``: a forward reference, not a typo."""
        if self._written_names is None:
            self._written_names = set()
            stack = [self.doc]
            while stack:
                value = stack.pop()
                if isinstance(value, dict):
                    name = value.get("name")
                    if isinstance(name, str):
                        self._written_names.add(name)
                    stack.extend(value.values())
                elif isinstance(value, list):
                    stack.extend(value)
        return ref in self._written_names

    def inputs_of(self, args, scope: Scope, cur: str) -> list[str]:
        if "input" not in args:
            return [cur]
        raw = self.value(args["input"], scope.vars, args, "input")
        refs = raw if isinstance(raw, list) else [raw]
        if not refs:
            self.fail("'input' names no layer: give a layer, or a list of them", args, "input")
        return [self.resolve_ref(r, scope, args, "input") for r in refs]

    # --- primitives ---

    def primitive(self, kind_name: str, args, scope: Scope, cur: str, name: str | None = None) -> str:
        kind = KINDS[kind_name]
        local = name or self.local_name(args, scope, None) or self.auto_name(scope, kind_name)
        full = scope.prefix + local
        try:
            raw = {}
            call = kind.calls[0]
            shares = None
            for key, value in args.items():
                if key in COMMON_KEYS or key == "input":
                    continue
                if key == "shares":  # the weights of an earlier layer (a module called twice)
                    shares = self.resolve_ref(self.value(value, scope.vars, args, key), scope, args, key)
                    continue
                if key == "call":  # how the reference implementation runs it (docs/yaml-reference.md)
                    try:
                        call = kind.check_call(self.value(value, scope.vars, args, key))
                    except CnnCostError as exc:
                        exc.with_context(location=self.loc(args, key))
                        raise
                    continue
                if key not in kind.arg_map:
                    self.fail(
                        f"{kind_name} has no argument '{key}'",
                        args,
                        key,
                        hint=did_you_mean(key, kind.arg_map)
                        or ("it takes: " + ", ".join(kind.arg_map) if kind.arg_map else "it takes no arguments"),
                    )
                raw[key] = value if type(value) in _CONSTANT else self.value(value, scope.vars, args, key)
            try:
                checked = kind.check_args(raw)
            except CnnCostError as exc:
                bad = next((k for k in raw if f"'{k}'" in exc.message), None)
                exc.with_context(location=self.loc(args, bad))
                raise
            inputs = self.inputs_of(args, scope, cur)
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
                        f"reads '{self.display(i, scope)}', which is in a side branch: the totals leave side "
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
                    f"'{self.display(i, scope)}' ({format_shape(s)})" for i, s in zip(inputs, in_shapes))
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

    def display(self, name: str, scope: Scope) -> str:
        """A layer's name as the user would write it in this scope."""
        return name[len(scope.prefix):] if name.startswith(scope.prefix) else name

    # --- blocks ---

    def call_block(self, block: str, args, scope: Scope, cur: str, name: str | None = None,
                   extra: dict | None = None) -> str:
        if block in self.call_stack:
            self.fail(f"block '{block}' calls itself (via {' -> '.join(self.call_stack + [block])})", args)
        if len(self.call_stack) > 50:
            self.fail("blocks are nested more than 50 deep", args)
        definition = self.blocks[block]
        declared = definition.get("args") or {}
        local = name or self.local_name(args, scope, None)
        values = {}
        for key, raw in list(args.items()) + list((extra or {}).items()):
            if key in COMMON_KEYS or key == "input":
                continue
            if key not in declared:
                self.fail(
                    f"block '{block}' has no argument '{key}'",
                    args,
                    key,
                    layer=scope.prefix + (local or block),
                    hint=did_you_mean(key, declared) or ("it takes: " + ", ".join(declared) if declared else None),
                )
            values[key] = self.value(raw, scope.vars, args, key)
        starts = self.inputs_of(args, scope, cur)
        start = starts[0]  # the chain starts at the first input
        names = definition.get("inputs")
        if names is None and len(starts) > 1:
            self.fail(f"block '{block}' takes one input, and this call hands it {len(starts)}", args, "input",
                      layer=scope.prefix + (local or block),
                      hint="name them in the block's definition: inputs: [x, skip]")
        if names is not None and len(starts) != len(names):
            self.fail(f"block '{block}' takes {len(names)} inputs ({', '.join(names)}), and this call hands it "
                      f"{len(starts)}", args, "input" if "input" in args else None,
                      layer=scope.prefix + (local or block))
        bindings = dict(zip(names or (), starts))
        variables = dict(self.model_vars(scope))
        for key, default in declared.items():
            if key in values:
                variables[key] = values[key]
            elif default is None:
                self.fail(f"block '{block}' needs argument '{key}'", args, layer=scope.prefix + (local or block))
            else:
                variables[key] = self.value(default, variables, declared, key)
        for prefix, ref in [("in", start)] + [(name, ref) for name, ref in bindings.items()]:
            shape = self.shapes[ref]  # in_channels, in_height, in_width; and skip_channels, ... per named input
            variables[f"{prefix}_channels"] = shape[0]
            if len(shape) == 3:
                variables[f"{prefix}_height"], variables[f"{prefix}_width"] = shape[1], shape[2]
        inner = scope.child(local, start, variables, barrier=True, bindings=bindings)
        inner.first_node = len(self.nodes)
        self.call_stack.append(block)
        try:
            return self.items(definition["layers"], inner, start, definition, "layers")
        finally:
            self.call_stack.pop()

    def model_vars(self, scope: Scope) -> dict:
        while scope.parent is not None:
            scope = scope.parent
        return scope.vars

    # --- constructs ---

    def _check_keys(self, construct, args, allowed):
        for key in args:
            if key not in allowed and key not in COMMON_KEYS:
                self.fail(f"{construct} has no key '{key}'", args, key,
                          hint=did_you_mean(key, allowed) or "it takes: " + ", ".join(allowed))

    def _required(self, construct, args, key):
        if key not in args:
            self.fail(f"{construct} needs '{key}'", args)
        return args[key]

    def construct_sequence(self, args, scope, cur):
        self._check_keys("sequence", args, ("layers", "input"))
        start = self.inputs_of(args, scope, cur)[0]  # a list: the chain starts at the first
        inner = scope.child(self.local_name(args, scope, None), start)
        return self.items(self._required("sequence", args, "layers"), inner, start, args, "layers")

    def construct_side(self, args, scope, cur):
        self._check_keys("side", args, ("layers", "input"))
        start = self.inputs_of(args, scope, cur)[0]  # a list: the chain starts at the first
        local = self.local_name(args, scope, None)
        inner = scope.child(local, start, side=True)
        saved = self._mark()
        try:
            self.items(self._required("side", args, "layers"), inner, start, args, "layers")
        except CnnCostError as exc:
            if not exc.input_dependent:
                raise  # a mistake in the file, not a head that this input is too small for
            self._roll_back(saved)
            layer = f"layer '{exc.layer}': " if exc.layer else ""
            self.left_out.append((scope.prefix + local if local else "side", layer + exc.message))
        return cur  # a side output does not feed the chain

    def _mark(self) -> tuple:
        return len(self.nodes), set(self.groups), dict(self.aliases), dict(self.next_suffix)

    def _roll_back(self, mark: tuple):
        """Forget every layer added since ``mark``, as if it had never been read."""
        count, groups, aliases, suffixes = mark
        for node in self.nodes[count:]:
            del self.shapes[node.name], self.lines[node.name], self.position[node.name]
            self.shared.pop(node.name, None)
        del self.nodes[count:]
        self.groups, self.aliases, self.next_suffix = groups, aliases, suffixes

    def construct_repeat(self, args, scope, cur):
        self._check_keys("repeat", args, ("count", "layers", "var", "first", "input"))
        count = self.value(self._required("repeat", args, "count"), scope.vars, args, "count")
        if isinstance(count, bool) or not isinstance(count, int):
            self.fail(f"repeat count must be an integer, got {count!r}", args, "count")
        if count < 1 or count > MAX_REPEAT:
            self.fail(f"repeat count must be between 1 and {MAX_REPEAT:,}, got {count}", args, "count")
        var = args.get("var", "i")
        if not isinstance(var, str) or not _NAME.match(var):
            self.fail("repeat 'var' must be an identifier", args, "var")
        body = self._required("repeat", args, "layers")
        first = args.get("first") or {}
        if first and not (isinstance(body, dict) and len(body) == 1 and isinstance(first, dict)):
            self.fail("'first' needs 'layers' to be a single block or layer call", args, "first")
        name = self.local_name(args, scope, None)
        if "input" in args:
            cur = self.inputs_of(args, scope, cur)[0]  # a list: the chain starts at the first
        for i in range(count):
            variables = dict(scope.vars)
            variables[var] = i
            body_i = self._with_first(body, first) if (i == 0 and first) else body
            if name is None:
                cur = self.items(body_i, scope.child(None, cur, variables), cur, args, "layers")
                continue
            outer = scope.child(name, cur, variables)
            call = self._single_call(body_i)
            if call is not None:
                # one unnamed call per iteration: it is named by the index (layer1.0, layer1.1, ...)
                word, call_args = call
                named = LineDict(call_args)
                named.line, named.key_lines = call_args.line, call_args.key_lines
                named["name"] = str(i)
                item = LineDict({word: named})
                item.line, item.key_lines = body_i.line, body_i.key_lines
                cur = self.item(item, outer, cur, args)
            else:
                iteration = outer.child(str(i), cur)
                cur = self.items(body_i, iteration, cur, args, "layers")
                self.aliases[iteration.prefix[:-1]] = cur  # an iteration's name stands for its output
        return cur

    def _single_call(self, body):
        if not (isinstance(body, dict) and len(body) == 1):
            return None
        (word, call_args), = body.items()
        if word in CONSTRUCTS and word != "residual" and word != "parallel":
            return None
        if call_args is None:
            call_args = LineDict()
            call_args.line, call_args.key_lines = getattr(body, "line", None), {}
        if not isinstance(call_args, dict) or "name" in call_args:
            return None
        return word, call_args

    def _with_first(self, body, first):
        (word, args), = body.items()
        merged = LineDict(args or {})
        merged.line = getattr(args, "line", None) or body.line
        merged.key_lines = dict(getattr(args, "key_lines", {}))
        merged.update(first)
        merged.key_lines.update(getattr(first, "key_lines", {}))
        out = LineDict({word: merged})
        out.line, out.key_lines = body.line, body.key_lines
        return out

    def construct_parallel(self, args, scope, cur):
        self._check_keys("parallel", args, ("branches", "merge", "input"))
        start = self.inputs_of(args, scope, cur)[0]  # a list: the chain starts at the first
        inner = scope.child(self.local_name(args, scope, None), start)
        branches = self._required("parallel", args, "branches")
        if not isinstance(branches, dict) or len(branches) < 2:
            self.fail("'branches' must map at least two branch names to their layers", args, "branches")
        merge = self.value(args.get("merge", "concat"), scope.vars, args, "merge")
        if merge not in ("concat", "add"):
            self.fail(f"merge must be concat or add, got {merge!r}", args, "merge")
        ends = []
        for bname, body in branches.items():
            if not isinstance(bname, str) or not _LOCAL_NAME.match(bname):
                self.fail(f"branch name {bname!r} must be a word", branches, bname)
            branch = inner.child(bname, start)
            ends.append(self.items(body, branch, start, branches, bname))
            self.aliases[branch.prefix[:-1]] = ends[-1]  # a branch's name stands for its output
        merged = self.auto_name(inner, merge)
        return self.add_node(merge, dict(KINDS[merge].defaults), ends, inner.prefix + merged, inner, args.line)

    def construct_residual(self, args, scope, cur):
        self._check_keys("residual", args, ("body", "shortcut", "shortcut_bn", "projection_from", "input"))
        start = self.inputs_of(args, scope, cur)[0]  # a list: the chain starts at the first
        inner = scope.child(self.local_name(args, scope, None), start)
        body_end = self.items(self._required("residual", args, "body"), inner, start, args, "body")
        shortcut = self.value(args.get("shortcut", "auto"), scope.vars, args, "shortcut")
        with_bn = self.value(args.get("shortcut_bn", True), scope.vars, args, "shortcut_bn")
        if not isinstance(with_bn, bool):
            self.fail("shortcut_bn must be true or false", args, "shortcut_bn")
        x, y = self.shapes[start], self.shapes[body_end]
        if isinstance(shortcut, list):
            sc = self.items(shortcut, inner.child("shortcut", start), start, args, "shortcut")
            self.aliases[inner.prefix + "shortcut"] = sc
        elif shortcut not in SHORTCUTS:
            self.fail(f"shortcut must be one of {', '.join(SHORTCUTS)} or a list of layers, got {shortcut!r}",
                      args, "shortcut", hint=did_you_mean(shortcut, SHORTCUTS))
        else:
            if shortcut == "none":
                return body_end
            if shortcut == "auto":
                shortcut = "identity" if x == y else "projection"
            if shortcut == "identity":
                sc = start
            else:
                sc_scope = inner.child("shortcut", start)
                stride: int | list  # per axis for a video map's conv3d
                if shortcut == "projection" and len(x) == 4:  # a video map: a 1x1x1 conv3d (torchvision's R3D)
                    kind, stride = "conv3d", self._shortcut_stride_3d(x, y, args)
                else:
                    kind, stride = "conv", self._shortcut_stride(x, y, shortcut, args)
                if shortcut == "zero_pad":
                    sc = self.add_node("subsample_pad", {"out": y[0], "stride": stride}, [start],
                                       inner.prefix + "shortcut", inner, args.line)
                else:
                    src = start
                    if "projection_from" in args:
                        src = self.resolve_ref(self.value(args["projection_from"], scope.vars, args,
                                                          "projection_from"), inner, args, "projection_from")
                    conv = KINDS[kind].check_args(
                        {"out": y[0], "kernel": 1, "stride": stride, "bias": not with_bn})
                    sc = self.add_node(kind, conv, [src], sc_scope.prefix + "conv", sc_scope, args.line)
                    if with_bn:
                        bn = KINDS["batchnorm"].check_args({})
                        sc = self.add_node("batchnorm", bn, [sc], sc_scope.prefix + "bn", sc_scope, args.line)
        add = self.auto_name(inner, "add")
        try:
            return self.add_node("add", {}, [body_end, sc], inner.prefix + add, inner, args.line)
        except CnnCostError as exc:
            exc.message = (f"residual body output '{body_end}' ({format_shape(self.shapes[body_end])}) "
                           f"and shortcut '{sc}' ({format_shape(self.shapes[sc])}) differ in shape")
            exc.with_context(layer=inner.prefix + add)
            raise

    def _shortcut_stride_3d(self, x, y, args) -> list:
        # each axis (time, height, width) on its own: the smallest stride that gives the body's size
        strides = []
        for size, out in zip(x[1:], y[1:]):
            stride = max(1, -(-size // out)) if out > 1 else size
            if (size - 1) // stride + 1 != out:
                self.fail(f"no stride takes the shortcut from {format_shape(x)} to the body's {format_shape(y)}",
                          args)
            strides.append(stride)
        return strides

    def _shortcut_stride(self, x, y, kind, args) -> int:
        if len(x) != 3 or len(y) != 3:
            self.fail(f"a {kind} shortcut needs feature maps, got {format_shape(x)} and {format_shape(y)}", args)
        # the stride a 1x1 conv needs, read off each axis in turn: an axis of size 1 fits any stride
        for axis in (1, 2):
            stride = max(1, -(-x[axis] // y[axis]))
            if (x[1] - 1) // stride + 1 == y[1] and (x[2] - 1) // stride + 1 == y[2]:
                return stride
        self.fail(f"no stride takes the shortcut from {format_shape(x)} to the body's {format_shape(y)}", args)


_CONSTANT = {int, float, bool, type(None)}  # what resolve returns unchanged
_WHOLE = re.compile(r"^\$(?:\{(.*)\}|([A-Za-z_][A-Za-z0-9_]*))$", re.S)


@lru_cache(maxsize=4096)
def _whole_expression(raw: str) -> str | None:
    """The expression of ``$name`` or ``${expr}``; None for text, which may hold ``${...}`` parts."""
    m = _WHOLE.match(raw.strip())
    return (m.group(1) if m.group(1) is not None else m.group(2)) if m else None


def resolve(raw, variables):
    if isinstance(raw, str):
        if "$" not in raw:
            return raw  # plain text: most names and words
        whole = _whole_expression(raw)
        if whole is not None:
            return expr.evaluate(whole, variables)
        return expr.interpolate(raw, variables)
    if isinstance(raw, list):
        return [resolve(v, variables) for v in raw]
    return raw
