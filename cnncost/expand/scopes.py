"""Scopes, names and references: where each layer's name is made, what a reference finds, and the
expressions ($name, ${expr}) that values may hold."""

from __future__ import annotations

import re
from functools import lru_cache

from .. import expr
from ..errors import did_you_mean
from ..graph import INPUT
from .protocol import Core
from .limits import LOCAL_NAME


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


def local_name(ex: Core, args, scope: Scope, default: str | None) -> str | None:
    if "name" not in args:
        return default
    name = ex.value(args["name"], scope.vars, args, "name")
    if isinstance(name, int) and not isinstance(name, bool):
        name = str(name)
    if not isinstance(name, str) or not LOCAL_NAME.match(name):
        ex.fail(f"layer name {name!r} must be letters, digits, '_' or '-' (no dots)", args, "name")
    if name == INPUT:
        ex.fail("'input' is reserved for the network's input", args, "name")
    return name


def auto_name(ex: Core, scope: Scope, base: str) -> str:
    # Resume where the last search for this name stopped: names are never freed, so every
    # smaller suffix is still taken, and a chain of many unnamed layers stays linear.
    key = scope.prefix + base
    n = ex.next_suffix.get(key, 1)
    name = base if n == 1 else f"{base}_{n}"
    while scope.prefix + name in ex.shapes:
        n += 1
        name = f"{base}_{n}"
    ex.next_suffix[key] = n
    return name


def resolve_ref(ex: Core, ref, scope: Scope, args, key) -> str:
    if not isinstance(ref, str):
        ex.fail(f"a reference must be a layer name, got {ref!r}", args, key)
    if ref == INPUT:
        return scope.input_ref
    s = scope
    block_scope = next((b for b in _scopes_up_to_block(scope) if b.barrier), None)
    while s is not None:
        if ref in s.bindings:
            return s.bindings[ref]
        found = s.prefix + ref if s.prefix + ref in ex.shapes else ex.aliases.get(s.prefix + ref)
        # inside a block, only what this call of it made: an unnamed call shares its caller's names
        if found is not None and (block_scope is None or ex.position.get(found, -1) >= block_scope.first_node):
            return found
        if s.barrier:
            break
        s = s.parent
    known = [n[len(scope.prefix):] for n in list(ex.shapes) + list(ex.aliases)
             if n.startswith(scope.prefix) and "." not in n[len(scope.prefix):]]
    known += [name for s in _scopes_up_to_block(scope) for name in s.bindings]
    if block_scope is not None and _visible_outside(ex, ref, block_scope.parent):
        ex.fail(f"'{ref}' is outside the block: a block sees only its own layers and the inputs its call "
                  "hands it", args, key,
                  hint=f"hand it in: input: [..., {ref}] on the call, and inputs: [..., {ref}] in the block")
    later = _defined_later(ex, ref)
    ex.fail(
        f"reference to unknown layer '{ref}'"
        + (" (layers may only use earlier layers: a cycle?)" if later else ""),
        args,
        key,
        hint=did_you_mean(ref, known),
    )


def _scopes_up_to_block(scope: Scope):
    while scope is not None:
        yield scope
        if scope.barrier:
            return
        scope = scope.parent


def _visible_outside(ex: Core, ref, scope: Scope | None) -> bool:
    """Whether ``ref`` names a layer from the scopes around a block (ignoring block boundaries)."""
    while scope is not None:
        if ref in scope.bindings or scope.prefix + ref in ex.shapes or scope.prefix + ref in ex.aliases:
            return True
        scope = scope.parent
    return False


def _defined_later(ex: Core, ref) -> bool:
    """Whether some item, anywhere in the file, is literally named ``ref``: a forward reference, not a typo."""
    if ex._written_names is None:
        ex._written_names = set()
        stack = [ex.doc]
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                name = value.get("name")
                if isinstance(name, str):
                    ex._written_names.add(name)
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
    return ref in ex._written_names


def inputs_of(ex: Core, args, scope: Scope, cur: str) -> list[str]:
    if "input" not in args:
        return [cur]
    raw = ex.value(args["input"], scope.vars, args, "input")
    refs = raw if isinstance(raw, list) else [raw]
    if not refs:
        ex.fail("'input' names no layer: give a layer, or a list of them", args, "input")
    return [resolve_ref(ex, r, scope, args, "input") for r in refs]


def display(ex: Core, name: str, scope: Scope) -> str:
    """A layer's name as the user would write it in this scope."""
    return name[len(scope.prefix):] if name.startswith(scope.prefix) else name


CONSTANT = {int, float, bool, type(None)}  # what resolve returns unchanged


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
