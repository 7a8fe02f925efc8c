"""cnncost: what a convolutional network costs, computed analytically from YAML."""

from .api import analyze, analyze_text, load, load_text, to_torch
from .importers import from_onnx, from_torch
from .engine import group_by_depth
from .errors import CnnCostError
from .graph import Graph, Node
from .info import ModelInfo, model_info
from .report import LayerCost, Report, Settings, Totals

__version__ = "0.1.0"

__all__ = [
    "CnnCostError",
    "Graph",
    "LayerCost",
    "ModelInfo",
    "Node",
    "Report",
    "Settings",
    "Totals",
    "analyze",
    "analyze_text",
    "from_onnx",
    "from_torch",
    "group_by_depth",
    "load",
    "load_text",
    "model_info",
    "to_torch",
    "__version__",
]
