"""The registry of published claims, and their evaluation against the networks.

A claim is one figure as a lecture, a paper or torchvision printed it, with
the network and settings it is about, how precisely it was printed, and what
we expect: that it `reproduces`, or that it is an `erratum` with a correct
value and an explanation. The registry is YAML under cnncost/data/claims/
(the format is docs/claims.md). `cnncost check` evaluates every claim and
fails when a claim's outcome is not the expected one, so a change to a zoo
file that moves a published figure is caught.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path
from typing import Any, Iterable, Mapping


from . import api, compare, conventions, zoo
from .engine import view
from .errors import CnnCostError, did_you_mean
from .expand import load_graph
from .graph import Graph
from .kinds import KINDS
from .report import Report, Settings
from .yamlio import load_file

DATA = Path(__file__).resolve().parent / "data"
REGISTRY = DATA / "claims"

# The unit a printed value is in: printed value x scale = the quantity's own unit
# (parameters, MACs, bytes, or a plain ratio).
UNITS = {
    "": Decimal(1), "k": Decimal(10) ** 3, "K": Decimal(10) ** 3, "Ki": Decimal(1024), "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9, "B": Decimal(10) ** 9, "KB": Decimal(1024), "MB": Decimal(1024) ** 2,
    "GB": Decimal(1024) ** 3, "x": Decimal(1), "%": Decimal("0.01"),
}
FIGURE_QUANTITIES = ("params", "buffers", "macs", "flops", "memory_bytes")
QUANTITIES = FIGURE_QUANTITIES + ("weights", "count", "depth", "elements", "output_shape")
QUANTITY_WORDS = {"params": "parameters", "buffers": "buffers", "macs": "MACs", "flops": "FLOPs",
                  "memory_bytes": "memory", "weights": "weights", "count": "layer count", "depth": "depth",
                  "elements": "activations", "output_shape": "output shape"}
FORMS = ("value", "ratio", "saving")
OUTCOMES = ("reproduces", "erratum")
TARGET_KEYS = ("model", "network", "input", "set", "convention", "include_side", "slice", "quantity", "counting")
CLAIM_KEYS = ("id", "source", "where", "form", "versus", "printed", "value", "unit", "precision", "counted_as",
              "expected", "correct", "correct_precision", "explanation", "explained_by", "note") + TARGET_KEYS
FILE_KEYS = ("sources", "defaults", "networks", "claims", "from_published")


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Precision:
    """How precisely a figure is printed, and so how a computed one is compared with it."""

    mode: str  # exact | decimals | significant | at_least | at_most
    digits: int = 0

    @classmethod
    def parse(cls, text, where: str) -> "Precision":
        words = str(text).strip().lower().replace("digits", "").replace("digit", "").split()
        if words == ["exact"]:
            return cls("exact")
        if words in (["at", "least"], ["at", "most"]):
            return cls("_".join(words))
        if words == ["integer"]:
            return cls("decimals", 0)
        if len(words) == 2 and words[0].isdigit() and words[1] in ("decimal", "decimals", "significant"):
            return cls("significant" if words[1] == "significant" else "decimals", int(words[0]))
        raise CnnCostError(f"{where}: precision '{text}' is not one of: exact, N decimals, N significant, "
                           "at least, at most")

    def round(self, value: Decimal) -> Decimal:
        if self.mode == "decimals":
            return value.quantize(Decimal(1).scaleb(-self.digits), rounding=ROUND_HALF_UP)
        if self.mode == "significant" and value != 0:
            exponent = value.adjusted() - self.digits + 1
            return value.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP)
        return value

    def matches(self, computed, printed) -> bool:
        if isinstance(printed, tuple) or isinstance(computed, tuple):
            return tuple(computed) == tuple(printed)
        if self.mode == "at_least":
            return computed >= printed
        if self.mode == "at_most":
            return computed <= printed
        return self.round(computed) == self.round(printed)

    def __str__(self) -> str:
        if self.mode in ("decimals", "significant"):
            return f"{self.digits} {self.mode}"
        return self.mode.replace("_", " ")


@dataclass(frozen=True)
class Claim:
    id: str
    source: str  # the publication, in full
    where: str  # section, table, row, column
    target: dict  # model or network, input, set, convention, include_side, slice, quantity, counting
    form: str  # value | ratio (target / versus) | saving (1 - target / versus)
    versus: dict | None
    printed: str  # exactly as printed
    value: Any  # the printed number in `unit`, or a shape
    unit: str
    precision: Precision
    expected: str  # reproduces | erratum
    counted_as: str = ""
    correct: Any = None  # erratum: the right figure, in `unit`
    correct_precision: Precision | None = None
    explanation: str = ""
    explained_by: dict | None = None  # erratum: settings under which the printed figure does come out
    note: str = ""
    file: str = ""
    networks: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def models(self) -> list[str]:
        """The zoo models (or files) this claim is about."""
        names = [t["model"] for t in (self.target, self.versus_target) if t and t.get("model")]
        return list(dict.fromkeys(names))

    @property
    def versus_target(self) -> dict | None:
        return merge_target(self.target, self.versus) if self.versus is not None else None

    @property
    def explained_target(self) -> dict | None:
        if self.explained_by is None:
            return None
        return merge_target(self.target, {k: v for k, v in self.explained_by.items() if k != "versus"})

    @property
    def explained_versus(self) -> dict | None:
        """explained_by's own versus, or the claim's."""
        return self.explained_by.get("versus", self.versus) if self.explained_by is not None else None

    @property
    def what(self) -> str:
        """A short description: 'vgg16 input to pool3 ... memory', for notes."""
        return describe(self.target, self.form, self.versus_target)


def merge_target(base: Mapping, changes: Mapping) -> dict:
    """A second target: base with changes; naming another model drops base's input and set."""
    merged = dict(base)
    if "model" in changes or "network" in changes:
        for key in ("model", "network", "input", "set"):
            merged.pop(key, None)
    merged.update(changes)
    return merged


