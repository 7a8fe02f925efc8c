"""torchvision beside a CPU-only torch, for the tools that read its models (run as scripts from tools/)."""

from __future__ import annotations

import sys
import types


def import_torchvision():
    """Import torchvision; where its compiled ops want a CUDA torch ("operator torchvision::nms does not
    exist"), import it again without the module that registers them: the model definitions do not need it."""
    try:
        import torchvision
    except RuntimeError as error:
        if "torchvision::" not in str(error):
            raise
        for name in [n for n in sys.modules if n.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
        import torchvision
    return torchvision
