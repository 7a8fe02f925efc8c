"""cnncost: what a convolutional network costs, computed analytically from YAML."""

from .api import (analyze, analyze_latency, analyze_memory, analyze_sweep, analyze_text, explain_conventions, load,
                  load_text, receptive_fields, to_torch)
from .importers import from_onnx, from_torch
from .engine import group_by_depth
from .errors import CnnCostError
from .graph import Graph, Node
from .report import LayerCost, Report, Settings, Totals
from .results import ReceptiveFields, Result

# Each analysis's per-kind rules check, when imported, that every kind's record names a rule they have
# (kinds.register_check): importing them here makes an incomplete kind fail at 'import cnncost', naming the
# kind and the rule. The analyses over them (memory.py, latency.py) are imported when first used.
from . import conventions, latency_rules, rf, saved_rules, training  # noqa: E402,F401


def __getattr__(name):  # the model card (info.py) is imported when first asked for
    if name in ("ModelInfo", "model_info"):
        from . import info

        return getattr(info, name)
    raise AttributeError(f"module 'cnncost' has no attribute {name!r}")

from .version import __version__  # noqa: E402

__all__ = [
    "CnnCostError",
    "Graph",
    "LayerCost",
    "ModelInfo",
    "Node",
    "Report",
    "Settings",
    "Totals",
    "ReceptiveFields",
    "Result",
    "analyze",
    "analyze_latency",
    "analyze_memory",
    "analyze_sweep",
    "analyze_text",
    "explain_conventions",
    "from_onnx",
    "from_torch",
    "group_by_depth",
    "load",
    "load_text",
    "model_info",
    "receptive_fields",
    "to_torch",
    "__version__",
]
