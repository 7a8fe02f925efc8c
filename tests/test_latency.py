"""Roofline latency against hand arithmetic, the CLI, calibration and its bad input."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import cnncost
from cnncost import calibrate
from cnncost.cli import main
from cnncost.devices import Device
from cnncost.latency import roofline
from cnncost.validate import spearman

# a made-up device with round figures: 10 TFLOP/s FP32 and 20 for FP16 matrix work, 100 GB/s
GPU = Device("round", "a round GPU", "cuda", 2 ** 30, 100.0,
             {"fp32": 10.0, "tf32": None, "fp16": 20.0, "bf16": None, "int8": None})


def times(text, device=GPU, **options):
    settings = cnncost.Settings(**{k: v for k, v in options.items() if k in ("batch", "dtype")})
    rest = {k: v for k, v in options.items() if k in ("fuse", "overhead_s")}
    return roofline(cnncost.load_text(text), settings, device, **rest)


CONV = "input: [64, 56, 56]\nlayers:\n  - conv: {name: c, out: 64, kernel: 3, padding: 1}\n"


def test_a_conv_by_hand():
    (row,) = times(CONV).layers
    macs = 64 * 56 * 56 * 64 * 9
    assert row.flops == 2 * macs + 64 * 56 * 56  # a multiply and an add per MAC, and one add per output for the bias
    assert row.bytes_read == (64 * 56 * 56 + 64 * 64 * 9 + 64) * 4  # the input and the weights, float32
    assert row.bytes_written == 64 * 56 * 56 * 4
    compute, memory = row.flops / 10e12, (row.bytes_read + row.bytes_written) / 100e9
    assert compute > memory and row.bound == "compute" and row.time_s == pytest.approx(compute, rel=1e-12)
    assert row.intensity == pytest.approx(row.flops / (row.bytes_read + row.bytes_written), rel=1e-12)


def test_a_depthwise_conv_is_memory_bound():
    (row,) = times("input: [64, 56, 56]\nlayers:\n  - dwconv: {name: d, kernel: 3, padding: 1, bias: false}\n").layers
    # 9 MACs per output element against 8 bytes moved per element: about 2 FLOPs per byte
    assert row.flops == 2 * 64 * 56 * 56 * 9
    assert row.bound == "memory"
    assert row.time_s == pytest.approx((row.bytes_read + row.bytes_written) / 100e9, rel=1e-12)


def test_half_precision_uses_the_matrix_peak_and_half_the_bytes():
    (row,) = times(CONV, dtype="float16").layers
    assert row.bytes_written == 64 * 56 * 56 * 2
    assert row.time_s == pytest.approx(row.flops / 20e12, rel=1e-12)
    lat = times(CONV, dtype="bfloat16")  # the device gives no BF16 peak: its FP32 one, and a note says so
    assert lat.layers[0].time_s == pytest.approx(lat.layers[0].flops / 10e12, rel=1e-12)
    assert any("no BF16 peak" in note for note in lat.notes)


def test_fusing_batch_norm_and_relu_into_the_conv_and_a_per_layer_overhead():
    text = CONV + "  - batchnorm: {name: bn}\n  - relu: {name: r}\n"
    plain, fused = times(text), times(text, fuse=True)
    assert [r.bound for r in fused.layers] == ["compute", "fused", "fused"]
    assert fused.time_s == plain.layers[0].time_s < plain.time_s
    # a batch norm on its own reads its input and 4 x 64 values (scale, shift, running mean and variance)
    assert plain.layers[1].bytes_read == (64 * 56 * 56 + 2 * 64 + 2 * 64) * 4
    slow = times(text, overhead_s=10e-6)
    assert slow.time_s == pytest.approx(plain.time_s + 3 * 10e-6, rel=1e-12)


def test_views_move_nothing():
    lat = times("input: [8, 4, 4]\nlayers:\n  - flatten: {name: f}\n  - dropout: {name: d}\n")
    assert [(r.flops, r.bytes_read, r.time_s, r.bound) for r in lat.layers] == [(0, 0, 0.0, "none")] * 2


def test_spearman_by_hand():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # ranks 1, 2.5, 2.5, 4 against 1, 2, 3, 4: 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)


def run(*args, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "cnncost", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_latency_json_contract():
    out = run("latency", "resnet50", "--device", "a100-80gb", "--dtype", "bfloat16", "--batch", "64",
              "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["device"] == "a100-80gb" and data["matrix_tflops"] == 312
    row = data["layers"][0]
    assert set(row) >= {"flops", "bytes_read", "bytes_written", "intensity", "time_s", "bound"}
    assert data["total"]["time_s"] == pytest.approx(sum(l["time_s"] for l in data["layers"]))


@pytest.mark.parametrize("fmt, marker", [("table", "Bound"), ("csv", "name,type,flops"), ("markdown", "| Layer |"),
                                         ("json", '"time_s"')])
def test_latency_in_every_format(fmt, marker):
    out = run("latency", "mobilenet_v2", "--device", "t4", "--format", fmt)
    assert out.returncode == 0 and marker in out.stdout, out.stderr


@pytest.mark.parametrize("args, message", [
    (["--device", "a100-80"], "unknown device 'a100-80' (did you mean 'a100-80gb'?)"),
    (["--device", "cpu"], "unknown device 'cpu' (this machine's CPU is the device 'local', measured by 'cnncost "
                          "calibrate')"),
    (["--device", "a100"], "unknown device 'a100' (did you mean 'a100-40gb' or 'a100-80gb'?)"),
    (["--device", "local"], "no calibration profile at"),
])
def test_bad_latency_input_is_one_line(tmp_path, args, message):
    out = run("latency", "alexnet", *args, env={"CNNCOST_CONFIG_DIR": str(tmp_path)})
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr


def test_a_corrupt_profile_says_to_calibrate_again(tmp_path):
    (tmp_path / calibrate.PROFILE).write_text("devices:\n  local:\n    name: x\n    kind: cpu\n    memory_bytes: -1\n")
    out = run("latency", "alexnet", "--device", "local", env={"CNNCOST_CONFIG_DIR": str(tmp_path)})
    assert out.returncode == 2 and "run 'cnncost calibrate' again" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_calibrate_writes_a_profile_that_latency_uses(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("CNNCOST_CONFIG_DIR", str(tmp_path))
    monkeypatch.setattr(calibrate, "BUDGET_S", 6.0)  # 30 s in use; the limit is enforced, whatever the load
    monkeypatch.setattr(calibrate, "COPY_BYTES", 16 * 1024 * 1024)
    start = time.perf_counter()
    result = CliRunner().invoke(main, ["calibrate"])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - start < 6.0
    assert "calibrate: matrix product 512x512" in result.stderr  # progress, one line per step off a terminal
    profile = calibrate.local_device()
    assert profile.kind == "cpu" and profile.peak_tflops["fp32"] > 0 and profile.bandwidth_gb_s > 0
    result = CliRunner().invoke(main, ["latency", "resnet18", "--device", "local", "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["device"] == "local"


def test_validate_latency_times_a_network_against_its_roofline(monkeypatch):
    pytest.importorskip("torch")
    from cnncost import validate as checker

    cpu = Device("local", "a test CPU", "cpu", 2 ** 30, 10.0, {"fp32": 0.05})
    result = checker.validate_latency_graph(cnncost.load_text(CONV + "  - relu: {name: r}\n"), profile=cpu, runs=3)
    assert result.error is None and result.profile == "local"
    assert [l.name for l in result.layers] == ["c", "r"]
    assert result.predicted_s > 0 and result.measured_s > 0 and all(l.measured_s > 0 for l in result.layers)
