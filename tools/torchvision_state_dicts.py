"""The state_dict keys and shapes of torchvision's models, as built for their published weights.

    python tools/torchvision_state_dicts.py      # writes tests/data/torchvision_state_dicts.tsv

The models are those of cnncost/data/published/torchvision.yaml ('models' and 'segmentation').
Each is built on the CPU with weights=None (nothing is downloaded) and the keywords under which
torchvision builds it when it loads its published weights. (Not on the meta device: RegNet's
builder computes its widths with torch ops and reads them back.) Needs torch, torchvision and
PyYAML; where torchvision's compiled ops do not load with the installed torch, an empty stand-in
for torchvision._meta_registrations is used (no compiled op is needed to build the models).
"""

from __future__ import annotations

import datetime
import platform
import sys
from importlib.metadata import version
from pathlib import Path

import torch
from torchvision_import import import_torchvision
import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "torchvision_state_dicts.tsv"
PUBLISHED = ROOT / "cnncost" / "data" / "published" / "torchvision.yaml"
# Keywords that differ from get_model(name, weights=None); why in the file's header.
KEYWORDS = {"googlenet": {"aux_logits": False, "init_weights": False}, "inception_v3": {"init_weights": False}}
for _name in ("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
              "deeplabv3_mobilenet_v3_large"):
    KEYWORDS[_name] = {"aux_loss": True, "num_classes": 21, "weights_backbone": None}
KEYWORDS["lraspp_mobilenet_v3_large"] = {"num_classes": 21, "weights_backbone": None}
KEYWORDS["vit_h_14"] = {"image_size": 518}  # its first weights entry, IMAGENET1K_SWAG_E2E_V1


def main() -> int:
    torchvision = import_torchvision()
    published = yaml.safe_load(PUBLISHED.read_text())
    names = [*published["models"], *published["segmentation"]]
    rows = []
    for name in names:
        model = torchvision.models.get_model(name, weights=None, **KEYWORDS.get(name, {}))
        rows += [f"{name}\t{key}\t{'x'.join(map(str, t.shape))}" for key, t in model.state_dict().items()]
    header = [
        "# state_dict keys and shapes of torchvision models (tools/torchvision_state_dicts.py)",
        f"# date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"# versions: python {platform.python_version()}; torch {torch.__version__}; "
        f"torchvision {getattr(torchvision, '__version__', version('torchvision'))}",
        "# regenerate: python tools/torchvision_state_dicts.py (models: the keys of 'models' and 'segmentation' in",
        "#   cnncost/data/published/torchvision.yaml, in that order)",
        "# each model: torchvision.models.get_model(name, weights=None, **keywords) on the CPU, with the keywords",
        "#   torchvision's builder uses when it loads the published weights, where they matter (others: none):",
        "#   googlenet aux_logits=False (it loads the weights, then drops aux1/aux2 unless asked to keep them),",
        "#   init_weights=False; inception_v3 init_weights=False, aux_logits left True (AuxLogits kept);",
        "#   fcn_*, deeplabv3_* aux_loss=True (forced for their weights), num_classes=21, weights_backbone=None;",
        "#   lraspp_mobilenet_v3_large num_classes=21, weights_backbone=None (it has no aux classifier);",
        "#   vit_h_14 image_size=518 (its IMAGENET1K_SWAG_E2E_V1 weights; the position embedding has 1,370 tokens)",
        f"# {len(names)} models, {len(rows)} entries; columns: model, key, shape (dims joined by 'x'; a 0-dim",
        "#   tensor, e.g. num_batches_tracked, has an empty shape); one line per entry, in state_dict order",
    ]
    OUT.write_text("\n".join(header + rows) + "\n")
    print(f"wrote {OUT} ({len(names)} models, {len(rows)} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
