"""Rendering 'cnncost memory' and 'cnncost devices': plain data in, text out."""

from __future__ import annotations

from ..errors import one_line
from ..memory import Memory
from ..units import size
from .shown import Section, Shown, markdown_rows


def _columns(m: Memory) -> list[tuple[str, str]]:
    if m.mode == "train":
        return [("Weights", "weights_bytes"), ("Gradients", "gradient_bytes"), ("Optimizer", "optimizer_bytes"),
                ("Saved for backward", "saved_bytes"), ("Backward working set", "transient_bytes")]
    return [("Weights", "weights_bytes"), ("Live activations", "live_bytes")]


def summary_lines(m: Memory) -> list[str]:
    setting = (f"{one_line(m.model)}: input {'x'.join(map(str, m.input))}, batch {m.batch}, {m.dtype}"
               + (", mixed precision (fp32 master weights, gradients and optimizer state)" if m.amp else ""))
    if m.mode == "train":
        p, c = m.parallel, m.checkpointing
        lines = [
            f"{setting}, training with {m.optimizer}; saved tensors as on {m.device_kind.upper()}.",
            *(_parallel_lines(m) if p else ()),
            f"Peak {'per device ' if p else ''}{size(m.peak_bytes)} ({m.peak_bytes:,} bytes) = weights "
            f"{size(m.weights_bytes)} + buffers {size(m.buffer_bytes)} + gradients {size(m.gradient_bytes)} + "
            f"optimizer state {size(m.optimizer_bytes)} + saved activations {size(m.saved_activation_bytes)}"
            + (f" + a checkpointed segment's saves, recomputed {size(c.recompute_bytes)}" if c else "")
            + f" + the largest backward working set {size(m.transient_bytes)}"
            + (f" + DDP's gradient buckets {size(p.bucket_bytes)}" if p and p.parallel == "data" else "") + ".",
        ]
        if m.frozen:
            lines.append(f"Frozen (--freeze): {len(m.frozen):,} layers; those with parameters keep no gradient or "
                         "optimizer state, and save only what their input's gradient needs.")
        if c:
            lines.append(f"Activation checkpointing: {c.segments:,} segments, {c.layers:,} layers run again in "
                         f"backward: {c.recompute_macs:,} more forward MACs (the lecture convention's); saved "
                         f"activations {size(m.saved_activation_bytes)} instead of {size(c.saved_without_bytes)}.")
    else:
        lines = [f"{setting}, inference.",
                 f"Peak {size(m.peak_bytes)} ({m.peak_bytes:,} bytes) = weights {size(m.weights_bytes)} + buffers "
                 f"{size(m.buffer_bytes)} + the peak of live activations {size(m.peak_activation_bytes)}."]
    for d in m.devices:
        if m.parallel:
            lines.append(_parallel_fit(m, d))
            continue
        if d.max_batch is None:
            verdict = "does not fit even at batch 1"
        else:
            verdict = ("fits" if d.fits else "does not fit") + f"; the largest batch that fits is {d.max_batch:,}"
        if m.mode == "train" and d.devices_needed is not None and not d.fits:
            verdict += f"; a split into consecutive layers needs {d.devices_needed} of them"
        elif m.mode == "train" and d.devices_needed is None:
            verdict += "; no split into consecutive layers helps (one layer alone does not fit)"
        lines.append(f"{one_line(d.name)} ({one_line(d.device)}, {size(d.memory_bytes)}): {verdict}.")
    lines.append("Not modelled: the allocator's fragmentation and caching, cuDNN/cuBLAS workspaces, the CUDA "
                 "context (docs/memory.md).")
    return lines


def _parallel_lines(m: Memory) -> list[str]:
    p = m.parallel
    assert p is not None  # shown for a run on several devices only
    if p.parallel == "data":
        return [f"Data parallel on {p.gpus} devices: each holds the whole model and trains on {p.per_device_batch:,} "
                f"of the {m.batch:,} samples; the figures are one device's, with DDP's gradient buckets (a flat "
                f"copy of every trainable gradient, {size(p.bucket_bytes)}) for the all-reduce."]
    return [f"Model parallel on {p.gpus} devices (AlexNet's split): each holds 1/{p.gpus} of every layer's filters "
            f"and maps, for all {m.batch:,} samples; the cross-connected layers ({', '.join(p.cross_connected)}) "
            f"gather the other devices' maps, {size(p.received_bytes)} received per device per step. The figures "
            "are one device's."]


def _parallel_fit(m: Memory, d) -> str:
    """One line: which configuration fits which device."""
    p = m.parallel
    assert p is not None  # shown for a run on several devices only
    verdict = "fits" if d.fits else "does not fit"
    largest = "not even one sample fits" if d.max_batch is None else f"the largest batch that fits is {d.max_batch:,}"
    return (f"{p.gpus} x {d.name} ({d.device}), {p.parallel} parallel, batch {m.batch:,}: {size(m.peak_bytes)} of "
            f"{size(d.memory_bytes)} per device: {verdict}; {largest}.")


