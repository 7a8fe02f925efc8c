"""Parameters of modules that forward never runs (smp's PSPNet builds encoder stages it does not use):
``unused_params`` in YAML, which from_torch writes. They are in no row; the conventions whose tools count every
parameter of the module count them, and they sit in the weights' memory without gradients."""

import pytest
from click.testing import CliRunner

import cnncost
from cnncost import memory
from cnncost.cli import main

TEXT = """
input: [3, 8, 8]
layers:
  - conv: {name: c, out: 4, kernel: 3, padding: 1}
unused_params:
  head.extra: 1000
  decoder.deep: 24
"""
CONV = 3 * 4 * 9 + 4  # the one conv's weights and bias
UNUSED = 1000 + 24


@pytest.mark.parametrize("convention, params", [
    ("flopcounter", CONV + UNUSED), ("fvcore", CONV + UNUSED), ("ptflops", CONV + UNUSED),
    ("torchinfo", CONV + UNUSED), ("torchscan", CONV + UNUSED),  # they sum model.parameters()
    ("thop", CONV), ("lecture", CONV),  # thop sums what its hooks saw run; the lecture, the table's layers
])
def test_the_tools_that_count_every_parameter_count_them(convention, params):
    report = cnncost.analyze_text(TEXT, convention=convention)
    assert report.totals.params == params
    assert sum(row.params for row in report.layers) == CONV  # in no row


def test_they_take_weight_memory_but_no_gradient_or_optimizer_state():
    graph = cnncost.load_text(TEXT)
    m = memory.analyze_memory(graph, cnncost.Settings(batch=1), optimizer="adam")
    assert m.weights_bytes == (CONV + UNUSED) * 4
    assert m.gradient_bytes == CONV * 4 and m.optimizer_bytes == 2 * CONV * 4


@pytest.mark.parametrize("value, message", [
    ("{head: 0}", "unused_params: 'head' must map to a parameter count from 1 to"),
    ("{head: many}", "unused_params: 'head' must map to a parameter count from 1 to"),
    ("[1, 2]", "'unused_params' must map at most 100,000 module paths to parameter counts"),
])
def test_a_bad_entry_is_one_line_naming_file_and_line(tmp_path, value, message):
    path = tmp_path / "net.yaml"
    path.write_text(TEXT.split("unused_params:")[0] + f"unused_params: {value}\n")
    result = CliRunner().invoke(main, ["table", str(path)])
    assert result.exit_code == 2
    assert message in result.output and "net.yaml:5:" in result.output and len(result.output.splitlines()) == 1


def test_from_torch_lists_a_module_forward_never_runs():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Conv2d(3, 4, 3)
            self.spare = nn.Sequential(nn.Conv2d(4, 8, 3), nn.BatchNorm2d(8))  # built, never called

        def forward(self, x):
            return self.used(x)

    model = Net().eval()
    graph = cnncost.from_torch(model, input=(1, 3, 8, 8))
    assert graph.unused_params == {"spare": 4 * 8 * 9 + 8 + 2 * 8}
    every = sum(p.numel() for p in model.parameters())
    assert cnncost.analyze(graph, convention="flopcounter").totals.params == every
    again = cnncost.load_text(graph.to_yaml())  # the YAML from_torch writes keeps them
    assert cnncost.analyze(again, convention="flopcounter").totals.params == every
