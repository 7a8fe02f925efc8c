"""What five PyTorch counting tools (and torch's own FlopCounterMode) report.

    python tools/measure_peers.py                      # both files, all models and cases
    python tools/measure_peers.py --only modules       # tests/data/peer_modules.tsv only
    python tools/measure_peers.py --only subclasses    # tests/data/peer_subclasses.tsv (tests/subclass_cases.py)
    python tools/measure_peers.py --models resnet18,alexnet --out-dir /tmp/x

Needs torch, torchvision, ptflops, fvcore, thop, torchinfo and torchscan
installed. Writes, with a ``#`` provenance header (date, versions, settings,
how each tool was called and how its figure was converted to MACs):

* ``peer_totals.tsv``: ``model convention params macs`` for every torchvision
  model of cnncost/data/published/torchvision.yaml, at batch 1, weights=None, eval mode;
* ``peer_modules.tsv``: ``case convention params macs`` for single modules and
  functions on a 1x8x12x12 input, each wrapped in a tiny ``nn.Module`` whose
  ``forward`` calls the thing.

Conventions (one row each): ``ptflops`` and ``ptflops-aten`` (its two
backends), ``fvcore``, ``thop``, ``torchinfo``, ``torchscan`` and
``flopcounter`` (torch.utils.flop_counter.FlopCounterMode, halved). Every tool
gets a freshly built model (thop and ptflops leave buffers, attributes and
hooks behind), put in eval mode, and runs under ``torch.no_grad()``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import platform
import sys
import time
import types
import warnings
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
SEED = 0
TV_WORKAROUND = False


def import_torchvision():
    """Import torchvision; if its compiled ops do not load with this torch, skip their fake kernels.

    A torchvision built for another torch fails on its first ``register_fake``
    (``torchvision::nms``) before registering anything. The models measured
    here use none of torchvision's compiled ops, so an empty stand-in for
    ``torchvision._meta_registrations`` is enough.
    """
    global TV_WORKAROUND
    try:
        import torchvision
    except RuntimeError as error:
        if "torchvision::" not in str(error):
            raise
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
        import torchvision
        TV_WORKAROUND = True
    return torchvision


torchvision = import_torchvision()

import fvcore.nn  # noqa: E402  (after torchvision, which ptflops imports too)
import ptflops  # noqa: E402
import thop  # noqa: E402
import torchinfo  # noqa: E402
import torchscan  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

# ---------------------------------------------------------------------------
# Models

def _published_models() -> list[tuple[str, tuple]]:
    """Every model of cnncost/data/published/torchvision.yaml, classification then segmentation, at the
    input size its published figures are for."""
    import yaml

    data = yaml.safe_load((ROOT / "cnncost" / "data" / "published" / "torchvision.yaml").read_text())
    return [(name, tuple(meta["input"])) for section in ("models", "segmentation")
            for name, meta in data[section].items()]


MODELS = _published_models()
SEGMENTATION_KEYWORDS = dict(num_classes=21, weights_backbone=None)  # as their COCO_WITH_VOC_LABELS weights

# Parameter counts every tool should agree on (torchvision's published num_params).
EXPECTED_PARAMS = {"googlenet": 6624904, "inception_v3": 27161264, "resnet50": 25557032}


def build_model(name: str) -> nn.Module:
    torch.manual_seed(SEED)
    models = torchvision.models
    if name == "googlenet":
        # torchvision drops the auxiliary heads when it loads the published weights;
        # the published num_params (6,624,904) is without them.
        model = models.googlenet(weights=None, aux_logits=False, init_weights=False)
    elif name == "inception_v3":
        # Keeps AuxLogits (aux_logits=True by default); transform_input stays False.
        model = models.inception_v3(weights=None, init_weights=False)
    elif name.startswith(("fcn_", "deeplabv3_")):
        # their weights' builder forces aux_loss=True; the aux head runs in eval too
        model = SegmentationOut(models.get_model(name, weights=None, aux_loss=True, **SEGMENTATION_KEYWORDS))
    elif name.startswith("lraspp_"):
        model = SegmentationOut(models.get_model(name, weights=None, **SEGMENTATION_KEYWORDS))
    elif name == "vit_h_14":
        # its first weights entry (IMAGENET1K_SWAG_E2E_V1) is built at image_size=518
        model = models.get_model(name, weights=None, image_size=518)
    else:
        model = models.get_model(name, weights=None)
    return model.eval()


class SegmentationOut(nn.Module):
    """torchvision's segmentation model, returning its outputs as a tuple (out, aux) rather than a dict, which
    some tools cannot take; every module and parameter is the model's, under the prefix 'model.'."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return tuple(self.model(x).values())


BUILD_NOTE = (
    "torchvision.models.get_model(name, weights=None), except "
    "googlenet = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False) "
    "and inception_v3 = torchvision.models.inception_v3(weights=None, init_weights=False) "
    "(AuxLogits head kept, as aux_logits defaults to True; transform_input=False); "
    "fcn_* and deeplabv3_* get_model(name, weights=None, aux_loss=True, num_classes=21, weights_backbone=None), "
    "lraspp_mobilenet_v3_large the same without aux_loss, each wrapped so that forward returns the tuple "
    "(out, aux) of its dict; vit_h_14 get_model(name, weights=None, image_size=518) (its SWAG_E2E weights); "
    f"torch.manual_seed({SEED}) before each build; then .eval()"
)

