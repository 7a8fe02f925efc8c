"""Python models on the command line: `torchvision:resnet18`, `package.module:factory`, through from_torch."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

import cnncost
from cnncost.errors import CnnCostError

torch = pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = textwrap.dedent("""
    import torch.nn as nn

    def small(classes=10):
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(8, classes))

    class Nets:
        wide = staticmethod(lambda: nn.Sequential(nn.Conv2d(3, 16, 1)))

    not_a_factory = 3

    def not_a_module():
        return "a string"

    def chatty():
        print("building the network")
        return nn.Sequential(nn.Conv2d(3, 2, 1))
""")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("pymodels")
    (path / "my_models.py").write_text(MODULE)
    return path


def cli(folder, *args):
    """The command in a process of its own, run from folder, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "cnncost", *args], capture_output=True, text=True, cwd=folder,
                          env=env, timeout=120)


@pytest.fixture
def inside(folder, monkeypatch):
    """The command in this process (torch is imported once), run from folder."""
    from click.testing import CliRunner

    from cnncost.cli import main

    monkeypatch.chdir(folder)
    return lambda *args: CliRunner().invoke(main, list(args))


def test_a_local_factory_gives_what_from_torch_gives(folder):
    result = cli(folder, "table", "my_models:small", "--input", "3x32x32", "--format", "json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    sys.path.insert(0, str(folder))
    try:
        import my_models
    finally:
        sys.path.remove(str(folder))
    expected = cnncost.analyze(cnncost.from_torch(my_models.small(), input="3x32x32")).to_dict()
    assert shown["totals"] == expected["totals"]
    assert [l["name"] for l in shown["layers"]] == [l["name"] for l in expected["layers"]]
    # by hand: conv 8 x 3 x 3 x 3 + 8 = 224, linear 8 x 10 + 10 = 90
    assert shown["totals"]["params"] == 224 + 90


def test_set_gives_the_factory_its_keyword_arguments(inside):
    result = inside("table", "my_models:small", "--input", "3x32x32", "--set", "classes=5", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["params"] == 224 + 8 * 5 + 5


def test_every_command_that_takes_a_model_takes_one(inside):
    for args in (["memory", "my_models:small"], ["rf", "my_models:small"], ["explain", "my_models:small"],
                 ["latency", "my_models:small", "--device", "t4"], ["budget", "my_models:small", "--max-params", "1k"],
                 ["compare", "my_models:small", "my_models:Nets.wide"]):
        result = inside(*args, "--input", "3x32x32")
        assert result.exit_code == 0, (args, result.output)


@pytest.mark.parametrize("args, message", [
    (["my_models:small"], "give its input size per sample, e.g. --input 3x224x224"),
    (["my_models:nope", "--input", "3x8x8"], "'my_models' has no attribute 'nope'"),
    (["no_such_module_here:small", "--input", "3x8x8"], "cannot import 'no_such_module_here'"),
    (["my_models:not_a_factory", "--input", "3x8x8"], "is a int, not a function"),
    (["my_models:not_a_module", "--input", "3x8x8"], "returned a str, not a torch.nn.Module"),
    (["my_models:small", "--input", "3x8x8", "--set", "width=2"], "calling small(width=2) failed: TypeError"),
])
def test_errors_are_one_line(inside, args, message):
    result = inside("table", *args)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert message in result.stderr


def test_without_torch_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(CnnCostError, match=r"torch is not installed.*cnncost\[torch\]"):
        cnncost.load("torchvision:resnet18", input="3x224x224")


def test_a_module_object_is_a_model_in_the_api():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    report = cnncost.analyze(net, input="3x10x10")
    assert report.totals.params == 4 * 27 + 4  # by hand
    assert report.totals.macs == 4 * 8 * 8 * 27  # Cout x H' x W' x Cin x 3 x 3
    with pytest.raises(CnnCostError, match="needs its input size"):
        cnncost.analyze(net)


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None,
                    reason="torchvision is not installed; the local factory above covers the same path")
def test_torchvision_resnet18_on_the_command_line(folder):
    import torchvision

    result = cli(folder, "table", "torchvision:resnet18", "--input", "3x224x224", "--format", "json")
    assert result.returncode == 0, result.stderr
    expected = cnncost.analyze(cnncost.from_torch(torchvision.models.resnet18(), input="3x224x224")).to_dict()
    assert json.loads(result.stdout)["totals"] == expected["totals"]
    assert expected["totals"]["params"] == 11_689_512  # torchvision's model card


def test_a_sweep_over_a_factory_and_its_arguments(inside):
    result = inside("sweep", "my_models:small", "--input", "3x32x32,3x64x64", "--set", "classes=10,100",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    points = {(p["input"], p["classes"]): p for p in json.loads(result.stdout)["points"]}
    # by hand: conv 224 params; linear 8 x classes + classes
    assert points["3x32x32", 100]["params"] == 224 + 8 * 100 + 100
    # conv 8 x 64 x 64 x 27 = 884,736 MACs, the global pool one per input element 8 x 64 x 64 = 32,768
    # (the lecture's pooling count), linear 8 x 10 = 80
    assert points["3x64x64", 10]["macs"] == 884_736 + 32_768 + 80


def test_what_a_factory_prints_goes_to_stderr(inside):
    result = inside("table", "my_models:chatty", "--input", "3x4x4", "--format", "json")
    assert result.exit_code == 0 and "building the network" in result.stderr
    assert json.loads(result.stdout)["totals"]["params"] == 2 * 3 + 2  # by hand: a 1x1 conv 3 -> 2


def test_info_says_what_to_run_for_a_python_model(inside):
    result = inside("info", "my_models:small")
    assert result.exit_code == 2 and "cnncost table my_models:small --input CxHxW" in result.stderr
