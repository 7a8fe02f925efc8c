"""Small modules written the way timm and segmentation-models-pytorch subclass torch.nn's layers, on a 1x8x12x12 input.

tools/measure_peers.py --only subclasses measures what the counting tools print for each (tests/data/
peer_subclasses.tsv); tests/test_peer_subclasses.py imports the same modules with from_torch and compares. They
need torch only, so that both can build them; each class is written here from the pattern it names, not copied.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SHAPE = (8, 12, 12)


def _same_pads(x, kernel, stride):
    """TensorFlow's "same": left, right, top, bottom for F.pad."""
    pads = []
    for size, k, s in zip(x.shape[-2:], kernel, stride):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return [left, right, top, bottom]


class FunctionalLinear(nn.Linear):
    """timm.layers.Linear's pattern: an nn.Linear subclass whose forward calls F.linear (no children)."""

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class Conv2dSame(nn.Conv2d):
    """timm's Conv2dSame pattern: TensorFlow's "same" padding worked out from the input, F.pad, then F.conv2d."""

    def forward(self, x):
        x = F.pad(x, _same_pads(x, self.kernel_size, self.stride))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class KeptForwardConv(nn.Conv2d):
    """A subclass that keeps nn.Conv2d's forward (adds nothing but its type)."""


class BatchNormAct(nn.BatchNorm2d):
    """timm's BatchNormAct2d pattern: a BatchNorm2d subclass with child modules (the activation), whose forward calls
    F.batch_norm and then the child."""

    def __init__(self, channels):
        super().__init__(channels)
        self.act = nn.ReLU()

    def forward(self, x):
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return self.act(x)


