"""The expander's limits and the names its language reserves."""

from __future__ import annotations

import re

CONSTRUCTS = ("sequence", "repeat", "parallel", "residual", "side")
TOP_KEYS = ("extends", "name", "description", "reference", "input", "params", "blocks", "layers", "notes",
            "torch_names", "unused_params")
MAX_UNUSED = 100_000  # modules listed under unused_params
MAX_EXTENDS = 8
COMMON_KEYS = ("name", "when")  # allowed on every item
MAX_REPEAT = 10_000
MAX_NODES = 20_000  # 20x the largest zoo network; keeps any command under a second (docs/security.md)
SHORTCUTS = ("auto", "identity", "projection", "zero_pad", "none")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LOCAL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")
