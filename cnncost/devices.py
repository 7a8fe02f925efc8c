"""The device table: memory, peak rates and bandwidth of accelerators, from the vendors' spec sheets.

cnncost/data/devices.yaml holds the table (its header gives the units and
sources); ``--device-file FILE`` adds a user's own devices in the same form.
Every entry is checked when it is read, and a bad one is one error naming the
file, the line and the field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .errors import CnnCostError, Location, did_you_mean
from .yamlio import LineDict, load_file

TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "devices.yaml")
KINDS = ("cuda", "jetson", "cpu")
RATES = ("fp32", "tf32", "fp16", "bf16", "int8")
FIELDS = ("name", "kind", "memory_bytes", "memory_printed", "bandwidth_gb_s", "peak_tflops", "source", "checked",
          "notes")
REQUIRED = ("name", "kind", "memory_bytes")


@dataclass(frozen=True)
class Device:
    key: str  # what --device names it by
    name: str
    kind: str  # cuda | jetson | cpu
    memory_bytes: int
    bandwidth_gb_s: float | None = None
    peak_tflops: dict = field(default_factory=dict)  # rate -> TFLOP/s (int8: TOPS), None where not given
    memory_printed: str = ""
    source: str = ""
    file: str = ""

    @property
    def saves_as(self) -> str:
        """Whose saved-tensor rules apply: the CPU's, or CUDA's (an integrated GPU runs CUDA too)."""
        return "cpu" if self.kind == "cpu" else "cuda"


def _number(value, where: Location, what: str, *, integer: bool = False, optional: bool = False):
    if value is None and optional:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise CnnCostError(f"'{what}' must be a{'n integer' if integer else ' number'}"
                           + (" or null" if optional else "") + f", got {value!r}", location=where)
    if not value > 0 or value == float("inf"):  # 'value <= 0' lets NaN through
        raise CnnCostError(f"'{what}' must be positive and finite, got {value}", location=where)
    return value


def _device(key, raw, file: str, line: int | None) -> Device:
    where = Location(file, line)
    if not isinstance(raw, dict):
        raise CnnCostError(f"device '{key}' must be a mapping of its fields", location=where)

    def at(name):
        return Location(file, raw.line_of(name)) if isinstance(raw, LineDict) else where

    for name in raw:
        if name not in FIELDS:
            raise CnnCostError(f"device '{key}': unknown field '{name}'", location=at(name),
                               hint=did_you_mean(name, FIELDS) or "fields: " + ", ".join(FIELDS))
    for name in REQUIRED:
        if raw.get(name) is None:
            raise CnnCostError(f"device '{key}' has no '{name}'", location=where)
    kind = raw["kind"]
    if kind not in KINDS:
        raise CnnCostError(f"device '{key}': kind must be one of {', '.join(KINDS)}, got {kind!r}", location=at("kind"),
                           hint=did_you_mean(kind, KINDS))
    rates = raw.get("peak_tflops") or {}
    if not isinstance(rates, dict):
        raise CnnCostError(f"device '{key}': 'peak_tflops' must be a mapping of {', '.join(RATES)}",
                           location=at("peak_tflops"))
    for rate in rates:
        if rate not in RATES:
            raise CnnCostError(f"device '{key}': unknown rate '{rate}' in peak_tflops", location=at("peak_tflops"),
                               hint=did_you_mean(rate, RATES) or "rates: " + ", ".join(RATES))
    checked_rates = {rate: _number(rates.get(rate), at("peak_tflops"), f"peak_tflops.{rate}", optional=True)
                     for rate in RATES}
    return Device(
        key=str(key), name=str(raw["name"]), kind=kind,
        memory_bytes=_number(raw["memory_bytes"], at("memory_bytes"), "memory_bytes", integer=True),
        bandwidth_gb_s=_number(raw.get("bandwidth_gb_s"), at("bandwidth_gb_s"), "bandwidth_gb_s", optional=True),
        peak_tflops=checked_rates, memory_printed=str(raw.get("memory_printed") or ""),
        source=str(raw.get("source") or ""), file=file)


def read(path: str) -> dict[str, Device]:
    """Every device of one file (the table, or a --device-file)."""
    doc = load_file(path)
    where = Location(path, getattr(doc, "line", None))
    if not isinstance(doc, dict) or not isinstance(doc.get("devices"), dict) or not doc["devices"]:
        raise CnnCostError("a device file needs a top-level 'devices:' mapping of names to devices", location=where)
    entries = doc["devices"]
    return {str(key): _device(key, raw, path, entries.line_of(key) if isinstance(entries, LineDict) else None)
            for key, raw in entries.items()}


def table(device_file: str | None = None) -> dict[str, Device]:
    """The shipped table, and a user's file over it (its names win)."""
    devices = read(TABLE)
    if device_file is not None:
        if not os.path.isfile(device_file):
            raise CnnCostError(f"--device-file: no such file '{device_file}'")
        devices.update(read(device_file))
    return devices


LOCAL = "local"  # this machine, as 'cnncost calibrate' measured it
PROFILE = "local-device.yaml"  # in config_dir(), written by 'cnncost calibrate'


def config_dir() -> str:
    explicit = os.environ.get("CNNCOST_CONFIG_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "cnncost")


def profile_path() -> str:
    return os.path.join(config_dir(), PROFILE)


def local_device():
    """The calibrated profile as a device; a missing or broken one is a one-line error."""
    path = profile_path()
    if not os.path.isfile(path):
        raise CnnCostError(f"no calibration profile at {path}", hint="run 'cnncost calibrate' first")
    try:
        found = read(path)
    except CnnCostError as exc:
        raise CnnCostError(f"the calibration profile is broken ({exc})", hint="run 'cnncost calibrate' again") from None
    if "local" not in found:
        raise CnnCostError(f"the calibration profile {path} has no 'local' device",
                           hint="run 'cnncost calibrate' again")
    return found["local"]


def get(name: str, devices: dict[str, Device]) -> Device:
    if name == LOCAL and LOCAL not in devices:
        return local_device()
    try:
        return devices[name]
    except KeyError:
        raise CnnCostError(f"unknown device '{name}'", hint=_suggestion(name, [*devices, LOCAL])) from None


def _suggestion(name: str, known: list[str]) -> str:
    """Every device whose name starts with what was typed (a100: both A100s), else the closest one."""
    if name.lower() in ("cpu", "this", "host", "machine"):
        return f"this machine's CPU is the device '{LOCAL}', measured by 'cnncost calibrate'"
    starting = [k for k in known if str(k).lower().startswith(name.lower())] if name else []
    if starting:
        quoted = [f"'{k}'" for k in starting]
        return "did you mean " + (quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]) + "?"
    return did_you_mean(name, known) or "see 'cnncost devices'"