def describe(target: dict, form: str = "value", versus: dict | None = None) -> str:
    def part(spec: Mapping) -> str:
        words = []
        if "layer" in spec:
            words.append(str(spec["layer"]))
        if "layers" in spec:
            words.append("+".join(map(str, spec["layers"])))
        if "until_resolution" in spec:
            words.append(f"stem (input to {spec['until_resolution']}x{spec['until_resolution']})")
        if "until" in spec:
            words.append(f"{spec.get('from', 'input')} to {spec['until']}")
        for key in ("kinds", "categories", "match"):
            if key in spec:
                words.append(f"{key} {', '.join(map(str, spec[key]))}")
        if "exclude" in spec:
            words.append("without " + ", ".join(map(str, spec["exclude"])))
        return " ".join(words)

    def one(t: dict) -> str:
        text = t.get("model") or f"network '{t.get('network')}'"
        if t.get("set"):
            text += " (" + ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                                     for k, v in t["set"].items()) + ")"
        if t.get("input"):
            text += " at " + "x".join(map(str, t["input"]))
        if t.get("slice"):
            text += " " + part(t["slice"])
        return text

    words = QUANTITY_WORDS[target["quantity"]]
    if form == "value" or versus is None:
        return f"{one(target)} {words}"
    word = "saving" if form == "saving" else "ratio"
    return f"{words} {word}, {one(target)} / {one(versus)}"


def _where(file: str, claim_id: str | None = None) -> str:
    return f"{file}: claim '{claim_id}'" if claim_id else file


