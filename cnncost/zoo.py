"""The architectures that ship with cnncost, and how a model name becomes a file."""

from __future__ import annotations

import os
from functools import lru_cache

from .errors import CnnCostError, Location, did_you_mean

# os.path rather than pathlib here: this is on every command's path, and pathlib costs an import.


@lru_cache(maxsize=None)  # where the package lies does not change while it runs
def _folder() -> str:
    here = os.path.dirname(os.path.realpath(__file__))
    installed = os.path.join(here, "architectures")  # inside the wheel
    return installed if os.path.isdir(installed) else os.path.join(os.path.dirname(here), "architectures")


def architectures_dir():
    """The folder of the zoo's YAML files, as a pathlib.Path."""
    from pathlib import Path

    return Path(_folder())


def names() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(_folder()) if f.endswith(".yaml"))


def file_of(model) -> str:
    """A zoo name (``alexnet``) or a path to a YAML file, as the file's path."""
    text = os.fspath(model)
    # a bare name is a zoo model unless a file of that name is here: a folder named like a model (a checkout
    # of its code) does not hide the model
    if text.endswith((".yaml", ".yml")) or os.path.isfile(text) or os.sep in text or "/" in text:
        return text
    candidate = os.path.join(_folder(), f"{text}.yaml")
    if os.path.isfile(candidate):
        return candidate
    raise CnnCostError(
        f"no architecture named '{text}' (and no such file)",
        location=Location(text),
        hint=did_you_mean(text, names()) or "see 'cnncost list'",
    )


def path_of(model):
    """file_of, as a pathlib.Path."""
    from pathlib import Path

    return Path(file_of(model))
