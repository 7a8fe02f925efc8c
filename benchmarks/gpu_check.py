"""The measurements benchmarks/gpu_check.sh runs on a GPU: training memory against torch's allocator, and the
roofline latency against CUDA-event timings. Each writes one JSON file; --dry-run does the same on the CPU
with two small models, to test the plumbing (its figures are not GPU figures).

    python3 benchmarks/gpu_check.py memory  --out DIR [--dry-run]
    python3 benchmarks/gpu_check.py latency --out DIR [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

MEMORY_MODELS = ("alexnet", "vgg16", "resnet18", "resnet50", "densenet121", "mobilenet_v2", "efficientnet_b0",
                 "convnext_tiny", "regnet_y_400mf", "googlenet", "inception_v3", "mobilenet_v3_large")
LATENCY_MODELS = MEMORY_MODELS
DRY_MODELS = ("alexnet", "resnet18")
MIB = 1024 ** 2


def _device_key(torch) -> str:
    """The device table's entry for the GPU present (cnncost/data/devices.yaml)."""
    name = torch.cuda.get_device_name().lower()
    for marker, key in (("h200", "h200-141gb"), ("h100", "h100-80gb"), ("a100", "a100-80gb"), ("l4", "l4"),
                        ("a10", "a10"), ("t4", "t4"), ("v100", "v100-32gb"), ("4090", "rtx4090"),
                        ("3090", "rtx3090")):
        if marker in name:
            return key
    return ""


def memory_check(out: Path, dry: bool) -> dict:
    """Per model, one SGD training step at batch 32 (2 on a dry run): cnncost's peak against
    torch.cuda.max_memory_allocated, and what cnncost leaves out, measured apart:
    - the CUDA context and library handles: the device's used memory outside PyTorch's allocator;
    - the allocator's rounding and caching: max_memory_reserved - max_memory_allocated;
    - cuDNN's workspaces: the same step's peak with cuDNN minus its peak with cuDNN disabled."""
    import torch

    import cnncost
    from cnncost.memory import analyze_memory

    device = "cpu" if dry else "cuda"
    batch = 2 if dry else 32
    rows = []
    context = None
    if not dry:
        torch.zeros(1, device="cuda")
        free, total = torch.cuda.mem_get_info()
        context = total - free - torch.cuda.memory_reserved()

    def step(net, x):
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
        if not dry:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated() if not dry else 0
        net(x).sum().backward()
        optimizer.step()
        if dry:
            return None, None, None
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved(), start

    for model in DRY_MODELS if dry else MEMORY_MODELS:
        row = {"model": model, "batch": batch}
        try:
            graph = cnncost.load(model)
            predicted = analyze_memory(graph, cnncost.Settings(batch=batch), device_kind=device)
            row["cnncost_peak_bytes"] = predicted.peak_bytes
            net = cnncost.to_torch(model, device=device).train()
            x = torch.randn(batch, *graph.input_shape, device=device)
            peak, reserved, start = step(net, x)
            row.update(torch_max_allocated_bytes=peak, allocator_slack_bytes=None if peak is None else reserved - peak,
                       before_step_bytes=start)
            if not dry:
                net.zero_grad(set_to_none=True)
                with torch.backends.cudnn.flags(enabled=False):
                    without, _, _ = step(net, x)
                row["cudnn_workspace_bytes"] = peak - without
                row["ratio"] = peak / predicted.peak_bytes
            del net, x
            if not dry:
                torch.cuda.empty_cache()
        except Exception as exc:  # one model's failure is recorded; the rest still run
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        rows.append(row)
        print(f"memory {model}: {row}", file=sys.stderr, flush=True)
    result = {"check": "training memory", "device": device, "cuda_context_bytes": context, "models": rows}
    (out / "memory.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def latency_check(out: Path, dry: bool) -> dict:
    """Per model, batch and dtype: the median of 30 timed forward passes (eval, no_grad; CUDA events on a GPU,
    the CPU's clock on a dry run) next to cnncost's roofline time on the device table's entry."""
    import torch

    import cnncost
    from cnncost import devices
    from cnncost.latency import roofline

    device = "cpu" if dry else "cuda"
    # a dry run compares with a GPU's entry only to exercise the code: the CPU's has no peak rates
    key = "h100-80gb" if dry else _device_key(torch)
    table = devices.table()
    rows = []
    for model in DRY_MODELS if dry else LATENCY_MODELS:
        graph = cnncost.load(model)
        for dtype in ("float32", "bfloat16"):
            net = None
            for batch in (1, 2) if dry else (1, 64):
                row = {"model": model, "dtype": dtype, "batch": batch}
                try:
                    if key:
                        row["roofline_s"] = roofline(graph, cnncost.Settings(batch=batch, dtype=dtype),
                                                     table[key]).time_s
                    if net is None:  # built once per dtype: building costs more than timing
                        net = cnncost.to_torch(model, device=device, dtype=dtype).eval()
                    x = torch.randn(batch, *graph.input_shape, device=device, dtype=getattr(torch, dtype))
                    times = []
                    with torch.no_grad():
                        for i in range(3 if dry else 40):
                            if dry:
                                start = time.perf_counter()
                                net(x)
                                elapsed = time.perf_counter() - start
                            else:
                                begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                                begin.record()
                                net(x)
                                end.record()
                                torch.cuda.synchronize()
                                elapsed = begin.elapsed_time(end) / 1e3
                            if i >= (1 if dry else 10):  # warm-up runs are left out
                                times.append(elapsed)
                    row["measured_s"] = statistics.median(times)
                    if row.get("roofline_s"):
                        row["measured_over_roofline"] = row["measured_s"] / row["roofline_s"]
                    del x
                except Exception as exc:
                    row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                rows.append(row)
                print(f"latency {row}", file=sys.stderr, flush=True)
    result = {"check": "latency", "device": device, "device_table_entry": key or None, "rows": rows}
    (out / "latency.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=("memory", "latency"))
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--dry-run", action="store_true", help="on the CPU, two small models: the plumbing only")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (memory_check if args.check == "memory" else latency_check)(args.out, args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