def _check_target(target: Mapping, where: str, networks: Mapping[str, str], partial: bool = False) -> None:
    unknown = sorted(set(target) - set(TARGET_KEYS))
    if unknown:
        raise CnnCostError(f"{where}: unknown key '{unknown[0]}'", hint=did_you_mean(unknown[0], CLAIM_KEYS))
    if not partial:
        if ("model" in target) == ("network" in target):
            raise CnnCostError(f"{where}: give exactly one of 'model' (a zoo name) and 'network' (one of this "
                               "file's networks)")
        if "quantity" not in target:
            raise CnnCostError(f"{where}: 'quantity' is required")
    if "network" in target and target["network"] not in networks:
        raise CnnCostError(f"{where}: no network named '{target['network']}' in this file's 'networks'",
                           hint=did_you_mean(target["network"], networks))
    if "quantity" in target and target["quantity"] not in QUANTITIES:
        raise CnnCostError(f"{where}: unknown quantity '{target['quantity']}'",
                           hint=did_you_mean(target["quantity"], QUANTITIES) or "choose from " + ", ".join(QUANTITIES))
    if "convention" in target:
        conventions.get(target["convention"])
    if "slice" in target and target["slice"] is not None and not isinstance(target["slice"], Mapping):
        raise CnnCostError(f"{where}: 'slice' must be a mapping (docs/claims.md)")


def _decimal(value, where: str):
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CnnCostError(f"{where}: {value!r} is not a number")
    try:
        return Decimal(str(value).replace(",", ""))
    except ArithmeticError:
        raise CnnCostError(f"{where}: {value!r} is not a number") from None


def parse_claim(raw: Mapping, *, file: str, sources: Mapping[str, str], defaults: Mapping,
                networks: Mapping[str, str]) -> Claim:
    claim_id = raw.get("id")
    if not claim_id:
        raise CnnCostError(f"{file}: a claim without an 'id'")
    where = _where(file, claim_id)
    raw = {**defaults, **raw}
    unknown = sorted(set(raw) - set(CLAIM_KEYS))
    if unknown:
        raise CnnCostError(f"{where}: unknown key '{unknown[0]}'",
                           hint=did_you_mean(unknown[0], CLAIM_KEYS) or "see docs/claims.md")
    for key in ("source", "where", "printed", "value", "precision", "expected"):
        if raw.get(key) in (None, ""):
            raise CnnCostError(f"{where}: '{key}' is required")
    target = {k: raw[k] for k in TARGET_KEYS if k in raw}
    target.setdefault("convention", conventions.DEFAULT)
    _check_target(target, where, networks)
    form = raw.get("form", "value")
    if form not in FORMS:
        raise CnnCostError(f"{where}: form '{form}' is not one of {', '.join(FORMS)}")
    versus = raw.get("versus")
    if (form == "value") != (versus is None):
        raise CnnCostError(f"{where}: form '{form}' " + ("takes no 'versus'" if form == "value" else "needs 'versus'"))
    if versus is not None:
        _check_target(versus, where + " versus", networks, partial=True)
    expected = raw["expected"]
    if expected not in OUTCOMES:
        raise CnnCostError(f"{where}: expected '{expected}' is not one of {', '.join(OUTCOMES)}")
    if expected == "erratum":
        for key in ("correct", "explanation"):
            if raw.get(key) in (None, ""):
                raise CnnCostError(f"{where}: an erratum needs '{key}'")
    elif any(k in raw for k in ("correct", "explained_by", "correct_precision")):
        raise CnnCostError(f"{where}: only an erratum has 'correct', 'correct_precision' or 'explained_by'")
    explained_by = raw.get("explained_by")
    if explained_by is not None:
        _check_target({k: v for k, v in explained_by.items() if k != "versus"}, where + " explained_by", networks,
                      partial=True)
        if "versus" in explained_by:
            _check_target(explained_by["versus"], where + " explained_by versus", networks, partial=True)
    unit = str(raw.get("unit", ""))
    if unit not in UNITS:
        raise CnnCostError(f"{where}: unit '{unit}' is not one of {', '.join(repr(u) for u in UNITS)}")
    source = str(raw["source"])
    return Claim(
        id=str(claim_id), source=sources.get(source, source), where=str(raw["where"]), target=target, form=form,
        versus=versus, printed=str(raw["printed"]), value=_decimal(raw["value"], where), unit=unit,
        precision=Precision.parse(raw["precision"], where), expected=expected,
        counted_as=str(raw.get("counted_as", "")),
        correct=_decimal(raw["correct"], where) if "correct" in raw else None,
        correct_precision=Precision.parse(raw["correct_precision"], where) if "correct_precision" in raw else None,
        explanation=str(raw.get("explanation", "")), explained_by=raw.get("explained_by"),
        note=str(raw.get("note", "")), file=file, networks=networks,
    )


