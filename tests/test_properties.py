"""Property-based tests: random valid networks keep the invariants; random corruptions never crash."""

import json

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnncost
from cnncost.cli import main
from cnncost.graph import INPUT
from cnncost.report import FIGURES
from tests.strategies import networks

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(networks(), st.integers(1, 64), st.sampled_from(["lecture", "torchvision"]))
def test_random_networks_keep_the_invariants(net, batch, convention):
    text, expected = net
    report = cnncost.analyze_text(text, batch=batch, convention=convention)
    rows = {l.name: l for l in report.layers}
    # the shapes the generator worked out by its own arithmetic
    for name, shape in expected:
        assert rows[name].output_shape == shape, name
    for figure in FIGURES:
        assert sum(getattr(l, figure) for l in report.layers) == getattr(report.totals, figure)
    produced = {INPUT: report.input}
    for layer in report.layers:
        assert layer.input_shapes == tuple(produced[n] for n in layer.inputs)
        produced[layer.name] = layer.output_shape
        assert layer.flops == 2 * layer.macs


def _corrupt(text: str, data) -> str:
    how = data.draw(st.sampled_from(["delete", "insert", "number", "swap", "duplicate", "truncate"]))
    lines = text.splitlines(keepends=True)
    if how == "delete":
        i = data.draw(st.integers(0, len(text) - 1))
        return text[:i] + text[i + 1:]
    if how == "insert":
        i = data.draw(st.integers(0, len(text)))
        return text[:i] + data.draw(st.sampled_from(list("{}[]:,-& *'\"\t\n0x$") + ["${", "\xff"])) + text[i:]
    if how == "number":
        import re

        numbers = list(re.finditer(r"\d+", text))
        if not numbers:
            return text
        m = data.draw(st.sampled_from(numbers))
        new = data.draw(st.sampled_from(["0", "-1", "1e9", "x", "1.5", "true", "99999999999", "[]", "null"]))
        return text[:m.start()] + new + text[m.end():]
    if how == "swap" and len(lines) > 2:
        i = data.draw(st.integers(0, len(lines) - 2))
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    if how == "duplicate":
        i = data.draw(st.integers(0, len(lines) - 1))
        lines.insert(i, lines[i])
    if how == "truncate":
        return text[: data.draw(st.integers(0, len(text)))]
    return "".join(lines)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(networks(), st.data())
def test_corrupted_files_exit_2_with_one_line_never_an_exception(tmp_path, net, data):
    text = _corrupt(net[0], data)
    path = tmp_path / "net.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape") if "\xff" not in text
                     else text.encode("latin-1", "replace"))
    result = CliRunner().invoke(main, ["table", str(path), "--format", "json"])
    assert result.exit_code in (0, 2), (result.exit_code, result.stderr, result.exception)
    if result.exit_code == 2:
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith("cnncost: error: ")
    else:
        json.loads(result.stdout)