class StaticSameConv(nn.Conv2d):
    """segmentation-models-pytorch's Conv2dStaticSamePadding pattern: a child nn.ZeroPad2d, then F.conv2d."""

    def __init__(self, cin, cout, kernel, stride):
        super().__init__(cin, cout, kernel, stride)
        self.static_padding = nn.ZeroPad2d((0, 1, 0, 1))

    def forward(self, x):
        return F.conv2d(self.static_padding(x), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class TokenLayerNorm(nn.LayerNorm):
    """segmentation-models-pytorch's mix_transformer.LayerNorm pattern on a map: to tokens, F.layer_norm, back."""

    def forward(self, x):
        n, c, h, w = x.shape
        x = x.view(n, c, -1).transpose(1, 2)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.transpose(1, 2).view(n, c, h, w)


class OneGroupNorm(nn.GroupNorm):
    """timm's GroupNorm1 pattern: an nn.GroupNorm subclass of one group whose forward calls F.group_norm."""

    def __init__(self, channels):
        super().__init__(1, channels)

    def forward(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


class MaxPoolSame(nn.MaxPool2d):
    """timm's MaxPool2dSame pattern: the kernel and stride stored as tuples, "same" padding with -inf by F.pad, then
    F.max_pool2d without padding."""

    def __init__(self, kernel, stride):
        super().__init__((kernel, kernel), (stride, stride), (0, 0))

    def forward(self, x):
        x = F.pad(x, _same_pads(x, self.kernel_size, self.stride), value=-float("inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride, (0, 0), self.dilation, self.ceil_mode)


class AvgPoolSame(nn.AvgPool2d):
    """timm's AvgPool2dSame pattern: tuples, "same" padding with zeros by F.pad, then F.avg_pool2d."""

    def __init__(self, kernel, stride):
        super().__init__((kernel, kernel), (stride, stride), (0, 0))

    def forward(self, x):
        x = F.pad(x, _same_pads(x, self.kernel_size, self.stride))
        return F.avg_pool2d(x, self.kernel_size, self.stride, (0, 0), self.ceil_mode, self.count_include_pad)


class StandardizedConv(nn.Conv2d):
    """timm's StdConv2d and ScaledStdConv2d pattern (weight standardisation, NF-nets): forward normalises each output
    channel's weights with F.batch_norm in training mode, times a learnt gain per channel scaled by 1/sqrt(fan-in)
    when it has one, then F.conv2d with the result."""

    def __init__(self, cin, cout, kernel, gain, **kwargs):
        super().__init__(cin, cout, kernel, **kwargs)
        self.gain = nn.Parameter(torch.ones(cout, 1, 1, 1)) if gain else None
        self.scale = self.weight[0].numel() ** -0.5
        self.eps = 1e-6

    def forward(self, x):
        gain = (self.gain * self.scale).view(-1) if self.gain is not None else None
        weight = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, weight=gain,
                              training=True, momentum=0.0, eps=self.eps).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Wrapper(nn.Module):
    """forward(x) = self.m(x), or self.m(x.flatten(1)) for a linear layer."""

    def __init__(self, m, flatten=False):
        super().__init__()
        self.m, self.flatten = m, flatten

    def forward(self, x):
        return self.m(x.flatten(1) if self.flatten else x)


# case -> (description, factory); every case is Wrapper(factory()) on 1x8x12x12
CASES = {
    "linear_functional_subclass": ("self.m(x.flatten(1)), self.m = FunctionalLinear(1152, 10): an nn.Linear subclass "
                                   "whose forward is F.linear(x, self.weight, self.bias) (timm's Linear)",
                                   lambda: Wrapper(FunctionalLinear(8 * 12 * 12, 10), flatten=True)),
    "conv_same_subclass": ("self.m = Conv2dSame(8, 16, 3, stride=2): an nn.Conv2d subclass whose forward pads "
                           "'same' with F.pad ([0, 1, 0, 1] here) and calls F.conv2d (timm's Conv2dSame); output "
                           "1x16x6x6", lambda: Wrapper(Conv2dSame(8, 16, 3, stride=2))),
    "conv_same_depthwise": ("self.m = Conv2dSame(8, 8, 3, stride=2, groups=8, bias=False): the same, depthwise; "
                            "output 1x8x6x6", lambda: Wrapper(Conv2dSame(8, 8, 3, stride=2, groups=8, bias=False))),
    "conv_kept_forward": ("self.m = KeptForwardConv(8, 16, 3, padding=1): an nn.Conv2d subclass that keeps "
                          "nn.Conv2d's forward", lambda: Wrapper(KeptForwardConv(8, 16, 3, padding=1))),
    "batchnorm_act_subclass": ("self.m = BatchNormAct(8): an nn.BatchNorm2d subclass with a child nn.ReLU, forward "
                               "F.batch_norm then the child (timm's BatchNormAct2d)", lambda: Wrapper(BatchNormAct(8))),
    "conv_static_same": ("self.m = StaticSameConv(8, 16, 3, 2): an nn.Conv2d subclass with a child "
                         "nn.ZeroPad2d((0, 1, 0, 1)), forward F.conv2d of the padded input (smp's "
                         "Conv2dStaticSamePadding); output 1x16x6x6", lambda: Wrapper(StaticSameConv(8, 16, 3, 2))),
    "layernorm_token_subclass": ("self.m = TokenLayerNorm(8): an nn.LayerNorm subclass whose forward views the map "
                                 "as tokens, calls F.layer_norm and views it back (smp's mix_transformer.LayerNorm)",
                                 lambda: Wrapper(TokenLayerNorm(8))),
    "groupnorm_subclass": ("self.m = OneGroupNorm(8): an nn.GroupNorm(1, 8) subclass whose forward calls "
                           "F.group_norm (timm's GroupNorm1)", lambda: Wrapper(OneGroupNorm(8))),
    "maxpool_same_subclass": ("self.m = MaxPoolSame(3, 2): an nn.MaxPool2d((3, 3), (2, 2)) subclass whose forward "
                              "pads 'same' with -inf by F.pad ([0, 1, 0, 1] here) and calls F.max_pool2d (timm's "
                              "MaxPool2dSame); output 1x8x6x6", lambda: Wrapper(MaxPoolSame(3, 2))),
    "std_conv_gain": ("self.m = StandardizedConv(8, 16, 3, gain=True, padding=1): an nn.Conv2d subclass whose "
                      "forward standardises its weight with F.batch_norm, a gain per output channel as its weight, "
                      "then calls F.conv2d (timm's ScaledStdConv2d); output 1x16x12x12",
                      lambda: Wrapper(StandardizedConv(8, 16, 3, gain=True, padding=1))),
    "std_conv_plain": ("self.m = StandardizedConv(8, 16, 3, gain=False, stride=2, groups=2, bias=False): the same "
                       "without a gain (timm's StdConv2d), strided and grouped; output 1x16x5x5",
                       lambda: Wrapper(StandardizedConv(8, 16, 3, gain=False, stride=2, groups=2, bias=False))),
    "avgpool_same_subclass": ("self.m = AvgPoolSame(3, 2): the same with nn.AvgPool2d, zeros and F.avg_pool2d "
                              "(timm's AvgPool2dSame); output 1x8x6x6", lambda: Wrapper(AvgPoolSame(3, 2))),
}


def build(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return CASES[name][1]().eval()