def _published_torchvision(path: Path, file: str) -> list[dict]:
    """Two claims per model of published/torchvision.yaml: num_params and _ops ('GFLOPS')."""
    doc = load_file(path)
    claims = []
    for model, meta in doc["models"].items():
        common = {"model": model, "input": meta["input"], "source": "torchvision",
                  "expected": "reproduces"}
        side = bool(meta.get("params_include_side", False))
        claims.append({
            **common, "id": f"torchvision/{model}/num_params", "quantity": "params", "include_side": side,
            "convention": "torchvision",
            "where": f"{meta['file']}, {meta['weights']} meta['num_params']",
            "printed": f"{meta['num_params']:,}", "value": meta["num_params"], "unit": "", "precision": "exact",
            "counted_as": "every nn.Parameter of the built model" + (", its auxiliary head included" if side else ""),
        })
        ops = str(meta["ops"])
        claims.append({
            **common, "id": f"torchvision/{model}/gflops", "quantity": "macs", "convention": "torchvision",
            "where": f"{meta['file']}, {meta['weights']} meta['_ops'] (docs: GFLOPS {meta['gflops']})",
            "printed": ops, "value": ops, "unit": "G",
            "precision": f"{len(ops.partition('.')[2])} decimals",
            "counted_as": "GMACs of conv and linear layers, bias excluded, in eval mode (labelled GFLOPS)",
        })
    return claims


def load(paths: Iterable[Path] | None = None) -> list[Claim]:
    """Every claim of the registry (or of the given YAML files), in file order."""
    files = sorted(REGISTRY.glob("*.yaml")) if paths is None else [Path(p) for p in paths]
    claims: list[Claim] = []
    seen: dict[str, str] = {}
    for path in files:
        file = path.name if paths is None else str(path)
        try:
            doc = load_file(path) or {}
        except CnnCostError as exc:
            raise CnnCostError(f"cannot read the claims file {file}: {exc}") from None
        unknown = sorted(set(doc) - set(FILE_KEYS))
        if unknown:
            raise CnnCostError(f"{file}: unknown top-level key '{unknown[0]}'",
                               hint=did_you_mean(unknown[0], FILE_KEYS) or "see docs/claims.md")
        sources = doc.get("sources") or {}
        defaults = doc.get("defaults") or {}
        networks = doc.get("networks") or {}
        raws = list(doc.get("claims") or [])
        if doc.get("from_published"):
            raws += _published_torchvision(DATA / doc["from_published"], file)
        for raw in raws:
            claim = parse_claim(raw, file=file, sources=sources, defaults=defaults, networks=networks)
            if claim.id in seen:
                raise CnnCostError(f"{file}: claim '{claim.id}' is already defined in {seen[claim.id]}")
            seen[claim.id] = file
            claims.append(claim)
    return claims


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Result:
    claim: Claim
    computed: Any  # in the quantity's own unit (a Decimal), or a shape; None on error
    outcome: str  # reproduces | erratum | the way it went wrong
    ok: bool  # the outcome is the expected one
    problem: str = ""  # why not, in a sentence
    explained: bool | None = None  # erratum with explained_by: does the printed figure come out there?
    explained_computed: Any = None

    def to_dict(self) -> dict[str, Any]:
        c = self.claim
        return {
            "id": c.id, "source": c.source, "where": c.where, "file": c.file, "target": _jsonable(c.target),
            "form": c.form, "versus": _jsonable(c.versus_target) if c.versus is not None else None,
            "printed": c.printed, "value": _jsonable(c.value), "unit": c.unit, "precision": str(c.precision),
            "counted_as": c.counted_as, "expected": c.expected,
            "correct": _jsonable(c.correct), "explanation": c.explanation or None,
            "explained_by": _jsonable(c.explained_target) if c.explained_by is not None else None,
            "computed": _jsonable(self.computed), "computed_text": computed_text(self),
            "outcome": self.outcome, "ok": self.ok, "problem": self.problem or None,
            "explained": self.explained, "note": c.note or None,
        }


