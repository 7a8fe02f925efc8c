"""Renderers: a result in, text out. No computing here.

``render(result, fmt)`` (formats.py) picks the format's writer from FORMATS; each kind of result has a
Shown beside its renderer here (memory.py, rf.py, ...) that gives its rows, columns and notes once.
A View (view.py) is the layer table's result: a Report and the rows to show.
"""

from __future__ import annotations

from .formats import FORMATS, Format, Shown, register, render  # (the registry, re-exported)
from .view import View

__all__ = ["FORMATS", "Format", "Shown", "View", "register", "render"]
