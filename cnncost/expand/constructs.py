"""The constructs (sequence, side, repeat, parallel, residual): each a function of the expander core
(``ex``: its items(), primitive() and the layers made so far), the construct's arguments, the scope and the
current layer; each returns the layer its output is."""

from __future__ import annotations


from ..errors import CnnCostError, did_you_mean
from ..kinds import KINDS, format_shape
from ..yamlio import LineDict
from .protocol import Core
from .limits import COMMON_KEYS, CONSTRUCTS, LOCAL_NAME, MAX_REPEAT, NAME, SHORTCUTS
from .scopes import auto_name, inputs_of, local_name, resolve_ref


def _check_keys(ex: Core, construct, args, allowed):
    for key in args:
        if key not in allowed and key not in COMMON_KEYS:
            ex.fail(f"{construct} has no key '{key}'", args, key,
                      hint=did_you_mean(key, allowed) or "it takes: " + ", ".join(allowed))


def _required(ex: Core, construct, args, key):
    if key not in args:
        ex.fail(f"{construct} needs '{key}'", args)
    return args[key]


def sequence(ex: Core, args, scope, cur):
    _check_keys(ex, "sequence", args, ("layers", "input"))
    start = inputs_of(ex, args, scope, cur)[0]  # a list: the chain starts at the first
    inner = scope.child(local_name(ex, args, scope, None), start)
    return ex.items(_required(ex, "sequence", args, "layers"), inner, start, args, "layers")


def side(ex: Core, args, scope, cur):
    _check_keys(ex, "side", args, ("layers", "input"))
    start = inputs_of(ex, args, scope, cur)[0]  # a list: the chain starts at the first
    local = local_name(ex, args, scope, None)
    inner = scope.child(local, start, side=True)
    saved = _mark(ex, )
    try:
        ex.items(_required(ex, "side", args, "layers"), inner, start, args, "layers")
    except CnnCostError as exc:
        if not exc.input_dependent:
            raise  # a mistake in the file, not a head that this input is too small for
        _roll_back(ex, saved)
        ex.left_out.append((scope.prefix + local if local else "side", exc.what()))
    return cur  # a side output does not feed the chain


def _mark(ex: Core) -> tuple:
    return len(ex.nodes), set(ex.groups), dict(ex.aliases), dict(ex.next_suffix)


def _roll_back(ex: Core, mark: tuple):
    """Forget every layer added since ``mark``, as if it had never been read."""
    count, groups, aliases, suffixes = mark
    for node in ex.nodes[count:]:
        del ex.shapes[node.name], ex.lines[node.name], ex.position[node.name]
        ex.shared.pop(node.name, None)
    del ex.nodes[count:]
    ex.groups, ex.aliases, ex.next_suffix = groups, aliases, suffixes


def repeat(ex: Core, args, scope, cur):
    _check_keys(ex, "repeat", args, ("count", "layers", "var", "first", "input"))
    count = ex.value(_required(ex, "repeat", args, "count"), scope.vars, args, "count")
    if isinstance(count, bool) or not isinstance(count, int):
        ex.fail(f"repeat count must be an integer, got {count!r}", args, "count")
    if count < 1 or count > MAX_REPEAT:
        ex.fail(f"repeat count must be between 1 and {MAX_REPEAT:,}, got {count}", args, "count")
    var = args.get("var", "i")
    if not isinstance(var, str) or not NAME.match(var):
        ex.fail("repeat 'var' must be an identifier", args, "var")
    body = _required(ex, "repeat", args, "layers")
    first = args.get("first") or {}
    if first and not (isinstance(body, dict) and len(body) == 1 and isinstance(first, dict)):
        ex.fail("'first' needs 'layers' to be a single block or layer call", args, "first")
    name = local_name(ex, args, scope, None)
    if "input" in args:
        cur = inputs_of(ex, args, scope, cur)[0]  # a list: the chain starts at the first
    for i in range(count):
        variables = dict(scope.vars)
        variables[var] = i
        body_i = _with_first(ex, body, first) if (i == 0 and first) else body
        if name is None:
            cur = ex.items(body_i, scope.child(None, cur, variables), cur, args, "layers")
            continue
        outer = scope.child(name, cur, variables)
        call = _single_call(ex, body_i)
        if call is not None:
            # one unnamed call per iteration: it is named by the index (layer1.0, layer1.1, ...)
            word, call_args = call
            named = LineDict(call_args)
            named.line, named.key_lines = call_args.line, call_args.key_lines
            named["name"] = str(i)
            item = LineDict({word: named})
            item.line, item.key_lines = body_i.line, body_i.key_lines
            cur = ex.item(item, outer, cur, args)
        else:
            iteration = outer.child(str(i), cur)
            cur = ex.items(body_i, iteration, cur, args, "layers")
            ex.aliases[iteration.prefix[:-1]] = cur  # an iteration's name stands for its output
    return cur


def _single_call(ex: Core, body):
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


def _with_first(ex: Core, body, first):
    (word, args), = body.items()
    merged = LineDict(args or {})
    merged.line = getattr(args, "line", None) or body.line
    merged.key_lines = dict(getattr(args, "key_lines", {}))
    merged.update(first)
    merged.key_lines.update(getattr(first, "key_lines", {}))
    out = LineDict({word: merged})
    out.line, out.key_lines = body.line, body.key_lines
    return out