def _jsonable(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def settings_of(target: Mapping) -> Settings:
    """The settings a claim's figure was printed for: its own, at batch 1 in float32."""
    return Settings(convention=target.get("convention", conventions.DEFAULT),
                    include_side=bool(target.get("include_side", False)), set=dict(target.get("set") or {}),
                    input=tuple(target["input"]) if target.get("input") else None)


class Evaluator:
    """Evaluates claims, expanding each (model, set, input) once and viewing it under each convention.

    ``model_files`` maps zoo names to other YAML files: claims about those
    models are evaluated against the files instead (to see which published
    figures an edit moves).
    """

    def __init__(self, model_files: Mapping[str, str | Path] | None = None):
        self.model_files = {k: Path(v) for k, v in (model_files or {}).items()}
        self._graphs: dict[str, Graph] = {}
        self._reports: dict[tuple, Report] = {}

    def report(self, target: Mapping, networks: Mapping[str, str]) -> Report:
        settings = settings_of(target)
        if target.get("network") is not None:
            source = ("network", networks[target["network"]])
        else:
            model = target["model"]
            source = ("file", str(self.model_files.get(model) or zoo.path_of(model)))
        graph_key = json.dumps([source, _jsonable(settings.set), settings.input], sort_keys=True, default=str)
        graph = self._graphs.get(graph_key)
        if graph is None:
            if source[0] == "network":
                graph = load_graph(target["network"], text=source[1], overrides=settings.set,
                                   input_shape=settings.input)
            else:
                graph = api.load(source[1], settings)
            self._graphs[graph_key] = graph
        key = (graph_key, settings.convention, settings.include_side)
        if key not in self._reports:
            self._reports[key] = view(graph, settings)
        return self._reports[key]

    def quantity(self, target: Mapping, networks: Mapping[str, str]):
        report = self.report(target, networks)
        part = compare.select(report, target.get("slice"))
        quantity = target["quantity"]
        rows = part.rows
        if quantity in FIGURE_QUANTITIES:
            return Decimal(getattr(part.totals, quantity))
        if quantity == "weights":  # conv and linear weights, without biases
            return Decimal(sum(r.params - (r.output_shape[0] if r.args.get("bias") else 0) for r in rows
                               if KINDS[r.kind].category in ("conv", "linear")))
        if quantity == "count":
            return Decimal(len(rows))
        if quantity == "elements":
            return Decimal(sum(math.prod(r.output_shape) for r in rows))
        if quantity == "output_shape":
            return tuple(rows[-1].output_shape)
        if quantity == "depth":
            return Decimal(depth(report, rows, target.get("counting") or ("conv", "linear")))
        raise AssertionError(quantity)

    def figure(self, claim: Claim, target: Mapping, versus_changes: Mapping | None):
        value = self.quantity(target, claim.networks)
        if claim.form == "value":
            return value
        assert versus_changes is not None  # a ratio or a reduction has a versus (the registry's schema)
        versus = merge_target(target, versus_changes)
        other = self.quantity(versus, claim.networks)
        if other == 0:
            raise CnnCostError(f"the 'versus' figure of claim '{claim.id}' is 0")
        with localcontext() as ctx:
            ctx.prec = 40
            ratio = value / other
            return ratio if claim.form == "ratio" else 1 - ratio

    def evaluate(self, claim: Claim) -> Result:
        try:
            computed = self.figure(claim, claim.target, claim.versus)
            explained = explained_value = None
            explained_target = claim.explained_target  # None where the claim has no explained_by
            if explained_target is not None:
                explained_value = self.figure(claim, explained_target, claim.explained_versus)
                explained = claim.precision.matches(scaled(explained_value, claim.unit), claim.value)
        except CnnCostError as exc:
            return Result(claim, None, "error", False, str(exc))
        value = scaled(computed, claim.unit)
        matches_printed = claim.precision.matches(value, claim.value)
        if claim.expected == "reproduces":
            if matches_printed:
                return Result(claim, computed, "reproduces", True)
            return Result(claim, computed, "does not reproduce", False,
                          f"computed {computed_text_of(claim, computed)}, printed {claim.printed}")
        if matches_printed:
            return Result(claim, computed, "erratum now matches", False,
                          f"computed {computed_text_of(claim, computed)} now matches the printed {claim.printed}: "
                          "the figure moved", explained, explained_value)
        precision = claim.correct_precision or claim.precision
        if not precision.matches(value, claim.correct):
            return Result(claim, computed, "erratum moved", False,
                          f"computed {computed_text_of(claim, computed)}, but the registry's correct value is "
                          f"{format_scaled(claim.correct, claim.unit)}", explained, explained_value)
        if explained is False:
            return Result(claim, computed, "explanation fails", False,
                          f"explained_by gives {computed_text_of(claim, explained_value)}, not the printed "
                          f"{claim.printed}", explained, explained_value)
        return Result(claim, computed, "erratum", True, "", explained, explained_value)


def depth(report: Report, rows, counting) -> int:
    """The most layers of the `counting` categories on one path from the input to any row of `rows`."""
    counting = set(counting)
    chosen = {r.name for r in rows}
    longest: dict[str, int] = {}
    best = 0
    for layer in report.layers:
        if layer.side and not report.include_side:
            continue
        before = max((longest.get(i, 0) for i in layer.inputs), default=0)
        longest[layer.name] = before + (1 if KINDS[layer.kind].category in counting else 0)
        if layer.name in chosen:
            best = max(best, longest[layer.name])
    return best


def scaled(value, unit: str):
    if isinstance(value, tuple):
        return value
    with localcontext() as ctx:
        ctx.prec = 40
        return Decimal(value) / UNITS[unit]


def _suffix(unit: str) -> str:
    return f" {unit}" if unit.endswith("B") and len(unit) == 2 else unit


def format_scaled(value, unit: str, digits: int | None = None) -> str:
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    if digits is None:
        text = f"{value:,}" if value == value.to_integral_value() else f"{value.normalize():,f}"
    else:
        text = f"{value:,.{digits}f}"
    return text + _suffix(unit)


def computed_text_of(claim: Claim, computed) -> str:
    """The computed figure in the printed unit, one digit finer than printed (exact integers too)."""
    if isinstance(computed, tuple):
        return "x".join(map(str, computed))
    value = scaled(computed, claim.unit)
    p = claim.precision
    if p.mode == "decimals":
        digits = p.digits + 1
    elif p.mode == "significant":
        digits = max(0, p.digits - value.adjusted())
    elif p.mode == "exact" and value == value.to_integral_value():
        digits = 0
    else:
        digits = 3 if abs(value) < 10 else 2
    text = format_scaled(value, claim.unit, digits)
    integral = computed == computed.to_integral_value()
    if integral and UNITS[claim.unit] != 1 and claim.unit != "%":
        text = f"{int(computed):,} ({text})" if p.mode != "exact" else text
    return text


def computed_text(result: Result) -> str:
    return "" if result.computed is None else computed_text_of(result.claim, result.computed)


def evaluate(claims: Iterable[Claim] | None = None, *, model_files: Mapping[str, str | Path] | None = None
             ) -> list[Result]:
    evaluator = Evaluator(model_files)
    return [evaluator.evaluate(c) for c in (load() if claims is None else claims)]


def about(claims: Iterable[Claim], models: Iterable[str]) -> list[Claim]:
    """The claims about any of these zoo models (by name, or by the file a name resolves to)."""
    wanted = {_identity(m) for m in models}
    return [c for c in claims if any(_identity(m) in wanted for m in c.models)]


def _identity(model: str) -> str:
    try:
        return str(zoo.path_of(model).resolve())
    except CnnCostError:
        return str(model)


# ---------------------------------------------------------------- notes for 'table' and 'compare'


def note(result: Result) -> str:
    """One line for under a table: what was printed, what the network gives, and why they differ."""
    c = result.claim
    computed = computed_text(result) if result.computed is not None else "nothing"
    where = f"{c.source}, {c.where}: {c.what} printed \"{c.printed}\"; the network gives {computed}"
    if c.expected == "erratum":
        text = f"Erratum: {where}; correct: {format_scaled(c.correct, c.unit)}. {c.explanation}"
    else:
        text = f"Reproduced: {where}. {c.note}"
    if not result.ok:
        text += f" [cnncost check fails here: {result.outcome}: {result.problem}]"
    return text.strip()


CLAIM_SETTINGS = Settings()  # claims are figures printed for one sample in float32


def _printed_for(claim: Claim, reports: Mapping[str, Report], settings: Settings, evaluator: Evaluator) -> bool:
    """Whether a claim is about what the user is looking at: the same set, input, batch and dtype.

    ``reports`` maps each compared model's identity to the user's report of it. A MACs or FLOPs
    claim counted under another convention must come out the same under the user's.
    """
    if (settings.batch, settings.dtype) != (CLAIM_SETTINGS.batch, CLAIM_SETTINGS.dtype):
        return False
    try:
        for target in (claim.target, claim.versus_target):
            if not target:
                continue
            if dict(target.get("set") or {}) != settings.set:
                return False
            if target["quantity"] in ("macs", "flops") and target.get("convention") != settings.convention:
                mine = {**target, "convention": settings.convention}
                if evaluator.quantity(mine, claim.networks) != evaluator.quantity(target, claim.networks):
                    return False
            report = reports.get(_identity(target["model"])) if target.get("model") else None
            if report is not None and tuple(evaluator.report(target, claim.networks).input) != tuple(report.input):
                return False
    except CnnCostError:
        pass  # evaluate() reports it
    return True


def errata_notes(model: str, report: Report, *, model_files: Mapping[str, str | Path] | None = None) -> list[str]:
    """Notes for 'cnncost table': the registry's errata about this model, printed for what the report shows."""
    me = _identity(model)
    evaluator = Evaluator(model_files)
    notes = []
    for c in load():
        if c.expected != "erratum" or not c.target.get("model") or _identity(c.target["model"]) != me:
            continue
        assert report.settings is not None  # a report of analyze(), which holds its settings
        if _printed_for(c, {me: report}, report.settings, evaluator):
            notes.append(note(evaluator.evaluate(c)))
    return notes


def notes_for_comparison(comparison, settings: Settings) -> list[str]:
    """Notes for 'cnncost compare': the claims about these models' stems, and ratios between them."""
    compared = {_identity(e.label): e.report for e in comparison.entries}
    evaluator = Evaluator()
    chosen = []
    for c in load():
        models = [_identity(m) for m in c.models]
        if not models or not all(m in compared for m in models):
            continue
        stems = [t.get("slice") or {} for t in (c.target, c.versus_target) if t]
        if not any("until_resolution" in s or "until" in s for s in stems):
            continue
        if (c.expected == "erratum" or c.note) and _printed_for(c, compared, settings, evaluator):
            chosen.append(c)
    return [note(evaluator.evaluate(c)) for c in chosen]
