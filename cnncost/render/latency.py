"""Rendering 'cnncost latency': roofline times per layer, in every format."""

from __future__ import annotations

import io

from ..errors import one_line
from ..latency import Latency


from ..units import count, duration as seconds, size


HEADERS = ("Layer", "Type", "FLOPs", "Bytes read", "Bytes written", "FLOPs/byte", "Time", "Bound")
STACKED = {"Bytes read": "Bytes\nread", "Bytes written": "Bytes\nwritten", "FLOPs/byte": "FLOPs/\nbyte",
           "Measured / predicted": "Measured /\npredicted"}


def cells(layer, exact: bool = False) -> list[str]:
    intensity = "-" if layer.intensity is None else f"{layer.intensity:,.1f}"
    return [layer.name, layer.kind + (" (side)" if layer.side else ""), count(layer.flops, exact),
            size(layer.bytes_read, exact), size(layer.bytes_written, exact), intensity,
            seconds(layer.time_s, exact), layer.bound]


def summary_lines(lat: Latency) -> list[str]:
    memory = sum(l.time_s for l in lat.layers if l.bound == "memory")
    compute = sum(l.time_s for l in lat.layers if l.bound == "compute")
    lines = [
        f"{one_line(lat.model)}: input {'x'.join(map(str, lat.input))}, batch {lat.batch}, {lat.dtype}, on "
        f"{one_line(lat.device_name)} "
        f"({lat.device}): conv and linear at {lat.matrix_tflops:g} TFLOP/s, the rest at {lat.other_tflops:g}, "
        f"memory at {lat.bandwidth_gb_s:g} GB/s.",
        f"Roofline time {seconds(lat.time_s)} ({lat.time_s:.6g} s): {seconds(compute)} in compute-bound layers, "
        f"{seconds(memory)} in memory-bound ones"
        + (f", with {seconds(lat.overhead_s)} of overhead per layer" if lat.overhead_s else "") + ".",
        *lat.notes,
        "The roofline is a lower bound: it cannot see kernel launches, caches, or how well a kernel uses the "
        "hardware (docs/latency.md).",
    ]
    return lines


def render_latency(lat: Latency, fmt: str, color: bool = False, width: int | None = None,
                   exact: bool = False) -> str:
    if fmt == "json":
        from ..report import versioned
        from .text import dumps_by_line

        return dumps_by_line(versioned(lat.to_dict()))
    if fmt == "csv":
        import csv

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("name", "type", "flops", "bytes_read", "bytes_written", "intensity", "time_s", "bound",
                         "side"))
        for l in lat.layers:
            writer.writerow((l.name, l.kind, l.flops, l.bytes_read, l.bytes_written,
                             "" if l.intensity is None else l.intensity, l.time_s, l.bound, str(l.side).lower()))
        flops, read, written = (sum(getattr(l, k) for l in lat.layers) for k in ("flops", "bytes_read",
                                                                                   "bytes_written"))
        writer.writerow(("total", "total", flops, read, written, "", lat.time_s, "", ""))
        return out.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(HEADERS) + " |", "| :--- | :--- | ---: | ---: | ---: | ---: | ---: | :--- |"]
        lines += ["| " + " | ".join(cells(l, exact)) + " |" for l in lat.layers]
        return "\n".join(lines + [""] + summary_lines(lat)) + "\n"
    from .grid import draw, simple_grid

    grid = simple_grid(HEADERS, right=set(HEADERS) - {"Layer", "Type", "Bound"}, wrap={"Layer": 14},
                       stacked=STACKED, title=f"{lat.model}: roofline latency on {lat.device}")
    for l in lat.layers:
        grid.add_row(cells(l, exact), style="dim" if l.bound in ("none", "fused") else None)
    grid.add_section()
    grid.add_row(["total", "", count(sum(l.flops for l in lat.layers), exact),
                  size(sum(l.bytes_read for l in lat.layers), exact),
                  size(sum(l.bytes_written for l in lat.layers), exact), "", seconds(lat.time_s, exact), ""],
                 style="bold")
    return draw(grid, width, color, ("Type", "FLOPs/byte", "Bytes written", "Bytes read"), summary_lines(lat))


def render_latency_validation(results: list, fmt: str, *, detail: bool, color: bool = False,
                              width: int | None = None) -> str:
    """'cnncost validate --latency': measured against predicted, per model (and per layer for one model)."""
    from ..validate import spearman

    done = [r for r in results if r.error is None]
    ratios = sorted(r.ratio for r in done if r.ratio)
    median = (ratios[len(ratios) // 2] if len(ratios) % 2 else sum(ratios[len(ratios) // 2 - 1:][:2]) / 2) if ratios \
        else None
    rho = spearman([r.predicted_s for r in done], [r.measured_s for r in done]) if len(done) >= 3 else None
    profile = done[0].profile if done else ""
    summary = (f"{len(results)} model{'s' if len(results) != 1 else ''} timed in torch on "
               f"{results[0].device if results else '-'} against the roofline of '{profile}'"
               + (f": median measured / predicted {median:.2f}" if median else "")
               + (f", Spearman rank correlation {rho:.3f}" if rho is not None else "")
               + (f"; {len(results) - len(done)} failed" if len(done) < len(results) else "") + ".")
    if fmt == "json":
        import json

        from ..report import SCHEMA_VERSION

        return json.dumps({
            "schema_version": SCHEMA_VERSION, "profile": profile, "median_ratio": median, "spearman": rho,
            "models": [{"model": r.model, "input": list(r.input), "batch": r.batch, "dtype": r.dtype,
                        "device": r.device, "predicted_s": r.predicted_s, "measured_s": r.measured_s,
                        "ratio": r.ratio, "error": r.error,
                        "layers": [{"name": l.name, "kind": l.kind, "predicted_s": l.predicted_s,
                                    "measured_s": l.measured_s, "ratio": l.ratio} for l in r.layers]}
                       for r in results]}, indent=2) + "\n"
    if fmt == "csv":
        import csv

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("model", "layer", "kind", "predicted_s", "measured_s", "ratio"))
        for r in results:
            writer.writerow((r.model, "", "network", r.predicted_s, r.measured_s, r.ratio))
            for l in r.layers:
                writer.writerow((r.model, l.name, l.kind, l.predicted_s, l.measured_s, l.ratio))
        return out.getvalue()

    def ratio(value):
        return "-" if value is None else f"{value:.2f}"

    if detail and results:
        headers: tuple[str, ...] = ("Layer", "Type", "Predicted", "Measured", "Measured / predicted")
        rows = [[l.name, l.kind, seconds(l.predicted_s), seconds(l.measured_s), ratio(l.ratio)]
                for l in results[0].layers]
        rows.append(["network", "", seconds(results[0].predicted_s), seconds(results[0].measured_s),
                     ratio(results[0].ratio)])
    else:
        headers = ("Model", "Predicted", "Measured", "Measured / predicted")
        rows = [[r.model, seconds(r.predicted_s), seconds(r.measured_s), ratio(r.ratio) if r.error is None else r.error]
                for r in results]
    if fmt == "markdown":
        lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(":---" for _ in headers) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines + ["", summary]) + "\n"
    from .grid import draw, simple_grid

    grid = simple_grid(headers, right=set(headers) - {"Layer", "Type", "Model"}, wrap={"Layer": 14, "Model": 14},
                       stacked=STACKED, title="roofline against torch")
    for row in rows:
        grid.add_row(row)
    return draw(grid, width, color, ("Type",), [summary])