def parallel(ex: Core, args, scope, cur):
    _check_keys(ex, "parallel", args, ("branches", "merge", "input"))
    start = inputs_of(ex, args, scope, cur)[0]  # a list: the chain starts at the first
    inner = scope.child(local_name(ex, args, scope, None), start)
    branches = _required(ex, "parallel", args, "branches")
    if not isinstance(branches, dict) or len(branches) < 2:
        ex.fail("'branches' must map at least two branch names to their layers", args, "branches")
    merge = ex.value(args.get("merge", "concat"), scope.vars, args, "merge")
    if merge not in ("concat", "add"):
        ex.fail(f"merge must be concat or add, got {merge!r}", args, "merge")
    ends = []
    for bname, body in branches.items():
        if not isinstance(bname, str) or not LOCAL_NAME.match(bname):
            ex.fail(f"branch name {bname!r} must be a word", branches, bname)
        branch = inner.child(bname, start)
        ends.append(ex.items(body, branch, start, branches, bname))
        ex.aliases[branch.prefix[:-1]] = ends[-1]  # a branch's name stands for its output
    merged = auto_name(ex, inner, merge)
    return ex.add_node(merge, dict(KINDS[merge].defaults), ends, inner.prefix + merged, inner, args.line)


def residual(ex: Core, args, scope, cur):
    _check_keys(ex, "residual", args, ("body", "shortcut", "shortcut_bn", "projection_from", "input"))
    start = inputs_of(ex, args, scope, cur)[0]  # a list: the chain starts at the first
    inner = scope.child(local_name(ex, args, scope, None), start)
    body_end = ex.items(_required(ex, "residual", args, "body"), inner, start, args, "body")
    shortcut = ex.value(args.get("shortcut", "auto"), scope.vars, args, "shortcut")
    with_bn = ex.value(args.get("shortcut_bn", True), scope.vars, args, "shortcut_bn")
    if not isinstance(with_bn, bool):
        ex.fail("shortcut_bn must be true or false", args, "shortcut_bn")
    x, y = ex.shapes[start], ex.shapes[body_end]
    if isinstance(shortcut, list):
        sc = ex.items(shortcut, inner.child("shortcut", start), start, args, "shortcut")
        ex.aliases[inner.prefix + "shortcut"] = sc
    elif shortcut not in SHORTCUTS:
        ex.fail(f"shortcut must be one of {', '.join(SHORTCUTS)} or a list of layers, got {shortcut!r}",
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
                kind, stride = "conv3d", _shortcut_stride_3d(ex, x, y, args)
            else:
                kind, stride = "conv", _shortcut_stride(ex, x, y, shortcut, args)
            if shortcut == "zero_pad":
                sc = ex.add_node("subsample_pad", {"out": y[0], "stride": stride}, [start],
                                   inner.prefix + "shortcut", inner, args.line)
            else:
                src = start
                if "projection_from" in args:
                    src = resolve_ref(ex, ex.value(args["projection_from"], scope.vars, args,
                                                      "projection_from"), inner, args, "projection_from")
                conv = KINDS[kind].check_args(
                    {"out": y[0], "kernel": 1, "stride": stride, "bias": not with_bn})
                sc = ex.add_node(kind, conv, [src], sc_scope.prefix + "conv", sc_scope, args.line)
                if with_bn:
                    bn = KINDS["batchnorm"].check_args({})
                    sc = ex.add_node("batchnorm", bn, [sc], sc_scope.prefix + "bn", sc_scope, args.line)
    add = auto_name(ex, inner, "add")
    try:
        return ex.add_node("add", {}, [body_end, sc], inner.prefix + add, inner, args.line)
    except CnnCostError as exc:  # the add's own words name its inputs' shapes; the residual's, what they are
        error = CnnCostError(f"residual body output '{body_end}' ({format_shape(ex.shapes[body_end])}) and "
                             f"shortcut '{sc}' ({format_shape(ex.shapes[sc])}) differ in shape",
                             location=exc.location, layer=exc.layer or inner.prefix + add, hint=exc.hint)
        error.input_dependent = exc.input_dependent
        raise error from None


def _shortcut_stride_3d(ex: Core, x, y, args) -> list:
    # each axis (time, height, width) on its own: the smallest stride that gives the body's size
    strides = []
    for size, out in zip(x[1:], y[1:]):
        stride = max(1, -(-size // out)) if out > 1 else size
        if (size - 1) // stride + 1 != out:
            ex.fail(f"no stride takes the shortcut from {format_shape(x)} to the body's {format_shape(y)}",
                      args)
        strides.append(stride)
    return strides


def _shortcut_stride(ex: Core, x, y, kind, args) -> int:
    if len(x) != 3 or len(y) != 3:
        ex.fail(f"a {kind} shortcut needs feature maps, got {format_shape(x)} and {format_shape(y)}", args)
    # the stride a 1x1 conv needs, read off each axis in turn: an axis of size 1 fits any stride
    for axis in (1, 2):
        stride = max(1, -(-x[axis] // y[axis]))
        if (x[1] - 1) // stride + 1 == y[1] and (x[2] - 1) // stride + 1 == y[2]:
            return stride
    ex.fail(f"no stride takes the shortcut from {format_shape(x)} to the body's {format_shape(y)}", args)


# a construct's name -> the function that expands it
BUILD = {"sequence": sequence, "side": side, "repeat": repeat, "parallel": parallel, "residual": residual}
