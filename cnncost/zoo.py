"""The architectures that ship with cnncost, and how a model name becomes a file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .errors import CnnCostError, Location, did_you_mean


@lru_cache(maxsize=None)  # where the package lies does not change while it runs
def architectures_dir() -> Path:
    here = Path(__file__).resolve().parent
    installed = here / "architectures"  # inside the wheel
    return installed if installed.is_dir() else here.parent / "architectures"  # a source checkout


def names() -> list[str]:
    return sorted(p.stem for p in architectures_dir().glob("*.yaml"))


def path_of(model: str | Path) -> Path:
    """A zoo name (``alexnet``) or a path to a YAML file."""
    text = str(model)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in text:
        return path
    candidate = architectures_dir() / f"{text}.yaml"
    if candidate.is_file():
        return candidate
    raise CnnCostError(
        f"no architecture named '{text}' (and no such file)",
        location=Location(text),
        hint=did_you_mean(text, names()) or "see 'cnncost list'",
    )
