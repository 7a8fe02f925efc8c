"""Import a torch module as cnncost layers, by symbolic tracing with torch.fx: nothing runs.

torch.fx records every module call, function and tensor method of
``forward``. This tracer gives each traced value what cnncost knows of it
as it is recorded (values.py: an activation and its shape, a parameter, a
pattern in the middle), and answers shape questions (``x.shape``,
``x.size(0)``, ``len(x)``) with plain numbers, as torch.export does by
specialising on the input's shape: so ``x.view(x.size(0), -1)`` and ``if
x.shape[-1] > 7:`` trace. Only control flow on the data itself cannot,
and is reported with the line that does it.

Rows are named by module path: a module that torch.nn defines (and that
does not override its forward) is one row named by its path
(``layer1.0.conv1``); a function called inside a module's forward is a row
named ``<module path>.<function>`` (``layer1.0.add``), or the module's path
itself when that function is all the module does. Functional calls are
recorded as such (``call: function``, ``operator``, ``mean``), and the
rows of a leaf subclass of a torch.nn layer as ``call: subclass``: the peer
conventions count them differently from modules.

The module is traced in eval mode (its modes are restored afterwards), as
it is costed: stochastic depth and dropout then do what they do at
inference.
"""

from __future__ import annotations

import functools
import math
import operator
import traceback
import weakref
from typing import Any, Callable

from ..errors import CnnCostError, Location
from ..graph import INPUT
from ..kinds import KINDS
from ..kinds_tensor import PARAM_OPS, UNARY_OPS, fused_attention
from ..report import parse_input
from . import lowering
from .builder import Builder, ImportedGraph, TooManyLayers
from .folding import (Folded, NeedShadow, _shapes, batch_axis, merged_shape, shadow_shapes, torch_dim, torch_index,
                      torch_perm)
from .values import UNKNOWN, Act, FoldedAct, Opaque, Pending, Reshaped, Shuffled, Sliced, Unmappable, dims_text

try:
    import torch
    import torch.fx as fx
    import torch.fx._symbolic_trace as _fx_trace
    import torch.nn.functional as F
    from torch import nn
except ImportError:  # pragma: no cover - exercised where torch is missing
    raise CnnCostError("importing a torch module needs PyTorch, which is not installed",
                       hint="pip install 'cnncost[torch]'") from None


class Param:
    """A parameter, buffer or tensor constant: its shape, and its path in the module when it has one."""

    __slots__ = ("tensor", "path")

    def __init__(self, tensor, path=None):
        self.tensor, self.path = tensor, path

    @property
    def shape(self):
        return tuple(self.tensor.shape)


class Gathered(Param):
    """``table[index]``: a learnable table gathered by a constant integer index (a relative position bias), or a
    view of one; ``table`` is the table's path. Added to an activation, it is a table_bias row."""

    __slots__ = ("table",)

    def __init__(self, tensor, table):
        super().__init__(tensor)
        self.table = table


class _Stop(Exception):
    """Tracing cannot go on: a shape was asked of something cnncost could not map."""


class ShapedProxy(fx.Proxy):
    """An fx Proxy that answers shape questions with numbers, from what the importer knows of its value."""

    tracer: _Tracer  # the tracer that made it, which holds the importer

    def _known(self):
        value = self.tracer.importer.meta.get(self.node)
        if isinstance(value, (Act, Pending, Param)):
            return value
        raise _Stop(f"the shape of '{self.node.name}', which cnncost could not map")

    def __getattr__(self, k):
        if k in ("shape", "size", "dim", "ndim", "numel", "dtype", "device", "is_cuda", "requires_grad"):
            value = self._known()
            shape = torch.Size(value.shape)
            if k == "shape":
                return shape
            if k == "ndim":
                return len(shape)
            if k == "size":
                return lambda dim=None: shape if dim is None else shape[dim]
            if k == "dim":
                return lambda: len(shape)
            if k == "numel":
                return lambda: math.prod(shape)
            if k == "dtype":
                return value.tensor.dtype if isinstance(value, Param) else torch.float32
            if k == "device":
                return value.tensor.device if isinstance(value, Param) else torch.device("cpu")
            return False
        return super().__getattr__(k)

    def __len__(self):
        return self._known().shape[0]


class _Tracer(fx.Tracer):
    def __init__(self, importer):
        super().__init__()
        self.importer = importer

    def proxy(self, node):
        return ShapedProxy(node, self)

    def is_leaf_module(self, m, qualified_name) -> bool:
        return self.importer.is_leaf(m)

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        scope = next(reversed(self.module_stack.values()))[0] if self.module_stack else ""
        if kind.startswith("call_"):  # its place in the shadow traces (folding.py), which record calls in this order
            self.importer.index += 1  # (not get_attr: a handler reading module.bias makes one)
        self.importer.record(proxy.node, kind, target, args, kwargs, scope)
        return proxy


# --- the importer ---


class TorchImporter:
    def __init__(self, module, input_shape: tuple, name: str, shadow: list | None = None):
        self.root = module
        self.input_shape = input_shape
        self.name = name
        self.builder = Builder(input_shape, name)
        self.meta: dict = {}  # fx node -> what cnncost knows of its value
        self.refused: list = []  # (what, where, why)
        self.placed: dict = {}  # row -> (scope, base, module path for a module's own row)
        self.current: tuple[Any, str] | None = None  # (node, scope) being recorded
        self.used: set = set()  # the modules called as leaves and the parameters read: what forward runs
        self.first_call: dict = {}  # module path -> the row of its first call
        self.guards: set = set()  # fx nodes of arguments traced at their defaults, and fx's checks of them
        self.channels_last_node: dict = {}  # row -> the node that viewed it channels-last
        self.permuted: dict = {}  # row -> the permute row of its channels-last view, made where something reads it
        self.buffer_paths: dict[int, str] | None = None  # id of each buffer -> its path, made when first needed
        self.buffer_names: set = set()
        self.index = -1  # the node being recorded, counted as the tracer creates them
        self.shadow: list | None = shadow  # each call's shapes at batch 2 (folding.shadow_shapes)
        self.call: tuple = ()  # (kind, target, module, args, kwargs) of the call being recorded

    def folds_here(self) -> bool:
        """Whether torch's output of this node (a view of a tensor whose batch is first) folds the batch into
        another axis, as the shadow traces say."""
        try:
            return any(not plain for plain, _, _ in self.fold_outputs())
        except Unmappable:
            return False  # torch's shapes unknown here: the view is refused as one that moves the batch axis

    def fold_outputs(self) -> list:
        """(plain, at, shape at batch 1) of each tensor this node gives: torch's at batch 1 (on meta tensors of
        the shapes its inputs have) and at batch 2 (the shadow trace). ``at`` the axis that holds the batch,
        ``plain`` where that is the first, of size 1 at batch 1 (cnncost's own layout)."""
        assert self.current is not None  # asked while a node is recorded
        node, _ = self.current
        trace = self.shadow or []
        entry = trace[self.index] if self.index < len(trace) else None
        try:
            one = _shapes(_on_meta(*self.call))
        except Exception:  # noqa: BLE001  (torch cannot run it on meta tensors: where the batch goes is unknown)
            one = None
        if one is None or entry is None or entry[0] != node.op or entry[1] != node.target or entry[2] is None:
            raise Unmappable("torch's shapes for it at batch 2 are unknown (forward traces differently at "
                             "batch 2, or cannot run on meta tensors), so where the batch is folded is unknown")
        two = entry[2]
        several = bool(one) and isinstance(one[0], tuple)
        outputs = []
        for s1, s2 in zip(one, two) if several else [(one, two)]:
            at = batch_axis(s1, s2)
            if at is None:
                raise Unmappable(f"gives {dims_text(s1)} at batch 1 and {dims_text(s2)} at batch 2, which does "
                                 "not keep the batch in one axis")
            outputs.append((at == 0 and s1[0] == 1, at, s1))
        return outputs

    # --- tracing ---

    def is_leaf(self, m: nn.Module) -> bool:
        if type(m) in MODULES or type(m).__name__ in _BACKEND and type(m).__module__ == "cnncost.torch_backend":
            return True
        if _qualified(type(m)) in NAMED_MODULES or _standardisation(m) is not None:
            return True
        # torch.nn's own modules, and subclasses that keep their forward, are leaves; the rest is traced into
        if isinstance(m, nn.Sequential) or isinstance(m, (nn.ModuleList, nn.ModuleDict)):
            return False
        for cls in MODULES:
            if isinstance(m, cls) and type(m).forward is cls.forward:
                return True
        return type(m).__module__.startswith(("torch.nn", "torch.ao.nn"))

    def refuse_hooks(self):
        """fx does not run forward hooks, and a hook may change what its module returns: a graph traced without
        it could be silently wrong, so a module with one is refused, by name."""
        from torch.nn.modules import module as torch_module

        found = []
        for path, m in self.root.named_modules():
            for what, hooks in (("forward hook", m._forward_hooks), ("forward pre-hook", m._forward_pre_hooks)):
                found += [(path or "the module itself", what, getattr(h, "__name__", type(h).__name__))
                          for h in hooks.values()]
        for what, hooks in (("global forward hook", torch_module._global_forward_hooks),
                            ("global forward pre-hook", torch_module._global_forward_pre_hooks)):
            found += [("every module", what, getattr(h, "__name__", type(h).__name__)) for h in hooks.values()]
        if found:
            shown = ", ".join(f"'{p}' ({w} {n})" for p, w, n in found[:3])
            more = f", and {len(found) - 3} more" if len(found) > 3 else ""
            raise CnnCostError(f"{len(found)} forward hook{'s' if len(found) != 1 else ''} that may change what "
                               f"a module returns, which torch.fx does not run: {shown}{more}",
                               location=Location(self.name), hint="remove the hooks (handle.remove()) to import")

    def trace(self):
        self.refuse_hooks()
        modes = {m: m.training for m in self.root.modules()}
        self.root.eval()
        tracer = _Tracer(self)
        try:
            graph = tracer.trace(self.root, concrete_args=_defaults(self.root) or None)
        except NeedShadow:
            raise
        except _Stop as exc:
            if not self.refused:
                raise CnnCostError(f"tracing stopped: {exc}", location=Location(self.name)) from None
            self.fail(f"; tracing stopped there: {exc}")
        except CnnCostError:
            raise
        except Exception as exc:
            raise self.untraceable(exc) from None
        finally:
            # train() again, so that what a module's own train() resets runs (timm's attention-bias cache would
            # otherwise keep the tracer's proxy), then each module's own mode back
            self.root.train(modes[self.root])
            for m, mode in modes.items():
                m.training = mode
        return graph

    def untraceable(self, exc) -> CnnCostError:
        """One error naming what could not be traced, at the user's line."""
        where = None
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            path = frame.filename.replace("\\", "/")
            if "/torch/" not in path and "/cnncost/importers/" not in path:
                where = frame
                break
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "control flow" in message or isinstance(exc, fx.proxy.TraceError):
            message = f"data-dependent control flow cannot be traced ({message})"
        location = Location(where.filename, where.lineno) if where else Location(self.name)
        code = f": {where.line.strip()}" if where and where.line else ""
        return CnnCostError(f"cannot trace the module{code}: {message}", location=location,
                            hint="cnncost traces forward with torch.fx; a branch on tensor values has no single graph")

    def fail(self, more=""):
        parts = []
        by_what: dict = {}
        for what, where, why in self.refused:
            by_what.setdefault(what, []).append((where, why))
        for what, items in by_what.items():
            shown = ", ".join(f"'{w}'" + (f" ({y})" if y else "") for w, y in items[:3])
            more = f", and {len(items) - 3} more" if len(items) > 3 else ""
            parts.append(f"{what} x{len(items)}: {shown}{more}")
        total = len(self.refused)
        raise CnnCostError(f"{total} module{'s' if total != 1 else ''} or function{'s' if total != 1 else ''} "
                           "cnncost cannot map: " + "; ".join(parts) + more, location=Location(self.name),
                           hint="docs/import.md lists what maps to what; --partial (partial=True) imports the rest, "
                                "its totals lower bounds")

    def record(self, node, kind, target, args, kwargs, scope):
        """What cnncost knows of a node's value, worked out as the tracer records the node."""
        if kind == "placeholder" and args:  # an argument traced at its default (_defaults), not an input
            self.meta[node] = args[0]
            self.guards.add(node)
            return
        if kind == "call_function" and target in _GUARDS and any(
                isinstance(a, fx.Proxy) and a.node in self.guards for a in args):
            self.meta[node] = None  # fx's check that the argument has its default: nothing to cost
            self.guards.add(node)
            return
        if kind == "placeholder":
            if any(isinstance(v, Act) and v.row is INPUT for v in self.meta.values()):
                self.refused.append(("second input", node.name, "cnncost imports networks of one input"))
                self.meta[node] = UNKNOWN
            else:
                self.meta[node] = Act(INPUT, (1,) + self.input_shape)
            return
        if kind == "get_attr":
            self.meta[node] = Param(_attribute(self.root, target), target)
            self.used.add(target)
            return
        if kind == "call_module":
            self.used.add(target)
        args = _map(args, self._value)
        kwargs = _map(kwargs, self._value)
        if _contains_unknown(args) or _contains_unknown(kwargs):
            self.meta[node] = UNKNOWN
            return
        self.current = (node, scope)
        if kind in ("call_function", "call_method") and not _activations(args, kwargs):
            gathered = _gathered(self.root, kind, target, args, kwargs)
            if gathered is not None:  # a bias table gathered (free: the index is a buffer), or a view of one
                self.meta[node] = gathered
                return
            self.meta[node] = _constant(kind, target, args, kwargs)  # parameters reshaped, constants built
            name = target if kind == "call_method" else getattr(target, "__name__", "")
            if name not in _SAME_PARAMETER and any(isinstance(v, Param) and v.path and not _is_buffer(self, v)
                                                   for v in _leaves((args, kwargs))):
                # work on parameters at every call (weight standardisation): a cost no row would hold
                what = f"Tensor.{target}" if kind == "call_method" else _function_name(target)
                self.refused.append((what, scope or "forward", "computes with parameters, which no cnncost row "
                                     "counts (weight standardisation, say)"))
            return
        try:
            module = None
            if kind == "call_module":
                module = self.root.get_submodule(target)
                handler = _module_handler(module)
                what, where = type(module).__name__, target
            elif kind == "call_function":
                handler = FUNCTIONS.get(target) or NAMED_FUNCTIONS.get(
                    f"{getattr(target, '__module__', '')}.{getattr(target, '__name__', '')}")
                what, where = _function_name(target), f"{scope or 'forward'}"
            elif kind == "call_method":
                handler = METHODS.get(target)
                what, where = f"Tensor.{target}", f"{scope or 'forward'}"
            else:
                handler = None
            self.call = (kind, target, module, args, kwargs)
            if kind not in ("call_module", "call_function", "call_method"):
                value = UNKNOWN
            elif any(isinstance(v, Folded) for v in _leaves((args, kwargs))) or self.shadow is not None and \
                    _reshapes(kind, target) and self.folds_here():
                value = _fold_call(self, kind, target, module, handler, args, kwargs)
            else:
                _refuse_folded(args, kwargs)
                if kind == "call_module":
                    value = handler(self, module, *args, **kwargs) if handler else _unmappable_module(module)
                else:
                    value = handler(self, *args, **kwargs) if handler else _unmappable_function(target)
        except Unmappable as exc:
            value = self.refuse(what, where, str(exc), kind, target, args, kwargs)
        except TooManyLayers:
            raise
        except CnnCostError as exc:
            value = self.refuse(what, where, exc.message, kind, target, args, kwargs)
        except TypeError as exc:  # called with arguments cnncost does not read
            value = self.refuse(what, where, f"unexpected arguments: {exc}", kind, target, args, kwargs)
        self.meta[node] = value

    def refuse(self, what, where, why, kind, target, args, kwargs):
        """Note the refusal, and go on with what torch says the node gives (its shape, on meta tensors), so
        that one pass lists every operator cnncost cannot map, and --partial has a row of that shape."""
        module = self.root.get_submodule(target) if kind == "call_module" else None
        try:
            out = _on_meta(kind, target, module, args, kwargs)
        except Exception as exc:  # noqa: BLE001  (torch cannot run it on meta tensors either)
            self.refused.append((what, where, f"{why}; its output shape is unknown, so what reads it is not "
                                 f"checked ({type(exc).__name__})"))
            return UNKNOWN
        self.refused.append((what, where, why))
        held = sum(p.numel() for p in module.parameters()) if module is not None else sum(
            p.tensor.numel() for p in {id(v): v for v in _leaves((args, kwargs))
                                       if isinstance(v, Param) and v.path}.values())
        inputs = [v for v in _leaves((args, kwargs)) if isinstance(v, (Act, Pending))]
        parts: list[Opaque] = []

        def wrap(value):
            if isinstance(value, torch.Tensor):
                parts.append(Opaque(self.current, inputs, tuple(value.shape), what, held if not parts else 0))
                return parts[-1]
            if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
                return type(value)(wrap(v) for v in value) if not hasattr(value, "_fields") else UNKNOWN
            return value

        return wrap(out)

    def _value(self, a):
        if isinstance(a, fx.Proxy):
            return self.meta.get(a.node, UNKNOWN)
        if isinstance(a, torch.Tensor):  # fx passes a buffer read in forward as the tensor itself
            if self.buffer_paths is None:
                self.buffer_paths = {id(t): path for path, t in self.root.named_buffers()}
                self.buffer_names = set(self.buffer_paths.values())
            return Param(a, self.buffer_paths.get(id(a)))
        return a

    # --- rows ---

    def plain(self, value, nhwc_ok=False) -> Act:
        if isinstance(value, Pending):
            value = value.materialize(self)
        if isinstance(value, Act):
            if value.nhwc and not nhwc_ok:
                return self.channels_last(value)
            return value
        if isinstance(value, Param):
            raise Unmappable("reads a parameter or constant where cnncost needs an activation")
        raise Unmappable(f"reads {type(value).__name__} where cnncost needs an activation")

    def channels_last(self, value: Act) -> Act:
        """The channels-last view (permute 0,2,3,1) of a row as a permute row of its own, for a reader that is
        not a layer norm, linear layer or activation (which read it as the map's channels); one per row."""
        done = self.permuted.get(value.row)
        if done is None:
            node = self.channels_last_node.get(value.row, self.current)
            done = self.permuted[value.row] = self.row("permute", {"dims": [0, 2, 3, 1]},
                                                       [Act(value.row, _nchw(value.shape))], node=node)
        return done

    def row(self, kind, args, inputs, node=None, call=None, base=None, path=None, aside=False) -> Act:
        """A row made by the node being recorded (or, for a pattern, by the node that started it). ``path``: the
        parameter that is the row (a layer scale), which names it as a module's path would. ``aside``: a view
        around a module's own row (a 1-D batch norm run as the 2-D one), named as a function in its scope."""
        current = self.current if node is None else node
        assert current is not None  # rows are made while a node is recorded
        fx_node, scope = current
        if aside and fx_node.op == "call_module":
            scope = fx_node.target.rpartition(".")[0]  # beside the module's row, in the scope that calls it
        if node is not None and call is None or aside:
            call = call or "function"  # a pattern completed here: views, slices and transposes are tensor functions
        module_path = path or (fx_node.target if fx_node.op == "call_module" and not aside else None)
        origin = module_path or f"{_describe(fx_node)} in {scope or 'forward'}"
        acts = [a if isinstance(a, Act) else self.plain(a) for a in inputs]
        row = self.builder.add(kind, args, [a.row for a in acts], module_path or kind, origin, call)
        if fx_node.op == "call_module" and path is None and node is None and not aside and module_path and \
                _holds_weights(self.root, module_path):
            first = self.first_call.setdefault(module_path, row)
            if first is not row:  # a module called again: its parameters are counted once, at its first call
                row.shares = first
        self.placed[row] = (scope, base or (kind if node is not None or aside else _base_name(fx_node)), module_path)
        shape = (acts[0].shape[0],) + row.shape
        if acts[0].nhwc:
            shape = (shape[0], *shape[2:], shape[1])
        return Act(row, shape, acts[0].nhwc)

    def opaque_row(self, args, acts, node) -> Act:
        return self.row("opaque", args, acts, node=node, call="function", base=_base_name(node[0]))

    # --- names ---

    def name_rows(self):
        """Module rows keep their paths; a function's row is '<module>.<function>', or the module's path when it is
        the only row that module's forward makes (GraphNet's Add, a user's Concat module)."""
        rows = self.builder.rows
        functional: dict = {}
        paths = []
        for row in rows:
            scope, base, path = self.placed[row]
            if path is None:
                functional.setdefault(scope, []).append(row)
            paths.append(path if path is not None else scope)
        above = set()  # every proper dotted prefix of a path: a set, so that naming stays linear in the rows
        for p in paths:
            if p:
                dot = p.find(".")
                while dot != -1:
                    above.add(p[:dot])
                    dot = p.find(".", dot + 1)
        for row in rows:
            scope, base, path = self.placed[row]
            if path is not None:
                row.wanted = path
                if row.kind in _SUBCLASS_OF and row.call in (None, "module") and \
                        _leaf_subclass(self.root, path, _SUBCLASS_OF[row.kind]):
                    row.call = "subclass"  # a subclass that keeps torch.nn's forward: a leaf, but not its exact type
                continue
            alone = bool(scope) and len(functional[scope]) == 1 and scope not in above
            row.wanted = scope if alone else f"{scope}.{base}" if scope else base
            if scope and row.kind in _SUBCLASS_OF and _leaf_subclass(self.root, scope, _SUBCLASS_OF[row.kind]):
                row.call = "subclass"

    def unused_parameters(self) -> dict:
        """Parameters of modules that forward does not run in eval mode (Inception3's AuxLogits), by the outermost
        module whose parameters all go unused: no row holds them, though tools that count every parameter do."""
        def prefixes(name):  # 'a.b.c' -> 'a', 'a.b', 'a.b.c'
            parts = name.split(".")
            return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]

        names = {name: p.numel() for name, p in self.root.named_parameters()}
        # a parameter read by attribute counts as used under any of its names (one registered in two modules is
        # listed by named_parameters once, maybe under the other name)
        read: set[int] = set()  # ids of the tensors forward reads
        for path in self.used:
            value = _attribute(self.root, path)
            if isinstance(value, nn.Module):  # its parameters, and one it holds as a plain attribute (torch_names)
                read.update(id(t) for t in (*value.parameters(), *vars(value).values()))
            else:
                read.add(id(value))
        used = {name for name, p in self.root.named_parameters()
                if id(p) in read or any(q in self.used for q in prefixes(name))}
        holding_used = {p for name in used for p in prefixes(name)}  # sets: linear in the parameters
        groups: dict = {}
        for name in names:
            if name in used:
                continue
            for prefix in prefixes(name):
                if prefix == name or prefix not in holding_used:
                    groups[prefix] = groups.get(prefix, 0) + names[name]
                    break
        return groups

    def graph(self, output) -> ImportedGraph:
        self.name_rows()
        header = [f"Imported from the torch module {self.name} by cnncost.from_torch (torch {torch.__version__}).",
                  "Layer names are module paths; docs/import.md."]
        unused = self.unused_parameters()
        notes = []
        if unused:
            listed = ", ".join(f"{path} ({count:,})" for path, count in unused.items())
            notes.append(f"{sum(unused.values()):,} parameters belong to modules that forward does not run in eval "
                         f"mode, and are in no row: {listed}. They are in the totals of the conventions whose tools "
                         "count every parameter of the module (unused_params), and in the weights' memory.")
        return self.builder.graph(output.row, self.name, header, f"{self.name}, imported from torch", notes,
                                  unused)


