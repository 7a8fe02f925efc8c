"""Blocks: their definitions (checked once, when the file is read) and their calls, each a scope of its
own that sees only its arguments and the inputs the call hands it."""

from __future__ import annotations


from ..errors import did_you_mean
from ..graph import INPUT
from ..kinds import KINDS
from .protocol import Core
from .limits import COMMON_KEYS, CONSTRUCTS, NAME
from .scopes import Scope, inputs_of, local_name


def check_blocks(ex: Core) -> dict:
    blocks = ex.doc.get("blocks") or {}
    if not isinstance(blocks, dict):
        ex.fail("'blocks' must be a mapping of block name to definition", ex.doc, "blocks")
    for name, body in blocks.items():
        if not isinstance(name, str) or not NAME.match(name):
            ex.fail(f"block name '{name}' must be an identifier", blocks, name)
        if name in KINDS or name in CONSTRUCTS:
            ex.fail(f"block '{name}' has the name of a built-in layer kind or construct", blocks, name)
        if not isinstance(body, dict) or "layers" not in body:
            ex.fail(f"block '{name}' must be a mapping with 'layers' (and optional 'args')", blocks, name)
        for key in body:
            if key not in ("args", "layers", "doc", "inputs"):
                ex.fail(f"unknown key '{key}' in block '{name}'", body, key,
                          hint=did_you_mean(key, ("args", "layers", "doc", "inputs")))
        inputs = body.get("inputs")
        if inputs is not None and (not isinstance(inputs, list) or not inputs or len(set(map(str, inputs))) !=
                                   len(inputs) or not all(isinstance(i, str) and NAME.match(i) and
                                                          i != INPUT for i in inputs)):
            ex.fail(f"the 'inputs' of block '{name}' must be a list of distinct names (not 'input'), "
                      "one per input the block is handed", body, "inputs")
        args = body.get("args") or {}
        if not isinstance(args, dict):
            ex.fail(f"'args' of block '{name}' must be a mapping of name to default (null: required)",
                      body, "args")
    return blocks


def call_block(ex: Core, block: str, args, scope: Scope, cur: str, name: str | None = None,
               extra: dict | None = None) -> str:
    """A call of a block: its arguments and inputs bound, its layers expanded in a scope of their own."""
    if block in ex.call_stack:
        ex.fail(f"block '{block}' calls itself (via {' -> '.join(ex.call_stack + [block])})", args)
    if len(ex.call_stack) > 50:
        ex.fail("blocks are nested more than 50 deep", args)
    definition = ex.blocks[block]
    local = name or local_name(ex, args, scope, None)
    layer = scope.prefix + (local or block)
    values = _given_arguments(ex, block, definition, args, scope, layer, extra)
    start, bindings = _bound_inputs(ex, block, definition, args, scope, cur, layer)
    variables = _block_variables(ex, block, definition, values, args, scope, layer)
    for prefix, ref in [("in", start)] + [(name, ref) for name, ref in bindings.items()]:
        shape = ex.shapes[ref]  # in_channels, in_height, in_width; and skip_channels, ... per named input
        variables[f"{prefix}_channels"] = shape[0]
        if len(shape) == 3:
            variables[f"{prefix}_height"], variables[f"{prefix}_width"] = shape[1], shape[2]
    inner = scope.child(local, start, variables, barrier=True, bindings=bindings)
    inner.first_node = len(ex.nodes)
    ex.call_stack.append(block)
    try:
        return ex.items(definition["layers"], inner, start, definition, "layers")
    finally:
        ex.call_stack.pop()


def _given_arguments(ex: Core, block: str, definition, args, scope: Scope, layer: str, extra: dict | None) -> dict:
    """The call's arguments (and a construct's ``extra`` ones), evaluated; each must be one the block declares."""
    declared = definition.get("args") or {}
    values = {}
    for key, raw in list(args.items()) + list((extra or {}).items()):
        if key in COMMON_KEYS or key == "input":
            continue
        if key not in declared:
            ex.fail(
                f"block '{block}' has no argument '{key}'",
                args,
                key,
                layer=layer,
                hint=did_you_mean(key, declared) or ("it takes: " + ", ".join(declared) if declared else None),
                argument=key,
            )
        values[key] = ex.value(raw, scope.vars, args, key)
    return values


def _bound_inputs(ex: Core, block: str, definition, args, scope: Scope, cur: str, layer: str) -> tuple[str, dict]:
    """The layer the block's chain starts at (the first input), and its named inputs -> the layers handed."""
    starts = inputs_of(ex, args, scope, cur)
    names = definition.get("inputs")
    if names is None and len(starts) > 1:
        ex.fail(f"block '{block}' takes one input, and this call hands it {len(starts)}", args, "input",
                layer=layer, hint="name them in the block's definition: inputs: [x, skip]")
    if names is not None and len(starts) != len(names):
        ex.fail(f"block '{block}' takes {len(names)} inputs ({', '.join(names)}), and this call hands it "
                f"{len(starts)}", args, "input" if "input" in args else None, layer=layer)
    return starts[0], dict(zip(names or (), starts))


def _block_variables(ex: Core, block: str, definition, values: dict, args, scope: Scope, layer: str) -> dict:
    """The variables the block's layers see: the model's, then each declared argument's value or default."""
    declared = definition.get("args") or {}
    variables = dict(model_vars(ex, scope))
    for key, default in declared.items():
        if key in values:
            variables[key] = values[key]
        elif default is None:
            ex.fail(f"block '{block}' needs argument '{key}'", args, layer=layer, argument=key)
        else:
            variables[key] = ex.value(default, variables, declared, key)
    return variables


def model_vars(ex: Core, scope: Scope) -> dict:
    while scope.parent is not None:
        scope = scope.parent
    return scope.vars
