"""Training memory with frozen layers, activation checkpointing and several devices (memory --freeze,
--checkpoint, --gpus/--parallel): what autograd saves against saved_tensors_hooks on the same module, the
data-parallel buffers and the AlexNet split by hand."""

import pytest
from click.testing import CliRunner

import cnncost
from cnncost import memory
from cnncost.cli import main

MIB = 1024 * 1024


# --- several devices, by hand ---

def test_data_parallel_is_one_device_at_its_share_of_the_batch_plus_the_gradient_buckets():
    graph = cnncost.load("resnet18")
    one = memory.analyze_memory(graph, cnncost.Settings(batch=16), optimizer="momentum")
    four = memory.analyze_memory(graph, cnncost.Settings(batch=64), optimizer="momentum", gpus=4, parallel="data")
    params = 11_689_512  # ResNet-18's parameters (torchvision's metadata), all trainable: 4 bytes of gradient each
    assert four.parallel.bucket_bytes == params * 4
    assert four.peak_bytes == one.peak_bytes + params * 4
    assert four.parallel.per_device_batch == 16 and four.batch == 64


def test_the_alexnet_split_by_hand():
    # alexnet_paper at batch 1, float32, SGD, on each of two devices (Krizhevsky et al. 2012, Figure 2):
    # every layer's filters halve, so the weights and their gradients do: 60,965,224 / 2 parameters each
    m = memory.analyze_memory(cnncost.load("alexnet_paper"), cnncost.Settings(batch=1), gpus=2, parallel="model")
    assert m.weights_bytes == m.gradient_bytes == 60_965_224 // 2 * 4
    # received: the other device's half of conv3's input (pool2: 256x13x13 / 2), of fc6's (256x6x6 / 2), of
    # fc7's and fc8's (4096 / 2 each)
    received = 128 * 13 * 13 + 128 * 6 * 6 + 2048 + 2048
    assert m.parallel.received_bytes == received * 4
    assert m.parallel.cross_connected == ("conv3", "fc6", "fc7", "fc8")
    # saved for backward, per device (CUDA rules: dropout keeps a byte mask):
    saved = (3 * 227 * 227  # conv1: the image, whole on each device
             + 48 * 55 * 55  # relu1: its output
             # norm1: the pow's input and output, the padded square (x: relu1's)
             + 2 * 48 * 55 * 55 + (48 + 4) * 55 * 55
             + 48 * 55 * 55 + 48 * 27 * 27 * 2  # pool1: its input (norm1's output) and int64 indices (2 floats)
             + 48 * 27 * 27  # conv2: its input (pool1's output)
             + 128 * 27 * 27  # relu2
             + 2 * 128 * 27 * 27 + (128 + 4) * 27 * 27  # norm2
             + 128 * 27 * 27 + 128 * 13 * 13 * 2  # pool2
             + 256 * 13 * 13  # conv3: the gathered input, whole
             + 192 * 13 * 13  # relu3 (conv4 saves the same storage)
             + 192 * 13 * 13  # relu4
             + 128 * 13 * 13 + 128 * 6 * 6 * 2  # relu5; pool5's indices
             + 9216  # fc6: the gathered input
             + 2048  # relu6
             + 2048 // 4  # drop6's byte mask
             + 4096  # fc7's gathered input
             + 2048 + 2048 // 4  # relu7, drop7's mask
             + 4096)  # fc8's gathered input
    assert m.saved_activation_bytes == saved * 4


def test_the_lectures_question_in_one_command():
    result = CliRunner().invoke(main, ["memory", "alexnet_paper", "--batch", "128", "--gpus", "2", "--parallel",
                                       "model", "--device", "gtx580-3gb"])
    assert result.exit_code == 0, result.output
    line = [l for l in result.output.splitlines() if l.startswith("2 x NVIDIA GeForce GTX 580")]
    assert len(line) == 1 and "model parallel, batch 128" in line[0] and ": fits;" in line[0]


