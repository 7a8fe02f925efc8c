"""The registry of published claims: its file format, read and checked (docs/claims.md).

A claim is one figure as a lecture, a paper or torchvision printed it, with
the network and settings it is about, how precisely it was printed, and what
we expect: that it `reproduces`, or that it is an `erratum` with a correct
value and an explanation. The registry is YAML under cnncost/data/claims/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import conventions
from ..errors import CnnCostError, did_you_mean
from ..yamlio import load_file

DATA = Path(__file__).resolve().parent.parent / "data"
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


def _form_of(raw: Mapping, where: str, networks: Mapping[str, str]) -> tuple[str, Any]:
    """A claim's form, and the target it is a ratio or saving against (none for a value)."""
    form = raw.get("form", "value")
    if form not in FORMS:
        raise CnnCostError(f"{where}: form '{form}' is not one of {', '.join(FORMS)}")
    versus = raw.get("versus")
    if (form == "value") != (versus is None):
        raise CnnCostError(f"{where}: form '{form}' " + ("takes no 'versus'" if form == "value" else "needs 'versus'"))
    if versus is not None:
        _check_target(versus, where + " versus", networks, partial=True)
    return form, versus


def _outcome_of(raw: Mapping, where: str, networks: Mapping[str, str]) -> str:
    """What a claim is expected to be; an erratum's correct value, explanation and explained_by checked."""
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
    return expected


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
    form, versus = _form_of(raw, where, networks)
    expected = _outcome_of(raw, where, networks)
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