# ---------------------------------------------------------------------------
# Single-module cases


class Case(nn.Module):
    """A tiny wrapper: ``forward`` calls ``fn(self, x)``; ``self.m`` holds the module, if any."""

    def __init__(self, fn, module: nn.Module | None = None):
        super().__init__()
        if module is not None:
            self.m = module
        self.fn = fn

    def forward(self, x):
        return self.fn(self, x)


def _call_m(self, x):
    return self.m(x)


def _nhwc(self, x):
    return self.m(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _layernorm2d():
    from torchvision.models.convnext import LayerNorm2d

    return LayerNorm2d(8)


class ScaleCase(nn.Module):
    """ConvNeXt's layer scale: a parameter of the module itself, used as ``x * self.layer_scale``."""

    def __init__(self):
        super().__init__()
        self.layer_scale = nn.Parameter(torch.full((8, 1, 1), 1e-6))

    def forward(self, x):
        return x * self.layer_scale


M = "forward(x) = self.m(x), self.m = "
FN = "no submodules; forward(x) = "
# id -> (description, factory of the module held as self.m or None, forward)
CASES = {
    "conv3x3_bias": (M + "nn.Conv2d(8, 16, 3, padding=1, bias=True)", lambda: nn.Conv2d(8, 16, 3, padding=1, bias=True), _call_m),
    "conv3x3_nobias": (M + "nn.Conv2d(8, 16, 3, padding=1, bias=False)", lambda: nn.Conv2d(8, 16, 3, padding=1, bias=False), _call_m),
    "dwconv3x3_nobias": (M + "nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)", lambda: nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), _call_m),
    "linear_bias": ("forward(x) = self.m(x.flatten(1)), self.m = nn.Linear(1152, 10, bias=True)", lambda: nn.Linear(8 * 12 * 12, 10), lambda self, x: self.m(x.flatten(1))),
    "bn_affine": (M + "nn.BatchNorm2d(8) (affine=True)", lambda: nn.BatchNorm2d(8), _call_m),
    "bn_noaffine": (M + "nn.BatchNorm2d(8, affine=False)", lambda: nn.BatchNorm2d(8, affine=False), _call_m),
    "relu_module": (M + "nn.ReLU()", nn.ReLU, _call_m),
    "relu_function": (FN + "F.relu(x)", None, lambda self, x: F.relu(x)),
    "relu6_module": (M + "nn.ReLU6()", nn.ReLU6, _call_m),
    "silu_module": (M + "nn.SiLU()", nn.SiLU, _call_m),
    "gelu_module": (M + "nn.GELU()", nn.GELU, _call_m),
    "gelu_function": (FN + "F.gelu(x)", None, lambda self, x: F.gelu(x)),
    "hardswish_module": (M + "nn.Hardswish()", nn.Hardswish, _call_m),
    "hardsigmoid_module": (M + "nn.Hardsigmoid()", nn.Hardsigmoid, _call_m),
    "sigmoid_module": (M + "nn.Sigmoid()", nn.Sigmoid, _call_m),
    "maxpool_int3": (M + "nn.MaxPool2d(3, stride=2) (kernel_size stored as the int 3); output 1x8x5x5", lambda: nn.MaxPool2d(3, stride=2), _call_m),
    "maxpool_tuple3": (M + "nn.MaxPool2d((3, 3), stride=2); output 1x8x5x5", lambda: nn.MaxPool2d((3, 3), stride=2), _call_m),
    "maxpool_function": (FN + "F.max_pool2d(x, 3, 2); output 1x8x5x5", None, lambda self, x: F.max_pool2d(x, 3, 2)),
    "avgpool_int3": (M + "nn.AvgPool2d(3, stride=1, padding=1) (kernel_size stored as the int 3); output 1x8x12x12", lambda: nn.AvgPool2d(3, stride=1, padding=1), _call_m),
    "avgpool_tuple3": (M + "nn.AvgPool2d((3, 3), stride=1, padding=1); output 1x8x12x12", lambda: nn.AvgPool2d((3, 3), stride=1, padding=1), _call_m),
    "avgpool_function": (FN + "F.avg_pool2d(x, 3, 1, 1); output 1x8x12x12", None, lambda self, x: F.avg_pool2d(x, 3, 1, 1)),
    "adaptiveavgpool_1": (M + "nn.AdaptiveAvgPool2d(1); output 1x8x1x1", lambda: nn.AdaptiveAvgPool2d(1), _call_m),
    "adaptiveavgpool_5": (M + "nn.AdaptiveAvgPool2d(5); 12 -> 5, windows of 3 or 4 that overlap (12 is not a multiple of 5); output 1x8x5x5", lambda: nn.AdaptiveAvgPool2d(5), _call_m),
    "adaptiveavgpool_function_1": (FN + "F.adaptive_avg_pool2d(x, 1); output 1x8x1x1", None, lambda self, x: F.adaptive_avg_pool2d(x, 1)),
    "mean_hw": (FN + "x.mean([2, 3]) (Tensor method); output 1x8", None, lambda self, x: x.mean([2, 3])),
    "lrn_module": (M + "nn.LocalResponseNorm(5)", lambda: nn.LocalResponseNorm(5), _call_m),
    "dropout_module": (M + "nn.Dropout(0.5) (eval: identity)", lambda: nn.Dropout(0.5), _call_m),
    "flip_only": (FN + "x.flip(1) (control for the add/mul cases, which flip too)", None, lambda self, x: x.flip(1)),
    "add_operator": (FN + "x + x.flip(1)", None, lambda self, x: x + x.flip(1)),
    "add_function": (FN + "torch.add(x, x.flip(1))", None, lambda self, x: torch.add(x, x.flip(1))),
    "mul_operator": (FN + "x * x.flip(1)", None, lambda self, x: x * x.flip(1)),
    "cat_function": (FN + "torch.cat([x, x], 1); output 1x16x12x12", None, lambda self, x: torch.cat([x, x], 1)),
    "groupnorm_affine": (M + "nn.GroupNorm(4, 8) (affine=True)", lambda: nn.GroupNorm(4, 8), _call_m),
    "groupnorm_noaffine": (M + "nn.GroupNorm(4, 8, affine=False)", lambda: nn.GroupNorm(4, 8, affine=False), _call_m),
    "groupnorm_function": (FN + "F.group_norm(x, 4)", None, lambda self, x: F.group_norm(x, 4)),
    "layernorm_channels_nhwc": ("forward(x) = self.m(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), self.m = nn.LayerNorm(8) (ConvNeXt style: normalise over channels)", lambda: nn.LayerNorm(8), _nhwc),
    "layernorm2d_torchvision": (M + "torchvision.models.convnext.LayerNorm2d(8) (a subclass of nn.LayerNorm whose forward permutes, calls F.layer_norm and permutes back; what torchvision's ConvNeXt uses)", _layernorm2d, _call_m),
    "layernorm_chw": (M + "nn.LayerNorm([8, 12, 12]) (normalise over C, H and W)", lambda: nn.LayerNorm([8, 12, 12]), _call_m),
    "layernorm_vector": ("forward(x) = self.m(x.flatten(1)), self.m = nn.LayerNorm(1152)", lambda: nn.LayerNorm(8 * 12 * 12), lambda self, x: self.m(x.flatten(1))),
    "layernorm_function_nhwc": (FN + "F.layer_norm(x.permute(0, 2, 3, 1), (8,)).permute(0, 3, 1, 2)", None, lambda self, x: F.layer_norm(x.permute(0, 2, 3, 1), (8,)).permute(0, 3, 1, 2)),
    "linear_channels_nhwc": ("forward(x) = self.m(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), self.m = nn.Linear(8, 16) (ConvNeXt style: on each position's channels)", lambda: nn.Linear(8, 16), _nhwc),
    "linear_channels_nhwc_contiguous": ("forward(x) = self.m(x.permute(0, 2, 3, 1).contiguous()).permute(0, 3, 1, 2), self.m = nn.Linear(8, 16) (on a contiguous channels-last tensor, as ConvNeXt's Linear after its LayerNorm)", lambda: nn.Linear(8, 16), lambda self, x: self.m(x.permute(0, 2, 3, 1).contiguous()).permute(0, 3, 1, 2)),
    "layernorm_noaffine_nhwc": ("forward(x) = self.m(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), self.m = nn.LayerNorm(8, elementwise_affine=False)", lambda: nn.LayerNorm(8, elementwise_affine=False), _nhwc),
    "layer_scale": ("a module with its own parameter self.layer_scale = nn.Parameter(torch.full((8, 1, 1), 1e-6)); forward(x) = x * self.layer_scale (ConvNeXt's CNBlock)", "scale", None),
    "mish_module": (M + "nn.Mish()", nn.Mish, _call_m),
    "pad_zero_module": (M + "nn.ZeroPad2d((1, 2, 3, 0)) (left, right, top, bottom); output 1x8x15x15", lambda: nn.ZeroPad2d((1, 2, 3, 0)), _call_m),
    "pad_reflect_module": (M + "nn.ReflectionPad2d((1, 2, 3, 0)); output 1x8x15x15", lambda: nn.ReflectionPad2d((1, 2, 3, 0)), _call_m),
    "pad_replicate_module": (M + "nn.ReplicationPad2d((1, 2, 3, 0)); output 1x8x15x15", lambda: nn.ReplicationPad2d((1, 2, 3, 0)), _call_m),
    "pad_function": (FN + "F.pad(x, (1, 2, 3, 0)); output 1x8x15x15", None, lambda self, x: F.pad(x, (1, 2, 3, 0))),
    "crop_slice": (FN + "x[:, :, 2:10, 1:11] (a centre crop to 8x10); output 1x8x8x10", None, lambda self, x: x[:, :, 2:10, 1:11]),
    "convtranspose2x2_s2_bias": (M + "nn.ConvTranspose2d(8, 4, 2, stride=2) (bias=True); output 1x4x24x24", lambda: nn.ConvTranspose2d(8, 4, 2, stride=2), _call_m),
    "convtranspose2x2_s2_nobias": (M + "nn.ConvTranspose2d(8, 4, 2, stride=2, bias=False); output 1x4x24x24", lambda: nn.ConvTranspose2d(8, 4, 2, stride=2, bias=False), _call_m),
    "convtranspose3x3_s2_p1_op1": (M + "nn.ConvTranspose2d(8, 16, 3, stride=2, padding=1, output_padding=1); output 1x16x24x24", lambda: nn.ConvTranspose2d(8, 16, 3, stride=2, padding=1, output_padding=1), _call_m),
    "convtranspose4x4_g4_nobias": (M + "nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1, groups=4, bias=False); output 1x8x24x24", lambda: nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1, groups=4, bias=False), _call_m),
    "upsample_nearest_scale2": (M + "nn.Upsample(scale_factor=2) (nearest); output 1x8x24x24", lambda: nn.Upsample(scale_factor=2), _call_m),
    "upsample_nearest_size": (M + "nn.Upsample(size=(20, 30)) (nearest); output 1x8x20x30", lambda: nn.Upsample(size=(20, 30)), _call_m),
    "upsample_bilinear_scale2": (M + "nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False); output 1x8x24x24", lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), _call_m),
    "upsample_bilinear_size_aligned": (M + "nn.Upsample(size=(20, 30), mode='bilinear', align_corners=True); output 1x8x20x30", lambda: nn.Upsample(size=(20, 30), mode="bilinear", align_corners=True), _call_m),
    "interpolate_nearest_function": (FN + "F.interpolate(x, scale_factor=2) (nearest); output 1x8x24x24", None, lambda self, x: F.interpolate(x, scale_factor=2)),
    "interpolate_bilinear_function": (FN + "F.interpolate(x, size=(20, 30), mode='bilinear', align_corners=False) (as torchvision's segmentation heads); output 1x8x20x30", None, lambda self, x: F.interpolate(x, size=(20, 30), mode="bilinear", align_corners=False)),
}
CASE_SHAPE = (8, 12, 12)


