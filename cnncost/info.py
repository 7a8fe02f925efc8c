"""What a model is, without expanding it by hand: its description, references, parameters, default input
and the figures published about it ('cnncost info').

    >>> from cnncost.info import model_info
    >>> info = model_info("mobilenet_v1")
    >>> [(p.name, p.default) for p in info.parameters]
    [('alpha', 1.0), ('resolution', 224), ('classes', 1000)]
    >>> info.input
    (3, 224, 224)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from . import api, zoo
from .errors import CnnCostError
from .report import Report, Settings

# a parameter written on one line with a comment after its value: `alpha: 1.0  # width multiplier`
_COMMENTED = r"^\s*{name}\s*:\s*[^#'\"]*?\s#\s?(?P<comment>.*?)\s*$"


@dataclass(frozen=True)
class Parameter:
    """One model parameter: what --set NAME=VALUE changes."""

    name: str
    default: Any  # as written in the file (an expression stays text: '${base * 2}')
    value: Any  # the default, evaluated
    choices: list | None = None  # the only values allowed, or None for any
    doc: str = ""  # the parameter's doc, or the comment on its line

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "default": self.default, "value": self.value, "choices": self.choices,
                "doc": self.doc}


@dataclass(frozen=True)
class ModelInfo:
    """A model's description, references, parameters, default input, totals at its defaults, and the
    published figures about it (claims, with what the network gives; ImageNet accuracy)."""

    model: str  # its name
    source: str  # the file it was read from, or <stdin>
    description: str
    references: tuple  # of str
    extends: str | None
    input: tuple  # the default input, per sample
    parameters: tuple  # of Parameter
    report: Report  # at the defaults, batch 1, float32, under the settings' convention
    claims: tuple = ()  # of claims.Result
    accuracy: dict | None = None  # published ImageNet top-1 / top-5 (cnncost/data/published/accuracy.yaml)
    notes: tuple = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of 'cnncost info --format json' (docs/json.md)."""
        t = self.report.totals
        return {
            "model": self.model, "source": self.source, "description": self.description,
            "references": list(self.references), "extends": self.extends, "input": list(self.input),
            "parameters": [p.to_dict() for p in self.parameters],
            "convention": self.report.convention,
            "totals": {"params": t.params, "buffers": t.buffers, "macs": t.macs, "flops": t.flops,
                       "memory_bytes": t.memory_bytes},
            "layers": len(self.report.layers),
            "published": [_claim_dict(r) for r in self.claims],
            "accuracy": self.accuracy,
            "notes": list(self.notes),
        }


def _claim_dict(result) -> dict[str, Any]:
    from .claims import computed_text

    c = result.claim
    return {"id": c.id, "source": c.source, "where": c.where, "what": c.what, "printed": c.printed,
            "computed": computed_text(result) if result.computed is not None else None,
            "expected": c.expected, "outcome": result.outcome, "ok": result.ok}


def model_info(model: str | os.PathLike, settings: Settings | None = None, *, text: str | None = None,
               published: bool = True) -> ModelInfo:
    """Describe a zoo name or YAML file (or ``text``, a YAML string, named ``model``).

    ``settings`` choose the convention of the totals (its ``set`` and ``input``
    are not applied: this describes the defaults). ``published`` evaluates the
    claims registry's figures about the model (cnncost check).
    """
    from .expand import with_base
    from .yamlio import LineDict, load_file, load_text

    if not isinstance(model, (str, os.PathLike)):
        raise CnnCostError(f"model must be a zoo name or a YAML file's path, got {type(model).__name__}")
    settings = Settings.of(settings)
    if text is None and os.fspath(model).lower().endswith(".onnx"):  # described as the YAML its import writes
        text = api.load(model).to_yaml()
    if text is None:
        source = zoo.file_of(model)
        doc = load_file(source)
    else:
        source = os.fspath(model)
        doc = load_text(text, source)
    if isinstance(doc, LineDict) and "extends" in doc:  # a parsed mapping is always a LineDict
        extends = str(doc["extends"])
        doc = with_base(doc, source, [source])
    else:
        extends = None
    defaults = settings.replace(set={}, input=None)
    graph = api.load_text(text, source, defaults) if text is not None else api.load(source, defaults)
    report = api.analyze(graph, defaults)
    if not isinstance(doc, dict):  # cannot happen once the graph expanded, but keep the types honest
        raise CnnCostError("the top level must be a mapping with 'layers'")
    reference = str(doc.get("reference") or "")
    references = tuple(r.strip() for r in reference.split(";") if r.strip())
    parameters = tuple(_parameters(doc.get("params") or {}, graph.params, source, text))
    zoo_name = _zoo_name(source) if text is None else None
    results: tuple = ()
    if published and zoo_name is not None:
        from . import claims

        chosen = claims.about(claims.load(), [zoo_name])
        evaluator = claims.Evaluator()
        results = tuple(evaluator.evaluate(c) for c in chosen)
    return ModelInfo(model=graph.name, source=source, description=graph.description, references=references,
                     extends=extends, input=graph.input_shape, parameters=parameters, report=report,
                     claims=results, accuracy=_accuracy(zoo_name), notes=tuple(graph.notes))


def _parameters(params, values: dict, source: str, text: str | None):
    lines_of: dict[str, list[str]] = {}

    def comment(name: str) -> str:
        """The comment after the parameter's value on its line, where it has one."""
        line = params.line_of(name) if hasattr(params, "line_of") else None
        file = getattr(params, "key_files", {}).get(name) or getattr(params, "file", None) or source
        if line is None:
            return ""
        if file not in lines_of:
            try:
                from .yamlio import read_file

                lines_of[file] = (text if text is not None and file == source else read_file(file)).splitlines()
            except CnnCostError:
                lines_of[file] = []
        lines = lines_of[file]
        if not 0 < line <= len(lines):
            return ""
        match = re.match(_COMMENTED.format(name=re.escape(name)), lines[line - 1])
        return match["comment"] if match else ""

    for name, raw in params.items():
        if isinstance(raw, dict):
            default, choices, doc = raw.get("default"), raw.get("choices"), str(raw.get("doc") or "")
        else:
            default, choices, doc = raw, None, ""
        yield Parameter(str(name), _plain(default), _plain(values.get(name)),
                        [_plain(c) for c in choices] if choices is not None else None, doc or comment(str(name)))


def _plain(value):
    """Parsed YAML (line-keeping dicts and lists) as plain Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _zoo_name(source: str) -> str | None:
    """The zoo name of a file, when it is one of the zoo's files."""
    folder = os.path.realpath(zoo.architectures_dir())
    path = os.path.realpath(source)
    if os.path.dirname(path) == folder and path.endswith(".yaml"):
        return os.path.basename(path)[:-5]
    return None


def _accuracy(zoo_name: str | None) -> dict | None:
    if zoo_name is None:
        return None
    from .claims import DATA
    from .yamlio import load_file

    entry = (load_file(DATA / "published" / "accuracy.yaml").get("models") or {}).get(zoo_name)
    if not entry or entry.get("top1") is None:
        return None
    keys = ("top1", "top5", "weights", "source", "protocol", "kind")
    found = {k: _plain(entry.get(k)) for k in keys}
    if isinstance(entry.get("v2"), dict):
        found["v2"] = {k: _plain(entry["v2"].get(k)) for k in ("top1", "top5", "weights", "protocol")}
    return found
