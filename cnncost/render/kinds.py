"""'cnncost kinds': the registry of layer kinds, for people writing YAML."""

from __future__ import annotations

import json

from ..errors import CnnCostError, did_you_mean
from ..kinds import KINDS, REQUIRED
from .shown import Shown
from .text import wrap_at_spaces


def _arg_text(arg) -> str:
    if arg.default is REQUIRED:
        return arg.name
    default = arg.default
    if default is None:
        default = "auto"  # worked out from other arguments: see the argument's doc
    elif isinstance(default, bool):
        default = str(default).lower()
    return f"{arg.name}={default}"


def _describe(kind) -> dict:
    return {
        "kind": kind.name,
        "category": kind.category,
        "inputs": kind.inputs,
        "in_place": kind.inplace,
        "calls": list(kind.calls),
        "formulas": dict(kind.formulas),
        "args": [{"name": a.name, "required": a.default is REQUIRED,
                  "default": None if a.default is REQUIRED else a.default, "doc": a.doc} for a in kind.args],
        "doc": kind.doc,
    }


MARKDOWN_HEADERS = ("kind", "arguments (default)", "output", "params", "MACs (raw; the convention decides what counts)",
                    "runs as")


def _markdown_row(kind) -> str:
    def argument(a):
        if a.default is REQUIRED:
            return f"`{a.name}`"
        default = "auto" if a.default is None else str(a.default).lower() if isinstance(a.default, bool) else a.default
        return f"`{a.name}` ({default})"

    args = ", ".join(argument(a) for a in kind.args) or "none"
    if "arguments" in kind.formulas:
        args = kind.formulas["arguments"] if args == "none" else f"{args}; {kind.formulas['arguments']}"
    f = kind.formulas
    cells = [f"`{kind.name}`", args, f.get("output", ""), f.get("params", ""), f.get("macs", ""),
             ", ".join(kind.calls)]
    return "| " + " | ".join(cells) + " |"


def markdown_table(kinds=None) -> str:
    """The kinds table of docs/yaml-reference.md, made from the registry (a test keeps the two equal)."""
    lines = ["| " + " | ".join(MARKDOWN_HEADERS) + " |", "| " + " | ".join("---" for _ in MARKDOWN_HEADERS) + " |"]
    lines += [_markdown_row(kind) for kind in (kinds or KINDS.values())]
    return "\n".join(lines) + "\n"


def _wrapped(lines: list[str], width: int | None) -> list[str]:
    """Lines wrapped at spaces to width, each continuation under its line's text (the arguments' or the
    description's column, or four spaces where that column is too far right)."""
    if width is None:  # nothing to wrap
        return lines

    def hang(line: str) -> int:
        indent = len(line) - len(line.lstrip(" "))
        n = 31 if indent == 0 and len(line) > 31 and line[30] == " " else indent + 2
        return 4 if n > width - 20 else n

    return wrap_at_spaces(lines, width, hang)


def kinds_named(name: str | None) -> list:
    """The kinds 'cnncost kinds [KIND]' shows: every one, or the one named."""
    if name is not None and name not in KINDS:
        raise CnnCostError(f"no layer kind '{name}'", hint=did_you_mean(name, KINDS) or "see 'cnncost kinds'")
    return [KINDS[name]] if name else list(KINDS.values())


class KindList(Shown):
    """'cnncost kinds': the result is the list of kinds shown (kinds_named); option ``one``: a single kind asked
    for by name, shown with every argument's description."""

    formats = ("table", "json", "markdown")

    def data(self) -> list:
        return [_describe(k) for k in self.result]

    def write_json(self) -> str:
        return json.dumps(self.data(), indent=2) + "\n"

    def write_markdown(self) -> str:
        return markdown_table(self.result)

    def write_table(self) -> str:
        lines = []
        for kind in self.result:
            args = ", ".join(_arg_text(a) for a in kind.args) or "no arguments"
            many = " (several inputs)" if kind.inputs == "many" else ""
            lines.append(f"{kind.name:<18} {kind.category:<11} {args}{many}")
            if self.options.get("one"):
                lines.append(f"  {kind.doc}")
                lines += [f"  {a.name}: {a.doc}" for a in kind.args if a.doc]
            else:
                lines.append(f"{'':<30} {kind.doc}")
        return "\n".join(_wrapped(lines, self.width)) + "\n"