class ParamCase(nn.Module):
    """Element-wise arithmetic with a tensor of the module's own: a parameter or a buffer."""

    def __init__(self, fn, learnable=True):
        super().__init__()
        self.fn = fn
        value = torch.linspace(0.5, 1.5, 8)
        if learnable:
            self.gamma = nn.Parameter(value)
        else:
            self.register_buffer("gamma", value)

    def forward(self, x):
        return self.fn(self, x)


class GRNCase(nn.Module):
    """ConvNeXt-V2's global response norm on an NCHW map, as timm's GlobalResponseNorm (channels first)."""

    def __init__(self, channels=8, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        gx = x.norm(p=2, dim=(2, 3), keepdim=True)
        nx = gx / (gx.mean(dim=1, keepdim=True) + self.eps)
        return self.weight.reshape(1, -1, 1, 1) * (x * nx) + self.bias.reshape(1, -1, 1, 1) + x


def _mha(self, x):
    return self.m(x, x, x, need_weights=False)[0]


TOKENS = (16, 32)
# id -> (description, factory (None: no submodule; "param"/"buffer"/"grn": the classes above), forward,
# per-sample input shape): the tensor-op kinds of issue 21
OP_CASES = {
    "scalar_add_operator": (FN + "x + 3", None, lambda self, x: x + 3, CASE_SHAPE),
    "scalar_add_function": (FN + "torch.add(x, 3)", None, lambda self, x: torch.add(x, 3), CASE_SHAPE),
    "scalar_mul_operator": (FN + "x * 0.5", None, lambda self, x: x * 0.5, CASE_SHAPE),
    "scalar_mul_function": (FN + "torch.mul(x, 0.5)", None, lambda self, x: torch.mul(x, 0.5), CASE_SHAPE),
    "scalar_div_operator": (FN + "x / 6", None, lambda self, x: x / 6, CASE_SHAPE),
    "scalar_rsub_operator": (FN + "3 - x", None, lambda self, x: 3 - x, CASE_SHAPE),
    "scalar_pow_operator": (FN + "x ** 2", None, lambda self, x: x ** 2, CASE_SHAPE),
    "scalar_clamp_min": (FN + "x.clamp_min(0)", None, lambda self, x: x.clamp_min(0), CASE_SHAPE),
    "unary_exp": (FN + "torch.exp(x)", None, lambda self, x: torch.exp(x), CASE_SHAPE),
    "unary_rsqrt": (FN + "x.rsqrt()", None, lambda self, x: x.rsqrt(), CASE_SHAPE),
    "unary_erf": (FN + "torch.erf(x)", None, lambda self, x: torch.erf(x), CASE_SHAPE),
    "binary_sub_operator": (FN + "x - x.flip(1)", None, lambda self, x: x - x.flip(1), CASE_SHAPE),
    "binary_div_operator": (FN + "x / x.flip(1)", None, lambda self, x: x / x.flip(1), CASE_SHAPE),
    "binary_mul_broadcast": (FN + "x * x[:, :, :1, :1] (8x12x12 by 8x1x1)", None,
                             lambda self, x: x * x[:, :, :1, :1], CASE_SHAPE),
    "param_mul_reshape": ("a module with gamma = nn.Parameter(8 values); forward(x) = "
                          "x.mul(gamma.reshape(1, -1, 1, 1)) (timm's layer scale)", "param", lambda self, x: x.mul(self.gamma.reshape(1, -1, 1, 1)),
                          CASE_SHAPE),
    "param_add_operator": ("a module with gamma = nn.Parameter(8 values); forward(x) = x + gamma.reshape(1, -1, 1, 1)",
                           "param", lambda self, x: x + self.gamma.reshape(1, -1, 1, 1), CASE_SHAPE),
    "buffer_sub_div": ("a module with a buffer gamma (8 values); forward(x) = (x - gamma.reshape(1, -1, 1, 1)) / "
                       "gamma.reshape(1, -1, 1, 1)", "buffer",
                       lambda self, x: (x - self.gamma.reshape(1, -1, 1, 1)) / self.gamma.reshape(1, -1, 1, 1),
                       CASE_SHAPE),
    "reduce_sum_dim1": (FN + "x.sum(dim=1); output 1x12x12", None, lambda self, x: x.sum(dim=1), CASE_SHAPE),
    "reduce_mean_hw_keepdim": (FN + "x.mean((2, 3), keepdim=True); output 1x8x1x1", None,
                               lambda self, x: x.mean((2, 3), keepdim=True), CASE_SHAPE),
    "reduce_amax_dim1": (FN + "x.amax(dim=1); output 1x12x12", None, lambda self, x: x.amax(dim=1), CASE_SHAPE),
    "reduce_norm_hw": (FN + "torch.norm(x, p=2, dim=(2, 3), keepdim=True); output 1x8x1x1", None,
                       lambda self, x: torch.norm(x, p=2, dim=(2, 3), keepdim=True), CASE_SHAPE),
    "stack_function": (FN + "torch.stack([x, x.flip(1)], 1); output 1x2x8x12x12", None,
                       lambda self, x: torch.stack([x, x.flip(1)], 1), CASE_SHAPE),
    "stack_sum0": (FN + "torch.stack([x, x.flip(1)]).sum(0) (an FPN merge)", None,
                   lambda self, x: torch.stack([x, x.flip(1)]).sum(0), CASE_SHAPE),
    "slice_channels": (FN + "x[:, :3]; output 1x3x12x12", None, lambda self, x: x[:, :3], CASE_SHAPE),
    "split_channels": (FN + "x.split([3, 5], 1)[1]; output 1x5x12x12", None, lambda self, x: x.split([3, 5], 1)[1],
                       CASE_SHAPE),
    "reshape_tokens": (FN + "x.reshape(1, 8, 144)", None, lambda self, x: x.reshape(1, 8, 144), CASE_SHAPE),
    "flatten_transpose": (FN + "x.flatten(2).transpose(1, 2) (a ViT's patches to tokens); output 1x144x8", None,
                          lambda self, x: x.flatten(2).transpose(1, 2), CASE_SHAPE),
    "permute_nhwc": (FN + "x.permute(0, 2, 3, 1)", None, lambda self, x: x.permute(0, 2, 3, 1), CASE_SHAPE),
    "unflatten_heads": (FN + "x.unflatten(1, (2, 4))", None, lambda self, x: x.unflatten(1, (2, 4)), CASE_SHAPE),
    "matmul_operator": (FN + "x @ x.transpose(-2, -1) (8 heads of 12x12); output 1x8x12x12", None,
                        lambda self, x: x @ x.transpose(-2, -1), CASE_SHAPE),
    "matmul_function": (FN + "torch.matmul(x, x.transpose(-2, -1))", None,
                        lambda self, x: torch.matmul(x, x.transpose(-2, -1)), CASE_SHAPE),
    "einsum_qk": (FN + "torch.einsum('bhqd,bhkd->bhqk', x, x.flip(2))", None,
                  lambda self, x: torch.einsum("bhqd,bhkd->bhqk", x, x.flip(2)), CASE_SHAPE),
    "softmax_last_function": (FN + "x.softmax(dim=-1)", None, lambda self, x: x.softmax(dim=-1), CASE_SHAPE),
    "softmax_last_module": (M + "nn.Softmax(dim=-1)", lambda: nn.Softmax(dim=-1), _call_m, CASE_SHAPE),
    "sdpa_function": (FN + "F.scaled_dot_product_attention(x, x.flip(2), x.flip(3)) (8 heads, L = S = 12, E = 12)",
                      None, lambda self, x: F.scaled_dot_product_attention(x, x.flip(2), x.flip(3)), CASE_SHAPE),
    "mha_self": ("forward(x) = self.m(x, x, x, need_weights=False)[0], self.m = nn.MultiheadAttention(32, 4, "
                 "batch_first=True); input 1x16x32 tokens", lambda: nn.MultiheadAttention(32, 4, batch_first=True),
                 _mha, TOKENS),
    "mha_cross": ("forward(x) = self.m(x, x.flip(1), x.flip(2), need_weights=False)[0], self.m = "
                  "nn.MultiheadAttention(32, 4, batch_first=True); input 1x16x32 tokens (query, key and value differ)",
                  lambda: nn.MultiheadAttention(32, 4, batch_first=True),
                  lambda self, x: self.m(x, x.flip(1), x.flip(2), need_weights=False)[0], TOKENS),
    "sdpa_rank5": (FN + "F.scaled_dot_product_attention(q, q.flip(3), q.flip(4)), q = x.unflatten(1, (2, 4)) "
                   "(5 axes: torch's math path)", None,
                   lambda self, x: (lambda q: F.scaled_dot_product_attention(q, q.flip(3), q.flip(4)))(
                       x.unflatten(1, (2, 4))), CASE_SHAPE),
    "linear_tokens": (M + "nn.Linear(32, 64) on 1x16x32 tokens", lambda: nn.Linear(32, 64), _call_m, TOKENS),
    "layernorm_tokens": (M + "nn.LayerNorm(32) on 1x16x32 tokens", lambda: nn.LayerNorm(32), _call_m, TOKENS),
    "pixel_shuffle": (M + "nn.PixelShuffle(2); output 1x2x24x24", lambda: nn.PixelShuffle(2), _call_m, CASE_SHAPE),
    "pixel_unshuffle": (M + "nn.PixelUnshuffle(2); output 1x32x6x6", lambda: nn.PixelUnshuffle(2), _call_m,
                        CASE_SHAPE),
    "instancenorm_module": (M + "nn.InstanceNorm2d(8) (affine=False)", lambda: nn.InstanceNorm2d(8), _call_m,
                            CASE_SHAPE),
    "instancenorm_affine": (M + "nn.InstanceNorm2d(8, affine=True)", lambda: nn.InstanceNorm2d(8, affine=True),
                            _call_m, CASE_SHAPE),
    "instancenorm_function": (FN + "F.instance_norm(x)", None, lambda self, x: F.instance_norm(x), CASE_SHAPE),
    "grn_channels_first": ("GRNCase: ConvNeXt-V2's GRN on NCHW, forward(x) = weight.reshape(1, -1, 1, 1) * (x * nx) "
                           "+ bias.reshape(1, -1, 1, 1) + x, gx = x.norm(p=2, dim=(2, 3), keepdim=True), nx = gx / "
                           "(gx.mean(dim=1, keepdim=True) + 1e-6)", "grn", None, CASE_SHAPE),
}


def build_op_case(name: str) -> nn.Module:
    torch.manual_seed(SEED)
    _, factory, fn, _ = OP_CASES[name]
    if factory in ("param", "buffer"):
        return ParamCase(fn, factory == "param").eval()
    if factory == "grn":
        return GRNCase().eval()
    return Case(fn, factory() if factory is not None else None).eval()


def build_case(name: str) -> nn.Module:
    torch.manual_seed(SEED)
    _, factory, fn = CASES[name]
    if factory == "scale":
        return ScaleCase().eval()
    return Case(fn, factory() if factory is not None else None).eval()


# ---------------------------------------------------------------------------
# Tools: each takes a fresh model in eval mode and the input, returns (params, macs, notes).


def as_number(value, what: str, notes: list[str]):
    """An int when the value is integral; otherwise the value itself, with a note."""
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        notes.append(f"{what} is not integral: {value!r}")
    return value


@contextlib.contextmanager
def quiet():
    """Swallow what a tool prints and warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
            yield out, err


def run_ptflops(model, x, backend):
    notes: list[str] = []
    with quiet() as (out, err), torch.no_grad():
        macs, params = ptflops.get_model_complexity_info(
            model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False, backend=backend
        )
    if macs is None:
        raise RuntimeError("ptflops returned None: " + (out.getvalue() + err.getvalue()).strip().splitlines()[1][:200])
    return as_number(params, "params", notes), as_number(macs, "macs", notes), notes


def run_fvcore(model, x):
    notes: list[str] = []
    with quiet(), torch.no_grad():
        analysis = fvcore.nn.FlopCountAnalysis(model, (x,))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        macs = analysis.total()
        unsupported = analysis.unsupported_ops()
        params = fvcore.nn.parameter_count(model)[""]
    if unsupported:
        notes.append("unsupported ops: " + ", ".join(f"{op} x{n}" for op, n in sorted(unsupported.items())))
    return as_number(params, "params", notes), as_number(macs, "macs", notes), notes


def run_thop(model, x):
    notes: list[str] = []
    with quiet(), torch.no_grad():
        macs, params = thop.profile(model, inputs=(x,), verbose=False)
    return as_number(params, "params", notes), as_number(macs, "macs", notes), notes


def run_torchinfo(model, x):
    notes: list[str] = []
    with quiet(), torch.no_grad():
        stats = torchinfo.summary(model, input_size=tuple(x.shape), verbose=0)
    return as_number(stats.total_params, "params", notes), as_number(stats.total_mult_adds, "macs", notes), notes


def run_torchscan(model, x):
    notes: list[str] = []
    with quiet(), torch.no_grad():
        report = torchscan.crawl_module(model, tuple(x.shape[1:]))
    totals = report["totals"]
    macs, params = totals["macs"], totals["parameters"]
    if macs["status"] != "complete":
        missing = Counter(
            layer["type"]
            for layer in report["layers"]
            if layer["metrics"].get("macs", {"status": "complete"})["status"] != "complete"
        )
        notes.append(
            f"totals.macs status {macs['status']}; leaf modules without a MACs formula (counted 0): "
            + ", ".join(f"{t} x{n}" for t, n in sorted(missing.items()))
        )
    value = macs["value"] if macs["value"] is not None else macs["known_value"]
    return as_number(params["value"], "params", notes), as_number(value, "macs", notes), notes


def run_flopcounter(model, x):
    notes: list[str] = []
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    flops = counter.get_total_flops()
    assert flops % 2 == 0, f"odd FlopCounterMode total {flops}"
    params = sum(p.numel() for p in model.parameters())
    return params, flops // 2, notes


TOOLS = {
    "ptflops": lambda m, x: run_ptflops(m, x, "pytorch"),
    "ptflops-aten": lambda m, x: run_ptflops(m, x, "aten"),
    "fvcore": run_fvcore,
    "thop": run_thop,
    "torchinfo": run_torchinfo,
    "torchscan": run_torchscan,
    "flopcounter": run_flopcounter,
}

TOOL_NOTES = [
    "ptflops: ptflops.get_model_complexity_info(model, (C, H, W), as_strings=False, print_per_layer_stat=False, "
    "backend='pytorch') -> (macs, params); macs as returned (ptflops reports MACs per image; it builds its own "
    "uninitialised 1xCxHxW input); params as returned (parameters with requires_grad, i.e. all here)",
    "ptflops-aten: the same call with backend='aten'",
    "fvcore: a = fvcore.nn.FlopCountAnalysis(model, (x,)) with unsupported_ops_warnings(False), "
    "uncalled_modules_warnings(False), tracer_warnings('none'); macs = a.total() as returned (fvcore counts one "
    "multiply-add as one 'flop'); params = fvcore.nn.parameter_count(model)['']; a.unsupported_ops() noted below",
    "thop: thop.profile(model, inputs=(x,), verbose=False) -> (macs, params), both float64 sums; written as int "
    "when integral (a note says so otherwise)",
    "torchinfo: s = torchinfo.summary(model, input_size=(1, C, H, W), verbose=0); macs = s.total_mult_adds; "
    "params = s.total_params",
    "torchscan: r = torchscan.crawl_module(model, (C, H, W)) (0.2.0 returns a report dict; there is no "
    "r['overall']); macs = r['totals']['macs']['value'] (the sum of its per-module MACs; it also reports "
    "module_flops, operator_flops and dmas, not used); params = r['totals']['parameters']['value'] "
    "(= trainable_parameters + frozen_parameters, every parameter); a totals.macs status other than "
    "'complete' is noted below",
    "flopcounter: with torch.no_grad(), torch.utils.flop_counter.FlopCounterMode(display=False) as c: model(x); "
    "macs = c.get_total_flops() // 2 (asserted even); params = sum(p.numel() for p in model.parameters())",
]

# ---------------------------------------------------------------------------
# Running and writing


def make_input(shape) -> torch.Tensor:
    return torch.randn(1, *shape, generator=torch.Generator().manual_seed(SEED))


def measure(label: str, build, shape, rows: list, notes: list, log):
    x = make_input(shape)
    for convention, tool in TOOLS.items():
        started = time.perf_counter()
        try:
            params, macs, tool_notes = tool(build(), x)
        except Exception as error:  # a tool that crashes gets an NA row and a note
            params = macs = "NA"
            tool_notes = [f"crashed: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"]
        rows.append((label, convention, params, macs))
        notes.extend(f"{label} {convention}: {note}" for note in tool_notes)
        log(f"{label:28s} {convention:13s} {params!s:>11} {macs!s:>14}  {time.perf_counter() - started:6.2f}s")


def versions() -> list[str]:
    lines = [f"python {platform.python_version()} ({platform.python_implementation()})"]
    for dist in ("torch", "torchvision", "ptflops", "fvcore", "thop", "torchinfo", "torchscan", "numpy"):
        try:
            lines.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            lines.append(f"{dist} not installed")
    return lines


def header(title: str, command: str, elapsed: float, settings: list[str]) -> list[str]:
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    out = [
        title,
        f"date: {now}",
        "versions (importlib.metadata): " + "; ".join(versions()),
        f"torch.__version__ {torch.__version__}; torchvision.__version__ {torchvision.__version__}",
        f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}, device cpu; whole run {elapsed:.0f} s",
        f"regenerate: {command} (from the repository root, with the versions above installed)",
    ]
    if TV_WORKAROUND:
        out.append(
            "torchvision's compiled ops did not load with this torch; the script imported torchvision with an "
            "empty stand-in for torchvision._meta_registrations (none of its ops is used here)"
        )
    out += settings
    out.append("tools (a fresh model per tool; every call inside torch.no_grad()):")
    out += ["  " + line for line in TOOL_NOTES]
    out.append("a tool that crashes gets NA in params and macs, with a note")
    return out


def write(path: Path, head: list[str], notes: list[str], columns: str, rows: list) -> None:
    lines = [f"# {line}" for line in head]
    lines += [f"# note {note}" for note in notes] or ["# notes: none"]
    lines.append(columns)
    lines += ["\t".join(str(v) for v in row) for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("models", "modules", "ops", "subclasses"), help="write one of the files")
    parser.add_argument("--models", help="comma-separated subset of the models")
    parser.add_argument("--cases", help="comma-separated subset of the single-module cases")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "tests" / "data")
    args = parser.parse_args(argv)
    command = "python tools/measure_peers.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))

    def log(line):
        print(line, file=sys.stderr, flush=True)

    if args.only == "subclasses":
        sys.path.insert(0, str(ROOT))
        from tests import subclass_cases

        names = args.cases.split(",") if args.cases else list(subclass_cases.CASES)
        started = time.perf_counter()
        rows, notes = [], []
        for name in names:
            measure(name, lambda n=name: subclass_cases.build(n, SEED), subclass_cases.SHAPE, rows, notes, log)
        settings = [
            "settings: batch 1; eval mode; input 1x8x12x12, x = torch.randn(1, 8, 12, 12, generator=torch.Generator()"
            ".manual_seed(0)); torch.manual_seed(0) before each build",
            "each case is tests/subclass_cases.py's Wrapper, whose forward calls the module held as self.m: a "
            "subclass of a torch.nn layer written as timm and segmentation-models-pytorch write theirs",
            "columns: case; convention (the tool); params; macs (converted as below)",
        ]
        settings += [f"case {name}: {subclass_cases.CASES[name][0]}" for name in names]
        head = header("What PyTorch counting tools report for subclasses of torch.nn's layers (issue 21)", command,
                      time.perf_counter() - started, settings)
        write(args.out_dir / "peer_subclasses.tsv", head, notes, "case\tconvention\tparams\tmacs", rows)
        log(f"wrote {args.out_dir / 'peer_subclasses.tsv'} in {time.perf_counter() - started:.0f} s")
        return 0

    if args.only == "ops":
        names = args.cases.split(",") if args.cases else list(OP_CASES)
        started = time.perf_counter()
        rows, notes = [], []
        for name in names:
            measure(name, lambda n=name: build_op_case(n), OP_CASES[name][3], rows, notes, log)
        settings = [
            "settings: batch 1; eval mode; input 1 x the case's shape (1x8x12x12 unless said), x = torch.randn(1, "
            "*shape, generator=torch.Generator().manual_seed(0)); torch.manual_seed(0) before each build",
            "each case as in peer_modules.tsv: a module held as self.m, or no submodules and a function, operator "
            "or tensor method in forward; a second operand made from x by flip or a slice (flip_only in "
            "peer_modules.tsv shows every tool counts a flip 0)",
            "columns: case; convention (the tool); params; macs (converted as below)",
        ]
        settings += [f"case {name}: {OP_CASES[name][0]}" for name in names]
        head = header("What PyTorch counting tools report for tensor ops (issue 21's kinds)", command,
                      time.perf_counter() - started, settings)
        write(args.out_dir / "peer_ops.tsv", head, notes, "case\tconvention\tparams\tmacs", rows)
        log(f"wrote {args.out_dir / 'peer_ops.tsv'} in {time.perf_counter() - started:.0f} s")
        return 0

    if args.only != "modules":
        sizes = dict(MODELS)
        names = args.models.split(",") if args.models else list(sizes)
        unknown = [n for n in names if n not in sizes]
        if unknown:
            parser.error(f"unknown models: {unknown}")
        started = time.perf_counter()
        rows: list = []
        notes: list[str] = []
        for name in names:
            measure(name, lambda n=name: build_model(n), sizes[name], rows, notes, log)
        for name, convention, params, _ in rows:
            if name in EXPECTED_PARAMS and params != EXPECTED_PARAMS[name]:
                note = f"{name} {convention}: params {params}, not torchvision's {EXPECTED_PARAMS[name]}"
                aux = getattr(build_model(name), "AuxLogits", None)
                if aux is not None and isinstance(params, int):
                    held = sum(p.numel() for p in aux.parameters())
                    note += f"; AuxLogits (not run in eval) holds {held}" + (
                        ", exactly the difference" if EXPECTED_PARAMS[name] - params == held else "")
                notes.append(note)
        settings = [
            "settings: batch 1; eval mode; weights=None (random init, no download); input 1x3xSxS, S the size "
            "of the model's published figures (cnncost/data/published/torchvision.yaml: 224 for most, 299 "
            "inception_v3, 520 segmentation, the EfficientNets' and regnet_y_128gf's own); x = torch.randn(1, 3, "
            "S, S, generator=torch.Generator().manual_seed(0)) for the tools that take a tensor",
            "models: " + BUILD_NOTE,
            "columns: model; convention (the tool); params (the tool's parameter count); macs (its operation count "
            "in multiply-accumulates, converted as below)",
        ]
        head = header("What PyTorch counting tools report for torchvision models", command,
                      time.perf_counter() - started, settings)
        write(args.out_dir / "peer_totals.tsv", head, notes, "model\tconvention\tparams\tmacs", rows)
        log(f"wrote {args.out_dir / 'peer_totals.tsv'} in {time.perf_counter() - started:.0f} s")

    if args.only != "models":
        names = args.cases.split(",") if args.cases else list(CASES)
        unknown = [n for n in names if n not in CASES]
        if unknown:
            parser.error(f"unknown cases: {unknown}")
        started = time.perf_counter()
        rows, notes = [], []
        for name in names:
            measure(name, lambda n=name: build_case(n), CASE_SHAPE, rows, notes, log)
        settings = [
            "settings: batch 1; eval mode; input 1x8x12x12, x = torch.randn(1, 8, 12, 12, "
            "generator=torch.Generator().manual_seed(0)) for the tools that take a tensor; "
            f"torch.manual_seed({SEED}) before each build",
            "each case is class Case(nn.Module) whose forward calls the thing: a module held as the child self.m "
            "(so the module under test is a leaf below the wrapper), or, with no submodules, an F.* / torch.* "
            "function or a tensor method; output 1x8x12x12 unless said",
            "columns: case; convention (the tool); params; macs (converted as below)",
        ]
        settings += [f"case {name}: {CASES[name][0]}" for name in names]
        head = header("What PyTorch counting tools report for single modules and functions", command,
                      time.perf_counter() - started, settings)
        write(args.out_dir / "peer_modules.tsv", head, notes, "case\tconvention\tparams\tmacs", rows)
        log(f"wrote {args.out_dir / 'peer_modules.tsv'} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
