#!/usr/bin/env python3
"""A grammar-aware fuzzer for cnncost's YAML language and command line (issue 15).

Each case is generated from (seed, index) alone, so any case can be rebuilt
with ``--seed S --case I``. A case is one or more YAML files (or bytes on
stdin) and a command line; it runs ``python -m cnncost ...`` in a subprocess
under a memory cap, and its outcome is classified:

    ok        exit 0
    refused   exit 2 and exactly one line on stderr, 'cnncost: error: ...', nothing on stdout
    io-error  exit 1 and one such line that is not an internal error (an I/O failure)
    claims    'cnncost check' exit 1 with its report: a file that builds but does not reproduce the claims
    over-budget  'cnncost budget' exit 1 with its report on stdout: a limit exceeded

and everything else is a violation: traceback, internal-error, bad-stderr (empty
or several lines, or output on stdout after a failure), exit-other, timeout
(killed at --kill-s), slow (over --slow-s of CPU), memory (over --rss-mib of
resident memory, or out of memory under the --as-mib cap), torch-mismatch
(a valid network whose figures 'cnncost validate' finds different from
torch's), validate-error, check-exit (check exits 1 on a file that 'table'
refuses), output-file (-o replaced a symlink, left a temporary file, or
created a file with another mode than a shell would).

    python tools/fuzz.py --cases 10000 --seed 1 --jobs 2 --out /tmp/fuzz-out

The generator covers docs/yaml-reference.md: params and ${...} expressions,
--set, --input, stdin, blocks (with one or several named inputs), repeat,
residual, parallel, sequence, side, extends (zoo and generated files, chains
and circles), YAML anchors and aliases, every layer kind with in-range and
out-of-range arguments, hostile names (control characters, NUL, newlines,
non-UTF-8 bytes), huge numbers and sizes, deep nesting, and mutations of the
zoo's files. Networks valid by construction are small, so that a share of
them also runs through 'cnncost validate' against torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZOO_DIR = ROOT / "architectures"

# Every layer kind of the registry and its arguments (tests/test_fuzz.py keeps this equal to cnncost.kinds.KINDS,
# so that a new kind is fuzzed too).
KIND_ARGS = {
    "conv": ("out", "kernel", "stride", "padding", "dilation", "bias", "groups", "fixed"),
    "dwconv": ("kernel", "stride", "padding", "dilation", "bias", "multiplier", "fixed"),
    "conv_transpose": ("out", "kernel", "stride", "padding", "output_padding", "dilation", "groups", "bias"),
    "linear": ("out", "bias", "per_position"),
    "maxpool": ("kernel", "stride", "padding", "ceil_mode", "dilation"),
    "avgpool": ("kernel", "stride", "padding", "ceil_mode", "count_include_pad"),
    "adaptive_avgpool": ("output",),
    "global_avgpool": (),
    "lrn": ("size", "alpha", "beta", "k"),
    "batchnorm": ("eps", "momentum", "affine"),
    "groupnorm": ("groups", "eps", "affine"),
    "layernorm": ("eps", "affine", "bias"),
    "relu": ("inplace",), "relu6": ("inplace",), "leaky_relu": ("slope", "inplace"), "elu": ("alpha", "inplace"),
    "sigmoid": (), "tanh": (), "hardsigmoid": ("inplace",), "hardswish": ("inplace",), "silu": ("inplace",),
    "gelu": (), "mish": ("inplace",),
    "dropout": ("p", "channels"),
    "stochastic_depth": ("p", "mode"),
    "softmax": ("dim",),
    "flatten": ("start_dim", "end_dim"),
    "concat": ("dim",), "add": (), "mul": (),
    "layer_scale": ("init",),
    "channel_shuffle": ("groups",),
    "channel_split": ("parts", "index"),
    "subsample_pad": ("out", "stride"),
    "pad": ("padding", "mode", "value", "channels_last"),
    "center_crop": ("size",),
    "upsample": ("scale", "size", "mode", "align_corners"),
    "identity": (),
    # the tensor ops (cnncost/kinds_tensor.py)
    "scalar": ("op", "value"), "unary": ("op",), "binary": ("op",), "param": ("op", "shape", "learnable", "init"),
    "reduce": ("op", "dims", "keepdim"), "stack": ("dim",), "slice": ("dim", "start", "end", "step"),
    "reshape": ("shape",), "unflatten": ("dim", "sizes"), "permute": ("dims",), "transpose": ("dim0", "dim1"),
    "matmul": (), "einsum": ("equation",), "attention": ("causal", "scale", "folded", "mask_table", "mask_shape"),
    "multihead_attention": ("heads", "bias"), "pixel_shuffle": ("factor",), "pixel_unshuffle": ("factor",),
    "class_token": (), "position_embedding": (),
    "partition_attention": ("partition", "size", "head_dim", "mlp_ratio", "stochastic_depth"),
    "shifted_window_attention": ("heads", "window", "shift", "version", "qkv_bias", "proj_bias"), "patch_merge": (),
    "conv3d": ("out", "kernel", "stride", "padding", "dilation", "groups", "bias"), "global_avgpool3d": (),
    "std_conv": ("out", "kernel", "stride", "padding", "dilation", "bias", "groups", "gain", "eps"),
    "conv1d": ("out", "kernel", "stride", "padding", "dilation", "groups", "bias"),
    "maxpool3d": ("kernel", "stride", "padding", "ceil_mode", "dilation"),
    "avgpool3d": ("kernel", "stride", "padding", "ceil_mode", "count_include_pad"),
    "instancenorm": ("eps", "affine"), "grn": ("eps", "channels_last"),
    "opaque": ("shape", "op", "params"), "table_bias": ("table", "shape"),
}
ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh", "hardsigmoid", "hardswish", "silu", "gelu", "mish")
CALLS = ("module", "subclass", "function", "operator", "mean")
CONSTRUCTS = ("sequence", "repeat", "parallel", "residual", "side")
CONVENTIONS = ("lecture", "torchvision", "ptflops", "ptflops-aten", "fvcore", "thop", "torchinfo", "torchscan",
               "flopcounter")
DTYPES = ("float32", "float16", "bfloat16", "float64", "int8")
DEVICES = ("a100-80gb", "k80", "gtx580-3gb", "h100-80gb", "jetson-orin-nano-8gb")
SMALL_ZOO = ("alexnet", "resnet18", "resnet20_cifar", "plain20_cifar", "mobilenet_v1", "mobilenet_v2",
             "mobilenet_v3_small", "squeezenet1_1", "shufflenet_v2_x0_5", "mnasnet0_5", "googlenet", "vgg11",
             "efficientnet_b0", "regnet_x_400mf", "densenet121", "unet", "convnext_tiny", "inception_v3")
# zoo models small enough for torch to run at a small input, in a second or two
TORCH_ZOO = {"resnet20_cifar": "3x32x32", "plain20_cifar": "3x32x32", "resnet18": "3x64x64",
             "mobilenet_v1": "3x64x64", "squeezenet1_1": "3x64x64", "shufflenet_v2_x0_5": "3x64x64"}

# Strings that break naive printing: control characters, NUL, newlines, bidi and BOM, lone surrogates.
HOSTILE_TEXT = ("\x00", "\n", "\r", "\r\n", "\t", "\x1b[31m", "\x07", "\x7f", "\x85", "\u2028", "\u202e", "\ufeff",
                "\ud800", "\U0001f600", "", " ", "-", ".", "..", "a.b", "${x}", "$", "%s", "{}", "\\", '"', "'",
                "é", "名前", "a" * 300)
HOSTILE_BYTES = (b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\x1b", b"\x0c", b"\x80",
                 b"\xef\xbb\xbf", b"\r", b"\t")

# Expressions the issue names: small to write, each asks for gigabytes or minutes.
EXPRESSION_BOMBS = (
    "'a'*10**9", "'%0999999999d' % 1", "[0]*10**9", "sum([[0]*1000]*100000, [])", "'ab'*10**8",
    "len('a'*10**9)", "[1]*10**7", "max([0]*10**8)", "sum([1]*10**8)", "'%s%s' % ('a'*10**8, 'b')",
    "[[0]*10**4]*10**4", "10**10**10", "9**9**9", "2**10**8", "len([0]*10**9)", "'x'*2**40",
    "[0]*(10**5)*(10**4)", "sum([[1]*100]*10**6, [])", "(10**300)*(10**300)", "'{:0999999999}'.format(1)",
)
HUGE_INTS = (2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**9, 10**12, 10**18, 10**30, 10**31,
             10**100, 10**400, -(10**18), -1, 0)


# ---------------------------------------------------------------------------
# A small YAML writer with random style (flow or block, quoting), anchors and aliases.

class Anchor:
    def __init__(self, name, node):
        self.name, self.node = name, node


class Alias:
    def __init__(self, name):
        self.name = name


class Raw:
    """Text put into the document as it is (tags, odd scalars, hostile bytes decoded later)."""

    def __init__(self, text):
        self.text = text


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf"}


def scalar(value, rng) -> str:
    if value is None:
        return rng.choice(("null", "~", "null"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (math.inf, -math.inf):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, Raw):
        return value.text
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS and rng.random() < 0.8:
        return text
    if rng.random() < 0.2 and "'" not in text and all(" " <= ch < "\x7f" for ch in text):
        return "'" + text + "'"
    return json.dumps(text, ensure_ascii=rng.random() < 0.7)


def flow(node, rng) -> str:
    if isinstance(node, Anchor):
        return f"&{node.name} {flow(node.node, rng)}"
    if isinstance(node, Alias):
        return f"*{node.name}"
    if isinstance(node, dict):
        return "{" + ", ".join(f"{scalar(k, rng)}: {flow(v, rng)}" for k, v in node.items()) + "}"
    if isinstance(node, (list, tuple)):
        return "[" + ", ".join(flow(v, rng) for v in node) + "]"
    return scalar(node, rng)


def _compound(node) -> bool:
    return isinstance(node, (dict, list, tuple)) and len(node) > 0


def block(node, indent, rng, flow_share=0.35) -> list:
    pad = " " * indent
    lines = []
    if isinstance(node, dict):
        for key, value in node.items():
            k = scalar(key, rng)
            if _compound(value) and rng.random() >= flow_share:
                lines.append(f"{pad}{k}:")
                lines += block(value, indent + 2, rng, flow_share)
            else:
                lines.append(f"{pad}{k}: {flow(value, rng)}")
    elif isinstance(node, (list, tuple)):
        for value in node:
            if _compound(value) and rng.random() >= flow_share:
                sub = block(value, indent + 2, rng, flow_share)
                sub[0] = pad + "- " + sub[0][indent + 2:]
                lines += sub
            else:
                lines.append(f"{pad}- {flow(value, rng)}")
    else:
        lines.append(pad + flow(node, rng))
    return lines


def to_yaml(doc, rng, comments=True) -> str:
    lines = block(doc, 0, rng, flow_share=rng.choice((0.0, 0.35, 0.7, 1.0)))
    if comments and rng.random() < 0.2:
        lines.insert(rng.randrange(len(lines) + 1), "# a comment with ${not} an expression: *x &y")
    return "\n".join(lines) + "\n"


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------------------
# The case and its generators.

@dataclasses.dataclass
class Case:
    family: str
    argv: list  # after 'python -m cnncost'; str or bytes items
    files: dict = dataclasses.field(default_factory=dict)  # relative path -> bytes, or ('symlink', target)
    stdin: bytes | None = None
    stdout: str = "pipe"  # pipe, closed (>&-) or full (/dev/full)
    valid: bool = False  # valid by construction: expected to exit 0
    validate_argv: list | None = None  # 'cnncost validate' for this network, when torch can run it
    validate_draw: float = 1.0  # run validate when this is below the share asked for
    companion: list | None = None  # check --model-file: 'table FILE' decides how check's exit 1 reads
    output_checks: tuple = ()  # -o post-conditions: ('symlink', link, target), ('mode', path, mode), ('no-temp',)
    plain_output: bool = False  # stdout (any format but JSON) must hold no control character and no forged line
    env: dict = dataclasses.field(default_factory=dict)  # more environment (a config folder for devices)
    program: list | None = None  # run this ('python drive.py') instead of 'python -m cnncost'
    seed: int = 0
    index: int = 0
    note: str = ""


def divisors(n, cap=64):
    return [d for d in range(1, min(n, cap) + 1) if n % d == 0]


def conv_len(size, k, s, pa, pb, d=1):
    return (size + pa + pb - d * (k - 1) - 1) // s + 1


def pool_len(size, k, s, p, d, ceil):
    """PyTorch's pooling_output_shape."""
    span = size + 2 * p - d * (k - 1) - 1
    if span < 0:
        return 0
    if ceil:
        out = -(-span // s) + 1
        if (out - 1) * s >= size + p:
            out -= 1
        return out
    return span // s + 1


class Ctx:
    """Where an item is made: its nesting depth, whether at the top level, whether it may name layers."""

    def __init__(self, depth=0, top=True, names=True):
        self.depth, self.top, self.names = depth, top, names

    def inner(self, names=None):
        return Ctx(self.depth + 1, False, self.names if names is None else names)


class NetGen:
    """Random networks that are valid by construction: it tracks every shape with its own arithmetic."""

    def __init__(self, rng: random.Random, max_layers=40, max_c=16, expressions=True):
        self.rng = rng
        self.max_layers = max_layers
        self.max_c = max_c
        self.use_expr = expressions
        self.params: dict = {}
        self.sets: list = []
        self.blocks: dict = {}
        self.counter = 0
        self.made = 0  # primitive layers written (before repeats)
        self.named: dict = {}  # top-level tensor name -> shape
        self.cur_name = None  # the current top-level tensor's name, when it has one
        self.reusable: list = []  # (holder dict, key, in_shape, out_shape) of unnamed items an alias may repeat
        self.anchors = 0

    def fresh(self, prefix="l"):
        self.counter += 1
        return f"{prefix}{self.counter}"

    # --- values: an int written as a literal, a parameter, a --set override or an expression ---

    def num(self, v):
        rng = self.rng
        if not self.use_expr or rng.random() < 0.55:
            return v
        how = rng.randrange(14)
        if how == 0:
            p = self.fresh("p")
            self.params[p] = v
            return f"${p}" if rng.random() < 0.5 else f"${{{p}}}"
        if how == 1:
            p = self.fresh("p")
            self.params[p] = v + rng.randint(1, 5)
            self.sets.append(f"{p}={v}")
            return f"${p}"
        if how == 2:
            p = self.fresh("p")
            self.params[p] = {"default": v, "choices": [v, v + 1, v * 2], "doc": "a choice"}
            return f"${p}"
        if how == 3:
            a = rng.randint(0, v)
            return f"${{{a} + {v - a}}}"
        if how == 4:
            m = rng.randint(2, 4)
            return f"${{({v} * {m}) // {m}}}"
        if how == 5:
            return f"${{int({v})}}"
        if how == 6:
            return f"${{max({v}, 1)}}" if v >= 1 else f"${{min({v}, 10)}}"
        if how == 7:
            return f"${{{v} if true else 0}}"
        if how == 8:
            return f"${{round({v} + 0.2)}}"
        if how == 9 and v >= 1:
            return f"${{make_divisible({v}, 1)}}"
        if how == 10:
            p = self.fresh("p")
            values = [rng.randint(0, 9) for _ in range(rng.randint(1, 4))]
            j = rng.randrange(len(values))
            values[j] = v
            self.params[p] = values
            return f"${{{p}[{j}]}}"
        if how == 11 and v % 2 == 0:
            p, q = self.fresh("p"), self.fresh("q")
            self.params[p] = v // 2
            self.params[q] = f"${{{p} * 2}}"  # a parameter from an earlier one
            return f"${q}"
        if how == 12:
            return f"${{abs({-v})}}"
        if how == 13 and v <= 5:
            return f"${{len([{', '.join(['0'] * v)}])}}"
        return v

    def flag(self, b: bool):
        if self.use_expr and self.rng.random() < 0.2:
            p = self.fresh("f")
            self.params[p] = b
            return f"${p}"
        return b

    # --- primitive layers: (kind, args, out shape) or None ---

    def prim(self, shape, ctx):
        rng = self.rng
        if shape[0] == "vec":
            return self.vec_prim(shape)
        _, c, h, w = shape
        makers = [(self.p_conv, 6), (self.p_dwconv, 2), (self.p_conv_transpose, 1), (self.p_pool, 3),
                  (self.p_adaptive, 1), (self.p_norm, 3), (self.p_act, 5), (self.p_misc, 3), (self.p_linear_pp, 1),
                  (self.p_channels, 2), (self.p_pad_crop, 2), (self.p_upsample, 1), (self.p_subsample_pad, 1),
                  (self.p_flatten, 1), (self.p_tensor, 3), (self.p_tokens, 1)]
        for _ in range(6):
            maker = rng.choices([m for m, _ in makers], [wt for _, wt in makers])[0]
            made = maker(c, h, w)
            if made is not None:
                return made
        return "relu", {}, shape

    def vec_prim(self, shape):
        rng = self.rng
        r = rng.random()
        if r < 0.35:
            out = rng.randint(1, 16)
            return "linear", {"out": self.num(out), **({"bias": self.flag(rng.random() < 0.7)}
                                                        if rng.random() < 0.3 else {})}, ("vec", out)
        if r < 0.6:
            return rng.choice(ACTIVATIONS), {}, shape
        if r < 0.7:
            return "dropout", {"p": rng.choice((0.0, 0.2, 0.5))}, shape
        if r < 0.8:
            return "layernorm", {"eps": 1e-5} if rng.random() < 0.5 else {}, shape
        if r < 0.9:
            return "softmax", {}, shape
        return "identity", {}, shape

    def p_conv(self, c, h, w):
        rng = self.rng
        rect = rng.random() < 0.2
        kh = rng.choice((1, 1, 3, 3, 3, 5, 2))
        kw = rng.choice((1, 3, 5, 2)) if rect else kh
        d = 2 if rng.random() < 0.15 else 1
        s = rng.choice((1, 1, 1, 2))
        args = {}
        r = rng.random()
        if r < 0.15:
            args["padding"] = "same"
            hh, ww = -(-h // s), -(-w // s)
        elif r < 0.7:
            p = rng.randint(0, max(kh, kw) // 2)
            args["padding"] = self.num(p) if p else p
            hh, ww = conv_len(h, kh, s, p, p, d), conv_len(w, kw, s, p, p, d)
        elif r < 0.85:
            ph, pw = rng.randint(0, kh // 2 + 1), rng.randint(0, kw // 2 + 1)
            args["padding"] = [ph, pw]
            hh, ww = conv_len(h, kh, s, ph, ph, d), conv_len(w, kw, s, pw, pw, d)
        else:
            t, b, left, right = (rng.randint(0, 2) for _ in range(4))
            args["padding"] = [t, b, left, right]
            hh, ww = conv_len(h, kh, s, t, b, d), conv_len(w, kw, s, left, right, d)
        if hh < 1 or ww < 1:
            return None
        g = rng.choice(divisors(c)) if rng.random() < 0.3 else 1
        out = g * rng.randint(1, max(1, self.max_c // g))
        args = {"out": self.num(out), "kernel": self.num(kh) if not rect else [kh, kw], **args}
        if s != 1 or rng.random() < 0.2:
            args["stride"] = self.num(s)
        if d != 1:
            args["dilation"] = d
        if g != 1 or rng.random() < 0.1:
            args["groups"] = self.num(g)
        if rng.random() < 0.3:
            args["bias"] = self.flag(rng.random() < 0.5)
        if d != 1 and kh == kw:  # some dilated convs with their weight standardised at every call (NF-nets), drawn
            # without a draw of their own so that the other cases stay as they were
            return "std_conv", {**args, "gain": s == 1}, ("map", out, hh, ww)
        return "conv", args, ("map", out, hh, ww)

    def p_dwconv(self, c, h, w):
        rng = self.rng
        k = rng.choice((1, 3, 3, 5))
        s = rng.choice((1, 1, 2))
        p = k // 2
        hh, ww = conv_len(h, k, s, p, p), conv_len(w, k, s, p, p)
        if hh < 1 or ww < 1:
            return None
        m = rng.choice((1, 1, 2))
        args = {"kernel": self.num(k), "padding": p, "stride": s}
        if m != 1:
            args["multiplier"] = self.num(m)
        if rng.random() < 0.15:
            args["fixed"] = self.flag(True)  # a blur filter: a buffer, not a parameter
        if c * m > 64:
            return None
        return "dwconv", args, ("map", c * m, hh, ww)

    def p_conv_transpose(self, c, h, w):
        rng = self.rng
        if h > 16 or w > 16:
            return None
        k, s = rng.choice((1, 2, 3, 4)), rng.choice((1, 2))
        d = 2 if rng.random() < 0.1 else 1
        p = rng.randint(0, (d * (k - 1)) // 2)
        op = rng.randint(0, max(s, d) - 1)
        g = rng.choice(divisors(c)) if rng.random() < 0.3 else 1
        out = g * rng.randint(1, max(1, self.max_c // g))
        hh = (h - 1) * s - 2 * p + d * (k - 1) + op + 1
        ww = (w - 1) * s - 2 * p + d * (k - 1) + op + 1
        if hh < 1 or ww < 1:
            return None
        args = {"out": self.num(out), "kernel": k, "stride": s}
        if p:
            args["padding"] = p
        if op:
            args["output_padding"] = op
        if d != 1:
            args["dilation"] = d
        if g != 1:
            args["groups"] = g
        return "conv_transpose", args, ("map", out, hh, ww)

    def p_pool(self, c, h, w):
        rng = self.rng
        kind = rng.choice(("maxpool", "avgpool"))
        k = rng.choice((1, 2, 2, 3, 3))
        s = rng.choice((None, 1, 2, 2))
        p = rng.randint(0, k // 2)
        d = 2 if kind == "maxpool" and rng.random() < 0.15 else 1
        ceil = rng.random() < 0.3
        stride = s if s is not None else k
        hh, ww = pool_len(h, k, stride, p, d, ceil), pool_len(w, k, stride, p, d, ceil)
        if hh < 1 or ww < 1:
            return None
        args = {"kernel": self.num(k)}
        if s is not None:
            args["stride"] = s
        if p:
            args["padding"] = p
        if ceil:
            args["ceil_mode"] = True
        if d != 1:
            args["dilation"] = d
        if kind == "avgpool" and rng.random() < 0.3:
            args["count_include_pad"] = rng.random() < 0.5
        return kind, args, ("map", c, hh, ww)

    def p_adaptive(self, c, h, w):
        rng = self.rng
        if rng.random() < 0.5:
            return "global_avgpool", {}, ("map", c, 1, 1)
        if rng.random() < 0.5:
            o = rng.randint(1, max(1, min(8, h)))
            return "adaptive_avgpool", {"output": self.num(o)}, ("map", c, o, o)
        oh, ow = rng.randint(1, 2 * h), rng.randint(1, 2 * w)
        return "adaptive_avgpool", {"output": [oh, ow]}, ("map", c, oh, ow)

    def p_norm(self, c, h, w):
        rng = self.rng
        r = rng.random()
        if r < 0.45:
            args = {}
            if rng.random() < 0.3:
                args["eps"] = rng.choice((1e-5, 1e-3, 0.001))
            if rng.random() < 0.2:
                args["momentum"] = rng.choice((0.1, 0.01))
            if rng.random() < 0.2:
                args["affine"] = self.flag(rng.random() < 0.5)
            return "batchnorm", args, ("map", c, h, w)
        if r < 0.65:
            return "groupnorm", {"groups": self.num(rng.choice(divisors(c)))}, ("map", c, h, w)
        if r < 0.85:
            return "layernorm", ({"eps": 1e-6} if rng.random() < 0.5 else {}), ("map", c, h, w)
        args = {}
        if rng.random() < 0.5:
            args["size"] = rng.choice((1, 2, 3, 5))
        if rng.random() < 0.3:
            args["alpha"], args["beta"], args["k"] = 1e-4, 0.75, 2.0
        return "lrn", args, ("map", c, h, w)

    def p_act(self, c, h, w):
        rng = self.rng
        r = rng.random()
        if r < 0.8:
            kind = rng.choice(ACTIVATIONS)
            args = {"call": "function"} if rng.random() < 0.1 else {}
            return kind, args, ("map", c, h, w)
        if r < 0.9:
            return "leaky_relu", {"slope": rng.choice((0.01, 0.2))}, ("map", c, h, w)
        return "elu", {"alpha": rng.choice((1.0, 0.5))}, ("map", c, h, w)

    def p_misc(self, c, h, w):
        rng = self.rng
        r = rng.random()
        if r < 0.25:
            args = {"p": rng.choice((0.0, 0.1, 0.5))} if rng.random() < 0.5 else {}
            if rng.random() < 0.3:
                args["channels"] = self.flag(True)
            return "dropout", args, ("map", c, h, w)
        if r < 0.45:
            return "stochastic_depth", {"p": 0.1, "mode": rng.choice(("row", "batch"))}, ("map", c, h, w)
        if r < 0.6:
            return "layer_scale", {"init": rng.choice((1e-6, 0.1))}, ("map", c, h, w)
        if r < 0.75:
            return "softmax", {}, ("map", c, h, w)
        return "identity", {}, ("map", c, h, w)

    def p_linear_pp(self, c, h, w):
        out = self.rng.randint(1, self.max_c)
        return "linear", {"out": self.num(out), "per_position": True}, ("map", out, h, w)

    def p_channels(self, c, h, w):
        rng = self.rng
        if rng.random() < 0.5:
            return "channel_shuffle", {"groups": self.num(rng.choice(divisors(c)))}, ("map", c, h, w)
        parts = rng.choice(divisors(c))
        args = {"parts": self.num(parts), "index": rng.randrange(parts)}
        return "channel_split", args, ("map", c // parts, h, w)

    def p_pad_crop(self, c, h, w):
        rng = self.rng
        if rng.random() < 0.5:
            mode = rng.choice(("constant", "reflect", "replicate"))
            limit = 2 if mode != "reflect" else min(2, h - 1, w - 1)
            if limit < 0:
                return None
            if rng.random() < 0.5:
                p = rng.randint(0, limit)
                t = b = left = right = p
                padding = p
            else:
                t, b, left, right = (rng.randint(0, limit) for _ in range(4))
                padding = [t, b, left, right]
            args = {"padding": padding}
            if mode != "constant" or rng.random() < 0.3:
                args["mode"] = mode
            if mode == "constant" and rng.random() < 0.3:
                args["value"] = rng.choice((0, 1.5, -1))
            return "pad", args, ("map", c, h + t + b, w + left + right)
        hh, ww = rng.randint(1, h), rng.randint(1, w)
        return "center_crop", {"size": [hh, ww]}, ("map", c, hh, ww)

    def p_upsample(self, c, h, w):
        rng = self.rng
        if h > 16 or w > 16:
            return None
        mode = rng.choice(("nearest", "bilinear"))
        args = {"mode": mode} if mode != "nearest" or rng.random() < 0.3 else {}
        if mode == "bilinear" and rng.random() < 0.3:
            args["align_corners"] = True
        if rng.random() < 0.6:
            s = rng.choice((1, 2, 2, 3))
            args["scale"] = self.num(s)
            return "upsample", args, ("map", c, h * s, w * s)
        oh, ow = rng.randint(1, 2 * h), rng.randint(1, 2 * w)
        args["size"] = [oh, ow]
        return "upsample", args, ("map", c, oh, ow)

    def p_subsample_pad(self, c, h, w):
        if (c + h + w) % 3 == 0:  # Swin's patch merging, the other 2 x 2 downsampler, chosen from the sizes
            return "patch_merge", {}, ("map", 4 * c, -(-h // 2), -(-w // 2))
        out = c + self.rng.randint(0, 4)
        s = self.rng.choice((1, 2))
        return "subsample_pad", {"out": out, "stride": s}, ("map", out, -(-h // s), -(-w // s))

    def p_tensor(self, c, h, w):
        """A tensor op (cnncost/kinds_tensor.py) that leaves a map."""
        rng = self.rng
        r = rng.random()
        same = ("map", c, h, w)
        if r < 0.12:
            return "scalar", {"op": rng.choice(("add", "sub", "mul", "div", "rsub", "pow", "maximum")),
                              "value": rng.choice((3, 0.5, 6, 2))}, same
        if r < 0.2:
            return "unary", {"op": rng.choice(("neg", "abs", "exp", "erf", "sin", "square"))}, same
        if r < 0.3:
            return "param", {"op": rng.choice(("mul", "add", "sub")), "shape": rng.choice(([c, 1, 1], [1], [w])),
                             "learnable": self.flag(rng.random() < 0.7)}, same
        if r < 0.33:
            return "table_bias", {"table": rng.choice(([c, 3], [5])),
                                  "shape": rng.choice(([c, h, w], [h, w], [w]))}, same
        if r < 0.4:
            return "reduce", {"op": rng.choice(("sum", "mean", "amax", "norm")), "dims": [1], "keepdim": True}, \
                ("map", 1, h, w)
        if r < 0.5:
            if c < 2:
                return None
            cut = rng.randint(1, c - 1)
            if rng.random() < 0.5:
                return "slice", {"dim": 1, "end": cut}, ("map", cut, h, w)
            return "slice", {"dim": 1, "start": cut}, ("map", c - cut, h, w)
        if r < 0.58 and c % 4 == 0:
            return "pixel_shuffle", {"factor": 2}, ("map", c // 4, 2 * h, 2 * w)
        if r < 0.66 and h % 2 == 0 and w % 2 == 0 and h * w > 1:
            return "pixel_unshuffle", {"factor": 2}, ("map", 4 * c, h // 2, w // 2)
        if r < 0.74:
            return "instancenorm", {"affine": self.flag(rng.random() < 0.5)} if rng.random() < 0.5 else {}, same
        if r < 0.8:
            return "grn", {}, same
        if r < 0.86:
            return "softmax", {"dim": rng.choice((1, -1, 2))}, same
        if r < 0.93:
            return "transpose", {"dim0": 2, "dim1": -1}, ("map", c, w, h)
        if r < 0.94:
            return "permute", {"dims": [0, 1, 3, 2]}, ("map", c, w, h)
        if r < 0.985:  # what an import writes with --partial for an operator it cannot map
            return "opaque", {"shape": [c, h, w], "op": rng.choice(("Tensor.unfold", "torch.roll", "Einsum")),
                              "params": rng.choice((0, 0, 5))}, same
        return "reshape", {"shape": [c, h, w]}, same

    def p_tokens(self, c, h, w):
        """The map as h*w tokens through attention, written out and as torch's ops, back to the map."""
        if h * w > 64 or c > 32:
            return None
        n = {k: self.fresh("t") for k in ("seq", "flat", "tok", "cls", "pos", "mha", "stack", "sum", "heads",
                                            "heads_t", "scores", "mixed", "sdpa", "out")}
        layers = [
            {"flatten": {"name": n["flat"], "start_dim": 2}},
            {"conv1d": {"out": c, "kernel": 3, "padding": 1}},  # along the positions, as a C x L sequence
            {"transpose": {"name": n["tok"], "dim0": 1, "dim1": 2}},
            # ViT's learnt tokens: a class token before them and a position embedding, then the class token dropped
            {"class_token": {"name": n["cls"]}},
            {"position_embedding": {"name": n["pos"]}},
            {"slice": {"dim": 1, "start": 1}},
            {"multihead_attention": {"name": n["mha"], "heads": 1}},
            {"stack": {"name": n["stack"], "dim": 1, "input": [n["mha"], n["tok"]]}},
            {"reduce": {"name": n["sum"], "op": "sum", "dims": [1]}},
            {"unflatten": {"name": n["heads"], "dim": 1, "sizes": [1, -1]}},
            {"transpose": {"name": n["heads_t"], "dim0": -2, "dim1": -1}},
            {"matmul": {"name": n["scores"], "input": [n["heads"], n["heads_t"]]}},
            {"einsum": {"name": n["mixed"], "equation": "bhij,bhjk->bhik", "input": [n["scores"], n["heads"]]}},
            {"attention": {"name": n["sdpa"], "input": [n["heads"], n["heads"], n["heads"]]}},
            {"binary": {"name": n["out"], "op": "add", "input": [n["mixed"], n["sdpa"]]}},
            {"reshape": {"shape": [h * w, c]}},
            {"linear": {"out": c}},
            {"transpose": {"dim0": 1, "dim1": 2}},
            {"unflatten": {"dim": 2, "sizes": [h, w]}},
        ]
        # MaxViT's block or grid attention on the map first: the largest partition of 1-3 that divides both sides,
        # one head; chosen from the sizes, not drawn, so that the other cases' draws stay as they were
        p = max(d for d in (1, 2, 3) if h % d == 0 and w % d == 0)
        layers.insert(0, {"partition_attention": {"partition": ("window", "grid")[(h + w + c) % 2], "size": p,
                                                  "head_dim": c, "mlp_ratio": 1 + c % 2}})
        # a bias gathered from a learnt table (LeViT's, Swin's), also fixed by the sizes
        layers.insert(0, {"table_bias": {"table": [c, 3], "shape": [c, h, w]}})
        return "sequence", {"name": n["seq"], "layers": layers}, ("map", c, h, w)

    def p_flatten(self, c, h, w):
        if c * h * w > 2048:
            return None
        return "flatten", {}, ("vec", c * h * w)

    # --- items ---

    def wrap(self, kind, args):
        """The item for a kind and its args: a bare word or a one-key mapping."""
        rng = self.rng
        if not args and rng.random() < 0.5:
            return kind
        if not args and rng.random() < 0.3:
            return {kind: None}
        return {kind: args}

    def item(self, shape, ctx):
        """One item from shape: (item, out shape)."""
        rng = self.rng
        # an alias of an earlier unnamed item that reads the same shape
        if self.reusable and rng.random() < 0.08:
            holder, key, in_shape, out_shape = rng.choice(self.reusable)
            if in_shape == shape:
                node = holder[key]
                if not isinstance(node, Anchor):
                    self.anchors += 1
                    node = holder[key] = Anchor(f"a{self.anchors}", node)
                self.made += 1
                return {key: Alias(node.name)}, out_shape
        if shape[0] == "map" and ctx.depth < 3 and rng.random() < 0.3:
            maker = rng.choice((self.c_sequence, self.c_repeat, self.c_residual, self.c_residual, self.c_parallel,
                                self.c_side, self.c_block, self.c_block, self.c_block))
            made = maker(shape, ctx)
            if made is not None:
                return made
        kind, args, out = self.prim(shape, ctx)
        self.made += 1
        if ctx.names and ctx.top and rng.random() < 0.5:
            args = {"name": self.fresh(), **args}
        if rng.random() < 0.05:
            args = {**args, "when": self.flag(True)}
        return self.wrap(kind, args), out

    def chain(self, shape, ctx, lo=1, hi=4):
        items = []
        for _ in range(self.rng.randint(lo, hi)):
            if self.made >= self.max_layers and items:
                break
            item, out = self.item(shape, ctx)
            items.append(item)
            if isinstance(item, dict) and len(item) == 1:  # an unnamed layer: a later alias may repeat it
                ((k, v),) = item.items()
                if (k in KIND_ARGS and isinstance(v, dict) and "name" not in v and "input" not in v
                        and k not in ("concat", "add", "mul")):
                    self.reusable.append((item, k, shape, out))
            if self.rng.random() < 0.03:  # an item left out by 'when'
                items.append({"relu": {"when": self.flag(False)}})
            shape = out
        return items, shape

    def preserving(self, shape, ctx):
        """A short list of unnamed items that keep shape as it is."""
        rng = self.rng
        _, c, h, w = shape
        items = []
        for _ in range(rng.randint(1, 3)):
            r = rng.random()
            if r < 0.4:
                k = rng.choice((1, 3))
                items.append({"conv": {"out": self.num(c), "kernel": k, "padding": k // 2}})
            elif r < 0.6:
                items.append("batchnorm")
            elif r < 0.8:
                items.append(rng.choice(ACTIVATIONS))
            else:
                items.append({"dwconv": {"kernel": 3, "padding": 1}})
            self.made += 1
        return items

    def strided(self, shape, out, s):
        """A conv whose output is (out, ceil(h/s), ceil(w/s)): what a 1x1 projection of stride s also gives."""
        k = self.rng.choice((1, 3, 5))
        self.made += 1
        _, c, h, w = shape
        return {"conv": {"out": self.num(out), "kernel": k, "stride": s, "padding": k // 2}}, \
            ("map", out, (h - 1) // s + 1, (w - 1) // s + 1)

    def maybe_named(self, args, ctx, prob=0.5):
        if ctx.names and self.rng.random() < prob:
            return {"name": self.fresh("s"), **args}
        return args

    def c_sequence(self, shape, ctx):
        items, out = self.chain(shape, ctx.inner(), 1, 3)
        return {"sequence": self.maybe_named({"layers": items}, ctx)}, out

    def c_repeat(self, shape, ctx):
        rng = self.rng
        _, c, h, w = shape
        count = rng.randint(1, 3)
        r = rng.random()
        if r < 0.5 or not ctx.names:
            body = self.preserving(shape, ctx)
            args = {"count": self.num(count), "layers": body if len(body) > 1 or rng.random() < 0.5 else body[0]}
            if ctx.names and rng.random() < 0.6:
                args = {"name": self.fresh("r"), **args}
            if rng.random() < 0.3:
                args["var"] = rng.choice(("j", "k", "idx"))
            return {"repeat": args}, shape
        self.need_block("cbr")
        out = rng.randint(1, self.max_c)
        var = rng.choice(("i", "i", "j"))
        call = {"out": self.num(out)}
        s = 1
        args = {"name": self.fresh("r"), "count": self.num(count)}
        if var != "i":
            args["var"] = var
        if rng.random() < 0.5:
            s = rng.choice((1, 2))
            args["first"] = {"stride": s}
        elif rng.random() < 0.5:
            s = 2
            call["stride"] = f"${{2 if {var} == 0 else 1}}"
        args["layers"] = {"cbr": call}
        hh, ww = (h - 1) // s + 1, (w - 1) // s + 1
        return {"repeat": args}, ("map", out, hh, ww)

    def c_residual(self, shape, ctx):
        rng = self.rng
        _, c, h, w = shape
        choice = rng.choice(("identity", "auto", "projection", "zero_pad", "none", "custom", "auto_same"))
        args = {}
        if choice in ("identity", "auto_same"):
            body = self.preserving(shape, ctx)
            out = shape
            if choice == "auto_same" and rng.random() < 0.5:
                args["shortcut"] = "auto"
            elif choice == "identity":
                args["shortcut"] = "identity"
        else:
            s = rng.choice((1, 2))
            oc = c + rng.randint(0, 8) if choice == "zero_pad" else rng.randint(1, self.max_c)
            first, out = self.strided(shape, oc, s)
            body = [first]
            if rng.random() < 0.5:
                body += ["batchnorm", "relu"]
            if rng.random() < 0.4:
                body.append({"conv": {"out": oc, "kernel": 3, "padding": 1}})
            if choice == "custom":
                args["shortcut"] = [{"conv": {"out": oc, "kernel": 1, "stride": s}}] + (
                    ["batchnorm"] if rng.random() < 0.5 else [])
            else:
                args["shortcut"] = choice
            if choice == "projection" and rng.random() < 0.4:
                args["shortcut_bn"] = self.flag(rng.random() < 0.5)
        args["body"] = body
        # a shortcut's layers (shortcut, shortcut.conv) need a scope of their own, or a second one collides
        prob = 0.6 if args.get("shortcut") in ("identity", "none", None) else 1.0
        return {"residual": self.maybe_named(args, ctx, prob)}, out

    def c_parallel(self, shape, ctx):
        rng = self.rng
        _, c, h, w = shape
        merge = rng.choice(("concat", "concat", "add"))
        s = rng.choice((1, 1, 2))
        hh, ww = (h - 1) // s + 1, (w - 1) // s + 1
        n = rng.randint(2, 3)
        common = rng.randint(1, self.max_c)
        branches, total = {}, 0
        for j in range(n):
            oc = common if merge == "add" else rng.randint(1, self.max_c)
            total += oc
            r = rng.random()
            if r < 0.5:
                branch, _ = self.strided(shape, oc, s)
                if rng.random() < 0.5:
                    branch = [branch, rng.choice(ACTIVATIONS)]
            elif r < 0.75:
                branch = [{"maxpool": {"kernel": 3, "stride": s, "padding": 1}},
                          {"conv": {"out": oc, "kernel": 1}}]
            else:
                first, _ = self.strided(shape, oc, s)
                branch = [first, "batchnorm", {"conv": {"out": oc, "kernel": 3, "padding": 1}}]
            key = rng.choice((f"branch{j + 1}", f"b{j}", f"path_{j}", f"{j}x"))
            branches[key] = branch
        args = {"branches": branches}
        if merge == "add" or rng.random() < 0.5:
            args = {"merge": merge, **args}
        out = ("map", common if merge == "add" else total, hh, ww)
        return {"parallel": self.maybe_named(args, ctx, 0.6)}, out

    def c_side(self, shape, ctx):
        rng = self.rng
        src = None
        if ctx.top and self.named and rng.random() < 0.3:  # a side branch from an earlier layer
            src = rng.choice(list(self.named))
            if self.named[src][0] != "map":
                src = None
        items, _ = self.chain(self.named[src] if src else shape, ctx.inner(), 1, 3)
        args = {"layers": items}
        if ctx.names and rng.random() < 0.7:
            args = {"name": self.fresh("side"), **args}
        if src:
            args["input"] = src
        return {"side": args}, shape

    # --- blocks ---

    def need_block(self, name):
        if name in self.blocks:
            return
        if name == "cbr":
            self.blocks[name] = {
                "doc": "conv, batch norm, ReLU",
                "args": {"out": None, "k": 3, "stride": 1, "bn": True},
                "layers": [
                    {"conv": {"name": "conv", "out": "$out", "kernel": "$k", "stride": "$stride",
                              "padding": "${k // 2}", "bias": "${not bn}"}},
                    {"batchnorm": {"name": "bn", "when": "$bn"}},
                    {"relu": {"name": "act"}},
                ]}
        elif name == "bneck":
            self.blocks[name] = {
                "args": {"mid": None, "out": None, "stride": 1},
                "layers": [
                    {"residual": {"shortcut": "auto", "body": [
                        {"conv": {"out": "$mid", "kernel": 1, "bias": False}}, "batchnorm", "relu",
                        {"conv": {"out": "$mid", "kernel": 3, "stride": "$stride", "padding": 1, "bias": False}},
                        "batchnorm", "relu",
                        {"conv": {"out": "$out", "kernel": 1, "bias": False}}, "batchnorm"]}},
                    "relu"]}
        elif name == "se":
            self.blocks[name] = {
                "doc": "squeeze and excitation",
                "args": {"reduce": 4},
                "layers": [
                    "global_avgpool",
                    {"conv": {"out": "${max(1, in_channels // reduce)}", "kernel": 1}},
                    "relu",
                    {"conv": {"out": "$in_channels", "kernel": 1}},
                    {"hardsigmoid": {"name": "gate"}},
                    {"mul": {"input": ["input", "gate"]}}]}
        elif name == "dwsep":
            self.blocks[name] = {
                "args": {"out": None, "stride": 1},
                "layers": [{"dwconv": {"kernel": 3, "stride": "$stride", "padding": 1}}, "batchnorm", "relu6",
                           {"conv": {"out": "$out", "kernel": 1}}, "batchnorm", "relu6"]}
        elif name == "merge2":
            self.blocks[name] = {
                "doc": "two inputs of one size, concatenated and mixed",
                "inputs": ["x", "skip"],
                "args": {"out": None},
                "layers": [{"concat": {"input": ["x", "skip"]}},
                           {"conv": {"out": "${out if out > 0 else x_channels + skip_channels}", "kernel": 1}}]}
        elif name == "up2":
            self.blocks[name] = {
                "doc": "U-Net's decoder step",
                "inputs": ["x", "skip"],
                "args": {"out": None},
                "layers": [{"conv_transpose": {"name": "upconv", "input": "x", "out": "$out", "kernel": 2,
                                               "stride": 2}},
                           {"center_crop": {"name": "crop", "input": ["skip", "upconv"]}},
                           {"concat": {"name": "concat", "input": ["crop", "upconv"]}},
                           {"conv": {"out": "$out", "kernel": 3, "padding": 1}}]}
        elif name == "stage":
            self.need_block("cbr")
            self.blocks[name] = {
                "args": {"out": None, "n": 1},
                "layers": [{"repeat": {"name": "units", "count": "$n", "layers": {"cbr": {"out": "$out"}}}}]}

    def c_block(self, shape, ctx):
        rng = self.rng
        _, c, h, w = shape
        if not ctx.names:
            return None
        which = rng.choice(("cbr", "bneck", "se", "dwsep", "stage", "multi", "multi"))
        name = self.fresh("b")
        if which == "multi":
            return self.c_multi(shape, ctx)
        self.need_block(which)
        out = rng.randint(1, self.max_c)
        s = rng.choice((1, 1, 2))
        hh, ww = (h - 1) // s + 1, (w - 1) // s + 1
        if which == "cbr":
            k = rng.choice((1, 3, 5))
            call = {"out": self.num(out)}
            if k != 3 or rng.random() < 0.3:
                call["k"] = k
            if s != 1 or rng.random() < 0.3:
                call["stride"] = s
            if rng.random() < 0.3:
                call["bn"] = self.flag(rng.random() < 0.5)
            self.made += 3
            return {"cbr": {"name": name, **call}}, ("map", out, hh, ww)
        if which == "bneck":
            self.made += 9
            return {"bneck": {"name": name, "mid": self.num(rng.randint(1, 8)), "out": out, "stride": s}}, \
                ("map", out, hh, ww)
        if which == "se":
            self.made += 6
            return {"se": {"name": name, **({"reduce": rng.randint(1, 8)} if rng.random() < 0.5 else {})}}, shape
        if which == "dwsep":
            self.made += 6
            return {"dwsep": {"name": name, "out": out, "stride": s}}, ("map", out, hh, ww)
        n = rng.randint(1, 2)
        self.made += 3 * n
        return {"stage": {"name": name, "out": out, "n": self.num(n)}}, ("map", out, h, w)

    def c_multi(self, shape, ctx):
        """A block with two named inputs: the current tensor and an earlier one."""
        rng = self.rng
        if not ctx.top or self.cur_name is None:
            return None
        _, c, h, w = shape
        same = [n for n, s in self.named.items() if s[0] == "map" and s[2:] == (h, w) and n != self.cur_name]
        bigger = [n for n, s in self.named.items() if s[0] == "map" and s[2] >= 2 * h and s[3] >= 2 * w]
        out = rng.randint(1, self.max_c)
        if bigger and (not same or rng.random() < 0.5):
            self.need_block("up2")
            skip = rng.choice(bigger)
            self.made += 4
            return {"up2": {"name": self.fresh("b"), "input": [self.cur_name, skip], "out": out}}, \
                ("map", out, 2 * h, 2 * w)
        if same:
            self.need_block("merge2")
            skip = rng.choice(same)
            self.made += 2
            if rng.random() < 0.3:
                out_arg, out = 0, c + self.named[skip][1]
            else:
                out_arg = out
            return {"merge2": {"name": self.fresh("b"), "input": [self.cur_name, skip], "out": out_arg}}, \
                ("map", out, h, w)
        return None

    # --- the whole network ---

    def network(self, shape):
        """(document, out shape): a network from input shape (C, H, W)."""
        rng = self.rng
        cur = ("map",) + tuple(shape)
        items = []
        ctx = Ctx()
        self.named.clear()
        self.cur_name = None
        # at least one item on the chain: a network of side branches alone has no layers
        while self.made < self.max_layers * rng.uniform(0.2, 1.0) or all(kind_of(i) == "side" for i in items):
            # a merge of earlier named tensors, or a branch that reads one of them
            if self.named and cur[0] == "map" and rng.random() < 0.12:
                made = self.top_merge(cur, items)
                if made is not None:
                    cur = made
                    continue
            if self.named and rng.random() < 0.06:
                src = rng.choice(list(self.named))
                kind, args, out = self.prim(self.named[src], ctx)
                name = self.fresh()
                items.append({kind: {"name": name, "input": src, **args}})
                self.made += 1
                self.named[name], self.cur_name, cur = out, name, out
                continue
            item, out = self.item(cur, ctx)
            name = None
            if isinstance(item, dict) and len(item) == 1:
                ((kind, args),) = item.items()
                if isinstance(args, dict) and kind != "side":
                    name = args.get("name")
                    if name is None and rng.random() < 0.3 and kind in KIND_ARGS:
                        name = self.fresh()
                        item = {kind: {"name": name, **args}}
            if kind_of(item) != "side":
                self.cur_name = name
                if name is not None:
                    self.named[name] = out
                cur = out
            items.append(item)
        if cur[0] == "map" and rng.random() < 0.5:  # a classifier head
            p = self.fresh("classes") if rng.random() < 0.5 else "classes"
            classes = rng.randint(1, 20)
            self.params[p] = classes
            items += ["global_avgpool" if rng.random() < 0.5 else {"global_avgpool": {"call": "mean"}},
                      "flatten", {"linear": {"out": f"${p}"}}]
            cur = ("vec", classes)
        doc = {}
        if self.params:
            doc["params"] = self.params
        if self.blocks:
            doc["blocks"] = self.blocks
        doc["layers"] = items
        return doc, cur

    def top_merge(self, cur, items):
        rng = self.rng
        _, c, h, w = cur
        if self.cur_name is None:
            name = self.fresh()
            items.append({"identity": {"name": name}})
            self.named[name], self.cur_name = cur, name
        if rng.random() < 0.5:
            return self.top_merge_block(cur, items)
        pool = [n for n, s in self.named.items() if n != self.cur_name and s[0] == "map" and s[2:] == (h, w)]
        if not pool:
            return None
        kind = rng.choice(("concat", "add", "mul"))
        picks = rng.sample(pool, min(len(pool), rng.randint(1, 2)))
        if kind == "add":
            picks = [p for p in picks if self.named[p] == cur]
        if kind == "mul":
            gates = [n for n, s in self.named.items() if s == ("map", c, 1, 1)]
            if not gates:
                return None
            picks = [rng.choice(gates)]
        if not picks:
            return None
        name = self.fresh()
        items.append({kind: {"name": name, "input": [self.cur_name] + picks}})
        self.made += 1
        out = ("map", c + sum(self.named[p][1] for p in picks), h, w) if kind == "concat" else cur
        self.named[name], self.cur_name = out, name
        return out

    def top_merge_block(self, cur, items):
        made = self.c_multi(cur, Ctx())
        if made is None:
            return None
        item, out = made
        items.append(item)
        name = item[kind_of(item)]["name"]
        self.named[name], self.cur_name = out, name
        return out


def kind_of(item):
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and len(item) == 1:
        return next(iter(item))
    return None


# --- helpers shared by the generators ---

def input_value(net: NetGen, shape):
    rng = net.rng
    if rng.random() < 0.3:
        return [net.num(d) for d in shape]
    return list(shape)


def table_like(rng, model, extra=(), valid=False):
    """A command that analyses one model, with output options; with valid, only options that are valid."""
    cmd = rng.choices(("table", "memory", "rf", "explain", "latency", "budget", "info"), (10, 2, 2, 1, 1, 1, 1))[0]
    if cmd == "info" and extra:  # info takes no --set or --input, which the network may need
        cmd = "table"
    if cmd == "info":
        return ["info", model, "--format", rng.choice(("table", "json"))]
    argv = [cmd, model, *extra]
    fmt = rng.choice(("table", "json", "csv", "markdown", "json"))
    if cmd == "budget":  # the CI gate: limits with suffixes, good and (unless valid) bad
        limits = (("--max-params", ("5M", "1k", "0", "1.5G"), ("-1", "x", "1e400", "9" * 5000)),
                  ("--max-macs", ("600M", "1", "10G"), ("", "M")),
                  ("--max-flops", ("1.2G", "1T"), ("1.2.3", "0.5")),
                  ("--max-memory", ("64MiB", "1KB", "0"), ("1 GiB", "5XB", "2**40")))
        chosen = [limit for limit in limits if rng.random() < 0.5] or [rng.choice(limits)]
        for option, good, bad in chosen:
            argv += [option, rng.choice(bad if not valid and rng.random() < 0.3 else good)]
    if cmd == "latency":
        argv += ["--device", rng.choice([d for d in DEVICES if d != "jetson-orin-nano-8gb"])]  # no FP32 peak
        if rng.random() < 0.3:
            argv.append("--fuse")
    train = False
    if cmd == "memory":
        train = True
        if rng.random() < 0.5:
            mode = rng.choice(("train", "infer"))
            argv += ["--mode", mode]
            train = mode == "train"
        if rng.random() < 0.3:
            argv += ["--optimizer", rng.choice(("sgd", "momentum", "adam", "adamw"))]
        if rng.random() < 0.2:
            argv += ["--device", rng.choice(DEVICES)]
    if cmd == "table":
        if rng.random() < 0.2:
            argv += ["--depth", str(rng.randint(1, 3))]
        if rng.random() < 0.2:
            argv.append("--exact")
        if rng.random() < 0.15:
            argv.append("--rf")
    # each command takes only the options that change its output: rf no --batch, --dtype, --convention or
    # --side; memory and latency no --convention; explain no --dtype or --convention
    if cmd not in ("explain", "rf", "memory", "latency") and rng.random() < 0.2:
        argv += ["--convention", rng.choice(CONVENTIONS)]
    if train:  # PyTorch cannot train batch norm on one value per channel, which batch 1 gives after a global pool
        argv += ["--batch", str(rng.choice((2, 32, 256)))]
    elif cmd != "rf" and rng.random() < 0.15:
        argv += ["--batch", str(rng.choice((1, 2, 32, 256)))]
    if cmd not in ("rf", "explain") and rng.random() < 0.1:
        argv += ["--dtype", rng.choice(DTYPES)]
    if cmd != "rf" and rng.random() < 0.1:
        argv.append("--side")
    argv += ["--format", fmt]
    return argv


def clip_case(shape, family="valid_net") -> Case:
    """A video network (C x T x H x W) through every 3-D kind, its sizes drawn from a map's shape."""
    c, h, w = shape
    t = 2 + (h + w) % 4
    k = 1 + (c + h) % 6
    doc = {"input": [c, t, h, w], "layers": [
        {"conv3d": {"out": k, "kernel": [3, 3, 3], "padding": 1, "bias": (h % 2 == 0)}},
        "batchnorm", "relu",
        {"maxpool3d": {"kernel": [1, 2, 2], "stride": [1, 2, 2], "ceil_mode": (w % 2 == 1)}},
        {"avgpool3d": {"kernel": [2, 2, 2], "stride": 1, "padding": [1, 0, 0], "count_include_pad": (c % 2 == 0)}},
        "global_avgpool3d", "flatten", {"linear": {"out": 1 + w % 5}}]}
    text = encode(to_yaml(doc, random.Random(h * 64 + w)))
    return Case(family, ["table", "net.yaml", "--format", "json"], {"net.yaml": text}, valid=True,
                validate_argv=["validate", "net.yaml", "--format", "json"], validate_draw=(h * w % 10) / 10)


def valid_case(rng, family="valid_net") -> Case:
    """A network valid by construction, in a file (sometimes on stdin), with params, --set and --input."""
    net = NetGen(rng, max_layers=rng.randint(3, 40))
    shape = (rng.randint(1, 8), rng.randint(4, 32), rng.randint(4, 32))
    if (shape[0] * 31 + shape[1] * 7 + shape[2]) % 13 == 0:  # one in 13: a clip (from the sizes: no new draw)
        return clip_case(shape, family)
    if rng.random() < 0.3:
        shape = (shape[0], shape[1], shape[1])
    doc, _ = net.network(shape)
    top = {}
    if rng.random() < 0.3:
        top["name"] = rng.choice(("net", "my-net", "n_1"))
    if rng.random() < 0.2:
        top["description"] = "a fuzzed network"
    use_flag = rng.random() < 0.2
    if not use_flag:
        top["input"] = input_value(net, shape)
    else:
        top["input"] = [rng.randint(1, 8), rng.randint(4, 64), rng.randint(4, 64)]  # --input wins
    doc = {**top, **doc}
    if net.params:  # after the input's expressions, which may add parameters
        doc["params"] = net.params
    if rng.random() < 0.1:
        doc["notes"] = ["a note", "another: with ${not} expression"]
    text = to_yaml(_order(doc), rng)
    opts = []
    for s in net.sets:
        opts += [f"--set={s}"] if rng.random() < 0.2 else ["--set", s]
    if use_flag:
        opts += ["--input", "x".join(map(str, shape))]
    files = {"net.yaml": encode(text)}
    on_stdin = rng.random() < 0.12
    argv = table_like(rng, "-" if on_stdin else "net.yaml", opts, valid=True)
    validate = ["validate", "net.yaml", *opts, "--format", "json"]
    r = rng.random()
    if r < 0.3:  # training mode: batch norm needs more than one value per channel, so a batch of 2
        validate[2:2] = ["--memory" if r < 0.15 else "--rf", "--batch", "2"]
    return Case(family, argv, files, stdin=files["net.yaml"] if on_stdin else None, valid=True,
                validate_argv=validate, validate_draw=rng.random())


def _order(doc):
    keys = ("extends", "name", "description", "reference", "input", "params", "blocks", "layers", "notes",
            "torch_names")
    ordered = {k: doc[k] for k in keys if k in doc}
    ordered.update({k: v for k, v in doc.items() if k not in ordered})
    return ordered


def gen_valid_net(rng) -> Case:
    return valid_case(rng)


def gen_extends(rng) -> Case:
    """extends: chains of generated files, zoo bases, circles, and bases that are not networks."""
    r = rng.random()
    if r < 0.35:  # a valid chain of generated files, the leaf overriding a parameter the layers use
        net = NetGen(rng, max_layers=rng.randint(3, 20))
        shape = (rng.randint(1, 6), rng.randint(6, 24), rng.randint(6, 24))
        width = rng.randint(1, 12)
        net.params["width"] = rng.randint(1, 12)  # the base's default; the leaf sets width
        doc, _ = net.network((width,) + shape[1:])
        doc["layers"].insert(0, {"conv": {"out": "$width", "kernel": 1}})  # shape -> width channels
        doc["params"] = net.params
        base = _order({"name": "base", "input": list(shape), **doc})
        files = {"base.yaml": encode(to_yaml(base, rng))}
        parent = "base.yaml"
        for level in range(rng.randint(0, 3)):
            mid = f"mid{level}.yaml"
            files[mid] = encode(to_yaml({"extends": parent, "description": f"level {level}"}, rng))
            parent = mid
        leaf = {"extends": "../" + parent, "params": {"width": width}}
        if rng.random() < 0.3:
            leaf["input"] = list(shape)
        if rng.random() < 0.2:
            leaf["name"] = "leaf"
        files["sub/leaf.yaml"] = encode(to_yaml(leaf, rng))
        opts = []
        for s in net.sets:
            opts += ["--set", s]
        return Case("extends", table_like(rng, "sub/leaf.yaml", opts, valid=True), files, valid=True,
                    validate_argv=["validate", "sub/leaf.yaml", *opts, "--format", "json"],
                    validate_draw=rng.random())
    if r < 0.55:  # a zoo base with a small input and new parameters
        base = rng.choice(SMALL_ZOO)
        doc = {"extends": base}
        if rng.random() < 0.7:
            doc["input"] = [3, rng.choice((32, 64, 96, 224)), rng.choice((32, 64, 96, 224))]
        if rng.random() < 0.4:
            doc["params"] = {"classes": rng.randint(1, 100)}
        if rng.random() < 0.2:
            doc["notes"] = ["derived"]
        files = {"derived.yaml": encode(to_yaml(doc, rng))}
        argv = table_like(rng, "derived.yaml")
        case = Case("extends", argv, files)
        if base in TORCH_ZOO and "params" not in doc:
            case.validate_argv = ["validate", "derived.yaml", "--input", TORCH_ZOO[base], "--format", "json"]
            case.validate_draw = rng.random() * 3  # torch runs of zoo models are dear: a third as often
            case.valid = True
        return case
    # hostile: circles, long chains, missing bases, bases that are not networks
    kind = rng.randrange(12)
    files = {}
    if kind == 0:
        files["a.yaml"] = b"extends: b.yaml\nlayers: [relu]\n"
        files["b.yaml"] = b"extends: a.yaml\ninput: [3, 8, 8]\n"
        model = "a.yaml"
    elif kind == 1:
        files["self.yaml"] = b"extends: self.yaml\ninput: [3, 8, 8]\nlayers: [relu]\n"
        model = "self.yaml"
    elif kind == 2:
        n = rng.randint(7, 14)
        files["f0.yaml"] = b"input: [3, 8, 8]\nlayers: [relu]\n"
        for j in range(1, n):
            files[f"f{j}.yaml"] = f"extends: f{j - 1}.yaml\n".encode()
        model = f"f{n - 1}.yaml"
    elif kind == 3:
        bases = ('missing.yaml', 'nosuch', 'resnet', 'alexnett', '', 'sub/', '../x.yaml', '/nonexistent/x.yaml')
        files["m.yaml"] = encode(f"extends: {scalar(rng.choice(bases), rng)}\n")
        model = "m.yaml"
    elif kind == 4:
        files["m.yaml"] = encode(f"extends: {flow(rng.choice((5, [1, 2], {'a': 1}, None, True, 1.5)), rng)}\n"
                                 "layers: [relu]\n")
        model = "m.yaml"
    elif kind == 5:
        files["base.yaml"] = rng.choice((b"[1, 2, 3]\n", b"just text\n", b"", b"~\n", b"- relu\n", b"\xff\xfe"))
        files["m.yaml"] = b"extends: base.yaml\n"
        model = "m.yaml"
    elif kind == 6:  # an error in the base: it must name the base file
        files["base.yaml"] = b"input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernal: 3}\n"
        files["m.yaml"] = b"extends: base.yaml\nname: derived\n"
        model = "m.yaml"
    elif kind == 7:  # a base that is a directory
        files["dir.yaml/x"] = b""
        files["m.yaml"] = b"extends: dir.yaml\n"
        model = "m.yaml"
    elif kind == 8:  # base with choices, derived overriding the default
        files["base.yaml"] = (b"input: [3, 16, 16]\nparams: {k: {default: 3, choices: [1, 3]}}\n"
                              b"layers:\n  - conv: {out: 4, kernel: $k}\n")
        files["m.yaml"] = encode(f"extends: base.yaml\nparams: {{k: {rng.choice((1, 3, 5, 'x'))}}}\n")
        model = "m.yaml"
    elif kind == 9:  # extends with a symlink loop
        files["loop.yaml"] = ("symlink", "loop.yaml")
        files["m.yaml"] = b"extends: loop.yaml\n"
        model = "m.yaml"
    elif kind == 10:  # a zoo file that itself extends, from a generated one
        files["m.yaml"] = encode(to_yaml({"extends": rng.choice(("resnet101", "vgg16_bn", "efficientnet_b1",
                                                                 "regnet_y_400mf")),
                                          "params": {rng.choice(("depths", "classes", "nope")): rng.choice(
                                              ([1, 1, 1, 1], 10, "x", [1]))}}, rng))
        model = "m.yaml"
    else:
        files["a.yaml"] = b"extends: b.yaml\n"
        files["b.yaml"] = b"extends: c.yaml\n"
        files["c.yaml"] = b"extends: a.yaml\ninput: [3, 8, 8]\nlayers: [relu]\n"
        model = "a.yaml"
    return Case("extends", table_like(rng, model), files)


def arg_in_range(rng, kind, arg):
    """A value that the argument accepts for a small input."""
    choices = {
        "out": (1, 4, 16), "kernel": (1, 3, [1, 3]), "stride": (1, 2, [2, 1]), "padding": (0, 1, "same", [0, 1]),
        "dilation": (1, 2), "bias": (True, False), "groups": (1,), "multiplier": (1, 2), "output_padding": (0,),
        "per_position": (False, True), "ceil_mode": (False, True), "count_include_pad": (True, False),
        "output": (1, 2, [2, 3]), "size": (1, 5, [2, 2]), "alpha": (1e-4, 1.0), "beta": (0.75,), "k": (1.0, 2),
        "eps": (1e-5, 1e-6), "momentum": (0.1, None), "affine": (True, False), "slope": (0.01,), "p": (0.0, 0.5),
        "mode": {"stochastic_depth": ("row", "batch"), "pad": ("constant", "reflect", "replicate"),
                 "upsample": ("nearest", "bilinear")}, "init": (1e-6, 1.0), "parts": (1, 2), "index": (0, 1),
        "value": (0, 1.5), "scale": (1, 2, 1.5), "align_corners": (False, True), "inplace": (False, True),
        "dim": (1, -1, 2), "start_dim": (1, 2), "end_dim": (-1, 2), "keepdim": (False, True),
        "learnable": (True, False),
        "dims": ([1], [2, 3], [0, 2, 3, 1], [-1]), "start": (0, 1, -2), "end": (None, 2, -1), "step": (1, 2),
        "sizes": ([2, -1], [1, 3]), "dim0": (1, -2), "dim1": (2, -1), "equation": ("bchw,bchw->bc", "bij,bjk->bik"),
        "shape": ([3, 1, 1], [1], [16, 16]), "table": ([2, 9], [5]), "mask_table": (None, [2, 5]),
        "mask_shape": (None, [9, 9]),
        "causal": (False, True), "folded": (False, True), "heads": (1, 2, 4),
        "factor": (1, 2), "channels_last": (False, True), "params": (0, 6), "fixed": (False, True),
        "gain": (False, True), "channels": (False, True),
        "partition": ("window", "grid"), "head_dim": (1, 2, 4), "mlp_ratio": (1, 2), "stochastic_depth": (0.0, 0.5),
        "version": (1, 2), "window": (2, [2, 3], 7), "shift": (0, 1, [1, 0]), "qkv_bias": (True, False),
        "proj_bias": (True, False),
        "op": {"scalar": ("add", "mul", "rdiv", "pow"), "unary": ("exp", "rsqrt", "erf"),
               "binary": ("sub", "div", "maximum"), "param": ("mul", "add"), "reduce": ("sum", "mean", "norm")},
    }[arg]
    if isinstance(choices, dict):
        choices = choices.get(kind, ("x",))
    return rng.choice(choices)


def wild_value(rng, depth=0):
    """Any YAML value, mostly ones no argument accepts."""
    r = rng.random()
    if r < 0.2:
        return rng.randint(-3, 70)
    if r < 0.35:
        return rng.choice(HUGE_INTS)
    if r < 0.45:
        return rng.choice((0.5, 1.5, -0.0, 1e-300, 1e308, math.inf, -math.inf, math.nan, 2.0, 1e30, 3.000001))
    if r < 0.5:
        return rng.choice((True, False, None))
    if r < 0.62:
        return rng.choice(("", "same", "valid", "x", "nearest", "bilinear", "reflect", "row", "auto", "none",
                           "a" * 1000, "3x3", "1e3", "0x10", "${10**30}", "${10**31}", "$nope", "${1/0}", "${-1}",
                           "${[1, 2]}", "${2**0.5}", "${true}", "${none}", "${'s'}", "$", "${", "${}", "${)}"))
    if r < 0.7:
        return rng.choice(HOSTILE_TEXT)
    if r < 0.85 and depth < 3:
        return [wild_value(rng, depth + 1) for _ in range(rng.choice((0, 1, 2, 2, 3, 4, 5)))]
    if r < 0.92 and depth < 3:
        return {rng.choice(("a", "out", "default", "name", 1)): wild_value(rng, depth + 1)}
    return Raw(rng.choice(("!!binary aGk=", "!!set {a}", "2001-12-14", "!!timestamp 2001-12-14",
                           "!!python/name:os.system", "!!python/object/apply:os.system [ls]", "0x10", "0o17",
                           "1_000", "+1", ".5", "1e3", "010", "0b11", "~", "!!str 3", "!!int '3'", "!!float 1",
                           "!!map {}", "!!seq []", "!custom x", "? a", "12:30:00", "-.inf", "!!null ''",
                           "9" * 5000, "0x" + "f" * 4000, ":".join(["59"] * 3000), "1" + "0" * 4300 + ".5")))


def gen_layer_args(rng) -> Case:
    """Every layer kind with in-range and out-of-range arguments, on small, odd and huge inputs."""
    kind = rng.choice(list(KIND_ARGS))
    shape = rng.choice(([3, 16, 16], [1, 1, 1], [8, 7, 5], [4, 2, 2], [3, 224, 224], [16, 3, 3],
                        [3, 4096, 4096], [3, 10**6, 10**6], [10**6, 1, 1], [2**31, 2, 2], [1, 10**9, 1]))
    args = {}
    for arg in KIND_ARGS[kind]:
        if rng.random() < 0.75:
            args[arg] = arg_in_range(rng, kind, arg) if rng.random() < 0.55 else wild_value(rng)
    if rng.random() < 0.1:
        args[rng.choice(("kernal", "stide", "outs", "Out", "size_", "x"))] = 1
    if rng.random() < 0.15:
        args["call"] = rng.choice(CALLS + ("module ", "", "eval", 3))
    if rng.random() < 0.1:
        args["name"] = wild_value(rng) if rng.random() < 0.5 else "layer-1"
    layers = []
    if rng.random() < 0.15:
        layers.append("flatten")  # a vector input
    if kind in ("concat", "add", "mul", "center_crop", "upsample") and rng.random() < 0.7:
        layers = [{"conv": {"name": "a", "out": rng.choice((3, 4, 6)), "kernel": 1}},
                  {"conv": {"name": "b", "input": "input", "out": rng.choice((3, 4, 6)), "kernel": 1,
                            "stride": rng.choice((1, 2))}},
                  {"global_avgpool": {"name": "g", "input": "a"}}]
        args["input"] = rng.choice((["a", "b"], ["a", "g"], ["b", "a"], ["a"], "a", [], ["a", "nope"],
                                    ["a", "a", "b"], ["input", "a"], [1, 2], ["a", "g", "b"]))
    layers.append({kind: args} if args or rng.random() < 0.5 else kind)
    if rng.random() < 0.2:
        layers.append(rng.choice(("relu", "flatten", {"linear": {"out": 3}})))
    doc = {"input": shape, "layers": layers}
    text = to_yaml(doc, rng)
    return Case("layer_args", table_like(rng, "net.yaml"), {"net.yaml": encode(text)})


def gen_wiring(rng) -> Case:
    """'input:' references, good and bad, on layers, merges, constructs and block calls of one or two inputs."""
    refs = ("a", "b", "g", "input", "nope", "a.b", "blk", "blk.relu", "", "A", "${'a'}", "$x", "a ", "s.add")
    def ref():
        r = rng.random()
        if r < 0.5:
            return rng.choice(refs)
        if r < 0.85:
            return [rng.choice(refs) for _ in range(rng.choice((0, 1, 2, 2, 3)))]
        return wild_value(rng)
    kinds = ("relu", "conv", "concat", "add", "mul", "center_crop", "upsample", "linear", "global_avgpool")
    item_kind = rng.choice(kinds + CONSTRUCTS + ("one", "two", "two"))
    args = {"input": ref()}
    if item_kind == "conv":
        args.update(out=4, kernel=1)
    elif item_kind == "linear":
        args["out"] = 3
    elif item_kind == "upsample":
        args["scale"] = 2
    elif item_kind in ("sequence", "side"):
        args["layers"] = ["relu"]
    elif item_kind == "repeat":
        args.update(count=2, layers=["relu"])
    elif item_kind == "parallel":
        args["branches"] = {"p": ["relu"], "q": ["relu"]}
    elif item_kind == "residual":
        args["body"] = ["relu"]
        if rng.random() < 0.3:
            args["projection_from"] = ref()
    if rng.random() < 0.3:
        args["name"] = rng.choice(("w", "blk", "a", "input"))
    doc = {
        "input": [4, 8, 8],
        "params": {"x": "a"},
        "blocks": {"one": {"layers": ["relu"]},
                   "two": {"inputs": ["x", "y"], "layers": [{"add": {"input": ["x", "y"]}}]}},
        "layers": [{"conv": {"name": "a", "out": 4, "kernel": 3, "padding": 1}},
                   {"conv": {"name": "b", "input": "input", "out": 4, "kernel": 1, "stride": rng.choice((1, 2))}},
                   {"global_avgpool": {"name": "g", "input": "a"}},
                   {"sequence": {"name": "blk", "layers": ["relu"]}},
                   {item_kind: args}],
    }
    if rng.random() < 0.3:
        doc["layers"].append({"relu": {"input": ref()}})
    return Case("wiring", table_like(rng, "net.yaml"), {"net.yaml": encode(to_yaml(doc, rng))})


# --- ONNX files, written with a protobuf encoder of our own (field numbers of onnx/onnx.proto) ---

def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 values are ten bytes, as protobuf writes them
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value) -> bytes:
    """One protobuf field: an int (varint), bytes or str (length-delimited), a float (fixed32)."""
    if isinstance(value, bool) or isinstance(value, int):
        return _varint(number << 3) + _varint(int(value))
    if isinstance(value, float):
        import struct
        return _varint(number << 3 | 5) + struct.pack("<f", value)
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _attr(name, value) -> bytes:
    """AttributeProto: name 1, f 2, i 3, s 4, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, INTS 7)."""
    if isinstance(value, list):
        return _field(1, name) + b"".join(_field(8, v) for v in value) + _field(20, 7)
    if isinstance(value, float):
        return _field(1, name) + _field(2, value) + _field(20, 1)
    if isinstance(value, (str, bytes)):
        return _field(1, name) + _field(4, value) + _field(20, 3)
    return _field(1, name) + _field(3, value) + _field(20, 2)


def _node(op, inputs, outputs, name="", **attrs) -> bytes:
    """NodeProto: input 1, output 2, name 3, op_type 4, attribute 5."""
    return (b"".join(_field(1, i) for i in inputs) + b"".join(_field(2, o) for o in outputs) +
            (_field(3, name) if name else b"") + _field(4, op) +
            b"".join(_field(5, _attr(k, v)) for k, v in attrs.items()))


def _tensor(name, dims, data_type=1, int64s=None) -> bytes:
    """TensorProto: dims 1, data_type 2, int64_data 7, name 8 (weights have dims only: cnncost never reads them)."""
    body = b"".join(_field(1, d) for d in dims) + _field(2, data_type)
    if int64s is not None:
        body += b"".join(_field(7, v) for v in int64s)
    return body + _field(8, name)


def _value_info(name, dims) -> bytes:
    """ValueInfoProto name 1, type 2 -> TypeProto tensor_type 1 -> elem_type 1, shape 2 -> dim 1 -> dim_value 1."""
    shape = b"".join(_field(1, _field(1, d) if isinstance(d, int) else _field(2, d))  # dim_param: a symbolic size
                     for d in dims) if dims is not None else None
    tensor = _field(1, 1) + (_field(2, shape) if shape is not None else b"")
    return _field(1, name) + _field(2, _field(1, tensor))


def onnx_model(nodes, inits, inputs, outputs, opset=17) -> bytes:
    """ModelProto: ir_version 1, graph 7, opset_import 8; GraphProto: node 1, name 2, initializer 5, input 11,
    output 12."""
    graph = (b"".join(_field(1, n) for n in nodes) + _field(2, "g") + b"".join(_field(5, t) for t in inits) +
             b"".join(_field(11, _value_info(n, d)) for n, d in inputs) +
             b"".join(_field(12, _value_info(n, d)) for n, d in outputs))
    return _field(1, 8) + _field(8, _field(1, "") + _field(2, opset)) + _field(7, graph)


def onnx_chain(rng, c, h):
    """A small CNN in ONNX from a 1 x c x h x h input, shapes tracked: convs, pools, batch norm, activations,
    a residual add, a classifier. (nodes, initializers)."""
    nodes, inits, cur = [], [], "x"
    for n in range(1, rng.randint(2, 9)):
        out = f"t{n}"
        r = rng.random()
        if r < 0.35:
            k, s, oc = rng.choice((1, 3, 5)), rng.choice((1, 2)), rng.randint(1, 16)
            inits.append(_tensor(f"w{n}", [oc, c, k, k]))
            ins = [cur, f"w{n}"]
            if rng.random() < 0.5:
                inits.append(_tensor(f"b{n}", [oc]))
                ins.append(f"b{n}")
            nodes.append(_node("Conv", ins, [out], f"conv{n}", kernel_shape=[k, k], strides=[s, s],
                               pads=[k // 2] * 4))
            c, h = oc, (h - 1) // s + 1
        elif r < 0.5 and h >= 2:
            nodes.append(_node(rng.choice(("MaxPool", "AveragePool")), [cur], [out], kernel_shape=[2, 2],
                               strides=[2, 2]))
            h //= 2
        elif r < 0.65:
            tags = ("scale", "bias", "mean", "var")
            inits += [_tensor(f"{tag}{n}", [c]) for tag in tags]
            nodes.append(_node("BatchNormalization", [cur] + [f"{tag}{n}" for tag in tags], [out], epsilon=1e-5))
        elif r < 0.85:
            op = rng.choice(("Relu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish"))
            # ONNX's HardSigmoid defaults to alpha 0.2; torch's (the one cnncost maps) is alpha 1/6
            nodes.append(_node(op, [cur], [out], **({"alpha": 1 / 6, "beta": 0.5} if op == "HardSigmoid" else {})))
        else:  # a residual: a 3x3 conv that keeps the shape, added to its input
            inits.append(_tensor(f"w{n}", [c, c, 3, 3]))
            nodes.append(_node("Conv", [cur, f"w{n}"], [f"r{n}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
            nodes.append(_node("Add", [cur, f"r{n}"], [out]))
        cur = out
    if rng.random() < 0.6:
        classes = rng.randint(1, 20)
        inits += [_tensor("fc_w", [classes, c]), _tensor("fc_b", [classes])]
        nodes += [_node("GlobalAveragePool", [cur], ["gap"]), _node("Flatten", ["gap"], ["flat"], axis=1),
                  _node("Gemm", ["flat", "fc_w", "fc_b"], ["y"], transB=1)]
    else:
        nodes.append(_node("Identity", [cur], ["y"]))
    return nodes, inits


def onnx_constant_bomb(rng):
    """Folded constants that ask for huge lists: ConstantOfShape, Range, Expand, Pow into Reshape."""
    big = rng.choice((10**3, 10**6, 10**9, 10**12, 2**62, -1, 0))
    which = rng.randrange(5)
    if which == 0:
        inits = [_tensor("s", [1], 7, [big])]
        nodes = [_node("ConstantOfShape", ["s"], ["c"]), _node("Add", ["x", "c"], ["y"])]
    elif which == 1:
        inits = [_tensor(n, [], 7, [v]) for n, v in (("a", 0), ("b", big), ("d", rng.choice((1, -1, 0, 3))))]
        nodes = [_node("Range", ["a", "b", "d"], ["c"]), _node("Add", ["x", "c"], ["y"])]
    elif which == 2:
        inits = [_tensor("v", [1], 7, [1]), _tensor("s", [2], 7, [big, big])]
        nodes = [_node("Expand", ["v", "s"], ["c"]), _node("Add", ["x", "c"], ["y"])]
    elif which == 3:
        inits = [_tensor("b", [], 7, [rng.choice((10, 10**6, 2**62))]), _tensor("e", [], 7, [big])]
        nodes = [_node("Pow", ["b", "e"], ["p"]), _node("Reshape", ["x", "p"], ["y"])]
    else:
        inits = [_tensor("s", [4], 7, [1, rng.choice((3, big)), big, 1])]
        nodes = [_node("Reshape", ["x", "s"], ["y"])]
    return onnx_model(nodes, inits, [("x", [1, 3, 8, 8])], [("y", None)]), f"constants {which} {big}"


def gen_onnx(rng) -> Case:
    """.onnx files (cnncost reads them with its own protobuf reader): small valid CNNs, the same damaged at the
    protobuf level, and folded constants that ask for huge lists."""
    r = rng.random()
    valid, note = False, ""
    if r < 0.3:
        data, note = onnx_constant_bomb(rng)
    else:
        c, h = rng.randint(1, 8), rng.randint(8, 32)
        nodes, inits = onnx_chain(rng, c, h)
        data = onnx_model(nodes, inits, [("x", [1, c, h, h])], [("y", None)])
        if r < 0.6:
            valid = True
        else:
            data = mutate_bytes(rng, data)
    argv = [rng.choice(("table", "table", "memory", "rf", "import")), "model.onnx"]
    if argv[0] != "import":
        argv += ["--format", rng.choice(("json", "csv", "table"))]
    if rng.random() < 0.2:
        argv += ["--input", rng.choice(("3x32x32", "1x8x8", "3x1x1", "3x100000x100000"))]
        valid = False
    return Case("onnx", argv, {"model.onnx": data}, valid=valid, note=note)


def mutate_bytes(rng, data: bytes) -> bytes:
    """Protobuf-level damage: flipped bytes, a truncation, huge lengths and field numbers, nesting."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        r = rng.randrange(7)
        pos = rng.randrange(len(data)) if data else 0
        if r == 0 and data:
            data[pos] ^= 1 << rng.randrange(8)
        elif r == 1:
            data = data[:pos]
        elif r == 2:
            data[pos:pos] = _varint(rng.choice((2, 10, 18, 58, 7 << 3 | 2))) + _varint(
                rng.choice((2**31, 2**62, 2**64 - 1, 10**9)))
        elif r == 3:
            data[pos:pos] = b"\xff" * rng.randint(1, 12)
        elif r == 4:
            nest = b""
            for _ in range(rng.choice((100, 1000, 5000))):
                nest = _field(7, nest)
            data[pos:pos] = nest
        elif r == 5:
            chunk = data[pos:pos + rng.randint(1, 64)]
            data[pos:pos] = chunk * rng.randint(1, 50)
        else:
            data[pos:pos] = _field(rng.choice((1, 4, 8, 11)), rng.choice(HOSTILE_TEXT))
    return bytes(data)


# --- expressions ---

_FUNCS = ("int", "float", "round", "floor", "ceil", "min", "max", "abs", "len", "sum", "make_divisible")
_NOT_FUNCS = ("eval", "exec", "open", "__import__", "getattr", "print", "pow", "range", "list", "str", "chr",
              "type", "globals", "divmod", "sorted", "compile", "input")


def rand_expr(rng, depth=0, names=("p0", "p1", "lst")) -> str:
    if depth > 4 or rng.random() < 0.3:
        return rng.choice((
            str(rng.randint(0, 100)), str(rng.choice(HUGE_INTS)), rng.choice(("0.5", "1e3", "1e308", "1e-308",
                                                                                "0", "-0", "3.0", "1_0", "0x1f")),
            rng.choice(names), rng.choice(("true", "false", "none", "None", "True")), rng.choice((
                "in_channels", "in_height", "i", "undefined_name", "_", "__builtins__")),
            rng.choice(("'a'", '"text"', "''", "b'x'", "...", "[]", "[1, 2, 3]", "{}", "{1}", "(1, 2)",
                        "f'{1}'", "lst[0]", "lst[-1]", "lst[99]"))))
    sub = lambda: rand_expr(rng, depth + 1, names)  # noqa: E731
    r = rng.randrange(16)
    if r < 4:
        op = rng.choice(("+", "-", "*", "/", "//", "%", "**", "<<", ">>", "&", "|", "^", "@"))
        return f"({sub()} {op} {sub()})"
    if r == 4:
        return f"{rng.choice(('-', '+', 'not ', '~'))}{sub()}"
    if r == 5:
        return f"{sub()} {rng.choice(('<', '<=', '==', '!=', '>', '>=', 'is', 'in', 'not in'))} {sub()}"
    if r == 6:
        return f"({sub()} {rng.choice(('and', 'or'))} {sub()})"
    if r == 7:
        return f"({sub()} if {sub()} else {sub()})"
    if r in (8, 9):
        f = rng.choice(_FUNCS) if rng.random() < 0.85 else rng.choice(_NOT_FUNCS)
        args = ", ".join(sub() for _ in range(rng.choice((0, 1, 1, 2, 2, 3))))
        if rng.random() < 0.05:
            args += ", key=1"
        return f"{f}({args})"
    if r == 10:
        return f"[{', '.join(sub() for _ in range(rng.randint(0, 4)))}]"
    if r == 11:
        return f"{sub()}[{sub()}]"
    if r == 12:
        return rng.choice((f"{sub()}.real", f"{sub()}.__class__", f"({sub()}).bit_length()", f"{sub()}[1:3]",
                           f"lambda: {sub()}", f"[x for x in {sub()}]", f"(y := {sub()})", f"*{sub()}",
                           f"{{{sub()}: {sub()}}}", f"{sub()}, {sub()}", f"await {sub()}", f"yield {sub()}"))
    if r == 13:
        return f"({sub()} * {rng.choice(('10**6', '10**9', '2**40', '99999999', '10**30', '10**31'))})"
    if r == 14:
        return "(" * rng.randint(1, 120) + sub() + ")" * rng.randint(0, 121)
    return "-" * rng.randint(1, 300) + sub()


def gen_expressions(rng) -> Case:
    """${...} expressions from a grammar of Python-like syntax, in every place a value is read."""
    exprs = [rand_expr(rng) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.1:
        exprs[0] = exprs[0] + " + 1" * rng.randint(150, 300)  # longer than the expression limit
    wrapped = [f"${{{e}}}" for e in exprs]
    params = {"p0": rng.choice((1, 2, 8, 0.5, "x", [1, 2])), "p1": rng.choice((3, 10**30, -1, True)),
              "lst": [1, 2, 3]}
    where = rng.randrange(9)
    layers = [{"conv": {"out": 4, "kernel": 3, "padding": 1}}, "relu"]
    shape = [3, 16, 16]
    extra = []
    if where == 0:
        params["e"] = wrapped[0]
        layers.append({"conv": {"out": "$e", "kernel": 1}})
    elif where == 1:
        params["unused"] = wrapped[0]  # read even when no layer uses it
    elif where == 2:
        layers.append({rng.choice(("conv", "maxpool", "dropout", "upsample", "adaptive_avgpool")): {
            rng.choice(("out", "kernel", "stride", "padding", "p", "scale", "output")): wrapped[0],
            **({"kernel": 1} if rng.random() < 0.5 else {})}})
    elif where == 3:
        layers.append({"relu": {"name": wrapped[0]}})
    elif where == 4:
        layers.append({"relu": {"when": wrapped[0]}})
    elif where == 5:
        layers.append({"repeat": {"count": wrapped[0], "layers": ["relu"]}})
    elif where == 6:
        shape = [3, wrapped[0], 16]
    elif where == 7:
        extra = ["--set", f"p0={wrapped[0]}"]
        layers.append({"conv": {"out": "$p0", "kernel": 1}})
    else:
        layers.append({"relu": {"name": f"x{wrapped[0]}y"}})
    for w in wrapped[1:]:
        layers.append({"dropout": {"p": w}})
    doc = {"input": shape, "params": params, "layers": layers}
    return Case("expressions", table_like(rng, "net.yaml", extra), {"net.yaml": encode(to_yaml(doc, rng))})


def gen_expression_bombs(rng) -> Case:
    """Expressions the issue names: a few characters that ask for gigabytes or minutes of work."""
    bomb = rng.choice(EXPRESSION_BOMBS)
    where = rng.randrange(4)
    if where == 0:
        doc = {"input": [3, 8, 8], "params": {"x": f"${{{bomb}}}"}, "layers": ["relu"]}
        extra = []
    elif where == 1:
        doc = {"input": [3, 8, 8], "layers": [{"dropout": {"p": f"${{{bomb}}}"}}]}
        extra = []
    elif where == 2:
        doc = {"input": [3, 8, 8], "params": {"x": 1}, "layers": ["relu"]}
        extra = ["--set", f"x=${{{bomb}}}"]
    else:
        doc = {"input": [3, 8, 8], "layers": [{"relu": {"name": f"n${{{bomb}}}"}}]}
        extra = []
    return Case("expression_bombs", ["table", "net.yaml", *extra, "--format", "json"],
                {"net.yaml": encode(to_yaml(doc, rng))}, note=bomb)


# --- names ---

def weird(rng):
    text = rng.choice(HOSTILE_TEXT)
    if rng.random() < 0.5:
        text = rng.choice(("conv", "relu", "block", "x")) + text + rng.choice(("", "1", "_b"))
    return text


def gen_names(rng) -> Case:
    """Control characters, NUL, newlines, lone surrogates and non-UTF-8 bytes in names, kinds and arguments."""
    w = weird(rng)
    where = rng.randrange(14)
    doc = {"input": [3, 8, 8], "layers": [{"conv": {"name": "c1", "out": 4, "kernel": 3}}, "relu"]}
    argv_model = "net.yaml"
    extra = []
    raw_bytes = None
    if where == 0:
        doc["layers"].append({"relu": {"name": w}})
    elif where == 1:
        doc["layers"].append(w)  # a kind
    elif where == 2:
        doc["layers"].append({w: {"out": 3}})
    elif where == 3:
        doc["blocks"] = {w: {"layers": ["relu"]}}
        doc["layers"].append({w: {}})
    elif where == 4:
        doc["params"] = {w: 1}
    elif where == 5:
        doc["layers"].append({"relu": {"input": w}})
    elif where == 6:
        doc["layers"].append({"parallel": {"branches": {w: ["relu"], "b": ["relu"]}}})
    elif where == 7:
        doc["layers"].append({"repeat": {"count": 2, "var": w, "layers": ["relu"]}})
    elif where == 8:
        doc["name"] = w
        doc["description"] = weird(rng)
        doc["notes"] = [weird(rng)]
    elif where == 9:
        argv_model = rng.choice(("alexnet", "resnet", "x", "")) + w.replace("\x00", "")
    elif where == 10:
        doc["params"] = {"p": 1}
        extra = ["--set", rng.choice((f"{w.replace(chr(0), '')}=1", f"p={w.replace(chr(0), '')}"))]
    elif where == 11:
        doc["torch_names"] = {w: rng.choice(("x", w, "a.b", "\\9"))}
    elif where == 12:  # raw bytes in the file, where YAML decoding or the reader must refuse them
        raw_bytes = rng.choice(HOSTILE_BYTES)
    else:
        doc["layers"].append({"conv": {"out": 4, "kernel": 1, "padding": w}})
    text = encode(to_yaml(doc, rng))
    if raw_bytes is not None:
        cut = rng.randrange(len(text) + 1)
        text = text[:cut] + raw_bytes + text[cut:]
    files = {"net.yaml": text}
    if where == 9 and rng.random() < 0.5:  # a file name with the odd character
        name = "n" + w.replace("\x00", "").replace("/", "") + ".yaml"
        files = {name: encode(to_yaml({"input": [3, 8, 8], "layers": ["relu"]}, rng))}
        argv_model = name
    if rng.random() < 0.15 and where != 9:
        return Case("names", table_like(rng, "-", extra), {}, stdin=text)
    return Case("names", table_like(rng, argv_model, extra), files)


# --- YAML syntax ---

def mutate_text(rng, data: bytes, n=None) -> bytes:
    """Byte- and line-level mutations: what an editor or a transfer can do to a file."""
    for _ in range(n or rng.randint(1, 3)):
        lines = data.split(b"\n")
        # numbers and words most often: they keep the YAML valid and reach the expander and the kinds
        r = rng.choices(range(12), (1, 1, 1, 1, 1, 0.5, 1, 0.5, 6, 0.5, 1, 3))[0]
        i = rng.randrange(len(lines))
        if r == 0:
            del lines[i]
        elif r == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif r == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif r == 3:
            lines[i] = b" " * rng.randint(1, 3) + lines[i]
        elif r == 4:
            lines[i] = lines[i].replace(b"  ", b"\t", 1)
        elif r == 5:
            cut = rng.randrange(len(data) + 1)
            return data[:cut]
        elif r == 6:
            pos = rng.randrange(len(data) + 1)
            data = data[:pos] + rng.choice(HOSTILE_BYTES + (b":", b"-", b"{", b"[", b"]", b"}", b"&a", b"*a",
                                                            b"!!", b"#", b"'", b'"', b"%", b"@", b"`", b"|",
                                                            b">", b"\n---\n", b"\n...\n")) + data[pos:]
            continue
        elif r == 7:
            data = data.replace(b"\n", b"\r\n")
            continue
        elif r == 8:
            digits = list(re.finditer(rb"\d+", data))
            if digits:
                m = rng.choice(digits)
                data = data[:m.start()] + str(rng.choice(HUGE_INTS + (0, 1, 2, 7))).encode() + data[m.end():]
            continue
        elif r == 9:
            data = b"\xef\xbb\xbf" + data
            continue
        elif r == 10:
            lines[i] = lines[i] + rng.choice((b" # comment", b" &anchor", b" !!str", b" ? x", b": y"))
        else:
            words = list(re.finditer(rb"[a-z_]{3,}", data))
            if words:
                m = rng.choice(words)
                new = rng.choice(list(KIND_ARGS) + list(CONSTRUCTS) + ["layers", "input", "name", "args",
                                                                       "blocks", "params", "extends", "kernal"])
                data = data[:m.start()] + new.encode() + data[m.end():]
            continue
        data = b"\n".join(lines)
    return data


def gen_yaml_syntax(rng) -> Case:
    """Broken and unusual YAML: tags, documents, merge keys, duplicate keys, tabs, BOM, CRLF, truncation."""
    r = rng.random()
    if r < 0.5:
        base = valid_case(rng)
        data = mutate_text(rng, base.files["net.yaml"])
        argv = [a if a != "-" else "net.yaml" for a in base.argv]
        return Case("yaml_syntax", argv, {"net.yaml": data})
    specials = [
        b"--- \ninput: [3, 8, 8]\nlayers: [relu]\n---\ninput: [3, 8, 8]\nlayers: [relu]\n",
        b"input: [3, 8, 8]\nlayers: [relu]\nlayers: [sigmoid]\n",
        b"input: !!python/tuple [3, 8, 8]\nlayers: [relu]\n",
        b"input: !!python/object/apply:os.system ['true']\nlayers: [relu]\n",
        b"base: &b {out: 4, kernel: 3}\ninput: [3, 8, 8]\nlayers: [{conv: {<<: *b, stride: 2}}]\n",
        b"input: [3, 8, 8]\nlayers:\n  - conv: {<<: {out: 4, kernel: 3}, name: c}\n",
        b"input: [3, 8, 8]\nlayers:\n  - ? [conv]\n    : {out: 4}\n",
        b"input: [3, 8, 8]\nlayers:\n\t- relu\n",
        b"%YAML 1.1\n---\ninput: [3, 8, 8]\nlayers: [relu]\n",
        b"%YAML 9.9\n---\ninput: [3, 8, 8]\nlayers: [relu]\n",
        b"%TAG ! tag:x,2000:\n---\ninput: !x [3, 8, 8]\nlayers: [relu]\n",
        b"input: [3, 8, 8]\nlayers: &l [relu, *l]\n",
        b"input: [3, 8, 8]\nlayers:\n  - relu: &self {name: *self}\n",
        b"input: [3, 8, 8]\nlayers: *undefined\n",
        b"input: [3, 8, 8]\nlayers: [relu\n",
        b"input: [3, 8, 8]\nlayers: |\n  - relu\n",
        b"input: [3, 8, 8]\nlayers: !!binary aGVsbG8=\n",
        b"input: [3, 8, 8]\nlayers: [relu]\nparams: !!set {a, b}\n",
        b"input: [3, 8, 8]\nlayers: [relu]\nparams: {2001-12-14: 1}\n",
        b"input: [3, 8, 8]\nlayers: [relu]\nparams: {1: 2, true: 3, null: 4}\n",
        b"input: [3, 8, 8]\nlayers:\n  - {conv: {out: 4, kernel: 3}, relu: null}\n",
        b"input: [3, 8, 8]\nlayers:\n  - [relu]\n",
        b"input: [3, 8, 8]\nlayers:\n  - 5\n",
        b"input: [3, 8, 8]\nlayers:\n  - null\n",
        b"input: {c: 3}\nlayers: [relu]\n",
        b"input: [3.0, 8, 8]\nlayers: [relu]\n",
        b"input: [true, 8, 8]\nlayers: [relu]\n",
        b"input: '3x8x8'\nlayers: [relu]\n",
        b"input: [3, 8, 8]\nlayers: {relu: null}\n",
        b"input: [3, 8, 8]\nlayers: relu\n",
        b"input: [3, 8, 8]\nlayers: []\n",
        b"input: [3, 8, 8]\n",
        b"",
        b"\n\n\n",
        b"# only a comment\n",
        b"~\n",
        b"[]\n",
        b"'text'\n",
        b"input: [3, 8, 8]\nlayers: [relu]\nunknown_key: 1\n",
        b"input: [3, 8, 8]\nlayers: [relu]\nblocks: [a]\n",
        b"input: [3, 8, 8]\nlayers: [relu]\nblocks: {b: {layers: [b]}}\n",
        b"input: [3, 8, 8]\nblocks: {b: {layers: [c]}, c: {layers: [b]}}\nlayers: [b]\n",
        b"input: [3, 8, 8]\nblocks: {b: {args: {x: null}, layers: [relu]}}\nlayers: [b]\n",
        b"input: [3, 8, 8]\nblocks: {b: {inputs: [x, x], layers: [relu]}}\nlayers: [b]\n",
        b"input: [3, 8, 8]\nblocks: {b: {inputs: [x, y], layers: [{add: {input: [x, y]}}]}}\nlayers: [b]\n",
        b"input: [3, 8, 8]\nlayers:\n  - residual: {body: [], shortcut: identity}\n",
        b"input: [3, 8, 8]\nlayers:\n  - parallel: {branches: {}}\n",
        b"input: [3, 8, 8]\nlayers:\n  - parallel: {merge: mul, branches: {a: [relu], b: [relu]}}\n",
        b"input: [3, 8, 8]\nlayers:\n  - side: {layers: [relu]}\n",
        b"input: [3, 8, 8]\nlayers:\n  - repeat: {count: 2, layers: [relu, relu], first: {x: 1}}\n",
        b"input: [3, 8, 8]\nlayers:\n  - residual: {body: [{conv: {out: 4, kernel: 1}}], shortcut: bogus}\n",
        b"input: [3, 8, 8]\nlayers:\n  - residual: {body: [{conv: {out: 4, kernel: 1}}], projection_from: nowhere}\n",
        b"input: [3, 8, 8]\nlayers:\n  - conv: {name: a, out: 4, kernel: 1}\n  - conv: {name: a, out: 4, kernel: 1}\n",
        b"input: [3, 8, 8]\nlayers:\n  - relu: {input: later}\n  - relu: {name: later}\n",
        b"input: [3, 8, 8]\nlayers:\n  - side: {name: s, layers: [relu]}\n  - add: {input: [input, s]}\n",
        b"input: [3, 8, 8]\ntorch_names: {'(': x}\nlayers: [relu]\n",
        b"input: [3, 8, 8]\ntorch_names: {'(a+)+$': '\\\\1\\\\2'}\nlayers: [relu]\n",
    ]
    data = rng.choice(specials)
    if rng.random() < 0.3:
        data = mutate_text(rng, data, 1)
    return Case("yaml_syntax", table_like(rng, "net.yaml"), {"net.yaml": data})


def gen_alias_use(rng) -> Case:
    """Anchors and aliases the way people use them: shared argument sets and layer lists, a few times each."""
    n = rng.randint(1, 30)
    lines = ["input: [3, 16, 16]", "layers:", "  - conv: &c {out: 3, kernel: 3, padding: 1}"]
    for _ in range(n):
        lines.append(rng.choice(("  - conv: *c", "  - relu", "  - batchnorm")))
    data = ("\n".join(lines) + "\n").encode()
    if rng.random() < 0.3:
        data = mutate_text(rng, data, 1)
    return Case("alias_use", table_like(rng, "net.yaml"), {"net.yaml": data}, valid=False)


def gen_alias_bombs(rng) -> Case:
    """Billion laughs: a few dozen aliases that expand to millions of values, in a file, --set or a claims file."""
    width = rng.randint(6, 12)
    levels = rng.randint(6, 9)
    parts = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    for j in range(1, levels):
        parts.append(f"a{j}: &a{j} [{', '.join([f'*a{j - 1}'] * width)}]")
    where = rng.randrange(5)
    files = {}
    extra = []
    if where == 0:  # as the layers: 'layers: *aN'
        text = "input: [3, 8, 8]\nparams:\n  " + "\n  ".join(parts) + f"\nlayers: *a{levels - 1}\n"
    elif where == 1:  # in params nobody uses
        text = "input: [3, 8, 8]\nparams:\n  " + "\n  ".join(parts) + "\nlayers: [relu]\n"
    elif where == 2:  # in --set
        text = "input: [3, 8, 8]\nparams: {p: 1}\nlayers: [relu]\n"
        extra = ["--set", "p={" + ", ".join(parts) + "}"]
    elif where == 3:  # an unknown reference makes the expander look for names everywhere
        text = ("input: [3, 8, 8]\nparams:\n  " + "\n  ".join(parts) +
                "\nlayers:\n  - relu: {input: nowhere}\n")
    else:  # in a file that a base is extended from
        files["base.yaml"] = ("input: [3, 8, 8]\nparams:\n  " + "\n  ".join(parts) + "\nlayers: [relu]\n").encode()
        text = "extends: base.yaml\n"
    files["net.yaml"] = text.encode()
    if where != 2 and rng.random() < 0.2:  # check --model-file takes no --set: the bomb must be in the file
        return Case("alias_bombs", ["check", "alexnet", "--model-file", "alexnet=net.yaml", "--format", "json"],
                    files, companion=["table", "net.yaml"])
    return Case("alias_bombs", ["table", "net.yaml", *extra, "--format", "json"], files,
                note=f"{width}^{levels}")


# --- the zoo, mutated ---

_ZOO_CACHE: dict = {}


def zoo_text(name) -> bytes:
    if name not in _ZOO_CACHE:
        _ZOO_CACHE[name] = (ZOO_DIR / f"{name}.yaml").read_bytes()
    return _ZOO_CACHE[name]


def zoo_names():
    return sorted(p.stem for p in ZOO_DIR.glob("*.yaml"))


def gen_zoo_mutation(rng) -> Case:
    """A zoo file with one to three mutations (numbers, words, lines, bytes), under its own file name."""
    name = rng.choice(zoo_names())
    data = mutate_text(rng, zoo_text(name), rng.randint(1, 3))
    extra = []
    if rng.random() < 0.3:
        extra = ["--input", rng.choice(("3x64x64", "3x32x32", "3x224x224", "1x8x8", "3x512x512"))]
    return Case("zoo_mutation", table_like(rng, f"{name}.yaml", extra), {f"{name}.yaml": data}, note=name)


def gen_check_model_file(rng) -> Case:
    """check --model-file MODEL=FILE with a mutated or broken file; 'table FILE' says whether it builds."""
    name = rng.choice(("alexnet", "vgg16", "resnet50", "googlenet", "mobilenet_v2", "resnet18", "squeezenet1_0",
                       "inception_v3", "densenet121", "efficientnet_b0"))
    r = rng.random()
    if r < 0.6:
        data = mutate_text(rng, zoo_text(name), rng.randint(1, 2))
    elif r < 0.8:
        data = zoo_text(name)
    else:
        data = rng.choice((b"", b"[1]\n", b"input: [3, 8, 8]\nlayers: [relu]\n", b"\xff\xfe", b"layers: [nope]\n"))
    argv = ["check", name, "--model-file", f"{name}=m.yaml", "--format", rng.choice(("table", "json", "csv"))]
    if rng.random() < 0.2:
        argv.append("--explain")
    if rng.random() < 0.1:
        argv = ["check", "--model-file", rng.choice((f"{name}=missing.yaml", "=m.yaml", f"{name}=", "junk",
                                                     "nosuchmodel=m.yaml"))]
    return Case("check_model_file", argv, {"m.yaml": data}, companion=["table", "m.yaml", "--format", "json"],
                note=name)


# --- the command line ---

def gen_cli(rng) -> Case:
    """Options: --set, --input, --batch, --dtype, --convention, --depth, --format and friends, good and bad."""
    files = {}
    if rng.random() < 0.5:
        model = rng.choice(SMALL_ZOO + ("nosuch", "ALEXNET", "alexnet.yaml", "./alexnet", "architectures", "-"))
    else:
        base = valid_case(rng)
        files = base.files
        model = "net.yaml"
    argv = table_like(rng, model)
    for _ in range(rng.randint(1, 3)):
        r = rng.randrange(10)
        if r == 0:
            argv += ["--set", rng.choice((
                "classes=10", "classes=0", "classes=-1", "classes=1e30", "classes=10**9", "classes=[1,2]",
                "classes={a: 1}", "classes=", "classes", "=3", "nope=1", "alpha=0.25", "alpha=x", "depths=[1,1,1,1]",
                "depths=[0,0,0,0]", "depths=[]", "width=${2**3}", "classes=${'a'*3}", "classes=!!binary aGk=",
                "classes=&a [*a]", "classes=[[[[[[[[[[1]]]]]]]]]]", "classes=\x1b[31m", "classes=" + "9" * 5000,
                f"classes={rng.choice(HUGE_INTS)}", "resolution=17", "resolution=100000"))]
        elif r == 1:
            argv += ["--input", rng.choice((
                "3x224x224", "3x32x32", "1x1x1", "3x1x1", "0x224x224", "3x224", "3x224x224x1", "-3x4x4", "3x4x-4",
                "axbxc", "", "x", "3X224X224", " 3x224x224", "3x224x224 ", "3x1e2x2", "3x0x0",
                "3x100000x100000", "1000000x1x1", f"3x{10**18}x{10**18}", f"{2**63}x1x1", "3x99999999999x1",
                "3x２２４x224", "3x\x1bx3"))]
        elif r == 2:
            argv += ["--batch", rng.choice(("0", "-1", "1", "1.5", "x", str(10**12), str(2**63), str(10**30)))]
        elif r == 3:
            argv += ["--dtype", rng.choice(DTYPES + ("float8", "int4", "", "FLOAT32", "float32 "))]
        elif r == 4:
            argv += ["--convention", rng.choice(CONVENTIONS + ("nope", ""))]
        elif r == 5:
            argv += ["--depth", rng.choice(("0", "1", "2", "100", str(10**18), "-1", "x"))]
        elif r == 6:
            argv += ["--format", rng.choice(("xml", "", "JSON", "json"))]
        elif r == 7:
            argv += [rng.choice(("--nope", "--side", "--no-side", "--exact", "--rf", "-h", "--version", "--debug",
                                 "--", "-"))]
        elif r == 8:
            argv = [rng.choice(("table", "tabel", "", "list", "kinds", "devices", "compare", "sweep", "plot",
                                "calibrate"))] + argv[1:]
            if argv[0] in ("calibrate", "plot", "sweep"):  # slow or writes outside the case: leave them out
                argv[0] = "table"
        else:
            argv += ["--device", rng.choice(DEVICES + ("nope", "local", ""))]
    on_stdin = model == "-"
    stdin = None
    if on_stdin:
        stdin = rng.choice((b"", b"input: [3, 8, 8]\nlayers: [relu]\n", b"\xff\xfe\x00", b"layers: [relu]\n"))
    if "--debug" in argv:  # --debug asks for tracebacks: it belongs before the command, and is not fuzzed
        argv.remove("--debug")
    return Case("cli", argv, files, stdin=stdin)


def gen_stdin(rng) -> Case:
    """A network on stdin: valid, mutated, or bytes that are not text."""
    r = rng.random()
    if r < 0.4:
        base = valid_case(rng)
        data = base.files["net.yaml"]
        if rng.random() < 0.5:
            data = mutate_text(rng, data)
    elif r < 0.7:
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    else:
        data = rng.choice((b"\xff\xfe\x00\x00", b"\x00" * 100, b"input: [3, 8, 8]\nlayers: [\"re\\x00lu\"]\n",
                           b"input: [3, 8, 8]\nlayers: [relu]\n\xff", "input: [3, 8, 8]\nlayers: [relu]\n# é\n".encode(
                               "latin-1"), b"\xef\xbb\xbfinput: [3, 8, 8]\nlayers: [relu]\n",
                           "input: [3, 8, 8]\nlayers: [relu]\n".encode("utf-16")))
    cmd = rng.choice(("table", "table", "memory", "rf", "explain"))
    return Case("stdin", [cmd, "-", "--format", rng.choice(("json", "table", "csv"))], {}, stdin=data)


def gen_sizes(rng) -> Case:
    """Huge numbers where a shape or a count is read: inputs, channels, kernels, pools, upsampling, batch."""
    # past Python's 4,300-digit conversion limit: decimal, hexadecimal, and YAML 1.1's base 60 (1:30 is 90)
    big = rng.choice(HUGE_INTS[:14] + (Raw("9" * 5000), Raw("0x" + "f" * 4000), Raw(":".join(["59"] * 3000))))
    r = rng.randrange(12)
    shape = [3, 32, 32]
    layer = None
    if r == 0:
        shape = [rng.choice((3, big)), rng.choice((32, big)), rng.choice((32, big))]
        layer = {"conv": {"out": 4, "kernel": 3}}
    elif r == 1:
        layer = {"conv": {"out": big, "kernel": 1}}
    elif r == 2:
        layer = {"conv": {"out": 4, "kernel": rng.choice((big, [1, big]))}}
    elif r == 3:
        layer = {"adaptive_avgpool": {"output": rng.choice((big, [big, 1], [1, big], 100000))}}
    elif r == 4:
        layer = {"upsample": {rng.choice(("scale", "size")): rng.choice((big, [big, big], 1e6, 1e300))}}
    elif r == 5:
        layer = {"pad": {"padding": rng.choice((big, [big, 0, 0, big]))}}
    elif r == 6:
        layer = {"conv_transpose": {"out": 2, "kernel": 2, "stride": rng.choice((big, 10**6)),
                                    "dilation": rng.choice((1, big))}}
    elif r == 7:
        layer = {"maxpool": {"kernel": 2, "stride": big, "padding": rng.choice((0, 1, big))}}
    elif r == 8:
        layer = {"subsample_pad": {"out": big, "stride": rng.choice((1, big))}}
    elif r == 9:
        layer = {"linear": {"out": big}}
        shape = [rng.choice((3, big)), 1, 1]
    elif r == 10:
        layer = {"dwconv": {"kernel": 3, "multiplier": big}}
    else:
        layer = {"groupnorm": {"groups": big}}
    doc = {"input": shape, "layers": [layer, "relu"]}
    argv = table_like(rng, "net.yaml")
    if rng.random() < 0.3:
        argv += ["--batch", str(rng.choice((10**6, 10**12, 2**62)))]
    return Case("sizes", argv, {"net.yaml": encode(to_yaml(doc, rng))}, note=flow(layer, random.Random(0))[:120])


def gen_repeat_bombs(rng) -> Case:
    """Small files whose repeats and blocks multiply into more than a million layers."""
    r = rng.randrange(4)
    if r == 0:
        text = ("input: [3, 8, 8]\nlayers:\n  - repeat:\n      count: 10000\n      layers:\n"
                "        - repeat: {count: 10000, layers: [relu]}\n")
    elif r == 1:
        text = ("input: [3, 8, 8]\nblocks:\n  b1: {layers: [{repeat: {count: 1000, layers: [relu]}}]}\n"
                "  b2: {layers: [{repeat: {count: 1000, layers: [b1]}}]}\nlayers: [b2]\n")
    elif r == 2:
        text = ("input: [3, 8, 8]\nparams: {n: 10000}\nlayers:\n  - repeat:\n      count: $n\n      layers:\n"
                "        - repeat: {count: $n, layers: [{parallel: {branches: {a: [relu], b: [relu]}}}]}\n")
    else:
        text = ("input: [3, 8, 8]\nlayers:\n  - repeat:\n      count: 200\n      layers:\n"
                "        - repeat: {count: 200, layers: [{repeat: {count: 200, layers: [relu]}}]}\n")
    return Case("repeat_bombs", ["table", "net.yaml", "--format", "json"], {"net.yaml": text.encode()})


def gen_deep_nesting(rng) -> Case:
    """Deeply nested YAML, constructs, blocks and expressions."""
    r = rng.randrange(6)
    depth = rng.choice((10, 50, 200, 600, 1000, 3000))
    if r == 0:  # nested flow lists
        text = "input: [3, 8, 8]\nlayers: " + "[" * depth + "relu" + "]" * depth + "\n"
    elif r == 1:  # nested sequences
        text = "input: [3, 8, 8]\nlayers: " + "[{sequence: {layers: " * depth + "[relu]" + "}}]" * depth + "\n"
    elif r == 2:  # nested residuals
        text = ("input: [3, 8, 8]\nlayers: " + "[{residual: {shortcut: identity, body: " * depth + "[relu]" +
                "}}]" * depth + "\n")
    elif r == 3:  # a chain of blocks, each calling the next
        n = min(depth, 1500)
        blocks = "".join(f"  b{j}: {{layers: [b{j + 1}]}}\n" for j in range(n))
        text = f"input: [3, 8, 8]\nblocks:\n{blocks}  b{n}: {{layers: [relu]}}\nlayers: [b0]\n"
    elif r == 4:  # nested parentheses and unary operators in an expression
        inner = rng.choice(("(" * min(depth, 240) + "1" + ")" * min(depth, 240), "-" * min(depth, 490) + "1",
                            "not " * min(depth, 120) + "1", "[" * min(depth, 240) + "]" * min(depth, 240)))
        text = f"input: [3, 8, 8]\nparams: {{x: \"${{{inner}}}\"}}\nlayers: [relu]\n"
    else:  # nested mappings in params
        text = "input: [3, 8, 8]\nparams: {p: " + "{a: " * depth + "1" + "}" * depth + "}\nlayers: [relu]\n"
    return Case("deep_nesting", table_like(rng, "net.yaml"), {"net.yaml": text.encode()}, note=f"{r}/{depth}")


def gen_io_bombs(rng) -> Case:
    """Sources without an end: /dev/zero as the model, as the base of extends and on stdin; a FIFO."""
    r = rng.randrange(5)
    if r == 0:
        return Case("io_bombs", ["table", "/dev/zero"], {})
    if r == 1:
        return Case("io_bombs", ["table", "net.yaml"], {"net.yaml": b"extends: /dev/zero\n"})
    if r == 2:
        return Case("io_bombs", ["table", "-"], {}, stdin=b"\0" * (5 * 1024 * 1024))
    if r == 3:
        return Case("io_bombs", ["table", "/dev/urandom"], {})
    return Case("io_bombs", ["table", "net.yaml"], {"net.yaml": b"extends: fifo.yaml\n", "fifo.yaml": ("fifo",)})


def gen_big_inputs(rng) -> Case:
    """Files near and over the 4 MiB limit: long comments, long strings, many layers."""
    r = rng.randrange(5)
    size = rng.choice((1 << 20, 4 * (1 << 20) - 4096, 4 * (1 << 20) + 10))
    if r == 0:
        text = "input: [3, 8, 8]\nlayers: [relu]\n" + ("# " + "x" * 1000 + "\n") * (size // 1003)
    elif r == 1:
        text = "input: [3, 8, 8]\nlayers: [relu]\nnotes: ['" + "n" * (size - 60) + "']\n"
    elif r == 2:  # as many layers as fit
        text = "input: [3, 8, 8]\nlayers:\n" + "- relu\n" * (size // 7)
    elif r == 3:
        text = "input: [3, 8, 8]\nlayers: [" + "relu," * (size // 5) + "relu]\n"
    else:
        text = ("input: [3, 8, 8]\nparams: {" + ", ".join(f"p{j}: {j}" for j in range(size // 12))
                + "}\nlayers: [relu]\n")
    where = rng.randrange(3)
    if where == 0:
        return Case("big_inputs", ["table", "net.yaml", "--format", "json"], {"net.yaml": text.encode()},
                    note=f"{r}/{len(text)}")
    if where == 1:
        return Case("big_inputs", ["table", "-", "--format", "json"], {}, stdin=text.encode(),
                    note=f"{r}/{len(text)}")
    return Case("big_inputs", ["table", "net.yaml", "--format", "json"],
                {"net.yaml": b"extends: base.yaml\n", "base.yaml": text.encode()}, note=f"{r}/{len(text)}")


def gen_output_files(rng) -> Case:
    """-o into the case's folder: a new file, an existing one, a symlink, a directory, a missing folder;
    stdout closed or /dev/full. Never a device or anything outside the case."""
    model = rng.choice(("alexnet", "resnet18", "nosuch"))
    r = rng.randrange(8)
    files = {}
    checks = [("no-temp",)]
    stdout = "pipe"
    if r == 0:
        target = "out.txt"
        checks.append(("mode", "out.txt", None))
    elif r == 1:
        files["out.txt"] = b"old"
        target = "out.txt"
        checks.append(("mode", "out.txt", 0o640))
        files[".mode out.txt"] = b"640"
    elif r == 2:
        files["real.txt"] = b"old"
        files["link.txt"] = ("symlink", "real.txt")
        target = "link.txt"
        checks.append(("symlink", "link.txt", "real.txt"))
    elif r == 3:
        files["adir/x"] = b""
        target = "adir"
    elif r == 4:
        target = "missing/out.txt"
    elif r == 5:
        target = None
        stdout = "closed"
    elif r == 6:
        target = None
        stdout = "full"
    else:
        files["ro/x"] = b""
        files[".mode ro"] = b"555"
        target = "ro/out.txt"
    argv = [rng.choice(("table", "memory", "rf", "list", "devices")), model]
    if argv[0] in ("list", "devices"):
        argv = argv[:1]
    argv += ["--format", rng.choice(("json", "csv", "table"))]
    if target:
        argv += ["-o", target]
    return Case("output_files", argv, files, stdout=stdout, output_checks=tuple(checks))


# --- issue 26: the newest surfaces (ONNX graphs, from_torch, sweep, devices, names wherever printed) ---

FORGED = "FORGED"  # a line of output that starts with this was forged by a name


def hostile_name(rng) -> str:
    """A name meant to drive a terminal (title, clear, colour, cursor) or to forge a line of output."""
    return rng.choice(("n", "model", "relu", "", "a.b")) + rng.choice((
        "\x1b]0;TITLE\x07", "\x1b[2J", "\x1b[31m", "\n" + FORGED + " | row", "\r" + FORGED, "\u2028" + FORGED,
        "\x9b2J", "\x07", "\x7f", "\u202e", "\x1b[1m", "\x85" + FORGED, "\t")) + rng.choice(("", "x", "_2"))


def _packed(number: int, count: int) -> bytes:
    """A packed repeated field of count zero values (float_data 4 and double_data 10 fixed, the rest varints)."""
    width = {4: 4, 10: 8}.get(number, 1)
    return _field(number, bytes(width * count))


def gen_onnx_graphs(rng) -> Case:
    """ONNX graphs that are valid but large or oddly named, and invalid ones the protobuf reader accepts: long
    chains named alike, unused nodes, two writers of one tensor, a kernel_shape against its weight, non-finite
    attributes, large typed initializers, open sizes with --input and sweep, a FIFO, hostile names."""
    r = rng.randrange(10)
    dims: list = [1, 3, 8, 8]
    inits: list = []
    files: dict = {}
    out, note = "y", ""
    plain = False
    if r == 0:  # a long chain, every node named alike (or not at all)
        n = rng.choice((1, 10, 1000, 4000, 19_999, 20_000, 20_001, 30_000))
        name = rng.choice(("relu", "", "relu_2", "Relu", "/a/b/relu", "a.b.c", "x" * 5000, "relu.relu",
                           hostile_name(rng)))
        nodes = [_node("Relu", ["x" if i == 0 else f"t{i - 1}"], [f"t{i}"], name) for i in range(n)]
        out, note, plain = f"t{n - 1}", f"chain of {n}", True
    elif r == 1:  # nodes nothing reads
        n = rng.choice((10, 1000, 50_000, 100_001))
        nodes = [_node("Relu", ["x"], ["y"])] + [_node("Sigmoid", ["x"], [f"u{i}"]) for i in range(n)]
        note = f"{n} unused"
    elif r == 2:  # two writers of one tensor
        nodes = [_node("Relu", ["x"], ["y"], "a"),
                 _node("Sigmoid", [rng.choice(("x", "y"))], [rng.choice(("y", "x", "z"))], "b")]
        if rng.random() < 0.5:
            nodes.append(_node("Tanh", ["y"], ["y2"]))
            out = "y2"
    elif r == 3:  # a Conv's kernel_shape and group against its weight
        kernel, held = rng.choice((1, 3, 5)), rng.choice((1, 3, 5))
        inits = [_tensor("w", [4, rng.choice((1, 3, 6)), held, held])]
        attrs = {"kernel_shape": [kernel, kernel]} if rng.random() < 0.8 else {}
        nodes = [_node("Conv", ["x", "w"], ["y"], "conv", group=rng.choice((1, 1, 3)), **attrs)]
    elif r == 4:  # non-finite (or odd) float attributes
        value = rng.choice((float("nan"), float("inf"), float("-inf"), 1e38, -0.0, 0.01, 3e-39))
        op, attr = rng.choice((("LeakyRelu", "alpha"), ("Elu", "alpha"), ("HardSigmoid", "alpha"),
                               ("HardSigmoid", "beta"), ("BatchNormalization", "epsilon")))
        ins = ["x"]
        if op == "BatchNormalization":
            inits = [_tensor(t, [3]) for t in ("s", "b", "m", "v")]
            ins += ["s", "b", "m", "v"]
        nodes = [_node(op, ins, ["y"], "act", **{attr: value})]
        note = f"{op} {attr}={value}"
    elif r == 5:  # a large typed initializer: float_data, int32_data, int64_data, double_data, uint64_data
        number, count = rng.choice((4, 5, 7, 10, 11)), rng.choice((10, 70_000, 1_000_000, 2_000_000))
        if number == 10:
            count = min(count, 500_000)
        inits = [_field(1, count) + _field(2, {4: 1, 5: 6, 7: 7, 10: 11, 11: 13}[number]) + _packed(number, count)
                 + _field(8, "big")]
        use = rng.random() < 0.5
        nodes = [_node("Reshape" if use else "Relu", ["x", "big"] if use else ["x"], ["y"])]
        note = f"field {number} x {count:,}"
    elif r == 6:  # an open input size, given by --input or swept
        dims = [1, 3, "H", "W"] if rng.random() < 0.7 else ["N", 3, "H", 8]
        inits = [_tensor("w", [4, 3, 3, 3])]
        nodes = [_node("Conv", ["x", "w"], ["c"], "conv", kernel_shape=[3, 3]), _node("Relu", ["c"], ["y"])]
    elif r == 7:  # hostile names in node, tensor, graph and producer names and the file name
        nodes = [_node("Relu", ["x"], [hostile_name(rng)], hostile_name(rng))]
        nodes.append(_node("Sigmoid", [_last_output(nodes[0])], ["y"], hostile_name(rng)))
        plain = True
    elif r == 8:  # a FIFO, or a directory, as the model
        files["model.onnx"] = ("fifo",) if rng.random() < 0.7 else ("symlink", ".")
        nodes = []
    else:  # a valid small CNN with a repeated node name everywhere
        c, h = rng.randint(1, 8), rng.randint(8, 32)
        nodes, inits = onnx_chain(rng, c, h)
        dims = [1, c, h, h]
    if "model.onnx" not in files:
        data = onnx_model(nodes, inits, [("x", dims)], [(out, None)])
        if r == 7 and rng.random() < 0.5:  # a producer name (ModelProto field 2) and graph name
            data = _field(2, hostile_name(rng)) + data
        files["model.onnx"] = data
    model = "model.onnx"
    if r in (7, 0) and rng.random() < 0.3:  # the model's name comes from its file name
        model = "m" + hostile_name(rng).replace("/", "").replace("\x00", "") + ".onnx"
        files[model] = files.pop("model.onnx")
    cmd = rng.choice(("table", "table", "memory", "rf", "import", "sweep", "latency"))
    argv = [cmd, model]
    if cmd == "sweep":
        argv += ["--input", rng.choice(("3x{8..32..8}", "3x8,3x16", "3x{1..3}", "3x{8..4000}"))]
    elif r == 6 or rng.random() < 0.1:
        argv += ["--input", rng.choice(("3x16x16", "3x8x8", "3x1x1", "1x8x8", "3x100000x100000"))]
    if cmd == "latency":
        argv += ["--device", "a100-80gb"]
    if cmd != "import":
        argv += ["--format", rng.choice(("json", "csv", "table", "markdown"))]
    return Case("onnx_graphs", argv, files, note=note, plain_output=plain)


def _last_output(node: bytes) -> str:
    """The output name of a node written by _node (its field 2)."""
    pos = 0
    while pos < len(node):
        key, pos = node[pos], pos + 1
        length, shift = 0, 0
        while True:
            byte = node[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        if key == (2 << 3 | 2):
            return node[pos:pos + length].decode("utf-8", "surrogatepass")
        pos += length
    return "x"


_TORCH_DRIVER = '''
import os, resource, sys, time
import torch  # not counted: the family measures what from_torch costs, after torch's import
start_cpu, start_rss = time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
import cnncost
from cnncost.errors import CnnCostError, one_line
import module
code = 0
try:
    net, shape, name = module.build()
    try:
        graph = cnncost.from_torch(net, input=shape, name=name)
    except CnnCostError as exc:
        sys.stderr.write("cnncost: error: " + one_line(str(exc)) + "\\n")
        code = 2
    else:
        report = cnncost.analyze(graph)
        sys.stdout.write(report.table(format=sys.argv[1]))
        if module.HOOK_CHANGES_OUTPUT:
            sys.stderr.write("accepted a module whose forward hook changes its output\\n")
            code = 3
        held = sum(p.numel() for p in net.parameters())
        if report.totals.params != held:  # every generated module runs all its parameters
            sys.stderr.write(f"params {report.totals.params} where torch holds {held}\\n")
            code = 3
        again = cnncost.analyze_text(graph.to_yaml())  # what 'cnncost import' writes reads back the same
        if (again.totals.params, again.totals.macs) != (report.totals.params, report.totals.macs):
            sys.stderr.write("the written YAML reads back to other totals\\n")
            code = 3
finally:
    with open(".fuzz-cost", "w") as f:
        f.write(f"{time.process_time() - start_cpu} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_rss}")
sys.exit(code)
'''


def gen_from_torch(rng) -> Case:
    """from_torch on generated modules: one module called several times, forward hooks and pre-hooks (that
    change the output or not), loops of functional calls past the layer limit, optional arguments that
    recurse, and hostile module and model names."""
    r = rng.randrange(6)
    hook_changes = False
    name = "None"
    if r == 0:  # a module (or two) called several times
        calls = [rng.choice(("conv", "conv", "bn")) for _ in range(rng.randint(1, 4))]
        calls += [] if "bn" in calls else ["bn"]  # every parameter runs: the driver compares with torch's count
        body = "".join(f"        x = self.{c}(torch.relu(x))\n" for c in calls)
        source = ("class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                  "        self.conv = nn.Conv2d(4, 4, 3, padding=1)\n        self.bn = nn.BatchNorm2d(4)\n"
                  "    def forward(self, x):\n" + body + "        return self.conv(x)\n")
        shape = "4x8x8"
    elif r == 1:  # hooks
        which = rng.choice(("register_forward_hook", "register_forward_pre_hook"))
        hook_changes = rng.random() < 0.7
        effect = ("out * 2" if which == "register_forward_hook" else "(args[0] * 2,)") if hook_changes else "None"
        params = "m, args, out" if which == "register_forward_hook" else "m, args"
        source = ("class M(nn.Sequential):\n    pass\n"
                  f"def hook({params}):\n    return {effect}\n"
                  "def make():\n    m = M(nn.Conv2d(3, 4, 3), nn.ReLU())\n"
                  f"    m[{rng.choice((0, 1))}].{which}(hook)\n    return m\n")
        shape = "3x8x8"
        hook_changes = True  # a hook is refused whatever it returns: accepting one is a violation
    elif r == 2:  # loops of functional calls
        n = rng.choice((1, 100, 2_000, 10_000, 20_001, 25_000))
        fn = rng.choice(("torch.relu", "torch.nn.functional.relu", "torch.sigmoid", "torch.tanh"))
        source = ("class M(nn.Module):\n    def forward(self, x):\n"
                  f"        for _ in range({n}):\n            x = {fn}(x)\n        return x\n")
        shape = "3x4x4"
    elif r == 3:  # optional arguments that recurse or branch
        depth = rng.randint(1, 5)  # at least one call: every parameter runs
        source = ("class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                  "        self.conv = nn.Conv2d(3, 3, 1)\n"
                  f"    def forward(self, x, depth=None, flag={rng.choice(('True', 'False', '1', 'None'))}):\n"
                  f"        depth = {depth} if depth is None else depth\n"
                  "        if depth == 0:\n            return torch.relu(x) if flag else x\n"
                  "        return self.forward(self.conv(x), depth - 1, flag)\n")
        shape = "3x8x8"
    elif r == 4:  # hostile module names and model names
        child = hostile_name(rng).replace(".", "_") or "c"
        name = repr(hostile_name(rng))
        source = ("class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                  f"        self.add_module({child!r}, nn.Conv2d(3, 4, 3))\n"
                  f"    def forward(self, x):\n        return torch.relu(getattr(self, {child!r})(x))\n")
        shape = "3x8x8"
    else:  # one module in a ModuleList twice, and a shared Linear
        source = ("class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                  "        conv = nn.Conv2d(3, 3, 3, padding=1)\n        self.convs = nn.ModuleList([conv, conv])\n"
                  "        self.fc = nn.Linear(3, 3)\n"
                  "    def forward(self, x):\n        for c in self.convs:\n            x = c(x)\n"
                  "        x = x.mean((2, 3))\n        return self.fc(self.fc(x))\n")
        shape = "3x8x8"
    make = "make()" if "def make" in source else "M()"
    module = ("import torch\nimport torch.nn as nn\n" + source +
              f"HOOK_CHANGES_OUTPUT = {hook_changes}\n"
              f"def build():\n    return {make}, {shape!r}, {name}\n")
    fmt = rng.choice(("table", "csv", "markdown", "json"))
    return Case("from_torch", [fmt], {"module.py": module.encode("utf-8", "surrogatepass"),
                                      "drive.py": _TORCH_DRIVER.encode()},
                program=[sys.executable, "drive.py"], plain_output=r == 4, note=f"from_torch {r}")


def gen_sweep_axes(rng) -> Case:
    """sweep with list and mapping values, YAML under --set, ranges with long numbers, products near the
    point and layer bounds, and every axis."""
    model = rng.choice(("resnet18", "alexnet", "mobilenet_v1", "resnet20_cifar", "net.yaml"))
    files = {}
    if model == "net.yaml":
        files["net.yaml"] = (b"params: {widths: [4, 8], depth: 1, act: relu}\ninput: [3, 16, 16]\n"
                             b"layers:\n  - conv: {out: '${widths[0]}', kernel: 3, padding: 1}\n"
                             b"  - repeat: {count: '${depth}', layers: [{conv: {out: '${widths[-1]}', kernel: 3}}]}\n"
                             b"  - relu\n")
    param = {"resnet18": "depths", "alexnet": "classes", "mobilenet_v1": "alpha", "resnet20_cifar": "classes",
             "net.yaml": rng.choice(("widths", "depth", "act"))}[model]
    argv = ["sweep", model]
    for _ in range(rng.randint(1, 3)):
        r = rng.randrange(7)
        if r == 0:
            argv += ["--set", param + "=" + rng.choice((
                "[1,1,1,1],[2,2,2,2]", "[1, 2, 3, 4]", "[[1]]", "[]", "{a: 1}", "{a: [1, 2]},{b: 2}", "[1,1,1,1]",
                "10,100", "{1..5}", "{1..3000}", "[8, 16],[4, 4]", "x", "'${2}'", "null", ".nan", "1e400",
                "&a [*a]", "[" + ", ".join(["&a [1, 1]"] + ["*a"] * 150) + "]", "9" * 5000, "{1.." + "9" * 400 + "}",
                "[1,{2..4}]", "\x1b[2J", "[1,1,1,1],[0,0,0,0]", "relu,gelu,nope"))]
        elif r == 1:
            argv += ["--input", rng.choice(("3x{32..64..32}", "3x{16..512}", "3x{1..4}", "3x{64..4096}",
                                            "3x{8..8}x{8..2008}", "{1..3}x32", "3x{32..16}", "3x{32..64..0}",
                                            "3x{a..b}", "3x{1.." + "9" * 5000 + "}", "3x64,3x{96..128..32}"))]
        elif r == 2:
            argv += ["--batch", rng.choice(("1,2", "{1..100000}", "{1..100001}", "{1..1000}", "0", "{0..2}",
                                            "{1.." + "9" * 60 + "}"))]
        elif r == 3:
            argv += ["--dtype", rng.choice(("float32,float16", "int8", "nope"))]
        elif r == 4:
            argv += ["--convention", rng.choice(("lecture,fvcore", "torchvision", "x"))]
        elif r == 5:
            argv += ["--device", rng.choice(("a100-80gb,t4", "k80", "nope")), rng.choice(("--memory", "--latency"))]
        else:
            argv += ["--format", rng.choice(("json", "csv", "markdown", "table"))]
    return Case("sweep_axes", argv, files)


def gen_device_files(rng) -> Case:
    """Device files and calibration profiles with NaN, infinity, negatives, strings, huge and missing figures,
    hostile names; calibrate with a destination it cannot write."""
    fields = {"name": "'dev'", "kind": "cuda", "memory_bytes": "17179869184", "bandwidth_gb_s": "900",
              "peak_tflops": "{fp32: 19.5, fp16: 312}"}
    bad = rng.choice(("memory_bytes", "bandwidth_gb_s", "peak_tflops", "kind", "name", None))
    if bad == "peak_tflops":
        fields[bad] = "{fp32: " + rng.choice((".nan", ".inf", "-1", "0", "1e400", "'x'", "null", "1e-320")) + "}"
    elif bad == "name":
        fields[bad] = json.dumps(hostile_name(rng))
    elif bad == "kind":
        fields[bad] = rng.choice(("cpu", "tpu", "''", "[cuda]"))
    elif bad is not None:
        fields[bad] = rng.choice((".nan", ".inf", "-.inf", "-5", "0", "1e400", "'fast'", "[1]", "9" * 400,
                                  "0x10", "1_000"))
    text = "devices:\n  dev:\n" + "".join(f"    {k}: {v}\n" for k, v in fields.items() if rng.random() > 0.05)
    r = rng.randrange(4)
    env = {}
    files = {}
    if r == 0:  # a --device-file
        files["d.yaml"] = text.encode("utf-8", "surrogatepass")
        cmd = rng.choice(("latency", "memory", "devices", "sweep"))
        argv = [cmd, "alexnet", "--device-file", "d.yaml", "--device", "dev"] if cmd != "devices" else \
            ["devices", "--device-file", "d.yaml"]
        if cmd == "sweep":
            argv += ["--batch", "1,2", rng.choice(("--latency", "--memory"))]
    elif r == 1:  # a calibration profile, read as --device local
        files["config/local-device.yaml"] = text.replace("  dev:", "  local:").encode("utf-8", "surrogatepass")
        env["CNNCOST_CONFIG_DIR"] = "config"
        argv = [rng.choice(("latency", "memory")), rng.choice(("alexnet", "resnet18")), "--device", "local"]
    elif r == 2:  # calibrate where it cannot write (never where it can: a real calibration takes 30 s)
        which = rng.randrange(3)
        if which == 0:
            files["config"] = b"a file"
        elif which == 1:
            files["top"] = b"a file"
        else:
            files["config/local-device.yaml/x"] = b""
        env["CNNCOST_CONFIG_DIR"] = ("config", "top/below/config", "config")[which]
        argv = ["calibrate"]
    else:  # a broken or missing profile
        files["config/local-device.yaml"] = rng.choice((b"", b"devices: {}\n", b"\xff", b"devices: [1]\n",
                                                        text.encode("utf-8", "surrogatepass")))
        env["CNNCOST_CONFIG_DIR"] = rng.choice(("config", "missing"))
        argv = ["latency", "alexnet", "--device", "local"]
    if argv[0] not in ("calibrate",):
        argv += ["--format", rng.choice(("table", "json", "csv", "markdown"))]
    return Case("device_files", argv, files, env=env, plain_output=bad == "name")


def gen_printed_names(rng) -> Case:
    """Control characters in every name that is printed: the model's name, description and notes, a
    parameter's doc and default, a device's name, the file's name, on every command and format."""
    w = hostile_name(rng)
    doc = {"input": [3, 16, 16], "layers": [{"conv": {"name": "c1", "out": 4, "kernel": 3}}, "relu",
                                            {"maxpool": {"kernel": 2}}]}
    where = rng.randrange(6)
    if where == 0:
        doc["name"] = w
    elif where == 1:
        doc["description"] = w
    elif where == 2:
        doc["notes"] = [w, hostile_name(rng)]
    elif where == 3:
        doc["params"] = {"p": {"default": 1, "doc": w}}
    elif where == 4:
        doc["params"] = {"p": {"default": w}}
    files = {"net.yaml": encode(to_yaml(doc, rng))}
    model = "net.yaml"
    if where == 5:
        model = "n" + w.replace("/", "").replace("\x00", "") + ".yaml"
        files = {model: files["net.yaml"]}
    device = []
    if rng.random() < 0.3:
        files["d.yaml"] = ("devices:\n  dev:\n    name: " + json.dumps(hostile_name(rng)) + "\n    kind: cuda\n"
                           "    memory_bytes: 17179869184\n    bandwidth_gb_s: 900\n    peak_tflops: {fp32: 19.5}\n"
                           ).encode()
        device = ["--device-file", "d.yaml", "--device", "dev"]
    cmd = rng.choice(("table", "memory", "rf", "latency", "info", "explain", "sweep", "compare", "budget", "check"))
    argv = [cmd, model]
    if cmd in ("memory", "latency") and device:
        argv += device
    elif cmd == "latency":
        argv += ["--device", "a100-80gb"]
    elif cmd == "sweep":
        argv += ["--batch", "1,2"] + (["--set", "p=1,2"] if "params" in doc else [])
    elif cmd == "compare":
        argv += ["alexnet"]
    elif cmd == "budget":
        argv += ["--max-params", rng.choice(("1", "1G"))]
    elif cmd == "check":
        argv = ["check", "alexnet", "--model-file", f"alexnet={model}"]
    if cmd == "table" and rng.random() < 0.3:
        argv.append(rng.choice(("--notes", "--rf", "--depth=1")))
    if cmd not in ("explain",):
        argv += ["--format", rng.choice(("table", "csv", "markdown", "json", "table"))]
    return Case("printed_names", argv, files, plain_output=True)


FAMILIES = {
    # name: (generator, weight in a run)
    "valid_net": (gen_valid_net, 24),
    "extends": (gen_extends, 7),
    "layer_args": (gen_layer_args, 16),
    "wiring": (gen_wiring, 4),
    "onnx": (gen_onnx, 4),
    "expressions": (gen_expressions, 10),
    "names": (gen_names, 7),
    "yaml_syntax": (gen_yaml_syntax, 8),
    "alias_use": (gen_alias_use, 2),
    "zoo_mutation": (gen_zoo_mutation, 8),
    "check_model_file": (gen_check_model_file, 3),
    "cli": (gen_cli, 8),
    "stdin": (gen_stdin, 3),
    "sizes": (gen_sizes, 4),
    "deep_nesting": (gen_deep_nesting, 2),
    "output_files": (gen_output_files, 2),
    "big_inputs": (gen_big_inputs, 0.5),
    "expression_bombs": (gen_expression_bombs, 0.5),
    "alias_bombs": (gen_alias_bombs, 0.5),
    "repeat_bombs": (gen_repeat_bombs, 0.3),
    "io_bombs": (gen_io_bombs, 0.3),
    # issue 26
    "onnx_graphs": (gen_onnx_graphs, 3),
    "from_torch": (gen_from_torch, 1),
    "sweep_axes": (gen_sweep_axes, 3),
    "device_files": (gen_device_files, 2),
    "printed_names": (gen_printed_names, 4),
}


def _arg(arg):
    if isinstance(arg, str):
        try:
            os.fsencode(arg)
        except UnicodeEncodeError:
            arg = arg.encode("utf-8", "surrogatepass")
    return arg.replace("\x00", "") if isinstance(arg, str) else arg.replace(b"\x00", b"")


def generate(seed: int, index: int, family: str | None = None) -> Case:
    """Case number index of a run with this seed; the same arguments always give the same case."""
    rng = random.Random(f"{seed}:{index}:{family or ''}")
    if family is None:
        names = list(FAMILIES)
        family = rng.choices(names, [FAMILIES[n][1] for n in names])[0]
    case = FAMILIES[family][0](rng)
    case.seed, case.index = seed, index
    # a command line cannot hold NUL (execve): NUL reaches cnncost through files and stdin instead; a lone
    # surrogate cannot be encoded, so it goes as the bytes it stands for (an argument that is not UTF-8)
    case.argv = [_arg(a) for a in case.argv]
    return case


# ---------------------------------------------------------------------------
# Running a case.

@dataclasses.dataclass
class Run:
    argv: list
    rc: int | None
    signal: int | None
    stdout: bytes
    stderr: bytes
    wall_s: float
    cpu_s: float
    rss_mib: float
    killed: bool
    stdout_size: int = 0


@dataclasses.dataclass
class Limits:
    as_mib: int = 1024  # address-space cap: a run that would use more fails with MemoryError instead
    rss_mib: int = 500  # target: more resident memory than this is a violation
    slow_s: float | None = 2.0  # target CPU seconds (None: not checked, as in the tests)
    kill_s: float = 10.0
    validate_kill_s: float = 120.0
    cache_dir: str = ""
    cnncost_path: str | None = None  # import cnncost from here (a snapshot of a commit) instead of the install


VIOLATIONS = ("timeout", "memory", "traceback", "internal-error", "bad-stderr", "exit-other", "slow",
              "torch-mismatch", "validate-error", "check-exit", "output-file", "stdout-on-failure", "raw-output",
              "harness-error")  # the last is the fuzzer's own failure, never hidden
FINE = ("ok", "refused", "io-error", "claims", "over-budget")


@dataclasses.dataclass
class Result:
    case: Case
    outcome: str
    run: Run
    detail: str = ""
    validate: dict | None = None  # the validate run's summary, when one ran
    unexpected_refusal: bool = False

    @property
    def violation(self) -> bool:
        return self.outcome in VIOLATIONS


def _fs_name(rel: str) -> str:
    """A file name with a lone surrogate, as the bytes it stands for (what the command line gets too)."""
    try:
        os.fsencode(rel)
        return rel
    except UnicodeEncodeError:
        return os.fsdecode(rel.encode("utf-8", "surrogatepass"))


def write_files(case: Case, where: Path):
    modes = {}
    for rel, data in case.files.items():
        rel = _fs_name(rel)
        if rel.startswith(".mode "):
            modes[rel[6:]] = int(data.decode(), 8)
            continue
        path = where / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, tuple) and data[0] == "symlink":
            os.symlink(data[1], path)
        elif isinstance(data, tuple) and data[0] == "fifo":
            os.mkfifo(path)
        else:
            path.write_bytes(data)
    for rel, mode in modes.items():
        os.chmod(where / rel, mode)


# The launcher sets the limits, forks the command and reports the command's own rusage. A process's max RSS
# starts from the RSS of the process that forked it (Linux copies the high-water mark with the memory map and
# keeps it across exec), so the command must be forked by a small process, not by this one or a shell that this
# one forked. It runs as 'python -I -S -c LAUNCHER': a few MiB, the floor of every measurement.
_LAUNCHER = """
import os, resource, sys
as_kib, stdout_mode, report = sys.argv[1:4]
if as_kib != "unlimited":
    resource.setrlimit(resource.RLIMIT_AS, (int(as_kib) * 1024,) * 2)
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20,) * 2)
os.umask(0o022)
if stdout_mode == "closed":
    os.close(1)
elif stdout_mode == "full":
    fd = os.open("/dev/full", os.O_WRONLY)
    os.dup2(fd, 1)
    os.close(fd)
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[4], sys.argv[4:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as f:
    f.write(f"{status} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
"""


def run_command(argv, cwd: Path, stdin: bytes | None, stdout_mode: str, limits: Limits, kill_s: float,
                as_mib: int | None, keep_stdout=4096, program=None, env_extra=None) -> Run:
    """Run python -m cnncost ARGV (or program ARGV) through the launcher, killed after kill_s."""
    out_path, err_path, in_path = cwd / ".fuzz-stdout", cwd / ".fuzz-stderr", cwd / ".fuzz-stdin"
    report_path = cwd / ".fuzz-report"
    limit = f"{as_mib * 1024}" if as_mib else "unlimited"
    cmd = [sys.executable, "-I", "-S", "-c", _LAUNCHER, limit, stdout_mode, str(report_path),
           *(program or [sys.executable, "-m", "cnncost"]), *argv]
    env = dict(os.environ)
    env.update({"CNNCOST_CACHE_DIR": limits.cache_dir, "NO_COLOR": "1", "COLUMNS": "120", "LC_ALL": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1"})
    env.pop("PYTHONSTARTUP", None)
    env.update(env_extra or {})
    if limits.cnncost_path:
        env["PYTHONPATH"] = limits.cnncost_path
    if stdin is not None:
        in_path.write_bytes(stdin)
    with open(out_path, "wb") as out, open(err_path, "wb") as err, \
            (open(in_path, "rb") if stdin is not None else open(os.devnull, "rb")) as inp:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=inp, stdout=out, stderr=err, env=env, start_new_session=True)
        killed = []

        def kill():
            killed.append(True)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(kill_s, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_kib, cpu_s = usage.ru_maxrss, usage.ru_utime + usage.ru_stime  # the launcher's, when it was killed
    if report_path.exists():
        child_status, rss_kib, cpu = report_path.read_text().split()
        rss_kib, cpu_s = int(rss_kib), float(cpu)
        rc = os.waitstatus_to_exitcode(int(child_status))
    else:
        rc = proc.returncode
    stdout = out_path.read_bytes()
    stderr = err_path.read_bytes()
    for p in (out_path, err_path, in_path, report_path):
        if p.exists():
            p.unlink()
    return Run(argv=list(argv), rc=rc if rc >= 0 else None, signal=-rc if rc < 0 else None,
               stdout=stdout[:keep_stdout], stderr=stderr[:8192], wall_s=wall, cpu_s=cpu_s,
               rss_mib=rss_kib / 1024, killed=bool(killed), stdout_size=len(stdout))


def classify(run: Run, limits: Limits, command: str = "table") -> tuple:
    """(outcome, detail) of one run, by the error discipline of the README and issue 15."""
    err = run.stderr.decode("utf-8", "replace")
    lines = err.splitlines()
    if run.killed:
        return "timeout", f"killed after {limits.kill_s:g} s"
    if run.rss_mib > limits.rss_mib:
        return "memory", f"{run.rss_mib:.0f} MiB resident"
    if "MemoryError" in err or "out of memory" in err:
        return "memory", f"out of memory under the {limits.as_mib} MiB cap: {err.strip()[:200]}"
    if "Traceback (most recent call last)" in err:
        return "traceback", (lines[-1] if lines else "")[:300]
    if limits.slow_s is not None and run.cpu_s > limits.slow_s:
        return "slow", f"{run.cpu_s:.2f} s of CPU"
    if run.rc == 0:
        if command == "sweep" and len(lines) == 1 and re.fullmatch(r"cnncost: [\d,]+ of [\d,]+ points could not "
                                                                    r"be costed; the first: .+", lines[0]):
            return "ok", ""  # docs/sweep.md: points that cannot be costed keep their error; stderr counts them
        if len(lines) == 1 and re.fullmatch(r"cnncost: .+: Incomplete: [\d,]+ operators? the import could not "
                                            r"map .+; every total is a lower bound\.", lines[0]):
            return "ok", ""  # docs/import.md: a model with opaque rows says on stderr that its totals are bounds
        if err.strip() and command not in ("validate",):
            return "bad-stderr", "exit 0 with stderr: " + err.strip()[:300]
        return "ok", ""
    if run.rc in (1, 2):
        one_line = len(lines) == 1 and err.endswith("\n") and lines[0].startswith("cnncost: error: ") and \
            len(lines[0]) > len("cnncost: error: ")
        if "internal error" in err:
            return "internal-error", err.strip()[:300]
        if command == "check" and run.rc == 1 and not err.strip() and run.stdout_size:
            return "claims", ""
        if command == "budget" and run.rc == 1 and not err.strip() and run.stdout_size:
            return "over-budget", ""
        if not one_line:
            return "bad-stderr", f"exit {run.rc}, {len(lines)} lines: {err[:300]!r}"
        if run.stdout_size:
            return "stdout-on-failure", f"exit {run.rc} after {run.stdout_size} bytes on stdout"
        return ("refused" if run.rc == 2 else "io-error"), lines[0][:300]
    return "exit-other", f"exit {run.rc}, signal {run.signal}: {err.strip()[:300]}"


TORCH_RSS_MIB = 400  # torch's import, which the from_torch family's driver does before it measures
FROM_TORCH_SLOW_S = 5.0  # issue 21's target: a module of 20,000 calls imports or is refused in 5 s
_RAW = re.compile(b"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]")


def driver_cost(where: Path, limits: Limits, outcome: str, detail: str) -> tuple:
    """The from_torch driver's own measure of what from_torch cost (CPU s, RSS growth KiB), after torch."""
    try:
        cpu, rss_kib = (where / ".fuzz-cost").read_text().split()
    except (OSError, ValueError):
        return "harness-error", "the driver wrote no cost"
    if limits.slow_s is not None and float(cpu) > FROM_TORCH_SLOW_S:
        return "slow", f"{float(cpu):.2f} s of CPU after torch's import"
    if int(rss_kib) / 1024 > limits.rss_mib:
        return "memory", f"{int(rss_kib) / 1024:.0f} MiB more after torch's import"
    return outcome, detail


def plain_output(run: Run, outcome: str, detail: str) -> tuple:
    """Output meant for a terminal (every format but JSON) holds no control character, and no name forged a
    line of its own; JSON must parse."""
    if run.stdout_size > len(run.stdout):
        return outcome, detail  # too long to keep: not checked
    text = run.stdout
    if b'"version"' in text[:200] or text.lstrip().startswith((b"{", b"[")):
        try:
            json.loads(text)
        except ValueError as exc:
            return "raw-output", f"JSON that does not parse: {exc}"
        return outcome, detail
    found = _RAW.search(text)
    if found:
        return "raw-output", f"{found.group()!r} at byte {found.start()} of stdout"
    if any(line.lstrip(" |\u2502\u2503").startswith(FORGED)  # after a table's borders
           for line in text.decode("utf-8", "replace").splitlines()):
        return "raw-output", f"a line of stdout starts with {FORGED}: a name broke a line"
    return outcome, detail


def check_outputs(case: Case, where: Path, run: Run) -> str:
    """-o post-conditions; '' when they hold."""
    problems = []
    for check in case.output_checks:
        if check[0] == "no-temp":
            left = [p.name for p in where.rglob(".cnncost-*")]
            if left:
                problems.append(f"temporary files left behind: {left}")
        elif check[0] == "symlink" and run.rc == 0:
            link = where / check[1]
            if not link.is_symlink():
                problems.append(f"-o replaced the symlink {check[1]} by a regular file")
            elif (where / check[2]).read_bytes() == b"old":
                problems.append(f"-o did not write through the symlink {check[1]}")
        elif check[0] == "mode" and run.rc == 0:
            path = where / check[1]
            mode = stat.S_IMODE(path.stat().st_mode)
            want = check[2] if check[2] is not None else 0o644  # a shell redirection under umask 022
            if mode != want:
                problems.append(f"{check[1]} has mode {mode:o}, a shell redirection gives {want:o}")
    return "; ".join(problems)


def run_case(case: Case, workdir: Path, limits: Limits, validate_share: float = 0.0) -> Result:
    try:
        return _run_case(case, workdir, limits, validate_share)
    except Exception as exc:  # the harness's own failure: reported, and the run goes on
        run = Run(argv=list(case.argv), rc=None, signal=None, stdout=b"", stderr=b"", wall_s=0.0, cpu_s=0.0,
                  rss_mib=0.0, killed=False)
        return Result(case, "harness-error", run, f"{type(exc).__name__}: {exc}"[:300])


def _run_case(case: Case, workdir: Path, limits: Limits, validate_share: float) -> Result:
    where = Path(tempfile.mkdtemp(prefix=f"{case.family}-{case.index}-", dir=workdir))
    try:
        write_files(case, where)
        own = limits
        if case.program:  # from_torch: torch's import is not the case's cost; the driver measures what follows
            own = dataclasses.replace(limits, slow_s=None, rss_mib=limits.rss_mib + TORCH_RSS_MIB,
                                      as_mib=None, kill_s=max(limits.kill_s, 60.0))
        run = run_command(case.argv, where, case.stdin, case.stdout, own, own.kill_s, own.as_mib,
                          keep_stdout=1 << 22 if case.plain_output else 4096, program=case.program,
                          env_extra=case.env)
        command = next((a for a in case.argv if isinstance(a, str) and not a.startswith("-")), "table")
        outcome, detail = classify(run, own, command)
        if case.program and outcome in FINE:
            outcome, detail = driver_cost(where, limits, outcome, detail)
        if case.plain_output and outcome in FINE:
            outcome, detail = plain_output(run, outcome, detail)
        result = Result(case, outcome, run, detail)
        if outcome == "claims" and case.companion:
            table = run_command(case.companion, where, None, "pipe", limits, limits.kill_s, limits.as_mib)
            if table.rc == 2:
                result.outcome = "check-exit"
                result.detail = ("check exits 1 with a report where 'table' refuses the file: " +
                                 table.stderr.decode("utf-8", "replace").strip()[:200])
        if not result.violation and case.output_checks:
            problem = check_outputs(case, where, run)
            if problem:
                result.outcome, result.detail = "output-file", problem
        if case.valid and outcome == "refused":
            result.unexpected_refusal = True
        if outcome == "ok" and case.validate_argv and case.validate_draw < validate_share:
            vrun = run_command(case.validate_argv, where, None, "pipe", limits, limits.validate_kill_s, None,
                               keep_stdout=1 << 30)
            result.validate = {"argv": case.validate_argv, "rc": vrun.rc, "wall_s": round(vrun.wall_s, 2)}
            try:
                report = json.loads(vrun.stdout)
            except ValueError:
                report = None
            summary = (report or {}).get("summary", {})
            result.validate.update(summary)
            if report is None or vrun.rc not in (0, 1):
                result.outcome = "validate-error"
                result.detail = f"validate exit {vrun.rc}: {vrun.stderr.decode('utf-8', 'replace').strip()[:300]}"
            elif summary.get("mismatches") or summary.get("errors") or vrun.rc != 0:
                result.outcome = "torch-mismatch"
                result.detail = _mismatches(report)
        if not result.violation:  # keep a long run's memory small: only violations are written out
            result.run.stdout, result.run.stderr = b"", result.run.stderr[:300]
            result.case.files = {}
        return result
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _mismatches(report) -> str:
    found = []
    for model in report.get("models", []):
        if model.get("error"):
            found.append(f"error: {model['error']}")
        for layer in model.get("layers", []):
            for check in layer.get("checks", []):
                if not check.get("ok", True):
                    found.append(f"{layer['name']} {check['figure']}: cnncost {check.get('cnncost')} "
                                 f"torch {check.get('torch')}")
    return "; ".join(found[:5]) or json.dumps(report.get("summary"))


def run_cases(cases, workdir: Path, limits: Limits, jobs=2, validate_share=0.0, on_result=None):
    """Run cases on jobs threads (each waits on its subprocess); results in case order."""
    workdir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_case, case, workdir, limits, validate_share) for case in cases]
        results = []
        for future in futures:
            result = future.result()
            if on_result:
                on_result(result)
            results.append(result)
    return results


# ---------------------------------------------------------------------------
# Reproduction and the summary.

def quote(arg) -> str:
    if isinstance(arg, bytes) or any(ord(ch) < 32 or ord(ch) >= 127 for ch in arg):
        data = arg if isinstance(arg, bytes) else arg.encode("utf-8", "surrogatepass")
        return "$'" + "".join(chr(b) if 32 <= b < 127 and chr(b) not in "'\\" else f"\\x{b:02x}" for b in data) + "'"
    return shlex.quote(arg)


def command_line(case: Case, argv=None) -> str:
    program = "python " + " ".join(quote(a) for a in case.program[1:]) if case.program else "python -m cnncost"
    env = "".join(f"{k}={quote(v)} " for k, v in case.env.items())
    line = env + program + " " + " ".join(quote(a) for a in (argv or case.argv))
    if case.stdin is not None:
        line += " < stdin.bin"
    if case.stdout == "closed":
        line += " >&-"
    elif case.stdout == "full":
        line += " > /dev/full"
    return line


def keep_case(result: Result, out: Path):
    case = result.case
    where = out / f"{result.outcome}-{case.family}-{case.seed}-{case.index}"
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    write_files(case, where)
    if case.stdin is not None:
        (where / "stdin.bin").write_bytes(case.stdin)
    (where / "repro.sh").write_text(f"#!/bin/bash\n# {result.outcome}: {result.detail}\n"
                                    f"# rebuild: python tools/fuzz.py --seed {case.seed} --case {case.index}\n"
                                    f"cd \"$(dirname \"$0\")\" && {command_line(case)}\n")
    (where / "stderr.txt").write_bytes(result.run.stderr)
    (where / "result.json").write_text(json.dumps({
        "family": case.family, "outcome": result.outcome, "detail": result.detail, "rc": result.run.rc,
        "cpu_s": round(result.run.cpu_s, 3), "wall_s": round(result.run.wall_s, 3),
        "rss_mib": round(result.run.rss_mib, 1), "validate": result.validate, "note": case.note}, indent=2))


def summary(results, wall_s, seed) -> str:
    from collections import Counter

    lines = [f"{len(results)} cases, seed {seed}, {wall_s:.0f} s wall"]
    outcomes = Counter(r.outcome for r in results)
    lines.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1])))
    violations = [r for r in results if r.violation]
    lines.append(f"violations: {len(violations)}")
    lines.append("per family (cases: outcomes):")
    by_family: dict = {}
    for r in results:
        by_family.setdefault(r.case.family, Counter())[r.outcome] += 1
    for family, counts in sorted(by_family.items()):
        total = sum(counts.values())
        lines.append(f"  {family:18} {total:6}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    validated = [r for r in results if r.validate is not None]
    if validated:
        figures = sum(r.validate.get("figures", 0) or 0 for r in validated)
        mismatches = sum(r.validate.get("mismatches", 0) or 0 for r in validated)
        lines.append(f"validated against torch: {len(validated)} networks, {figures} figures, "
                     f"{mismatches} mismatches")
    unexpected = [r for r in results if r.unexpected_refusal]
    if unexpected:
        lines.append(f"valid-by-construction networks refused: {len(unexpected)} (the generator's shape arithmetic "
                     "or cnncost; first ones:)")
        for r in unexpected[:5]:
            lines.append(f"  --case {r.case.index}: {r.detail[:200]}")
    lines.append("slowest (CPU s, wall s, case):")
    for r in sorted(results, key=lambda r: -r.run.cpu_s)[:8]:
        lines.append(f"  {r.run.cpu_s:6.2f} {r.run.wall_s:6.2f}  --case {r.case.index} {r.case.family} "
                     f"{r.outcome} {r.case.note[:60]}")
    lines.append("largest max RSS (MiB, case):")
    for r in sorted(results, key=lambda r: -r.run.rss_mib)[:5]:
        lines.append(f"  {r.run.rss_mib:7.1f}  --case {r.case.index} {r.case.family} {r.outcome} {r.case.note[:60]}")
    if violations:
        lines.append("violations (first 40):")
        for r in violations[:40]:
            lines.append(f"  --case {r.case.index} {r.case.family} {r.outcome}: {r.detail[:160]}")
            lines.append(f"      {command_line(r.case)[:200]}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--start", type=int, default=0, help="the first case index")
    parser.add_argument("--case", type=int, action="append", help="run only this case index (repeatable)")
    parser.add_argument("--family", action="append", choices=list(FAMILIES), help="only these families")
    parser.add_argument("--out", type=Path, help="keep each violating case here (files, repro.sh, stderr)")
    parser.add_argument("--validate-share", type=float, default=0.03,
                        help="share of valid networks also checked with 'cnncost validate' against torch")
    parser.add_argument("--slow-s", type=float, default=2.0, help="CPU seconds over which a run is a violation")
    parser.add_argument("--rss-mib", type=int, default=500)
    parser.add_argument("--as-mib", type=int, default=1024, help="address-space cap of each run")
    parser.add_argument("--kill-s", type=float, default=10.0)
    parser.add_argument("--log", type=Path, help="write one JSON line per case here")
    parser.add_argument("--cnncost-path", help="run the cnncost package found in this folder (e.g. a 'git archive' "
                                               "of a commit) instead of the installed one")
    parser.add_argument("--show", action="store_true", help="print each case's files and command, do not run")
    args = parser.parse_args(argv)

    indices = args.case or range(args.start, args.start + args.cases)
    families = args.family
    cases = []
    for index in indices:  # with --family, the families take turns
        cases.append(generate(args.seed, index, families[index % len(families)] if families else None))
    if args.show:
        sys.stdout.reconfigure(errors="backslashreplace")
        for case in cases:
            print(f"== case {case.index} ({case.family}) {command_line(case)}")
            for rel, data in case.files.items():
                print(f"-- {rel}")
                print(data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else data)
            if case.stdin is not None:
                print(f"-- stdin: {case.stdin[:2000]!r}")
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="cnncost-fuzz-"))
    limits = Limits(as_mib=args.as_mib, rss_mib=args.rss_mib, slow_s=args.slow_s, kill_s=args.kill_s,
                    cache_dir=str(workdir / "cache"), cnncost_path=args.cnncost_path)
    log = open(args.log, "w") if args.log else None
    done = [0]
    start = time.monotonic()

    def on_result(result: Result):
        done[0] += 1
        if log:
            log.write(json.dumps({"index": result.case.index, "family": result.case.family,
                                  "outcome": result.outcome, "detail": result.detail[:300], "rc": result.run.rc,
                                  "cpu_s": round(result.run.cpu_s, 3), "wall_s": round(result.run.wall_s, 3),
                                  "rss_mib": round(result.run.rss_mib, 1), "validate": result.validate,
                                  "unexpected_refusal": result.unexpected_refusal, "note": result.case.note[:100],
                                  "cmd": command_line(result.case)[:300]}) + "\n")
            log.flush()
        if result.violation:
            print(f"VIOLATION --case {result.case.index} {result.case.family} {result.outcome}: "
                  f"{result.detail[:200]}", file=sys.stderr, flush=True)
            if args.out:
                keep_case(result, args.out)
        if done[0] % 250 == 0:
            print(f"... {done[0]} cases, {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)

    try:
        results = run_cases(cases, workdir, limits, jobs=args.jobs, validate_share=args.validate_share,
                            on_result=on_result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if log:
            log.close()
    print(summary(results, time.monotonic() - start, args.seed))
    return 1 if any(r.violation for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