def input_shape(input) -> tuple:
    """The per-sample shape of what a torch user passes as the input: (N, C, H, W), (C, H, W), (N, C, T, H, W) for a
    video clip, "3x224x224", a
    tensor (its first axis the batch), or a one-element tuple of one of these. One line, never a tensor's repr."""
    if isinstance(input, torch.Tensor):
        if input.dim() < 2:
            raise CnnCostError(f"the input tensor has {input.dim()} dimension{'s' if input.dim() != 1 else ''}; "
                               "it needs a batch axis and at least one more")
        return tuple(int(d) for d in input.shape[1:])
    if isinstance(input, str):
        return parse_input(input)
    if isinstance(input, (tuple, list, torch.Size)) and input and all(
            isinstance(v, (torch.Tensor, tuple, list, torch.Size)) for v in input):
        if len(input) != 1:
            raise CnnCostError(f"{len(input)} inputs given; cnncost imports networks of one input")
        return input_shape(input[0])
    if not isinstance(input, (tuple, list, torch.Size)) or not input or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in input):
        what = type(input).__name__ if not isinstance(input, (tuple, list)) else "a shape with a dimension that is " \
            "not a positive integer"
        raise CnnCostError(f"input must be (N, C, H, W), (C, H, W), '3x224x224' or a tensor, not {what}")
    if len(input) > 8:
        raise CnnCostError(f"input has {len(input)} dimensions; at most 8")
    # (N, C, H, W): a 4-D shape carries its batch, as torch.randn(1, 3, 224, 224).shape does; so does a video
    # clip's (N, C, T, H, W)
    return tuple(input[1:]) if len(input) in (4, 5) else tuple(input)


def import_module(module, input, name=None, partial=False) -> ImportedGraph:
    if not isinstance(module, nn.Module):
        raise CnnCostError(f"from_torch takes a torch.nn.Module, got {type(module).__name__}")
    shape = input_shape(input)
    name = name or getattr(module, "model_name", None) or type(module).__name__
    importer = TorchImporter(module, tuple(shape), name)
    try:
        graph = importer.trace()
    except NeedShadow:  # a view folds the batch into another axis: torch's shapes at batch 2 say where it went
        shadow = shadow_shapes(TorchImporter, module, tuple(shape), 2)
        importer = TorchImporter(module, tuple(shape), name, shadow)
        graph = importer.trace()
    if importer.refused and not partial:
        importer.fail()
    out_node = next(n for n in reversed(graph.nodes) if n.op == "output")
    outputs = [importer.meta.get(n, UNKNOWN) for n in _nodes_in(out_node.args[0])]
    outputs = [o for o in outputs if isinstance(o, (Act, Pending))]
    if not outputs:
        raise CnnCostError("the module returns no tensor that cnncost could follow", location=Location(name))
    importer.current = (out_node, "")
    if isinstance(outputs[0], Folded):
        raise CnnCostError(f"the module's output, {dims_text(outputs[0].shape)}, has its batch folded into axis "
                           f"{outputs[0].at}; cnncost's shapes are per sample", location=Location(name))
    try:
        output = importer.plain(outputs[0])
    except Unmappable as exc:
        raise CnnCostError(f"the module's output: {exc}", location=Location(name)) from None
    if output.row is INPUT:
        raise CnnCostError("the module returns its input: there is no layer to analyse", location=Location(name))
    imported = importer.graph(output)
    strided = _attention_on_strided_inputs(imported)
    if strided and not partial:
        importer.refused += [("F.scaled_dot_product_attention", row, _STRIDED_ATTENTION) for row in strided]
        importer.fail()
    return imported


_STRIDED_ATTENTION = "on a query, key or value whose last axis is strided, where torch runs its math path (two " \
                     "batched products that FlopCounterMode counts) rather than the CPU's fused kernel that " \
                     "cnncost's attention stands for"


def _attention_on_strided_inputs(graph) -> list:
    """The attention rows (N, heads, L, E) that read a tensor whose last axis is not dense (a chunk of a permuted
    qkv, LowFormer's): torch's CPU kernel needs it dense, and falls back to the math path."""
    from ..memory import _layouts

    if not any(n.kind == "attention" for n in graph.nodes):
        return []
    return [node.name for node, layouts in _layouts(graph.nodes, 1)
            if node.kind == "attention" and fused_attention(node) and "strided" in layouts
            and not node.args.get("mask_table")]  # CoAtNet's q.transpose(-1, -2).contiguous(): no row, dense


# --- helpers ---


# a row of these kinds made by a leaf subclass of its torch.nn class is that module's own work
_SUBCLASS_OF = {"conv": nn.Conv2d, "dwconv": nn.Conv2d, "conv3d": nn.Conv3d, "conv1d": nn.Conv1d,
                "conv_transpose": nn.ConvTranspose2d, "linear": nn.Linear,
                "batchnorm": nn.modules.batchnorm._BatchNorm, "layernorm": nn.LayerNorm, "groupnorm": nn.GroupNorm,
                "maxpool": nn.MaxPool2d, "avgpool": nn.AvgPool2d}


