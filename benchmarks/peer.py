"""One peer tool analysing ResNet-152, as a user of that tool would: one whole process.

    python benchmarks/peer.py fvcore

The model is cnncost's own ResNet-152 built as a torch.nn.Module
(``cnncost.to_torch``), since torchvision may not be installed; it has
torchvision's layers and 60,192,808 parameters. Prints one line:
``<peer> params=<n> ops=<n>``. Exits 3 when the peer or torch cannot be
imported, so run.py can skip it.
"""

from __future__ import annotations

import sys

MODEL = "resnet152"
SKIP = 3


def _ptflops(model, torch):
    from ptflops import get_model_complexity_info

    macs, params = get_model_complexity_info(model, (3, 224, 224), as_strings=False,
                                             print_per_layer_stat=False, verbose=False)
    return params, macs


def _fvcore(model, torch):
    from fvcore.nn import FlopCountAnalysis, parameter_count

    flops = FlopCountAnalysis(model, torch.randn(1, 3, 224, 224))
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    return parameter_count(model)[""], flops.total()


def _thop(model, torch):
    from thop import profile

    macs, params = profile(model, inputs=(torch.randn(1, 3, 224, 224),), verbose=False)
    return int(params), int(macs)


def _torchinfo(model, torch):
    from torchinfo import summary

    stats = summary(model, input_size=(1, 3, 224, 224), verbose=0)
    return stats.total_params, stats.total_mult_adds


def _flopcounter(model, torch):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, 224, 224))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


PEERS = {
    "ptflops": ("ptflops", _ptflops),
    "fvcore": ("fvcore", _fvcore),
    "thop": ("thop", _thop),
    "torchinfo": ("torchinfo", _torchinfo),
    "flopcounter": ("torch.utils.flop_counter", _flopcounter),
}


def main(name: str) -> int:
    module, count = PEERS[name]
    try:
        import importlib

        import torch

        importlib.import_module(module)
        import cnncost

        model = cnncost.to_torch(MODEL)
    except Exception as exc:  # ImportError, or cnncost without its torch backend
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return SKIP
    model.eval()
    with torch.no_grad():
        params, ops = count(model, torch)
    print(f"{name} params={params} ops={ops}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