@pytest.mark.parametrize("args, message", [
    (["resnet18", "--gpus", "2"], "--gpus 2 needs --parallel data"),
    (["resnet18", "--gpus", "2", "--parallel", "model"], "'bn1' is a batchnorm, which the split does not model"),
    (["resnet18", "--gpus", "3", "--parallel", "data", "--batch", "4"], "4 samples do not divide among 3"),
    (["resnet18", "--checkpoint", "nothing"], "--checkpoint 'nothing' matches no layer"),
    (["resnet18", "--checkpoint", "0"], "--checkpoint 0: the segments must number from 1"),
    (["resnet18", "--freeze", "x("], "not a regular expression"),
    (["resnet18", "--mode", "infer", "--checkpoint", "2"], "give them with --mode train"),
])
def test_bad_options_are_one_line_and_exit_2(args, message):
    result = CliRunner().invoke(main, ["memory", *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_freezing_drops_gradients_and_optimizer_state():
    graph = cnncost.load("resnet18")
    whole = memory.analyze_memory(graph, cnncost.Settings(batch=2), optimizer="adam")
    part = memory.analyze_memory(graph, cnncost.Settings(batch=2, freeze=("conv1", "bn1", r"layer1\.")),
                                 optimizer="adam")
    frozen = 64 * 3 * 7 * 7 + 2 * 64 + 2 * (2 * (64 * 64 * 3 * 3 + 2 * 64))  # conv1, bn1, layer1's two blocks
    assert whole.gradient_bytes - part.gradient_bytes == frozen * 4
    assert whole.optimizer_bytes - part.optimizer_bytes == 2 * frozen * 4


# --- what autograd saves, against torch ---

torch = pytest.importorskip("torch")


def torch_saved_bytes(graph, batch, frozen=(), segments=()):
    """Every storage autograd saves in one training forward pass (parameters and buffers left out), each once,
    with the named layers' parameters frozen and each segment run under torch.utils.checkpoint."""
    from torch.utils.checkpoint import checkpoint

    from cnncost.graph import INPUT
    from cnncost.torch_backend import build_module

    with torch.device("meta"):  # no time spent initialising weights: what is saved does not depend on them
        net = build_module(graph)
    net = net.to_empty(device="cpu").train()
    with torch.no_grad():
        for t in (*net.parameters(), *net.buffers()):
            t.fill_(0.5 if t.dim() == 1 else 0.01)  # batch norm's running variance must be positive
    for name in frozen:
        for p in net.own(name):
            p.requires_grad_(False)
    excluded = {t.untyped_storage().data_ptr() for t in (*net.parameters(), *net.buffers())}
    seen = {}

    def pack(t):
        key = t.untyped_storage().data_ptr()
        if key not in excluded:
            seen[key] = t.untyped_storage().nbytes()
        return t

    nodes = [n for n in graph.nodes if not n.side]
    starts = {segment[0].name: segment for segment in segments}
    values = {INPUT: torch.randn(batch, *graph.input_shape)}
    position = 0
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        while position < len(nodes):
            segment = starts.get(nodes[position].name)
            if segment is None:
                node = nodes[position]
                values[node.name] = net.layer(node.name)(*(values[i] for i in node.inputs))
                position += 1
                continue
            inside = [n.name for n in segment]
            outside = memory.segment_inputs(segment)

            def run(*tensors, segment=segment, outside=outside, inside=inside):
                local = dict(zip(outside, tensors))
                for node in segment:
                    local[node.name] = net.layer(node.name)(*(local[i] for i in node.inputs))
                return tuple(local[name] for name in inside)

            for name, value in zip(inside, checkpoint(run, *(values[i] for i in outside), use_reentrant=False)):
                values[name] = value
            position += len(segment)
        out = values[graph.output]
    del out
    return sum(seen.values())


CASES = [  # without either, tests/test_validate.py checks the whole zoo the same way
    ("resnet18", ["conv1", "bn1", r"layer1\."], None),  # a frozen stem: its convs save nothing
    ("resnet18", [r"layer[12]\."], None),  # frozen in the middle: batch norm still saves for the input's gradient
    ("mobilenet_v2", [r"stem\.", r"stage1\."], None),
    ("resnet18", [], 3),  # checkpoint_sequential's segments
    ("resnet18", [], r"layer\d\.\d"),  # every residual block
    ("mobilenet_v2", [r"stem\."], r"stage\d\.\d+"),  # blocks, with a frozen stem
    ("alexnet", ["conv1"], 2),
]


@pytest.mark.parametrize("model, frozen, checkpoint", CASES)
def test_saved_activations_agree_with_saved_tensors_hooks(model, frozen, checkpoint):
    graph = cnncost.load(model, input=(3, 64, 64) if model != "alexnet" else None)
    settings = cnncost.Settings(batch=2, freeze=tuple(frozen))
    ours = memory.analyze_memory(graph, settings, device_kind="cpu", checkpoint=checkpoint)
    segments = memory.checkpoint_segments(graph, settings, checkpoint)
    names = memory.frozen_layers(graph, settings)
    assert ours.saved_activation_bytes == torch_saved_bytes(graph, 2, names, segments)
    if checkpoint is not None:
        assert ours.saved_activation_bytes < ours.checkpointing.saved_without_bytes
