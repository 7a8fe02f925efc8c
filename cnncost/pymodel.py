"""Models written in Python, named on the command line: ``torchvision:resnet50``, ``timm:convnext_tiny``,
``package.module:factory``.

The factory is called (with ``--set`` values as its keyword arguments) and must return a
``torch.nn.Module``, which cnncost.from_torch imports at ``--input``. ``torchvision:NAME`` calls
``torchvision.models.get_model(NAME)``; ``timm:NAME`` calls ``timm.create_model(NAME)``. The current
directory is searched for ``package`` first, as ``python -m`` would, so a model in ./my_models.py is
``my_models:build``.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any, Mapping, TypeGuard

from .errors import CnnCostError, did_you_mean

# package.module:attribute.path, Python identifiers only
FORM = re.compile(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)")


def is_python_model(text: object) -> TypeGuard[str]:
    """Whether a MODEL names a Python factory (and no file of that name exists)."""
    return isinstance(text, str) and FORM.fullmatch(text) is not None and not os.path.exists(text)


def _import(package: str, model: str):
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or package
        raise CnnCostError(f"{model}: cannot import '{missing}' ({exc})",
                           hint=f"pip install {missing.split('.')[0]}, or run from the folder that holds it") from None
    except Exception as exc:  # the user's module failed while importing
        raise CnnCostError(f"{model}: importing '{package}' failed: {type(exc).__name__}: {exc}") from None
    finally:
        if added:
            sys.path.remove(cwd)


def _factory(package: str, attribute: str, model: str):
    if package == "torchvision":
        models = _import("torchvision.models", model)
        known = models.list_models()
        if attribute not in known:
            raise CnnCostError(f"{model}: torchvision has no model '{attribute}'",
                               hint=did_you_mean(attribute, known) or "see torchvision.models.list_models()")
        return lambda **kwargs: models.get_model(attribute, **kwargs)
    if package == "timm":
        timm = _import("timm", model)
        if not timm.is_model(attribute):
            raise CnnCostError(f"{model}: timm has no model '{attribute}'",
                               hint=did_you_mean(attribute, timm.list_models()) or "see timm.list_models()")
        return lambda **kwargs: timm.create_model(attribute, **kwargs)
    found: Any = _import(package, model)
    for part in attribute.split("."):
        if not hasattr(found, part):
            names = [n for n in dir(found) if not n.startswith("_")]
            raise CnnCostError(f"{model}: '{package}' has no attribute '{attribute}'",
                               hint=did_you_mean(part, names))
        found = getattr(found, part)
    if not callable(found):
        raise CnnCostError(f"{model}: '{attribute}' is a {type(found).__name__}, not a function or class that "
                           "returns a torch.nn.Module")
    return found


def load_python_model(model: str, input_shape: tuple | None, arguments: Mapping[str, Any]):
    """The graph of the module that ``model``'s factory returns, imported at input_shape."""
    try:
        import torch
    except ImportError:
        raise CnnCostError(f"{model} is a PyTorch model, and torch is not installed",
                           hint="pip install 'cnncost[torch]'") from None
    if input_shape is None:
        raise CnnCostError(f"{model} is a PyTorch model: give its input size per sample, e.g. --input 3x224x224")
    match = FORM.fullmatch(model)
    assert match is not None  # the callers ask is_python_model first
    package, attribute = match.groups()
    import contextlib

    # what the user's module prints goes to stderr: stdout holds the report (a JSON reader must get only it)
    with contextlib.redirect_stdout(sys.stderr):
        factory = _factory(package, attribute, model)
        try:
            module = factory(**dict(arguments))
        except CnnCostError:
            raise
        except Exception as exc:
            given = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
            raise CnnCostError(f"{model}: calling {attribute}({given}) failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(module, torch.nn.Module):
        raise CnnCostError(f"{model}: {attribute}() returned a {type(module).__name__}, not a torch.nn.Module")
    from .importers import from_torch

    return from_torch(module, input=input_shape, name=model)


def load_module(module, input_shape: tuple | None):
    """A torch.nn.Module given to the Python API, imported at input_shape."""
    if input_shape is None:
        raise CnnCostError(f"a {type(module).__name__} module needs its input size per sample: "
                           "input='3x224x224' (or input=(3, 224, 224))")
    from .importers import from_torch

    return from_torch(module, input=input_shape)


def is_torch_module(model: object) -> bool:
    """Whether model is a torch.nn.Module, without importing torch where it is not loaded already."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)
