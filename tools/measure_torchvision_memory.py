"""What autograd saves for backward when torchvision's own models train: the reference for 'cnncost memory'.

    python tools/measure_torchvision_memory.py            # writes tests/data/torchvision_saved_bytes.tsv

Needs torch and torchvision (any torchvision whose model builders import; where its compiled ops do not
load with the installed torch, an empty stand-in for torchvision._meta_registrations is used, as no
compiled op is needed to build or run these models). Each model is built with weights=None, put in
training mode, and run forward once on the CPU under torch.autograd.graph.saved_tensors_hooks; every
saved tensor's storage is counted once, leaving out parameters and buffers. That is the figure
``cnncost memory`` calls saved_activation_bytes.
"""

from __future__ import annotations

import datetime
import platform
import sys
from importlib.metadata import version
from pathlib import Path

import torch
from torchvision_import import import_torchvision

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "torchvision_saved_bytes.tsv"
# (model, input size, builder keywords, cnncost settings that give the same structure)
MODELS = [
    ("alexnet", 224, {}, "--set adaptive_pool=true"),
    *((f"vgg{d}{bn}", 224, {}, "") for d in (11, 13, 16, 19) for bn in ("", "_bn")),
    # torchvision drops googlenet's aux heads when it loads the published weights
    ("googlenet", 224, {"aux_logits": False, "init_weights": False}, "--set aux_logits=false"),
    # inception_v3 keeps its AuxLogits head, and in training mode it runs
    ("inception_v3", 299, {"init_weights": False}, "--side"),
    *((m, 224, {}, "") for m in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "wide_resnet50_2",
                                 "resnext50_32x4d", "resnext101_32x8d", "mobilenet_v2", "mobilenet_v3_large",
                                 "mobilenet_v3_small", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
                                 "shufflenet_v2_x1_5", "shufflenet_v2_x2_0", "densenet121", "efficientnet_b0")),
    # ViT at 224, where its position embedding is built (vit_h_14: the SWAG_LINEAR model; its E2E weights are at 518)
    *((m, 224, {}, "") for m in ("vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14")),
    # the video ResNets on a clip: the size is T x H x W, their weights' 16 frames of 112 x 112
    *((m, "16x112x112", {}, "") for m in ("r3d_18", "mc3_18", "r2plus1d_18")),
    # S3D on its weights' 16 frames of 224 x 224
    ("s3d", "16x224x224", {}, ""),
    # MaxViT at 224, the size it is built for (input_size; its weights' min_size)
    ("maxvit_t", 224, {}, ""),
    # Swin at its weights' crop (V1 224)
    *((m, 224, {}, "") for m in ("swin_t", "swin_s", "swin_b")),
    *((m, 256, {}, "") for m in ("swin_v2_t", "swin_v2_s", "swin_v2_b")),  # V2 at its weights' 256
]
RUNS = [("float32", 2), ("bfloat16", 3)]
# torch 2.13's CPU avg_pool3d has no bfloat16 kernel ("avg_pool3d_out_frame" not implemented for 'BFloat16'), and
# S3D's head is an nn.AvgPool3d: it trains in float32 only here
RUNS_OF = {"s3d": [("float32", 2)]}


def saved_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    excluded = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    storages: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in excluded:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        output = model(x)  # noqa: F841  (kept alive, and what it saved with it, until the count is read)
        return sum(storages.values())


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="comma-separated subset: measure these again, keep the file's other rows")
    args = parser.parse_args(argv)
    chosen = set(args.models.split(",")) if args.models else None
    unknown = (chosen or set()) - {m[0] for m in MODELS}
    if unknown:
        parser.error(f"unknown models: {sorted(unknown)}")
    torchvision = import_torchvision()
    kept, earlier = {}, "?"  # with --models: the other models' rows of the existing file, by model
    if chosen:
        for line in OUT.read_text().splitlines():
            if line.startswith("# date: "):
                earlier = line[len("# date: "):].split(";")[0]
            elif line and not line.startswith("#") and not line.startswith("model\t"):
                kept.setdefault(line.split("\t")[0], []).append(line)
    lines = [
        "# What autograd saves for backward when torchvision's own models train (tools/measure_torchvision_memory.py)",
        f"# date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"# versions: python {platform.python_version()}; torch {version('torch')}; "
        f"torchvision {version('torchvision')}",
        f"# machine: {platform.machine()}, CPU; regenerate: python tools/measure_torchvision_memory.py",
        "# each model: torchvision.models.get_model(name, weights=None, **keywords), .train(), .to(dtype); one forward",
        "#   pass on torch.randn(batch, 3, S, S) (a video model's S is T x H x W: torch.randn(batch, 3, T, H, W))",
        "#   under torch.autograd.graph.saved_tensors_hooks; saved_bytes is the",
        "#   total nbytes of the distinct storages saved, parameters and buffers left out",
        "# columns: model; dtype; batch; size (S); keywords; cnncost (the options that give cnncost the same",
        "#   structure); saved_bytes",
        "model\tdtype\tbatch\tsize\tkeywords\tcnncost\tsaved_bytes",
    ]
    if chosen:
        lines.insert(2, f"# rows of {', '.join(sorted(chosen))} measured on this date "
                        f"(python tools/measure_torchvision_memory.py --models {args.models}); the others' kept "
                        f"from the file's earlier run ({earlier}), same versions")
    for name, size, keywords, options in MODELS:
        if chosen and name not in chosen:
            lines += kept.get(name, [])
            continue
        for dtype, batch in RUNS_OF.get(name, RUNS):
            torch.manual_seed(0)
            model = torchvision.models.get_model(name, weights=None, **keywords).train().to(getattr(torch, dtype))
            dims = tuple(map(int, size.split("x"))) if isinstance(size, str) else (size, size)
            x = torch.randn(batch, 3, *dims, dtype=getattr(torch, dtype))
            lines.append("\t".join((name, dtype, str(batch), str(size), repr(keywords), options,
                                    str(saved_bytes(model, x)))))
            print(lines[-1], file=sys.stderr)
    OUT.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