# on a narrow terminal: headers on two lines, names wrapped, then these columns left out in turn
MEMORY_DROPS = ("Type", "Backward working set", "Optimizer", "Gradients")
STACKED = {"Saved for backward": "Saved for\nbackward", "Backward working set": "Backward\nworking set",
           "Live activations": "Live\nactivations", "Bandwidth (GB/s)": "Bandwidth\n(GB/s)",
           "INT8 (TOPS)": "INT8\n(TOPS)"}


class MemoryShown(Shown):
    result: Memory

    def sections(self) -> list[Section]:
        m, exact = self.result, self.exact
        columns = _columns(m)
        totals = {"weights_bytes": m.weights_bytes, "gradient_bytes": m.gradient_bytes,
                  "optimizer_bytes": m.optimizer_bytes, "saved_bytes": m.saved_activation_bytes,
                  "transient_bytes": m.transient_bytes, "live_bytes": m.peak_activation_bytes}
        return [Section(f"{m.model}: {'training' if m.mode == 'train' else 'inference'} memory",
                        ["Layer", "Type", *(h for h, _ in columns)],
                        [[row.name, row.kind + (" (side)" if row.side else ""),
                          *(size(getattr(row, key), exact) for _, key in columns)] for row in m.layers],
                        right={h for h, _ in columns},
                        total=["total" if m.mode == "train" else "total (live: peak)", "",
                               *(size(totals[key], exact) for _, key in columns)],
                        wrap={"Layer": 14}, stacked=STACKED, drop=MEMORY_DROPS, notes=summary_lines(m))]

    def data(self) -> dict:
        return self.result.to_dict()

    def records(self):
        m = self.result
        fields = ("weights_bytes", "gradient_bytes", "optimizer_bytes", "buffer_bytes", "saved_bytes",
                  "transient_bytes", "live_bytes")
        rows = [(row.name, row.kind, *(getattr(row, f) for f in fields), str(row.side).lower()) for row in m.layers]
        # the JSON's totals: transient and live are the largest of any row, not sums (docs/json.md)
        rows.append(("total", "total", m.weights_bytes, m.gradient_bytes, m.optimizer_bytes, m.buffer_bytes,
                     m.saved_activation_bytes, m.transient_bytes, m.peak_activation_bytes, ""))
        return ("name", "type", *fields, "side"), rows

    def write_markdown(self) -> str:
        # the Type column without the table's "(side)" mark
        m, columns = self.result, _columns(self.result)
        lines = markdown_rows(["Layer", "Type", *(h for h, _ in columns)],
                              [[row.name, row.kind, *(size(getattr(row, k), self.exact) for _, k in columns)]
                               for row in m.layers], {h for h, _ in columns})
        return "\n".join(lines + [""] + summary_lines(m)) + "\n"


def _rate(value) -> str:
    return "-" if value is None else f"{value:g}"


DEVICE_HEADERS = ("Device", "Name", "Kind", "Memory", "Bandwidth (GB/s)", "FP32", "TF32", "FP16", "BF16",
                  "INT8 (TOPS)")


def _device_cells(d) -> list[str]:
    return [d.key, d.name, d.kind, size(d.memory_bytes), _rate(d.bandwidth_gb_s),
            *(_rate(d.peak_tflops.get(r)) for r in ("fp32", "tf32", "fp16", "bf16", "int8"))]


class DevicesShown(Shown):
    """'cnncost devices': the result is the devices table, by key."""

    def sections(self) -> list[Section]:
        return [Section("Devices (peak TFLOP/s, dense)", DEVICE_HEADERS,
                        [_device_cells(d) for d in self.result.values()],
                        right=set(DEVICE_HEADERS) - {"Device", "Name", "Kind"}, wrap={"Name": 12}, stacked=STACKED,
                        drop=("Kind", "TF32", "INT8 (TOPS)", "Name", "BF16", "Bandwidth (GB/s)"),
                        notes=["Sources: the vendors' spec sheets, cited per device in cnncost/data/devices.yaml; "
                               "add your own with --device-file."])]

    def data(self) -> list:
        return [{"device": d.key, "name": d.name, "kind": d.kind, "memory_bytes": d.memory_bytes,
                 "memory_printed": d.memory_printed, "bandwidth_gb_s": d.bandwidth_gb_s,
                 "peak_tflops": d.peak_tflops, "source": d.source} for d in self.result.values()]

    def records(self):
        return (("device", "name", "kind", "memory_bytes", "bandwidth_gb_s", "fp32", "tf32", "fp16", "bf16", "int8"),
                [(d.key, d.name, d.kind, d.memory_bytes, d.bandwidth_gb_s,
                  *(d.peak_tflops.get(r) for r in ("fp32", "tf32", "fp16", "bf16", "int8")))
                 for d in self.result.values()])

    def write_json(self) -> str:
        import json

        return json.dumps(self.data(), indent=2) + "\n"

    def write_markdown(self) -> str:
        lines = ["| " + " | ".join(DEVICE_HEADERS) + " |", "| " + " | ".join("---" for _ in DEVICE_HEADERS) + " |"]
        lines += ["| " + " | ".join(_device_cells(d)) + " |" for d in self.result.values()]
        return ("\n".join(lines)
                + "\n\nPeak rates in TFLOP/s, dense (no sparsity); sources: cnncost/data/devices.yaml.\n")
