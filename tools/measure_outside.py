"""Outside models (timm, segmentation-models-pytorch, torchvision's transformers): what torch and the counting tools
say of them, and what cnncost's import makes of them.

    python tools/measure_outside.py measure [--models a,b]   # tests/data/outside_measured.tsv (slow: an hour)
    python tools/measure_outside.py import [--models a,b]    # tests/data/outside_imports/*.yaml.gz, outside_imports.tsv

Needs torch 2.13.0, torchvision 0.28.0, timm, segmentation-models-pytorch, ptflops, fvcore, thop, torchinfo and
torchscan (a venv of its own: none of them is a cnncost dependency), and cnncost on PYTHONPATH for ``import``.

``measure`` runs, on each model built with random weights: sum(p.numel()), FlopCounterMode, fvcore, ptflops (both
backends), torchinfo, thop and torchscan at batch 1 in eval mode (as tools/measure_peers.py calls them), and
torch.autograd.graph.saved_tensors_hooks over one forward pass at batch 2 in training mode. It appends each model's
rows as it finishes, so a run that stops goes on where it stopped.

``import`` runs ``cnncost.from_torch`` on each model (eval mode, batch 1) and stores the YAML it writes, gzipped,
or the one-line refusal: CI (which has no timm) analyses the stored YAML and compares it with the measured rows
(tests/test_outside.py).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import os
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from torchvision_import import import_torchvision  # noqa: E402

torchvision = import_torchvision()
import torch  # noqa: E402

DATA = ROOT / "tests" / "data"
MEASURED = Path(os.environ.get("OUTSIDE_MEASURED", DATA / "outside_measured.tsv"))
IMPORTS = DATA / "outside_imports"
SEED = 0
SAVED_BATCH = 2

# (name, library, family, C, H, W): one small model of each CNN and hybrid family of timm 1.0 (its module), at the
# input size of its pretrained config; smp architectures at 256x256; torchvision's transformer classifiers at 224
TIMM = """
resnet18 resnet 224; resnet50d resnet 224; seresnext26d_32x4d resnet 224; ecaresnet26t resnet 256;
resnet26t resnet 256; skresnet18 sknet 224; resnest14d resnest 224; res2net50_26w_4s res2net 224;
resnetv2_50 resnetv2 224; legacy_seresnet18 senet 224; dla34 dla 224; dla46_c dla 224; dpn68 dpn 224;
densenet121 densenet 224; densenetblur121d densenet 224; vgg11_bn vgg 224; inception_v3 inception_v3 299;
inception_v4 inception_v4 299; xception41 xception_aligned 299; legacy_xception xception 299;
efficientnet_b0 efficientnet 224; tf_efficientnet_b0 efficientnet 224; efficientnet_b0_gn efficientnet 224;
mnasnet_100 efficientnet 224; mixnet_s efficientnet 224; tinynet_a efficientnet 192;
efficientnetv2_rw_t efficientnet 224;
mobilenetv3_large_100 mobilenetv3 224; mobilenetv4_conv_small mobilenetv3 224; fbnetv3_b mobilenetv3 224;
lcnet_050 mobilenetv3 224; hardcorenas_a hardcorenas 224; ghostnet_100 ghostnet 224; ghostnetv2_100 ghostnet 224;
repghostnet_050 repghost 224; rexnet_100 rexnet 224; regnetx_002 regnet 224; regnety_002 regnet 224;
regnetz_b16 byobnet 224; gernet_s byobnet 224; repvgg_a0 byobnet 224; resnext26ts byobnet 256;
gcresnet33ts byobnet 256; botnet26t_256 byoanet 256; halonet26t byoanet 256; lambda_resnet26t byoanet 256;
cspresnet50 cspnet 256; cspdarknet53 cspnet 256; darknet53 cspnet 256; cs3darknet_s cspnet 256;
cspnext_tiny cspnext 224; hrnet_w18_small hrnet 224; selecsls42b selecsls 224; tresnet_m tresnet 224;
ese_vovnet19b_dw vovnet 224; nf_regnet_b0 nfnet 192; nf_resnet26 nfnet 224; convnext_atto convnext 224;
convnextv2_atto convnext 224; hgnetv2_b0 hgnet 224; hgnet_tiny hgnet 224; fasternet_t0 fasternet 224;
starnet_s1 starnet 224; rdnet_tiny rdnet 224; mambaout_femto mambaout 224; inception_next_atto inception_next 224;
repvit_m1 repvit 224; lcnetv2_small lcnetv2 224; visformer_tiny visformer 224; poolformer_s12 metaformer 224;
convformer_s18 metaformer 224; caformer_s18 metaformer 224; mobilevit_xxs mobilevit 256; mobilevitv2_050 mobilevit 256;
efficientvit_b0 efficientvit_mit 224; efficientvit_m0 efficientvit_msra 224; fastvit_t8 fastvit 256;
coatnet_0_rw_224 maxxvit 224; maxvit_tiny_tf_224 maxxvit 224; levit_128s levit 224; edgenext_xx_small edgenext 256;
efficientformer_l1 efficientformer 224; efficientformerv2_s0 efficientformer_v2 224; swiftformer_xs swiftformer 224;
tiny_vit_5m_224 tiny_vit 224; nextvit_small nextvit 224; gcvit_xxtiny gcvit 224; davit_tiny davit 224;
focalnet_tiny_srf focalnet 224; pvt_v2_b0 pvt_v2 224; twins_pcpvt_small twins 224; pit_ti_224 pit 224;
convit_tiny convit 224; coat_lite_tiny coat 224; vit_tiny_r_s16_p8_224 vision_transformer_hybrid 224;
mvitv2_tiny mvitv2 224; shvit_s1 shvit 224; efficientvim_m1 efficientvim 224; lowformer_b0 lowformer 224;
sequencer2d_s sequencer 224; xcit_nano_12_p16_224 xcit 224
"""
SMP = """
Unet resnet34; Unet mobilenet_v2; Unet efficientnet-b0; UnetPlusPlus resnet18; MAnet resnet18; Linknet resnet18;
FPN resnet34; PSPNet resnet34; DeepLabV3 resnet18; DeepLabV3Plus resnet18; PAN resnet18; UPerNet resnet18;
Segformer mit_b0
"""
TORCHVISION = "vit_b_16 swin_t swin_v2_t maxvit_t".split()


def _models() -> dict:
    models = {}
    for entry in TIMM.replace("\n", " ").split(";"):
        name, family, size = entry.split()
        models[name] = ("timm", family, (3, int(size), int(size)))
    for entry in SMP.replace("\n", " ").split(";"):
        arch, encoder = entry.split()
        models[f"smp_{arch}_{encoder}"] = ("smp", arch, (3, 256, 256))
    for name in TORCHVISION:
        models[f"tv_{name}"] = ("torchvision", name.split("_")[0], (3, 224, 224))
    return models


def _spread(models: dict) -> dict:
    """Measured in an order that reaches every library and family early: a run cut short still covers them."""
    groups: dict = {}
    for name, value in models.items():
        groups.setdefault(value[0], []).append(name)
    timm_names = groups.get("timm", [])
    head, tail = timm_names[:13], timm_names[13:]  # the first 13 were measured first, at their config's size
    order = head + [tail[j] for i in range((len(tail) + 1) // 2) for j in {i, len(tail) - 1 - i}]
    others = groups.get("smp", []) + groups.get("torchvision", [])
    spread, rest = [], order
    while rest or others:
        spread += rest[:3]
        rest = rest[3:]
        if others:
            spread.append(others.pop(0))
    return {n: models[n] for n in spread}


MODELS = _spread(_models())
BUILD_NOTE = ("timm: timm.create_model(name, pretrained=False); smp_<Arch>_<encoder>: "
              "segmentation_models_pytorch.create_model(Arch, encoder_name=encoder, encoder_weights=None) "
              "(1 class); tv_<name>: torchvision.models.get_model(name, weights=None); torch.manual_seed(0) before "
              "each build")


def build(name: str) -> torch.nn.Module:
    library, family, _ = MODELS[name]
    torch.manual_seed(SEED)
    if library == "timm":
        import timm

        return timm.create_model(name, pretrained=False).eval()
    if library == "smp":
        import segmentation_models_pytorch as smp

        _, arch, encoder = name.split("_", 2)
        return smp.create_model(arch, encoder_name=encoder, encoder_weights=None).eval()
    return torchvision.models.get_model(name[3:], weights=None).eval()


def saved_bytes(model, x) -> int:
    """The distinct storages autograd saves in one forward pass, parameters and buffers left out."""
    excluded = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    storages: dict = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in excluded:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        output = model(x)  # noqa: F841  (kept alive with what it saved until the count is read)
        return sum(storages.values())


SMALL = (3, 96, 96)  # what a model is measured at when it runs at it (its config's size otherwise): a shared
# 2-CPU machine measures 224x224 at about 5 minutes a model


def input_for(name: str, model) -> tuple:
    if MODELS[name][0] == "torchvision":
        return MODELS[name][2]
    try:
        with torch.no_grad():
            model(torch.zeros(1, *SMALL))
        model.train()(torch.zeros(SAVED_BATCH, *SMALL))
        return SMALL
    except Exception:  # noqa: BLE001  (a fixed size: position embeddings, windows, attention biases)
        return MODELS[name][2]
    finally:
        model.eval()


def measure_one(name: str) -> list:
    import measure_peers

    rows = []
    model = build(name)
    shape = input_for(name, model)
    x = measure_peers.make_input(shape)
    rows.append((name, "input", "NA", "NA", "x".join(map(str, shape))))
    rows.append((name, "numel", sum(p.numel() for p in model.parameters()), "NA", ""))
    for convention, tool in measure_peers.TOOLS.items():
        started = time.perf_counter()
        try:
            params, macs, notes = tool(build(name), x)
        except Exception as error:
            params = macs = "NA"
            notes = [f"crashed: {type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"]
        rows.append((name, convention, params, macs, "; ".join(notes).replace("\t", " ")))
        print(f"{name:28s} {convention:13s} {params!s:>11} {macs!s:>14} {time.perf_counter() - started:6.1f}s",
              file=sys.stderr, flush=True)
    try:
        model = build(name).train()
        torch.manual_seed(SEED)
        x2 = torch.randn(SAVED_BATCH, *shape, generator=torch.Generator().manual_seed(SEED))
        rows.append((name, f"saved_bytes_train_batch{SAVED_BATCH}", "NA", saved_bytes(model, x2), ""))
    except Exception as error:
        rows.append((name, f"saved_bytes_train_batch{SAVED_BATCH}", "NA", "NA",
                     f"crashed: {type(error).__name__}: {str(error).splitlines()[0][:160]}"))
    return rows


def versions() -> str:
    out = [f"python {platform.python_version()}"]
    for dist in ("torch", "torchvision", "timm", "segmentation_models_pytorch", "ptflops", "fvcore", "thop",
                 "torchinfo", "torchscan"):
        try:
            out.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            out.append(f"{dist} not installed")
    return "; ".join(out)


def header(command: str) -> list[str]:
    import measure_peers

    return [
        "# What torch and the counting tools say of outside models (tools/measure_outside.py)",
        f"# started: {datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()}",
        f"# versions: {versions()}",
        f"# machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, device cpu",
        f"# regenerate: {command}",
        f"# models: {BUILD_NOTE}",
        "# inputs: the 'input' row's CxHxW (3x96x96 where the model runs at it, else its config's size), or, where "
        "a model has no 'input' row, that of its 'model' comment line; x = torch.randn(1, C, H, W, generator seeded 0)",
        "# numel: sum(p.numel() for p in model.parameters())",
        *(f"# {line}" for line in measure_peers.TOOL_NOTES),
        f"# saved_bytes_train_batch{SAVED_BATCH}: model.train(), one forward pass on torch.randn({SAVED_BATCH}, C, H, "
        "W) under torch.autograd.graph.saved_tensors_hooks; total nbytes of the distinct storages saved, parameters "
        "and buffers left out (as tools/measure_torchvision_memory.py)",
        "# a tool that crashes gets NA, with its message in the notes column",
        *(f"# model {n} {lib} {fam} {'x'.join(map(str, s))}" for n, (lib, fam, s) in MODELS.items()),
        "model\tconvention\tparams\tmacs\tnotes",
    ]


def run_measure(names, command):
    done = set()
    if MEASURED.exists():
        done = {line.split("\t")[0] for line in MEASURED.read_text().splitlines()
                if line and not line.startswith("#") and "\t" in line}
    else:
        MEASURED.write_text("\n".join(header(command)) + "\n")
    for name in names:
        if name in done:
            continue
        started = time.perf_counter()
        try:
            rows = measure_one(name)
        except Exception as error:  # the model itself does not build or run
            rows = [(name, "build", "NA", "NA", f"crashed: {type(error).__name__}: {str(error).splitlines()[0][:160]}")]
        with MEASURED.open("a") as f:
            f.write("".join("\t".join(str(v) for v in row) + "\n" for row in rows))
        print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)


def measured_inputs() -> dict:
    """Each measured model's input (its 'input' row, else its 'model' comment line), as the tools ran it."""
    inputs = {}
    if not MEASURED.exists():
        return inputs
    for line in MEASURED.read_text().splitlines():
        if line.startswith("# model "):
            _, _, name, _, _, size = line.split()
            inputs[name] = tuple(int(d) for d in size.split("x"))
        elif "\tinput\t" in line:
            name, _, _, _, size = line.split("\t")
            inputs[name] = tuple(int(d) for d in size.split("x"))
    return inputs