@functools.lru_cache(maxsize=4096)
def _subclass_type(cls, base) -> bool:
    # cnncost's own (torch_backend.py's PaddedConv2d) stand for torch.nn's module or function, as validation builds them
    return issubclass(cls, base) and not cls.__module__.startswith(("torch.nn", "cnncost."))


def _leaf_subclass(root, scope: str, base) -> bool:
    """Whether the module at ``scope`` is a subclass of ``base`` (not ``base`` itself) with no child modules: timm's
    Linear and Conv2dSame, torchvision's LayerNorm2d. Tools that hook leaf modules count it as the module (torchinfo,
    torchscan), those that look its exact type up do not (thop, ptflops). With children (timm's BatchNormAct2d) no
    tool sees it: its rows stay functions."""
    m = _attribute(root, scope)
    # a class is hashable; mypy reads torch's Module.__hash__ as the unbound method, which Hashable does not match
    return (isinstance(m, nn.Module) and _subclass_type(type(m), base)  # type: ignore[arg-type]
            and next(m.children(), None) is None)


def _attribute(root, dotted: str):
    """The module, parameter or buffer at a dotted path, read past fx's patched Module.__getattr__."""
    value = root
    for part in dotted.split(".") if dotted else ():
        if isinstance(value, nn.Module):
            for store in (value._parameters, value._buffers, value._modules):
                if part in store:
                    value = store[part]
                    break
            else:
                value = object.__getattribute__(value, part)
        else:
            value = getattr(value, part)
    return value


def _is_buffer(imp, p) -> bool:
    """A buffer (a constant mean, an index table): work on it at every call is what torch does, no cost to count."""
    return p.path in imp.buffer_names


def _holds_weights(root, path: str) -> bool:
    module = root.get_submodule(path)
    return next(module.parameters(), None) is not None or next(module.buffers(), None) is not None


_GUARDS = (operator.eq, torch._assert, fx._symbolic_trace._assert_is_none)


def _defaults(module) -> dict:
    """forward's arguments after the input that have defaults, traced at those values: fx would make each an
    input of the graph, and a branch on one (a recursion's depth) would look like data-dependent control flow."""
    import inspect

    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in parameters[1:]
            if p.default is not inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _map(value, fn):
    if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
        return type(value)(_map(v, fn) for v in value) if not hasattr(value, "_fields") else value
    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}
    return fn(value)


def _leaves(value):
    if isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    else:
        yield value


def _refuse_folded(args, kwargs):
    """A refused operator's output whose batch axis torch folded into another is read only by refused rows,
    shaped as torch shapes them (a partial import goes on past it)."""
    for v in _leaves((args, kwargs)):
        if isinstance(v, Folded):
            raise Unmappable(f"reads a {dims_text(v.shape)} tensor whose batch axis is folded into axis {v.at}, "
                             "which cnncost follows only into the ops docs/import.md lists")
        if isinstance(v, FoldedAct) or isinstance(v, Opaque) and v.folded:
            raise Unmappable(f"reads the output of {v.what if isinstance(v, Opaque) else 'a refused operator'}, "
                             f"a {dims_text(v.shape)} tensor whose batch axis is folded into its first")


def _activations(args, kwargs) -> bool:
    return any(isinstance(v, (Act, Pending)) for v in _leaves((args, kwargs)))


def _meta(value):
    if isinstance(value, (Act, Pending)):
        return torch.empty(value.shape, device="meta")
    if isinstance(value, Param):
        return torch.empty(value.shape, dtype=value.tensor.dtype, device="meta")
    return value


def _on_meta(kind, target, module, args, kwargs):
    """What torch gives for this node on meta tensors of the shapes cnncost knows: nothing is computed."""
    args, kwargs = _map(args, _meta), _map(kwargs, _meta)
    if kind == "call_module":
        state = {name: torch.empty(t.shape, dtype=t.dtype, device="meta")
                 for name, t in (*module.named_parameters(), *module.named_buffers())}
        # fx patches Module.__call__ while it traces: run the module as torch would, outside the trace
        patched = nn.Module.__call__, nn.Module.__getattr__
        # (assigning to methods is the point here, hence the ignores)
        nn.Module.__call__, nn.Module.__getattr__ = (  # type: ignore[method-assign]
            _fx_trace._orig_module_call, _fx_trace._orig_module_getattr)
        try:
            return torch.func.functional_call(module, state, tuple(args), kwargs)
        finally:
            nn.Module.__call__, nn.Module.__getattr__ = patched  # type: ignore[method-assign]
    if kind == "call_method":
        return getattr(args[0], target)(*args[1:], **kwargs)
    return target(*args, **kwargs)


_SAME_PARAMETER = {"view", "reshape", "squeeze", "unsqueeze", "permute", "transpose", "flatten", "contiguous", "to",
                   "float", "type_as", "expand", "expand_as", "detach", "clone"}


def _constant(kind, target, args, kwargs):
    """A node that reads no activation (a parameter reshaped, a constant built): a Param of the shape torch
    gives. A view of one parameter keeps its path, so that ``x * self.gamma.reshape(1, -1, 1, 1)`` is a layer
    scale named by the parameter, as ``x * self.gamma`` is."""
    try:
        out = _on_meta(kind, target, None, args, kwargs)
    except Exception:  # noqa: BLE001  (not a tensor computation: the reader is refused if it needs one)
        return UNKNOWN
    if not isinstance(out, torch.Tensor):
        return out if isinstance(out, (int, float, bool, torch.Size)) else UNKNOWN
    params = [v for v in _leaves((args, kwargs)) if isinstance(v, Param)]
    name = target if kind == "call_method" else getattr(target, "__name__", "")
    path = params[0].path if len(params) == 1 and name in _SAME_PARAMETER else None
    return Param(out, path)


def _gathered(root, kind, target, args, kwargs) -> Gathered | None:
    """``table[index]`` (a learnable table, a constant integer index: a buffer or a tensor built in forward), or
    a view or select of such a gather: what torch computes at each call has no MACs, and saves only the index."""
    name = target if kind == "call_method" else getattr(target, "__name__", "")
    params = [v for v in _leaves((args, kwargs)) if isinstance(v, Param)]
    if not params:
        return None
    first = params[0]
    if isinstance(first, Gathered):
        if len(params) != 1 or name not in _SAME_PARAMETER | {"getitem"}:
            return None
        out = _constant(kind, target, args, kwargs)
        return Gathered(out.tensor, first.table) if isinstance(out, Param) else None
    if kind != "call_function" or target is not operator.getitem or args[0] is not first or not first.path or \
            not isinstance(_attribute(root, first.path), nn.Parameter) or len(params) < 2:
        return None
    for index in params[1:]:
        if index.tensor.dtype not in (torch.int64, torch.int32) or index.path and isinstance(
                _attribute(root, index.path), nn.Parameter):
            return None
    out = _constant(kind, target, args, kwargs)
    return Gathered(out.tensor, first.path) if isinstance(out, Param) else None


def _contains_unknown(value) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, (list, tuple)):
        return any(_contains_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_unknown(v) for v in value.values())
    return False


def _nodes_in(value):
    if isinstance(value, fx.Node):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _nodes_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _nodes_in(v)


def _function_name(target) -> str:
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", str(target))
    if module in ("_operator", "operator"):
        return f"operator.{name}"
    if module.startswith("torch.nn.functional") or module == "torch._C._nn":
        return f"F.{name}"
    return f"torch.{name}" if module.startswith("torch") else name


def _describe(node) -> str:
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    if node.op == "call_function":
        return _function_name(node.target)
    return str(node.target)


def _base_name(node) -> str:
    name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "op")
    name = name.strip("_") or "op"
    return {"iadd": "add", "imul": "mul", "getitem": "slice", "interpolate": "upsample"}.get(name, name)


def _unmappable_module(module):
    raise Unmappable("cnncost has no kind for it")


def _unmappable_function(target):
    raise Unmappable("cnncost has no kind for it")


def _nchw(shape) -> tuple:
    return (shape[0], shape[3], shape[1], shape[2])


def _pair(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value, value]


def _float(value):
    return float(value) if isinstance(value, float) else value


# --- convolution and linear ---


def _conv_args(kernel, stride, padding, dilation, bias) -> dict:
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise Unmappable(f"padding {padding!r}")
        padding = "same" if padding == "same" else 0
    else:
        ph, pw = _pair(padding)
        padding = [ph, ph, pw, pw]
    return {"kernel": _pair(kernel), "stride": _pair(stride), "padding": padding, "dilation": _pair(dilation),
            "bias": bias}


def _conv_row(imp, x, out, groups, args, call=None):
    cin = x.shape[1]
    if groups > 1 and groups == cin and out % cin == 0:
        return imp.row("dwconv", {**args, "multiplier": out // cin}, [x], call=call)
    return imp.row("conv", {"out": out, **args, "groups": groups}, [x], call=call)


def _conv2d_module(imp, m, x):
    x = imp.plain(x)
    if m.padding_mode != "zeros":
        raise Unmappable(f"padding_mode={m.padding_mode!r}; cnncost's conv pads with zeros (write a pad layer)")
    args = _conv_args(m.kernel_size, m.stride, m.padding, m.dilation, m.bias is not None)
    pad = getattr(m, "pad", None)  # cnncost's PaddedConv2d: [top, bottom, left, right] padding, zeros first
    if isinstance(pad, nn.ZeroPad2d):
        left, right, top, bottom = pad.padding
        args["padding"] = [top, bottom, left, right]
    return _conv_row(imp, x, m.out_channels, m.groups, args)


# --- weight standardisation: a Conv2d subclass whose forward normalises its weight at every call ---

_STANDARDISED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # module -> _standardisation's answer
# Speed: tracing one module alone costs about 20 ms (fx patches torch's functions each time), and an NF-net has
# dozens of such convs in a few configurations: the answer is the same for modules of one class whose plain
# attributes and parameter shapes are the same, since forward sees nothing else (test_import_views checks both ways)
_BY_CONFIGURATION: dict = {}


def _configuration(m) -> tuple:
    plain = tuple(sorted((k, repr(v)) for k, v in vars(m).items() if not k.startswith("_") and k != "training"))
    return type(m), plain, tuple((k, None if p is None else tuple(p.shape)) for k, p in m._parameters.items())


def _standardisation(m) -> dict | None:
    """How a Conv2d subclass standardises its weight in forward (timm's StdConv2d and ScaledStdConv2d, NF-nets,
    BiT), read from its own forward traced alone: {'gain': bool, 'eps': float, 'pad': (l, r, t, b) or None}; None
    where forward is anything else."""
    if not isinstance(m, nn.Conv2d) or type(m).forward is nn.Conv2d.forward or \
            "batch_norm" not in getattr(getattr(type(m).forward, "__code__", None), "co_names", ()):
        return None  # the pattern calls F.batch_norm in forward itself: the others (Conv2dSame) are not traced
    if m not in _STANDARDISED:
        key = _configuration(m)
        if key not in _BY_CONFIGURATION:
            try:
                graph = fx.Tracer().trace(m)
            except Exception:  # noqa: BLE001  (a forward fx cannot trace alone: not the pattern)
                graph = None
            _BY_CONFIGURATION[key] = _standardisation_in(m, graph) if graph is not None else None
        _STANDARDISED[m] = _BY_CONFIGURATION[key]
    return _STANDARDISED[m]


def _arguments(node, names) -> dict:
    return {**dict(zip(names, node.args)), **node.kwargs}


def _standardisation_in(m, graph) -> dict | None:
    """The pattern: F.conv2d(x or F.pad(x, constants), F.batch_norm(weight.reshape(1, out, -1), None, None,
    gain-or-None, training=True, ...).reshape_as(weight), bias, stride, padding, dilation, groups), where the gain is
    a parameter of one value per output channel, scaled by constants and flattened; nothing else reaches the output."""
    def attribute(node, name):
        return isinstance(node, fx.Node) and node.op == "get_attr" and node.target == name

    nodes = list(graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    (out,) = [n for n in nodes if n.op == "output"]
    conv = out.args[0]
    if len(inputs) != 1 or not isinstance(conv, fx.Node) or conv.target is not F.conv2d:
        return None
    c = _arguments(conv, ("input", "weight", "bias", "stride", "padding", "dilation", "groups"))
    pad = None
    if c["input"] is not inputs[0]:
        p = c["input"]
        pads: Any = p.args[1] if isinstance(p, fx.Node) and len(p.args) == 2 else None
        if not (isinstance(p, fx.Node) and p.target is F.pad and p.args[0] is inputs[0]
                and p.kwargs.get("mode", "constant") == "constant" and p.kwargs.get("value") in (None, 0)
                and isinstance(pads, (tuple, list)) and len(pads) == 4 and all(isinstance(v, int) for v in pads)
                and _pair(m.padding) == [0, 0]):
            return None
        pad = tuple(pads)
    same = (_pair(c.get("stride", 1)), _pair(c.get("padding", 0)), _pair(c.get("dilation", 1)), c.get("groups", 1))
    if same != (_pair(m.stride), _pair(m.padding), _pair(m.dilation), m.groups):
        return None
    if not (attribute(c.get("bias"), "bias") if m.bias is not None else c.get("bias") is None):
        return None
    w = c["weight"]
    if not (isinstance(w, fx.Node) and w.op == "call_method" and w.target == "reshape_as"
            and attribute(w.args[1], "weight")):
        return None
    bn = w.args[0]
    if not (isinstance(bn, fx.Node) and bn.target is F.batch_norm):
        return None
    b = _arguments(bn, ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"))
    src = b["input"]
    if (b["running_mean"] is not None or b["running_var"] is not None or b.get("bias") is not None
            or b.get("training") is not True or not isinstance(src, fx.Node) or src.op != "call_method"
            or src.target != "reshape" or not attribute(src.args[0], "weight")
            or tuple(src.args[1:]) not in ((1, m.out_channels, -1), ((1, m.out_channels, -1),))):
        return None
    gain = b.get("weight")
    while isinstance(gain, fx.Node) and gain.op != "get_attr":  # (gain * scale).view(-1): constants and views
        if gain.target in (operator.mul, operator.truediv) and len(gain.args) == 2 and \
                isinstance(gain.args[1], (int, float)):
            gain = gain.args[0]
        elif gain.op == "call_method" and gain.target in ("view", "reshape", "flatten"):
            gain = gain.args[0]
        else:
            return None
    if gain is not None:
        held = _attribute(m, str(gain.target)) if isinstance(gain, fx.Node) else None
        if not isinstance(held, nn.Parameter) or held.numel() != m.out_channels:
            return None
    return {"gain": gain is not None, "eps": float(b.get("eps", 1e-5)), "pad": pad}


def _std_conv_module(imp, m, x):
    ws = _standardisation(m)
    assert ws is not None  # chosen by _module_handler for that reason
    x = imp.plain(x)
    if m.padding_mode != "zeros":
        raise Unmappable(f"padding_mode={m.padding_mode!r}; cnncost's std_conv pads with zeros")
    args = _conv_args(m.kernel_size, m.stride, m.padding, m.dilation, m.bias is not None)
    if ws["pad"] is not None:  # F.pad's (left, right, top, bottom) before a conv of no padding of its own
        left, right, top, bottom = ws["pad"]
        args["padding"] = [top, bottom, left, right]
    return imp.row("std_conv", {"out": m.out_channels, **args, "groups": m.groups, "gain": ws["gain"],
                                "eps": ws["eps"]}, [x], call="subclass")


def _conv3d_module(imp, m, x):
    x = imp.plain(x)
    if m.padding_mode != "zeros" or isinstance(m.padding, str):
        raise Unmappable(f"padding {m.padding!r}, padding_mode={m.padding_mode!r}; cnncost's conv3d pads each axis "
                         "with a number of zeros on both sides")
    return imp.row("conv3d", {"out": m.out_channels, "kernel": list(m.kernel_size), "stride": list(m.stride),
                              "padding": list(m.padding), "dilation": list(m.dilation), "groups": m.groups,
                              "bias": m.bias is not None}, [x])


def _conv1d_module(imp, m, x):
    x = imp.plain(x)
    if m.padding_mode != "zeros" or isinstance(m.padding, str):
        raise Unmappable(f"padding {m.padding!r}, padding_mode={m.padding_mode!r}; cnncost's conv1d pads with a "
                         "number of zeros on both ends")
    return imp.row("conv1d", {"out": m.out_channels, "kernel": m.kernel_size[0], "stride": m.stride[0],
                              "padding": m.padding[0], "dilation": m.dilation[0], "groups": m.groups,
                              "bias": m.bias is not None}, [x])


def _adaptive3d_module(imp, m, x):
    size = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size,) * 3
    if any(s != 1 for s in size):
        raise Unmappable(f"adaptive average pooling of a video map to {size}; cnncost has the global one (1) only")
    return imp.row("global_avgpool3d", {}, [imp.plain(x)])


def _conv2d_function(imp, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x = imp.plain(x)
    if not isinstance(weight, Param) or len(weight.shape) != 4:
        raise Unmappable("a convolution whose weight is not a 4-D parameter")
    args = _conv_args(weight.shape[2:], stride, padding, dilation, bias is not None)
    if not _is_parameter(imp.root, weight.path):
        args["fixed"] = True  # a buffer or constant (timm's BlurPool2d filter): no parameters, no gradient
    return _conv_row(imp, x, weight.shape[0], groups, args, call="function")


def _is_parameter(root, path) -> bool:
    if path is None:
        return False
    owner, _, name = path.rpartition(".")
    return name in (root.get_submodule(owner) if owner else root)._parameters


def _conv_transpose_module(imp, m, x, output_size=None):
    x = imp.plain(x)
    if output_size is not None:
        raise Unmappable("a transposed convolution given output_size")
    return imp.row("conv_transpose", {
        "out": m.out_channels, "kernel": _pair(m.kernel_size), "stride": _pair(m.stride), "padding": _pair(m.padding),
        "output_padding": _pair(m.output_padding), "dilation": _pair(m.dilation), "groups": m.groups,
        "bias": m.bias is not None}, [x])


def _linear_row(imp, x, out, bias, call=None):
    x = imp.plain(x, nhwc_ok=True)
    if x.nhwc:
        return imp.row("linear", {"out": out, "bias": bias, "per_position": True}, [x], call=call)
    if len(x.shape) > 3:  # (N, H, W, C) that is a tensor of its own (MaxViT's, GC ViT's MLPs): on its tokens
        return _on_tokens(imp, x, lambda y: imp.row("linear", {"out": out, "bias": bias}, [y], call=call))
    if len(x.shape) != 3 and len(x.shape) != 2:
        raise Unmappable(f"a linear layer on the last axis of a {dims_text(x.shape)} tensor; cnncost's takes a "
                         "vector, tokens (N, L, C), or the channels of a channels-last map")
    return imp.row("linear", {"out": out, "bias": bias}, [x], call=call)


def _linear_module(imp, m, x):
    return _linear_row(imp, x, m.out_features, m.bias is not None)


def _channels_linear(imp, m, x):  # cnncost's nn.Linear on each position of an NCHW map
    return imp.row("linear", {"out": m.out_features, "bias": m.bias is not None, "per_position": True},
                   [imp.plain(x)])


def _linear_function(imp, x, weight, bias=None):
    if not isinstance(weight, Param) or len(weight.shape) != 2:
        raise Unmappable("a linear function whose weight is not a 2-D parameter")
    return _linear_row(imp, x, weight.shape[0], bias is not None, call="function")


# --- pooling ---


def _pool_args(kernel, stride, padding, ceil_mode) -> dict:
    return {"kernel": _pair(kernel), "stride": _pair(stride) if stride not in (None, [], ()) else None,
            "padding": _pair(padding), "ceil_mode": bool(ceil_mode)}


def _same_pool(m, args):
    pad = getattr(m, "pad", None)  # cnncost's PaddedMaxPool2d / PaddedAvgPool2d: "same", padded first
    if pad is not None:
        args["padding"] = "same"
    return args


def _maxpool_module(imp, m, x):
    if m.return_indices:
        raise Unmappable("max pooling that returns indices")
    args = _same_pool(m, {**_pool_args(m.kernel_size, m.stride, m.padding, m.ceil_mode),
                          "dilation": _pair(m.dilation)})
    return imp.row("maxpool", args, [imp.plain(x)])


def _avgpool_module(imp, m, x):
    if m.divisor_override:
        raise Unmappable("average pooling with divisor_override")
    args = _same_pool(m, {**_pool_args(m.kernel_size, m.stride, m.padding, m.ceil_mode),
                          "count_include_pad": m.count_include_pad})
    return imp.row("avgpool", args, [imp.plain(x)])


def _triple3(value) -> list:
    return list(value) if isinstance(value, (tuple, list)) else [value] * 3


def _pool3d_module(kind):
    def handler(imp, m, x):
        x = imp.plain(x)
        if len(x.shape) != 5:
            raise Unmappable(f"a 3-D pooling of a {dims_text(x.shape)} tensor")
        if getattr(m, "return_indices", False) or getattr(m, "divisor_override", None):
            raise Unmappable("3-D pooling that returns indices or overrides its divisor")
        args = {"kernel": _triple3(m.kernel_size), "stride": _triple3(m.stride if m.stride is not None
                                                                        else m.kernel_size),
                "padding": _triple3(m.padding), "ceil_mode": bool(m.ceil_mode)}
        args.update({"dilation": _triple3(m.dilation)} if kind == "maxpool3d" else
                    {"count_include_pad": m.count_include_pad})
        return imp.row(kind, args, [x])

    return handler


def _avgpool1d_module(imp, m, x):
    x = imp.plain(x)
    if len(x.shape) != 3:
        raise Unmappable(f"a 1-D average pooling of a {dims_text(x.shape)} tensor")
    args = {"kernel": [1, m.kernel_size[0]], "stride": [1, m.stride[0]], "padding": [0, m.padding[0]],
            "ceil_mode": bool(m.ceil_mode), "count_include_pad": m.count_include_pad}
    return _as_map(imp, x, lambda x: imp.row("avgpool", args, [x]))


def _maxpool_function(imp, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                      return_indices=False):
    if return_indices:
        raise Unmappable("max pooling that returns indices")
    args = {**_pool_args(kernel_size, stride, padding, ceil_mode), "dilation": _pair(dilation)}
    return imp.row("maxpool", args, [imp.plain(x)], call="function")


def _avgpool_function(imp, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                      divisor_override=None):
    if divisor_override:
        raise Unmappable("average pooling with divisor_override")
    args = {**_pool_args(kernel_size, stride, padding, ceil_mode), "count_include_pad": count_include_pad}
    return imp.row("avgpool", args, [imp.plain(x)], call="function")


def _adaptive(imp, x, output, call=None, maximum=False):
    x = imp.plain(x)
    if len(x.shape) != 4:
        raise Unmappable(f"adaptive pooling of a {dims_text(x.shape)} tensor")
    out = [x.shape[2 + i] if o is None else o for i, o in enumerate(_pair(output))]
    if maximum:
        if out != [1, 1]:
            raise Unmappable(f"adaptive max pooling to {out}; cnncost has the global one (to 1x1)")
        return imp.row("maxpool", {"kernel": list(x.shape[2:])}, [x], call=call)
    if out == [1, 1]:
        return imp.row("global_avgpool", {}, [x], call=call)
    return imp.row("adaptive_avgpool", {"output": out}, [x], call=call)


def _adaptive_module(imp, m, x):
    return _adaptive(imp, x, m.output_size)


def _adaptive_max_module(imp, m, x):
    if m.return_indices:
        raise Unmappable("max pooling that returns indices")
    return _adaptive(imp, x, m.output_size, maximum=True)


def _adaptive_function(imp, x, output_size):
    return _adaptive(imp, x, output_size, call="function")


def _adaptive_max_function(imp, x, output_size, return_indices=False):
    return _adaptive(imp, x, output_size, call="function", maximum=True)


def _mean(imp, x, dim=None, keepdim=False, dtype=None):
    if isinstance(x, _BatchStack):
        return x.reduced(imp, "mean", dim, keepdim)
    x = imp.plain(x)
    dims = sorted(d % len(x.shape) for d in (dim if isinstance(dim, (list, tuple)) else [dim])) if dim is not None \
        else None
    if len(x.shape) != 4 or dims != [2, 3]:
        return _reduce_row(imp, x, "mean", dim, keepdim)
    pooled = imp.row("global_avgpool", {}, [x], call="mean", base="mean")
    return pooled if keepdim else Reshaped(imp.current, pooled, pooled.shape[:2])


def _reduce_row(imp, x, op, dim, keepdim):
    dims = None if dim is None else (dim if isinstance(dim, (list, tuple)) else [dim])
    return imp.row(*lowering.reduction(op, dims, x.shape, keepdim), [x], call="function", base=op)


def _reduce(op):
    def handler(imp, x, dim=None, keepdim=False, dtype=None):
        if isinstance(x, _BatchStack):
            return x.reduced(imp, op, dim, keepdim)
        return _reduce_row(imp, imp.plain(x), op, dim, keepdim)
    return handler


def _stack(imp, tensors, dim=0):
    xs = [imp.plain(t) for t in tensors]
    dim = dim % (len(xs[0].shape) + 1)
    if dim == 0:
        return _BatchStack(imp.current, xs)
    return imp.row("stack", {"dim": dim}, xs, call="function")


class _BatchStack(Pending):
    """torch.stack(xs) along dim 0, before the batch: rows only once it is summed or averaged over that axis again
    (an FPN's torch.stack(xs).sum(0)), as a stack along dim 1 and a reduction over it, whose figures are the same."""

    def __init__(self, node, xs):
        super().__init__(node)
        self.xs = xs
        self.shape = (len(xs), *xs[0].shape)

    def reduced(self, imp, op, dim, keepdim):
        dims = dim if isinstance(dim, (list, tuple)) else [dim]
        if op not in ("sum", "mean") or keepdim or [d % len(self.shape) for d in dims] != [0]:
            raise Unmappable(f"a {op} over dims {dim} of a stack along the batch axis; cnncost follows its sum "
                             "or mean over dim 0")
        stacked = imp.row("stack", {"dim": 1}, self.xs, node=self.node, call="function", base="stack")
        return imp.row("reduce", {"op": op, "dims": [1], "keepdim": False}, [stacked], call="function", base=op)

    def make(self, imp):
        raise Unmappable("reads a stack along the batch axis that is not reduced away (torch.stack(xs).sum(0) "
                         "is followed)")


# --- normalisation ---


def _batchnorm_module(imp, m, x):
    if not m.track_running_stats:
        raise Unmappable("batch norm without running statistics")
    args = {"eps": m.eps, "momentum": m.momentum, "affine": m.affine}
    return _as_map(imp, imp.plain(x), lambda x: imp.row("batchnorm", args, [x]))


def _as_map(imp, x, make):
    """``make`` on (N, C, L) as on the map (N, C, 1, L): nn.BatchNorm1d and nn.AvgPool1d on a sequence of
    channels as their 2-D kinds, between views that cost nothing (torch computes the same, channel by channel)."""
    if len(x.shape) != 3:
        return make(x)
    n, c, length = x.shape
    out = make(imp.row("unflatten", {"dim": 2, "sizes": [1, length]}, [x], aside=True))
    return imp.row("reshape", {"shape": [out.shape[1], out.shape[3]]}, [out], aside=True)


def _batchnorm_function(imp, x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                        eps=1e-5):
    if running_mean is None:
        raise Unmappable("batch norm without running statistics")
    return imp.row("batchnorm", {"eps": eps, "momentum": momentum, "affine": weight is not None},
                   [imp.plain(x)], call="function")


def _groupnorm_module(imp, m, x):
    return imp.row("groupnorm", {"groups": m.num_groups, "eps": m.eps, "affine": m.affine}, [imp.plain(x)])


def _groupnorm_function(imp, x, num_groups, weight=None, bias=None, eps=1e-5):
    return imp.row("groupnorm", {"groups": num_groups, "eps": eps, "affine": weight is not None},
                   [imp.plain(x)], call="function")


def _layernorm(imp, x, shape, eps, affine, call=None, bias=True):
    x = imp.plain(x, nhwc_ok=True)
    shape = list(shape) if isinstance(shape, (list, tuple, torch.Size)) else [shape]
    if shape == [x.shape[-1]] and not x.nhwc and len(x.shape) > 3:  # on the tokens of (N, H, W, C), as above
        return _on_tokens(imp, x, lambda y: imp.row("layernorm", _layernorm_args(eps, affine, bias), [y], call=call))
    if shape != [x.shape[-1]] or not (x.nhwc or len(x.shape) in (2, 3)):
        raise Unmappable(f"layer norm over {shape} of {dims_text(x.shape)}; cnncost's is over the channels of "
                         "each position (a channels-last map), of each token (N, L, C), or over a vector")
    return imp.row("layernorm", _layernorm_args(eps, affine, bias), [x], call=call)


def _layernorm_args(eps, affine, bias) -> dict:
    if bias and not affine:
        raise Unmappable("a layer norm with a shift and no scale")
    return {"eps": eps, "affine": affine, **({"bias": False} if affine and not bias else {})}


def _layernorm_module(imp, m, x):
    # a subclass that keeps nn.LayerNorm's forward (timm's LayerNormNoBias) is a subclass to the tools that look
    # modules up by exact type (ptflops, thop)
    return _layernorm(imp, x, m.normalized_shape, m.eps, m.elementwise_affine,
                      call=None if type(m) is nn.LayerNorm else "subclass", bias=m.bias is not None)


def _layernorm2d(imp, m, x):  # cnncost's LayerNorm2d: over the channels of an NCHW map, as torchvision's
    return imp.row("layernorm", _layernorm_args(m.eps, m.elementwise_affine, m.bias is not None), [imp.plain(x)],
                   call="subclass")


def _layernorm_function(imp, x, normalized_shape, weight=None, bias=None, eps=1e-5):
    return _layernorm(imp, x, normalized_shape, eps, weight is not None, call="function", bias=bias is not None)


def _lrn_module(imp, m, x):
    return imp.row("lrn", {"size": m.size, "alpha": m.alpha, "beta": m.beta, "k": m.k}, [imp.plain(x)])


def _lrn_function(imp, x, size, alpha=1e-4, beta=0.75, k=1.0):
    return imp.row("lrn", {"size": size, "alpha": alpha, "beta": beta, "k": k}, [imp.plain(x)], call="function")


# --- activations ---


def _in_place(kind, values: dict, inplace) -> dict:
    """``inplace: true`` where torch runs the in-place variant and the kind says what that saves (kinds.py)."""
    if inplace is True and "inplace" in KINDS[kind].arg_map:
        values["inplace"] = True
    return values


def _unary_module(kind, **read):
    def handler(imp, m, x):
        args = {key: _float(getattr(m, attr)) for key, attr in read.items()}
        return imp.row(kind, _in_place(kind, args, getattr(m, "inplace", False)), [imp.plain(x, nhwc_ok=True)])
    return handler


def _unary_function(kind, call="function", inplace=False, **positional):
    def handler(imp, x, *args, **kwargs):
        values = {}
        for (key, (index, default)) in positional.items():
            value = args[index] if len(args) > index else kwargs.get(key if key != "slope" else "negative_slope",
                                                                      default)
            values[key] = _float(value)
        # F.relu(x, True), F.leaky_relu(x, 0.1, inplace=True), torch.relu_(x), x.relu_(): the in-place variant
        in_place = inplace or kwargs.get("inplace") is True or any(a is True for a in args)
        return imp.row(kind, _in_place(kind, values, in_place), [imp.plain(x, nhwc_ok=True)], call=call)
    return handler


def _softmax_module(imp, m, x):
    return _softmax(imp, x, m.dim, call=None)


def _softmax(imp, x, dim=None, _stacklevel=3, dtype=None, call="function"):
    x = imp.plain(x)
    if dim is None:
        raise Unmappable("a softmax with no dim (torch's implicit choice is deprecated)")
    if dtype is not None:
        raise Unmappable(f"a softmax computed in {dtype}")
    return imp.row(*lowering.softmax(x.shape, dim), [x], call=call)


def _hardtanh(imp, x, min_val=-1.0, max_val=1.0, inplace=False):
    if (min_val, max_val) != (0.0, 6.0):
        raise Unmappable(f"hardtanh to [{min_val}, {max_val}]; cnncost has ReLU6 (0, 6)")
    return imp.row("relu6", {}, [imp.plain(x, nhwc_ok=True)], call="function")


def _clamp(imp, x, min=None, max=None):
    if (min, max) == (0, 6) or (min, max) == (0.0, 6.0):
        return imp.row("relu6", {}, [imp.plain(x, nhwc_ok=True)], call="function")
    if min == 0 and max is None:
        return imp.row("relu", {}, [imp.plain(x, nhwc_ok=True)], call="function")
    if _number(min) and max is None:  # clamp_min(x, 1e-6): the scalar maximum, as torch saves for it
        return imp.row("scalar", {"op": "maximum", "value": _float(min)}, [imp.plain(x, nhwc_ok=True)],
                       call="function")
    if min is None and _number(max):
        return imp.row("scalar", {"op": "minimum", "value": _float(max)}, [imp.plain(x, nhwc_ok=True)],
                       call="function")
    raise Unmappable(f"clamp to [{min}, {max}]; cnncost has ReLU (0, inf) and ReLU6 (0, 6)")


def _dropout_module(imp, m, x):
    if isinstance(m, nn.Dropout2d):
        return _channel_dropout(imp, x, m.p, call=None)
    return imp.row("dropout", {"p": _float(m.p)}, [imp.plain(x, nhwc_ok=True)])


def _channel_dropout(imp, x, p=0.5, training=True, inplace=False, call="function"):
    # nn.Dropout2d: one draw per sample and channel, the noise training saves (N x C x 1 x 1)
    x = imp.plain(x)
    if len(x.shape) != 4:
        raise Unmappable(f"a Dropout2d on a {dims_text(x.shape)} tensor; cnncost drops the channels of a map")
    return imp.row("dropout", {"p": _float(p), "channels": True}, [x], call=call)


def _dropout_function(imp, x, p=0.5, training=True, inplace=False):
    return imp.row("dropout", {"p": _float(p)}, [imp.plain(x, nhwc_ok=True)], call="function")


def _identity_module(imp, m, x, *args, **kwargs):
    return imp.row("identity", {}, [imp.plain(x, nhwc_ok=True)])


def _flatten_module(imp, m, x):
    return _flatten(imp, x, m.start_dim, m.end_dim, call=None)


def _upsample(imp, x, size=None, scale_factor=None, mode="nearest", align_corners=None, call=None):
    x = imp.plain(x)
    if len(x.shape) != 4:
        raise Unmappable(f"a resize of a {dims_text(x.shape)} tensor")
    modes = {"nearest": "nearest", "bilinear": "bilinear"}
    if mode not in modes:
        raise Unmappable(f"resize mode {mode!r}; cnncost has nearest and bilinear")
    args = {"mode": mode}
    if mode == "bilinear":
        args["align_corners"] = bool(align_corners)
    if size is not None:
        args["size"] = [int(s) for s in _pair(size)]
    elif scale_factor is not None:
        args["scale"] = [float(s) for s in _pair(scale_factor)]
    return imp.row("upsample", args, [x], call=call)


def _upsample_module(imp, m, x):
    return _upsample(imp, x, m.size, m.scale_factor, m.mode, m.align_corners)


def _interpolate(imp, x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None, antialias=False):
    if antialias:
        raise Unmappable("an antialiased resize")
    return _upsample(imp, x, size, scale_factor, mode, align_corners, call="function")


def _pad_module(imp, m, x):
    modes = {nn.ZeroPad2d: "constant", nn.ConstantPad2d: "constant", nn.ReflectionPad2d: "reflect",
             nn.ReplicationPad2d: "replicate"}
    mode = next(v for k, v in modes.items() if isinstance(m, k))
    return _pad(imp, x, tuple(m.padding), mode, getattr(m, "value", 0), call=None)


def _pad(imp, x, pad, mode="constant", value=None, call="function"):
    pad = list(pad)
    value = 0 if value is None else value
    if isinstance(x, Sliced) and x.subsample_stride() and len(pad) == 6 and pad[:5] == [0, 0, 0, 0, 0] and \
            mode == "constant" and value == 0:
        return imp.row("subsample_pad", {"out": x.shape[1] + pad[5], "stride": x.subsample_stride()}, [x.src],
                       node=x.node, call=call)
    x = imp.plain(x, nhwc_ok=True)
    if x.nhwc and len(pad) == 6 and pad[:2] == [0, 0]:
        pad = pad[2:]  # H and W of a channels-last view, the channels left alone: a pad of the map it views
    elif x.nhwc:
        x = imp.plain(x)
    elif len(pad) == 6 and pad[:2] == [0, 0] and pad[4:] != [0, 0] and len(x.shape) == 4 and mode == "constant":
        # H and W of a channels-last map (B, H, W, C) that is a tensor of its own (DaViT's tokens viewed so)
        left, right, top, bottom = pad[2:]
        if min(pad) < 0:
            raise Unmappable(f"negative pads {pad} (a crop)")
        return imp.row("pad", {"padding": [top, bottom, left, right], "mode": mode, "value": _float(value),
                               "channels_last": True}, [x], call=call)
    while len(pad) > 4 and pad[-2:] == [0, 0]:
        pad = pad[:-2]  # no padding of the axes before the last two (CoaT's F.pad(k, (0, 0, 1, 0, 0, 0)))
    if len(pad) == 2:
        pad = pad + [0, 0]  # the last axis only (EfficientViT's F.pad(v, (0, 1), value=1))
    if len(pad) != 4 or len(x.shape) != 4:
        raise Unmappable(f"pads {pad} of a {dims_text(x.shape)} tensor; cnncost pads the last two axes of a "
                         "tensor of three per sample")
    left, right, top, bottom = pad
    if min(pad) < 0:
        raise Unmappable(f"negative pads {pad} (a crop)")
    if mode not in ("constant", "reflect", "replicate"):
        raise Unmappable(f"pad mode {mode!r}")
    args = {"padding": [top, bottom, left, right], "mode": mode}
    if mode == "constant":
        args["value"] = _float(value)
    return imp.row("pad", args, [x], call=call)


# --- element-wise and merging ---

_VERBS = {"add": "adds", "sub": "subtracts", "mul": "multiplies", "div": "divides", "pow": "raises",
          "maximum": "takes the maximum of", "minimum": "takes the minimum of"}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _binary(op, call):
    """x op y for torch's operators, functions and Tensor methods: a constant (scalar), a parameter or buffer
    broadcast to x (param; layer_scale where it is made today), or a second activation (add, mul, binary)."""
    def handler(imp, a, b, *rest, alpha=1, rounding_mode=None, out=None):
        if rest or alpha != 1 or out is not None:
            raise Unmappable(f"an {op} with alpha or out")
        if rounding_mode is not None:
            raise Unmappable(f"a division with rounding_mode={rounding_mode!r}")
        return _combine(imp, op, a, b, call)
    return handler


def _combine(imp, op, a, b, call):
    if isinstance(a, _Expanded) or isinstance(b, _Expanded):
        # x * y.expand_as(x): the arithmetic broadcasts y itself, as long as that gives the expanded result's shape
        full = [v.shape if isinstance(v, (Act, Pending, Param)) else () for v in (a, b)]
        a, b = (v.src if isinstance(v, _Expanded) else v for v in (a, b))
        small = [v.shape if isinstance(v, (Act, Pending, Param)) else () for v in (a, b)]
        if torch.broadcast_shapes(*small) != torch.broadcast_shapes(*full):
            raise Unmappable(f"{_VERBS[op]} an expanded view whose other operand does not broadcast to its size")
    acts = (Act, Pending)
    if isinstance(a, acts) and _number(b):  # x + 3
        return imp.row(*lowering.with_number(op, _float(b)), [imp.plain(a, nhwc_ok=True)], call=call)
    if _number(a) and isinstance(b, acts):  # 3 * x, 3 - x (rsub), 1 / x (rdiv)
        return imp.row(*lowering.with_number(op, _float(a), number_first=True), [imp.plain(b, nhwc_ok=True)],
                       call=call)
    if isinstance(a, Param) and isinstance(b, acts):
        return _with_param(imp, op, b, a, call, tensor_first=True)
    if isinstance(a, acts) and isinstance(b, Param):
        return _with_param(imp, op, a, b, call)
    if not isinstance(a, acts) or not isinstance(b, acts):
        raise Unmappable(f"{_VERBS[op]} an activation and {type(b if isinstance(a, acts) else a).__name__}")
    x, y = imp.plain(a, nhwc_ok=True), imp.plain(b, nhwc_ok=True)
    if x.nhwc != y.nhwc or (x.nhwc and x.shape != y.shape):
        x, y = imp.plain(x), imp.plain(y)  # the channels-last view as a permute row
    return imp.row(*lowering.with_activation(op, x.shape, y.shape), [x, y], call=call)


def _with_param(imp, op, a, p, call, tensor_first=False):
    """x op p, p a parameter, a buffer or a tensor attribute of the module, broadcast to x without changing it."""
    if isinstance(p, Gathered):
        return _table_bias(imp, op, a, p, call)
    x = imp.plain(a, nhwc_ok=True)
    if p.path is None:
        raise Unmappable(f"{_VERBS[op]} an activation and a tensor built in forward, which no parameter or buffer "
                         "of the module holds")
    if op not in PARAM_OPS:
        raise Unmappable(f"{_VERBS[op]} an activation and a parameter; cnncost's param adds, subtracts, multiplies "
                         "or divides")
    if op == "mul" and not x.nhwc and len(x.shape) == 4 and p.shape in ((x.shape[1], 1, 1), (1, x.shape[1], 1, 1)):
        return imp.row("layer_scale", {}, [x], call=call, path=p.path)  # x * gamma, one per channel
    dims, shape = p.shape, x.shape
    if x.nhwc:  # torch's N x H x W x C view of cnncost's C x H x W row: the tensor's axes as the row's
        dims, shape = _nchw((1,) * (len(shape) - len(dims)) + dims) if len(dims) <= len(shape) else dims, _nchw(shape)
    tensor = _attribute(imp.root, p.path)
    if tensor.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise Unmappable(f"{_VERBS[op]} an activation and a {str(tensor.dtype).replace('torch.', '')} tensor")
    kind, args = lowering.with_tensor(op, dims, shape, tensor_first, learnable=isinstance(tensor, nn.Parameter))
    first = imp.first_call.get(p.path)
    if first is not None and (first.kind, first.args) != ("param", args):
        raise Unmappable(f"uses the parameter '{p.path}' a second time, differently; cnncost counts it in one row")
    row = imp.row(kind, args, [x], call=call, path=p.path)
    if first is not None:
        row.row.shares = first  # used again: its parameters are counted once
    else:
        imp.first_call[p.path] = row.row
    return row


def _table_bias(imp, op, a, p, call):
    """x + table[index]: a table_bias row named by the table, which holds its parameters; a table read again
    (EfficientViT's heads, each adding its row of one gather) holds them at its first row."""
    if op != "add":
        raise Unmappable(f"{_VERBS[op]} an activation and a tensor gathered from a parameter table; cnncost's "
                         "table_bias adds one")
    x = imp.plain(a)
    _, sample = lowering.with_tensor(op, p.shape, x.shape)
    args = {"table": list(_attribute(imp.root, p.table).shape), "shape": sample["shape"]}
    first = imp.first_call.get(p.table)
    if first is not None and (first.kind, first.args) != ("table_bias", args):
        raise Unmappable(f"uses the parameter '{p.table}' a second time, differently; cnncost counts it in one row")
    row = imp.row("table_bias", args, [x], call=call, path=p.table)
    if first is not None:
        row.row.shares = first
    else:
        imp.first_call[p.table] = row.row
    return row


class _Expanded(Pending):
    """``x.expand(...)`` or ``x.expand_as(y)``, a broadcast view: followed where element-wise arithmetic reads it,
    which broadcasts ``x`` itself (MobileViT-v2's context vector); anything else reading it is refused."""

    def __init__(self, node, src, shape):
        super().__init__(node)
        self.src, self.shape = src, shape

    def make(self, imp):
        raise Unmappable("reads an expanded view (Tensor.expand) other than in element-wise arithmetic, which "
                         "broadcasts by itself")


def _expand(imp, x, *given):
    sizes = list(given[0] if len(given) == 1 and isinstance(given[0], (list, tuple, torch.Size)) else given)
    x = imp.plain(x, nhwc_ok=True)
    if len(sizes) != len(x.shape):
        raise Unmappable(f"expands a {dims_text(x.shape)} tensor to {len(sizes)} axes")
    target = tuple(n if t == -1 else t for n, t in zip(x.shape, sizes))
    if target[0] != x.shape[0] or any(n not in (1, t) for n, t in zip(x.shape, target)):
        raise Unmappable(f"expands a {dims_text(x.shape)} tensor to {dims_text(target)}")
    return x if target == x.shape else _Expanded(imp.current, x, target)


def _expand_as(imp, x, other):
    return _expand(imp, x, *other.shape)


def _unary(op, call="function"):
    def handler(imp, x):
        return imp.row("unary", {"op": op}, [imp.plain(x, nhwc_ok=True)], call=call)
    return handler




def _cat(imp, tensors, dim=0):
    if len(tensors) == 2 and isinstance(tensors[0], Param) and not isinstance(tensors[1], Param):
        token = _class_token(imp, tensors[0], tensors[1], dim)
        if token is not None:
            return token
    xs = [imp.plain(t, nhwc_ok=True) for t in tensors]
    if len(xs) > 1 and all(x.nhwc for x in xs) and dim % 4 == 3:
        # channels-last views joined along their channels: the rows they stand for joined along theirs
        return imp.row(*lowering.concatenation([_nchw(x.shape) for x in xs], 1), xs, call="function")
    xs = [imp.plain(x) for x in xs]
    lowered = lowering.concatenation([x.shape for x in xs], dim)
    return xs[0] if len(xs) == 1 else imp.row(*lowered, xs, call="function")


def _class_token(imp, token, x, dim):
    """torch.cat([cls_token.expand(N, -1, -1), x], dim=1) (ViT, PiT, CoaT): a learnt token put before the
    tokens, a class_token row named by its parameter; None for any other concatenation with a constant."""
    x = imp.plain(x)
    if len(x.shape) != 3 or dim % 3 != 1 or token.shape != (x.shape[0], 1, x.shape[2]):
        return None
    scope = imp.current[1]
    if token.path is None and scope:  # expanded eagerly, the token lost its path: it is its module's
        imp.used.add(scope)
    return imp.row("class_token", {}, [x], call="function", path=token.path)


def _chunks(imp, x, sizes, dim):
    x = imp.plain(x, nhwc_ok=True)
    if x.nhwc and dim % 4 == 3 and sum(sizes) == x.shape[3]:
        # a channels-last view split along its channels: the row it stands for split along its channels, each
        # piece still viewed channels-last (MambaOut's torch.split(x, sizes, dim=-1))
        return tuple(_Piece(imp.current, x, 3, size, lowered)
                     for size, lowered in zip(sizes, lowering.split(_nchw(x.shape), 1, sizes)))
    x = imp.plain(x)
    at = dim % len(x.shape)
    if at == 0:
        raise Unmappable(f"splits the batch axis into {sizes}")
    if sum(sizes) != x.shape[at]:
        raise Unmappable(f"splits dim {dim} of {dims_text(x.shape)} into {sizes}")
    if at == 1 and len(set(sizes)) == 1:
        return tuple(_ChannelPart(imp.current, x, len(sizes), i) for i in range(len(sizes)))
    # unequal parts, or along another axis: a row each (lowering.split), made where the piece is read
    return tuple(_Piece(imp.current, x, at, size, lowered) for size, lowered in zip(sizes, lowering.split(
        x.shape, at, sizes)))


class _Piece(Pending):
    """One part of torch.split / Tensor.chunk that is not an equal channel part: its row where it is read."""

    def __init__(self, node, src, dim, size, lowered):
        super().__init__(node)
        self.src, self.lowered = src, lowered
        self.shape = (*src.shape[:dim], size, *src.shape[dim + 1:])

    def make(self, imp):
        return imp.row(*self.lowered, [self.src], node=self.node, call="function", base="split")


def _chunk(imp, x, chunks, dim=0):
    c = x.shape[dim]
    size = -(-c // chunks)
    return _chunks(imp, x, [min(size, c - i * size) for i in range(-(-c // size))], dim)


def _split(imp, x, split_size_or_sections, dim=0):
    c = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        sizes = [min(size, c - i) for i in range(0, c, size)]
    else:
        sizes = list(split_size_or_sections)
    return _chunks(imp, x, sizes, dim)


class _ChannelPart(Pending):
    """One part of Tensor.chunk along the channels: a channel_split row where it is read."""

    def __init__(self, node, src, parts, index):
        super().__init__(node)
        self.src, self.parts, self.index = src, parts, index
        self.shape = (src.shape[0], src.shape[1] // parts) + src.shape[2:]

    def make(self, imp):
        return imp.row("channel_split", {"parts": self.parts, "index": self.index}, [self.src], node=self.node,
                       call="function", base="chunk")


def _getitem(imp, value, index):
    if isinstance(value, (tuple, list)):
        return value[index]
    if isinstance(value, torch.Size):
        return value[index]
    if isinstance(value, _BatchMoved):
        return value.select(imp, index)  # q, k, v = qkv[0], qkv[1], qkv[2]
    if not isinstance(value, (Act, Pending)):
        raise Unmappable(f"indexes {type(value).__name__}")
    if any(isinstance(i, int) and not isinstance(i, bool) for i in (index if isinstance(index, tuple) else (index,))):
        return _select(imp, value, index)
    shape = value.shape
    index = index if isinstance(index, tuple) else (index,)
    if Ellipsis in index:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (len(shape) - len(index) + 1) + index[at + 1:]
    index = index + (slice(None),) * (len(shape) - len(index))
    if len(index) != len(shape) or not all(isinstance(i, slice) for i in index):
        raise Unmappable(f"indexes a tensor with {index}; cnncost follows slices")
    ranges = [range(n)[i] for n, i in zip(shape, index)]
    changed = [i for i, (r, n) in enumerate(zip(ranges, shape)) if r != range(n)]
    if not changed:
        return value
    base = value.src if isinstance(value, Sliced) else imp.plain(value)
    if len(shape) == 4 and all(i in (2, 3) for i in changed):
        previous = value.ranges if isinstance(value, Sliced) else [range(n) for n in base.shape[2:]]
        return Sliced(imp.current, base, [p[r.start:r.stop:r.step] for p, r in zip(previous, ranges[2:])])
    if changed == [1] and ranges[1].step == 1 and len(shape) == 4 and not isinstance(value, Sliced):
        c, size, start = shape[1], len(ranges[1]), ranges[1].start
        if size and c % size == 0 and start % size == 0:
            return imp.row("channel_split", {"parts": c // size, "index": start // size}, [base], call="function",
                           base="split")
    out = imp.plain(value)  # unequal parts (ReXNet's x[:, :27], dual-path networks), or along any other axis
    for i in changed:
        r = ranges[i]
        step = lowering.part(out.shape, i, r.start, r.stop, r.step)  # not None: the axis changes
        out = out if step is None else imp.row(*step, [out], call="operator", base="slice")
    return out


def _select(imp, value, index):
    """Integers in an index (the class token x[:, 0]): a slice of one along each such axis, then a view without
    those axes."""
    index = index if isinstance(index, tuple) else (index,)
    if Ellipsis in index:
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (len(value.shape) - len(index) + 1) + index[at + 1:]
    dropped = [at for at, i in enumerate(index) if isinstance(i, int) and not isinstance(i, bool)]
    if 0 in dropped:
        raise Unmappable("indexes the batch axis with a number")
    sliced = _getitem(imp, value, tuple(slice(i % value.shape[at], i % value.shape[at] + 1)
                                        if at in dropped else i for at, i in enumerate(index)))
    return _view(imp, sliced, *[n for at, n in enumerate(sliced.shape) if at not in dropped])


# --- views ---
# A view keeps a pattern pending while an existing kind may read it whole (the flatten before a classifier, a
# channel shuffle, the channels-last view layer norms and linear layers read); anything else makes it a row of
# its own (reshape, permute, transpose, flatten, unflatten), the batch axis first. A permute that moves the batch
# axis is followed until a select along its first axis (timm's q, k, v = qkv.unbind(0)) puts the batch first again.

_FOLDS_BATCH = "folds the batch axis into another ({}); cnncost's shapes are per sample"


class _BatchMoved(Pending):
    """``src.permute(perm)`` with the batch axis not first (timm's qkv.permute(2, 0, 3, 1, 4)): followed to a
    select along its first axis, which gives the batch first again."""

    def __init__(self, node, src: Act, perm):
        super().__init__(node)
        self.src, self.perm = src, list(perm)
        self.shape = tuple(src.shape[d] for d in perm)
        self.moved: Act | None = None  # the permute row that puts the selected axis second, the batch first

    def make(self, imp):
        raise Unmappable(f"permutes {dims_text(self.src.shape)} by {self.perm}, which moves the batch axis from "
                         "first; cnncost follows such a tensor only to a select along its first axis (unbind(0), "
                         "x[0])")

    def select(self, imp, index):
        if isinstance(index, tuple) and len(index) == 1:
            index = index[0]
        if isinstance(index, bool) or not isinstance(index, int):
            self.make(imp)
        axis, rest = self.perm[0], self.perm[1:]
        if rest[0] != 0:
            raise Unmappable(f"selects along the first axis of {dims_text(self.src.shape)} permuted by {self.perm}, "
                             "which leaves the batch axis not first")
        moved = self.moved
        if moved is None:
            lowered = lowering.permutation([0, axis, *rest[1:]], self.src.shape)
            moved = self.moved = self.src if lowered is None else imp.row(*lowered, [self.src], self.node)
        i = index % self.src.shape[axis]
        part = _one(imp, moved, 1, i)
        return Reshaped(imp.current, part, (part.shape[0],) + part.shape[2:])


def _view(imp, x, *shape):
    given = shape[0] if len(shape) == 1 and isinstance(shape[0], (list, tuple)) else shape
    sizes = [int(s) for s in given]
    if isinstance(x, Shuffled):
        target = _resolve_shape(x.shape, sizes)
        if target == x.src.shape:
            return imp.row("channel_shuffle", {"groups": x.groups}, [x.src], node=x.node, call="function",
                           base="shuffle")
    src = x.src if isinstance(x, Reshaped) else imp.plain(x)
    target = _resolve_shape(x.shape, sizes)
    if imp.shadow is None and target and target[0] != src.shape[0]:
        raise NeedShadow()  # the batch folded into another axis: torch's shapes at batch 2 say whether it is outermost
    return src if target == src.shape else Reshaped(imp.current, src, target)


def _resolve_shape(old, shape) -> tuple:
    shape = list(shape)
    if shape.count(-1) == 1:
        known = math.prod(s for s in shape if s != -1)
        shape[shape.index(-1)] = math.prod(old) // known if known else 0
    if math.prod(shape) != math.prod(old):
        raise Unmappable(f"cannot view {dims_text(old)} as {shape}")
    return tuple(shape)


def _flatten(imp, x, start_dim=1, end_dim=-1, call="function"):
    x = imp.plain(x)
    rank = len(x.shape)
    start, end = start_dim % rank, end_dim % rank
    if start == 1 and end == rank - 1:
        return imp.row("flatten", {}, [x], call=call)
    if start == 0:
        if imp.shadow is None and end > start:
            raise NeedShadow()
        raise Unmappable(_FOLDS_BATCH.format(f"a flatten of dims {start_dim}..{end_dim}"))
    if start >= end:
        return x  # one axis or none: the same tensor
    return imp.row("flatten", {"start_dim": start, "end_dim": end}, [x], call=call)


def _flatten_method(imp, x, start_dim=0, end_dim=-1):
    return _flatten(imp, x, start_dim, end_dim)


def _unflatten(imp, x, dim, sizes):
    x = imp.plain(x)
    at = dim % len(x.shape)
    if at == 0:
        if imp.shadow is None:
            raise NeedShadow()
        raise Unmappable(_FOLDS_BATCH.format("an unflatten of the batch axis"))
    sizes = [int(s) for s in sizes]
    _resolve_shape((x.shape[at],), sizes)
    return imp.row("unflatten", {"dim": at, "sizes": sizes}, [x], call="function")


def _unflatten_module(imp, m, x):
    return _unflatten(imp, x, m.dim, m.unflattened_size)


def _transpose(imp, x, dim0, dim1):
    rank = len(x.shape)
    perm = list(range(rank))
    perm[dim0 % rank], perm[dim1 % rank] = perm[dim1 % rank], perm[dim0 % rank]
    return _permute(imp, x, perm)


def _permute(imp, x, *dims):
    perm = [d % len(x.shape) for d in (dims[0] if len(dims) == 1 and isinstance(dims[0], (list, tuple)) else dims)]
    if isinstance(x, Reshaped) and len(x.shape) == 5 and perm == [0, 2, 1, 3, 4]:
        n, g, per, h, w = x.shape
        if x.src.shape == (n, g * per, h, w):
            return Shuffled(imp.current, x.src, g, (n, per, g, h, w))
    if perm == list(range(len(x.shape))):
        return x
    x = imp.plain(x, nhwc_ok=True)
    if len(x.shape) == 4 and perm == [0, 2, 3, 1] and not x.nhwc:
        imp.channels_last_node[x.row] = imp.current  # names the permute row, should one be needed
        return Act(x.row, (x.shape[0], x.shape[2], x.shape[3], x.shape[1]), nhwc=True)
    if len(x.shape) == 4 and perm == [0, 3, 1, 2] and x.nhwc:
        return Act(x.row, (x.shape[0], x.shape[3], x.shape[1], x.shape[2]))
    if x.nhwc:  # one permute of the row the channels-last view stands for
        perm = [(0, 2, 3, 1)[d] for d in perm]
        x = Act(x.row, _nchw(x.shape))
    if perm[0] != 0:
        return _BatchMoved(imp.current, x, perm)
    lowered = lowering.permutation(perm, x.shape)
    return x if lowered is None else imp.row(*lowered, [x], call="function")


def _same(imp, x, *args, **kwargs):
    return x  # contiguous, clone, float, to, detach: the same values, as far as costs go


def _unsqueeze(imp, x, dim):
    shape = list(x.shape)
    shape.insert(dim % (len(shape) + 1), 1)
    return _view(imp, x, *shape)


def _squeeze(imp, x, dim=None):
    dims = range(len(x.shape)) if dim is None else [d % len(x.shape) for d in (dim if isinstance(dim, (list, tuple))
                                                                              else [dim])]
    shape = [n for i, n in enumerate(x.shape) if not (i in dims and n == 1)]
    return _view(imp, x, *shape)


def _one(imp, x: Act, dim: int, i: int) -> Act:
    """``x`` cut to its i-th element along ``dim`` (kept as an axis of one): a slice row, or x if it has one."""
    lowered = lowering.part(x.shape, dim, i, i + 1)
    return x if lowered is None else imp.row(*lowered, [x], call="function", base="select")


def _unbind(imp, x, dim=0):
    if isinstance(x, _BatchMoved) and dim == 0:
        return tuple(x.select(imp, i) for i in range(x.shape[0]))
    x = imp.plain(x)
    at = dim % len(x.shape)
    if at == 0:
        raise Unmappable("unbinds the batch axis")
    parts = []
    for i in range(x.shape[at]):
        part = _one(imp, x, at, i)
        parts.append(Reshaped(imp.current, part, part.shape[:at] + part.shape[at + 1:]))
    return tuple(parts)


# --- products and attention ---


def _operands(imp, *values):
    if not all(isinstance(v, (Act, Pending)) for v in values):
        raise Unmappable("a product with a parameter or constant operand; cnncost's matmul and einsum multiply "
                         "two activations (write a linear layer for a weight)")
    return [imp.plain(v) for v in values]


def _matmul(call):
    def handler(imp, a, b, out=None):
        if out is not None:
            raise Unmappable("a product written into out=")
        x, y = _operands(imp, a, b)
        if len(x.shape) < 3 or len(y.shape) < 3:
            raise Unmappable(f"a product of {dims_text(x.shape)} and {dims_text(y.shape)}; cnncost's multiplies the "
                             "last two axes of each sample's tensors")
        return imp.row("matmul", {}, [x, y], call=call, base="matmul")
    return handler


def _einsum(imp, equation, *operands):
    given = list(operands[0]) if len(operands) == 1 and isinstance(operands[0], (list, tuple)) else list(operands)
    if not isinstance(equation, str):
        raise Unmappable("einsum in its sublist form; cnncost reads the equation string")
    acts = _operands(imp, *given)
    if len(acts) != 2:
        raise Unmappable(f"einsum of {len(acts)} operands; cnncost's takes two")
    return imp.row("einsum", {"equation": equation.replace(" ", "")}, acts, call="function")


def _sdpa(imp, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    mask: dict = {}
    if isinstance(attn_mask, Gathered) and not is_causal:  # a relative position bias (CoAtNet)
        q = imp.plain(query)
        if len(attn_mask.shape) != len(q.shape) or not attn_mask.tensor.is_contiguous():
            raise Unmappable("attention with a mask of another rank than the query's, or not contiguous, where "
                             "torch runs its math path in inference too (measured); cnncost's masked attention is "
                             "the CPU's fused kernel there (CoAtNet's bias.unsqueeze(0).contiguous())")
        weights = (*q.shape[:-1], key.shape[-2])
        _, sample = lowering.with_tensor("add", attn_mask.shape, weights)
        if attn_mask.table in imp.first_call:
            raise Unmappable(f"uses the parameter '{attn_mask.table}' a second time; cnncost counts it in one row")
        mask = {"mask_table": list(_attribute(imp.root, attn_mask.table).shape), "mask_shape": sample["shape"]}
    elif attn_mask is not None:
        raise Unmappable("attention with a mask (attn_mask) other than a bias gathered from a parameter table; "
                         "cnncost's has that, or the causal one")
    if dropout_p:
        raise Unmappable(f"attention with dropout_p={dropout_p}")
    if enable_gqa:
        raise Unmappable("grouped-query attention (enable_gqa)")
    q, k, v = _operands(imp, query, key, value)
    row = imp.row("attention", {"causal": bool(is_causal), "scale": _float(scale), **mask}, [q, k, v],
                  call="function")
    if mask:
        imp.first_call[attn_mask.table] = row.row
    return row


def _mha_module(imp, m, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
    if not m.batch_first:
        raise Unmappable("nn.MultiheadAttention with batch_first=False (sequence first); cnncost's tokens are "
                         "(N, L, E)")
    if need_weights:
        raise Unmappable("nn.MultiheadAttention called with need_weights=True, which also computes the averaged "
                         "attention weights; cnncost's is need_weights=False")
    if key_padding_mask is not None or attn_mask is not None or is_causal:
        raise Unmappable("nn.MultiheadAttention with a mask")
    if not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn or m.dropout:
        raise Unmappable("nn.MultiheadAttention with kdim/vdim, add_bias_kv, add_zero_attn or dropout")
    if key is value and key is not query:
        raise Unmappable("nn.MultiheadAttention with the key and the value one tensor and the query another: "
                         "torch then projects key and value in one product and saves less than cnncost's kind, "
                         "which takes them apart")
    same = key is query and value is query
    acts = _operands(imp, query) if same else _operands(imp, query, key, value)
    out = imp.row("multihead_attention", {"heads": m.num_heads, "bias": m.in_proj_bias is not None}, acts)
    return out, None


def _pixel_shuffle_module(imp, m, x):
    return imp.row("pixel_shuffle", {"factor": m.upscale_factor}, [imp.plain(x)])


def _pixel_unshuffle_module(imp, m, x):
    return imp.row("pixel_unshuffle", {"factor": m.downscale_factor}, [imp.plain(x)])


def _pixel_shuffle(imp, x, upscale_factor):
    return imp.row("pixel_shuffle", {"factor": upscale_factor}, [imp.plain(x)], call="function")


def _pixel_unshuffle(imp, x, downscale_factor):
    return imp.row("pixel_unshuffle", {"factor": downscale_factor}, [imp.plain(x)], call="function")


# --- the tables ---

_BACKEND = {"PaddedConv2d": "conv", "PaddedMaxPool2d": "maxpool", "PaddedAvgPool2d": "avgpool",
            "LocalResponseNorm": "lrn", "ChannelsLinear": "linear", "LayerNorm2d": "layernorm",
            "SelfAttention": "multihead_attention"}

MODULES: dict[type[nn.Module], Callable] = {
    nn.Conv2d: _conv2d_module, nn.ConvTranspose2d: _conv_transpose_module, nn.Linear: _linear_module,
    nn.MaxPool2d: _maxpool_module, nn.AvgPool2d: _avgpool_module, nn.AdaptiveAvgPool2d: _adaptive_module,
    nn.AdaptiveMaxPool2d: _adaptive_max_module,
    nn.BatchNorm2d: _batchnorm_module, nn.BatchNorm1d: _batchnorm_module, nn.GroupNorm: _groupnorm_module,
    nn.Conv1d: _conv1d_module,
    nn.Conv3d: _conv3d_module, nn.BatchNorm3d: _batchnorm_module, nn.AdaptiveAvgPool3d: _adaptive3d_module,
    nn.MaxPool3d: _pool3d_module("maxpool3d"), nn.AvgPool3d: _pool3d_module("avgpool3d"),
    nn.LayerNorm: _layernorm_module, nn.LocalResponseNorm: _lrn_module,
    nn.ReLU: _unary_module("relu"), nn.ReLU6: _unary_module("relu6"),
    nn.LeakyReLU: _unary_module("leaky_relu", slope="negative_slope"), nn.ELU: _unary_module("elu", alpha="alpha"),
    nn.Sigmoid: _unary_module("sigmoid"), nn.Tanh: _unary_module("tanh"), nn.Hardsigmoid: _unary_module("hardsigmoid"),
    nn.Hardswish: _unary_module("hardswish"), nn.SiLU: _unary_module("silu"), nn.GELU: _unary_module("gelu"),
    nn.Mish: _unary_module("mish"), nn.Softmax: _softmax_module,
    nn.Dropout: _dropout_module, nn.Dropout2d: _dropout_module, nn.Identity: _identity_module,
    nn.Flatten: _flatten_module, nn.Upsample: _upsample_module,
    nn.ZeroPad2d: _pad_module, nn.ConstantPad2d: _pad_module, nn.ReflectionPad2d: _pad_module,
    nn.ReplicationPad2d: _pad_module,
    # views, products and attention on tokens
    nn.Unflatten: _unflatten_module, nn.MultiheadAttention: _mha_module,
    nn.PixelShuffle: _pixel_shuffle_module, nn.PixelUnshuffle: _pixel_unshuffle_module,
    nn.AvgPool1d: _avgpool1d_module,
}

def _self_attention_module(imp, m, x, *key_value):
    k, v = key_value if key_value else (x, x)  # as torch_backend.SelfAttention.forward reads them
    return _mha_module(imp, m, x, k, v, need_weights=False)[0]


_BACKEND_HANDLERS = {"PaddedConv2d": _conv2d_module, "PaddedMaxPool2d": _maxpool_module,
                     "PaddedAvgPool2d": _avgpool_module, "LocalResponseNorm": _lrn_module,
                     "ChannelsLinear": _channels_linear, "LayerNorm2d": _layernorm2d,
                     "SelfAttention": _self_attention_module}


def _qualified(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _module_handler(module: nn.Module):
    cls = type(module)
    if _qualified(cls) in NAMED_MODULES:
        return NAMED_MODULES[_qualified(cls)]
    if _standardisation(module) is not None:
        return _std_conv_module
    if cls.__module__ == "cnncost.torch_backend" and cls.__name__ in _BACKEND_HANDLERS:
        return _BACKEND_HANDLERS[cls.__name__]
    if cls in MODULES:
        return MODULES[cls]
    for base, handler in MODULES.items():
        if isinstance(module, base) and cls.forward is base.forward:
            return handler
    return None


def _functions() -> dict:
    table = {}

    def add(names, handler):
        for dotted in names.split():
            owner, _, attr = dotted.rpartition(".")
            target = {"F": F, "torch": torch, "operator": operator, "torch._C._nn": torch._C._nn}[owner]
            fn = getattr(target, attr, None)
            if fn is not None:
                table[fn] = handler

    add("F.relu torch.relu", _unary_function("relu"))
    add("F.relu_ torch.relu_", _unary_function("relu", inplace=True))
    add("F.relu6", _unary_function("relu6"))
    add("F.hardtanh", _hardtanh)
    add("F.leaky_relu", _unary_function("leaky_relu", slope=(1, 0.01)))
    add("F.elu", _unary_function("elu", alpha=(1, 1.0)))
    add("F.sigmoid torch.sigmoid", _unary_function("sigmoid"))
    add("F.tanh torch.tanh", _unary_function("tanh"))
    add("F.hardsigmoid", _unary_function("hardsigmoid"))
    add("F.hardswish", _unary_function("hardswish"))
    add("F.silu", _unary_function("silu"))
    add("F.gelu", _unary_function("gelu"))
    add("F.mish", _unary_function("mish"))
    add("F.softmax", _softmax)
    add("torch.softmax", functools.partial(_softmax, call="method"))
    add("F.dropout", _dropout_function)
    add("F.dropout2d", _channel_dropout)
    add("F.conv2d torch.conv2d", _conv2d_function)
    add("F.linear torch._C._nn.linear", _linear_function)
    add("F.max_pool2d F._max_pool2d torch.max_pool2d", _maxpool_function)
    add("F.avg_pool2d torch._C._nn.avg_pool2d", _avgpool_function)
    add("F.adaptive_avg_pool2d torch._C._nn.adaptive_avg_pool2d", _adaptive_function)
    add("F.adaptive_max_pool2d F._adaptive_max_pool2d", _adaptive_max_function)
    add("F.batch_norm", _batchnorm_function)
    add("F.group_norm", _groupnorm_function)
    add("F.layer_norm", _layernorm_function)
    add("F.local_response_norm", _lrn_function)
    add("F.interpolate F.upsample", _interpolate)
    add("F.pad torch._C._nn.pad", _pad)
    add("torch.cat torch.concat torch.concatenate", _cat)
    add("torch.flatten", _flatten)
    add("torch.add", _binary("add", "function"))
    add("torch.mul", _binary("mul", "function"))
    add("operator.add operator.iadd", _binary("add", "operator"))
    add("operator.mul operator.imul", _binary("mul", "operator"))
    # element-wise arithmetic (engineer elem): sub, div, pow, maximum/minimum, and the unary functions
    add("torch.sub torch.subtract", _binary("sub", "function"))
    add("torch.div torch.divide torch.true_divide", _binary("div", "function"))
    add("torch.pow", _binary("pow", "function"))
    add("torch.maximum", _binary("maximum", "function"))
    add("torch.minimum", _binary("minimum", "function"))
    add("operator.sub operator.isub", _binary("sub", "operator"))
    add("operator.truediv operator.itruediv", _binary("div", "operator"))
    add("operator.pow", _binary("pow", "operator"))
    add("operator.neg", _unary("neg", "operator"))
    add("torch.neg torch.negative", _unary("neg"))
    for op in UNARY_OPS:
        if op != "neg":
            add(f"torch.{op}", _unary(op))
    add("operator.getitem", _getitem)
    add("torch.mean", _mean)
    add("torch.sum", _reduce("sum"))
    add("torch.amax", _reduce("amax"))
    add("torch.amin", _reduce("amin"))
    add("torch.stack", _stack)
    add("torch.transpose torch.swapaxes torch.swapdims", _transpose)  # swapaxes, swapdims: transpose's aliases
    add("torch.permute", _permute)
    add("torch.reshape", _view)
    add("torch.chunk", _chunk)
    add("torch.split", _split)
    add("torch.clamp torch.clip", _clamp)
    # views, products and attention on tokens
    add("torch.unflatten", _unflatten)
    add("torch.unbind", _unbind)
    add("torch.squeeze", _squeeze)
    add("torch.unsqueeze", _unsqueeze)
    add("operator.matmul", _matmul("operator"))
    add("torch.matmul torch.bmm", _matmul("function"))
    add("torch.einsum", _einsum)
    add("F.scaled_dot_product_attention", _sdpa)
    add("F.pixel_shuffle torch.pixel_shuffle", _pixel_shuffle)
    add("F.pixel_unshuffle torch.pixel_unshuffle", _pixel_unshuffle)
    add("torch.clamp_min", lambda imp, x, min: _clamp(imp, x, min, None))
    return table


FUNCTIONS = _functions()


def _stochastic_depth(imp, x, p, mode, training=True):
    return imp.row("stochastic_depth", {"p": _float(p), "mode": mode}, [imp.plain(x, nhwc_ok=True)], call="function")


def _timm_grn(imp, m, x):
    """timm's GlobalResponseNorm (ConvNeXt-V2): channels-last in timm's MLP, where it reads the channels-last
    view of cnncost's C x H x W row; on a map otherwise."""
    x = imp.plain(x, nhwc_ok=True)
    module_channels_last = tuple(m.spatial_dim) == (1, 2)
    if len(x.shape) != 4 or (x.nhwc and not module_channels_last):
        raise Unmappable(f"a global response norm of a {dims_text(x.shape)} tensor")
    return imp.row("grn", {"eps": _float(m.eps), "channels_last": module_channels_last and not x.nhwc}, [x],
                   call="subclass")


# modules of other libraries that cnncost maps whole, by module and class name (engineer elem: timm's layers)
NAMED_MODULES = {"timm.layers.grn.GlobalResponseNorm": _timm_grn}

# functions of other libraries that torch.fx records whole (torch.fx.wrap), by module and name
NAMED_FUNCTIONS = {"torchvision.ops.stochastic_depth.stochastic_depth": _stochastic_depth}

METHODS = {
    "view": _view, "reshape": _view, "flatten": _flatten_method, "contiguous": _same, "clone": _same,
    "float": _same, "to": _same, "detach": _same, "type_as": _same,
    "permute": _permute, "transpose": _transpose, "swapaxes": _transpose, "swapdims": _transpose, "mean": _mean,
    "sum": _reduce("sum"), "amax": _reduce("amax"), "amin": _reduce("amin"), "unsqueeze": _unsqueeze,
    "squeeze": _squeeze,
    "relu": _unary_function("relu"), "relu_": _unary_function("relu", inplace=True),
    "sigmoid": _unary_function("sigmoid"), "sigmoid_": _unary_function("sigmoid", inplace=True),
    "tanh": _unary_function("tanh"),
    "softmax": functools.partial(_softmax, call="method"),
    "chunk": _chunk, "split": _split, "clamp": _clamp, "clamp_": _clamp, "clip": _clamp,
    "clamp_min": lambda imp, x, min: _clamp(imp, x, min, None),
    "clamp_max": lambda imp, x, max: _clamp(imp, x, None, max),
    "add": _binary("add", "function"), "add_": _binary("add", "function"),
    "mul": _binary("mul", "function"), "mul_": _binary("mul", "function"),
    # views, products and attention on tokens
    "unflatten": _unflatten, "unbind": _unbind, "matmul": _matmul("function"), "bmm": _matmul("function"),
    # element-wise arithmetic (engineer elem)
    "sub": _binary("sub", "function"), "sub_": _binary("sub", "function"), "div": _binary("div", "function"),
    "pow": _binary("pow", "function"), "maximum": _binary("maximum", "function"),
    "minimum": _binary("minimum", "function"), **{op: _unary(op) for op in UNARY_OPS},
    "expand": _expand, "expand_as": _expand_as,
}


# --- the batch folded into another axis (folding.py) ---

_RESHAPE_METHODS = {"view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as", "reshape_as"}
_RESHAPE_FUNCTIONS = {torch.reshape, torch.flatten, torch.unflatten, torch.squeeze, torch.unsqueeze}
_SAME_METHODS = {"contiguous", "clone", "float", "to", "detach", "type_as"}
# ops that work on each element, on the last axis or on the last two, and read no dim: followed as they are
_ALONG_REST_MODULES = (nn.Linear, nn.LayerNorm, nn.Dropout, nn.Identity, nn.GELU, nn.SiLU, nn.ReLU, nn.Sigmoid,
                       nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.ReLU6)
_ALONG_REST_FUNCTIONS = {"F.linear", "F.layer_norm", "F.dropout", "F.gelu", "F.silu", "F.relu", "F.sigmoid",
                         "torch.sigmoid", "F.hardswish", "operator.add", "operator.iadd", "operator.mul",
                         "operator.imul", "operator.sub", "operator.truediv", "torch.add", "torch.mul",
                         "operator.matmul", "torch.matmul", "torch.bmm", "F.scaled_dot_product_attention"}
_ALONG_REST_METHODS = {"add", "mul", "sub", "div", "matmul", "bmm", "sigmoid", "relu", "tanh"}
_PRODUCTS = {"operator.matmul", "torch.matmul", "torch.bmm", "matmul", "bmm", "F.scaled_dot_product_attention"}


def _reshapes(kind, target) -> bool:
    return kind == "call_method" and target in _RESHAPE_METHODS or kind == "call_function" and \
        target in _RESHAPE_FUNCTIONS


def _fold_call(imp, kind, target, module, handler, args, kwargs):
    """A node that reads (or makes, by a view) a tensor whose batch torch folds into another axis (folding.py):
    the handler run on the inner tensors, a batch of one first, its dims moved by one; the output checked against
    torch's shapes, and folded again."""
    if handler is None:
        raise Unmappable("cnncost has no kind for it")  # said first: torch's shapes would not change that
    outputs = imp.fold_outputs()
    values = [v for v in _leaves((args, kwargs)) if isinstance(v, (Act, Pending))]
    folded = [v for v in values if isinstance(v, Folded)]
    name = target if kind == "call_method" else _function_name(target) if kind == "call_function" else None
    if name == "operator.getitem" and isinstance(args[0], (tuple, list)):
        return args[0][args[1]]  # one tensor of unbind's or split's
    x = folded[0] if folded else None
    if _reshapes(kind, target):  # a view of one tensor (the other arguments sizes, or view_as's model)
        plain, at, s1 = outputs[0]
        src = args[0]
        if at != 0 or isinstance(src, Folded) and src.at != 0:
            raise Unmappable("views a tensor whose batch is not outermost in its first axis (each sample not one "
                             "contiguous block)")
        return _fold_result(imp, _view(imp, src.inner if isinstance(src, Folded) else src,
                                       *(s1 if plain else (1, *s1))), outputs)
    if len(folded) != len(values):
        raise Unmappable("combines a tensor whose batch axis is folded into another with one whose batch is first")
    if len({f.at for f in folded}) > 1:
        raise Unmappable("combines tensors whose batch axes are folded into different axes")
    inner = {id(f): f.inner for f in folded}

    def lift(value):
        return inner.get(id(value), value)
    largs, lkwargs = _map(args, lift), _map(kwargs, lift)
    if x is None:
        raise _folded_refusal(x)
    if kind == "call_module":
        if isinstance(module, nn.Softmax):
            value = _softmax(imp, lift(x), torch_dim(x, module.dim), call=None)
        elif isinstance(module, _ALONG_REST_MODULES) and handler is not None and type(module).forward is \
                _module_forward(module):
            value = _on_last_axis(imp, x, lambda y: handler(imp, module, y), isinstance(module, (nn.Linear,
                                                                                               nn.LayerNorm)))
        else:
            raise _folded_refusal(x)
        return _fold_result(imp, value, outputs)
    if handler is None:
        raise _folded_refusal(x)
    rest = list(largs[1:])

    def dim_arg(pos, key, default):
        """The torch dim at position ``pos`` (or keyword ``key``) of the call, moved to the inner tensor."""
        if pos < len(args):
            rest[pos - 1] = torch_dim(x, args[pos])
        else:
            lkwargs[key] = torch_dim(x, kwargs.get(key, default))

    if name == "F.scaled_dot_product_attention":  # the fused kernel's rules on (N*W, heads, L, E)
        if len(x.shape) != 4:
            raise Unmappable(f"attention on a {dims_text(x.shape)} tensor whose batch is folded into its first "
                             "axis: torch runs its math path there, whose saved tensors cnncost follows only "
                             "with the batch first")
        value = handler(imp, *largs, **lkwargs)
        imp.builder.change(value.row, folded=True)
        return _fold_result(imp, value, outputs)
    if name in _SAME_METHODS:
        return _fold_result(imp, lift(x), outputs)
    if name in ("permute", "torch.permute"):
        given = args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else kwargs.get("dims", args[1:])
        return _fold_result(imp, _permute(imp, x.inner, *torch_perm(x, given)), outputs)
    if name in ("transpose", "torch.transpose", "swapaxes", "torch.swapaxes", "swapdims", "torch.swapdims"):
        rank = len(x.shape)
        d0, d1 = (args[1] % rank) + 1, (args[2] % rank) + 1
        return _fold_result(imp, _transpose(imp, x.inner, d0, d1), outputs)
    if name in ("softmax", "F.softmax", "torch.softmax"):
        dim_arg(1, "dim", None)
    elif name in ("sum", "mean", "amax", "amin", "torch.sum", "torch.mean", "torch.amax", "torch.amin"):
        given = args[1] if len(args) > 1 else kwargs.get("dim")
        dims = [torch_dim(x, d) for d in (given if isinstance(given, (list, tuple)) else [given])] \
            if given is not None else None
        if dims is None:
            raise Unmappable("a reduction over every axis, the one that holds the batch too")
        if len(args) > 1:
            rest[0] = dims
        else:
            lkwargs["dim"] = dims
    elif name in ("unbind", "torch.unbind"):
        dim_arg(1, "dim", 0)
    elif name in ("split", "chunk", "torch.split", "torch.chunk"):
        dim_arg(2, "dim", 0)
    elif name == "torch.cat":
        dim_arg(1, "dim", 0)
    elif name == "operator.getitem":
        rest[0] = torch_index(x, args[1])
    elif name in _ALONG_REST_FUNCTIONS or name in _ALONG_REST_METHODS:
        if name in _PRODUCTS and x.at >= len(x.shape) - 2:
            raise Unmappable(f"a product along axis {x.at} of a {dims_text(x.shape)} tensor, which holds the batch")
        if name in ("F.linear", "F.layer_norm"):
            value = _on_last_axis(imp, x, lambda y: handler(imp, y, *rest, **lkwargs), True)
            return _fold_result(imp, value, outputs)
    else:
        raise _folded_refusal(x)
    return _fold_result(imp, handler(imp, largs[0], *rest, **lkwargs), outputs)


def _module_forward(module):
    for cls in _ALONG_REST_MODULES:
        if isinstance(module, cls):
            return cls.forward
    return None


def _folded_refusal(x):
    what = f"a {dims_text(x.shape)} tensor whose batch axis is folded into axis {x.at}" if x is not None else \
        "a tensor whose batch axis is folded into another"
    return Unmappable(f"reads {what}, which cnncost follows only into the ops docs/import.md lists")


def _on_last_axis(imp, x, layer, tokens_only):
    """A layer on the last axis of the inner tensor (1, W, ..., C): as it is where cnncost's kind takes that rank,
    else on tokens (1, W*...*L, C), viewed so before and back after (torch's linear views it so too)."""
    if x.at == len(x.shape) - 1:
        raise Unmappable(f"a layer on the last axis of a {dims_text(x.shape)} tensor, which holds the batch")
    value = x.inner.materialize(imp) if isinstance(x.inner, Pending) else x.inner
    if not tokens_only or len(value.shape) <= 3:
        return layer(value)
    return _on_tokens(imp, value, layer)


def _on_tokens(imp, value: Act, layer):
    """``layer`` (a row on tokens) on the last axis of (N, A, ..., C): on the tokens (N, A*...*L, C), viewed so
    before and back after, as torch's linear layer and layer norm view an input of more than three axes."""
    lowered = lowering.view(value.shape, merged_shape(value.shape))
    out = imp.plain(layer(value if lowered is None else imp.row(*lowered, [value], aside=True)))
    lowered = lowering.view(out.shape, (*value.shape[:-1], out.shape[-1]))
    return out if lowered is None else imp.row(*lowered, [out], aside=True)


def _fold_result(imp, value, outputs):
    """The handler's value(s) on inner tensors, checked against torch's shapes and folded again."""
    several = isinstance(value, (tuple, list))
    values = list(value) if several else [value]
    if len(values) != len(outputs):
        raise Unmappable(f"gives {len(values)} tensors where torch gives {len(outputs)}")
    done = []
    for v, (plain, at, s1) in zip(values, outputs):
        if not isinstance(v, (Act, Pending)) or isinstance(v, Folded):
            raise Unmappable("gives a value cnncost does not follow on a tensor whose batch is folded")
        shape = tuple(v.shape)
        if plain and tuple(shape) == tuple(s1):
            done.append(v)
        elif tuple(shape) == (1, *s1):
            done.append(Folded(imp.current, v, s1, at))
        else:
            raise Unmappable(f"gives {dims_text(shape)} per sample where torch gives {dims_text(s1)} at batch 1")
    return tuple(done) if several else done[0]