def run_import(names, partial=False):
    import cnncost
    from cnncost.errors import CnnCostError

    IMPORTS.mkdir(parents=True, exist_ok=True)
    table = IMPORTS / "outcomes.tsv"
    previous = {}
    if table.exists():
        for line in table.read_text().splitlines()[1:]:
            previous[line.split("\t")[0]] = line
    measured = measured_inputs()
    for name in names:
        model = build(name)
        shape = measured.get(name, MODELS[name][2])
        started = time.perf_counter()
        path = IMPORTS / f"{name}.yaml.gz"
        try:
            graph = cnncost.from_torch(model, input=shape, name=name)
            outcome, message = "imported", ""
            text = graph.to_yaml()
        except CnnCostError as error:
            outcome, message, text = "refused", str(error).replace("\t", " ").replace("\n", " "), None
            if partial:
                try:
                    graph = cnncost.from_torch(model, input=shape, name=name, partial=True)
                    outcome, text = "partial", graph.to_yaml()
                except CnnCostError as again:
                    message += " | partial: " + str(again).replace("\t", " ").replace("\n", " ")
        if text is None:
            path.unlink(missing_ok=True)
        else:
            with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as f:
                f.write(text.encode())  # mtime 0: the same YAML gives the same bytes
        seconds = time.perf_counter() - started
        previous[name] = f"{name}\t{outcome}\t{seconds:.2f}\t{message[:2000]}"
        print(f"{name:28s} {outcome} {seconds:.2f}s {message[:200]}", file=sys.stderr, flush=True)
    lines = ["model\toutcome\tseconds\tmessage"] + [previous[n] for n in MODELS if n in previous]
    table.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("measure", "import"))
    parser.add_argument("--models", help="comma-separated subset")
    parser.add_argument("--partial", action="store_true", help="import: store a partial import of a refused model")
    args = parser.parse_args(argv)
    names = args.models.split(",") if args.models else list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown models: {unknown}")
    if args.what == "measure":
        run_measure(names, "python tools/measure_outside.py measure")
    else:
        run_import(names, args.partial)
    return 0


if __name__ == "__main__":
    sys.exit(main())
