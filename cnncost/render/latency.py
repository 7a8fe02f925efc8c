"""Rendering 'cnncost latency': roofline times per layer, in every format."""

from __future__ import annotations

from ..errors import one_line
from ..latency import Latency
from ..units import count, duration as seconds, size
from .shown import Section, Shown


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


class LatencyShown(Shown):
    result: Latency

    def sections(self) -> list[Section]:
        lat, exact = self.result, self.exact
        return [Section(f"{lat.model}: roofline latency on {lat.device}", HEADERS,
                        [cells(l, exact) for l in lat.layers], right=set(HEADERS) - {"Layer", "Type", "Bound"},
                        styles=["dim" if l.bound in ("none", "fused") else None for l in lat.layers],
                        total=["total", "", count(sum(l.flops for l in lat.layers), exact),
                               size(sum(l.bytes_read for l in lat.layers), exact),
                               size(sum(l.bytes_written for l in lat.layers), exact), "",
                               seconds(lat.time_s, exact), ""],
                        wrap={"Layer": 14}, stacked=STACKED,
                        drop=("Type", "FLOPs/byte", "Bytes written", "Bytes read"), notes=summary_lines(lat))]

    def data(self) -> dict:
        return self.result.to_dict()

    def records(self):
        lat = self.result
        rows: list[tuple] = [(l.name, l.kind, l.flops, l.bytes_read, l.bytes_written,
                              "" if l.intensity is None else l.intensity, l.time_s, l.bound, str(l.side).lower())
                             for l in lat.layers]
        flops, read, written = (sum(getattr(l, k) for l in lat.layers) for k in ("flops", "bytes_read",
                                                                                   "bytes_written"))
        rows.append(("total", "total", flops, read, written, "", lat.time_s, "", ""))
        return ("name", "type", "flops", "bytes_read", "bytes_written", "intensity", "time_s", "bound", "side"), rows


class LatencyRuns(Shown):
    """'cnncost validate --latency': measured against predicted, per model (and per layer for one model,
    option ``detail``); the result is the list of validate's latency results."""

    def _summary(self) -> str:
        from ..validate.latency import spearman

        results = self.result
        done = [r for r in results if r.error is None]
        rho = spearman([r.predicted_s for r in done], [r.measured_s for r in done]) if len(done) >= 3 else None
        median = self._median()
        return (f"{len(results)} model{'s' if len(results) != 1 else ''} timed in torch on "
                f"{results[0].device if results else '-'} against the roofline of '{self._profile()}'"
                + (f": median measured / predicted {median:.2f}" if median else "")
                + (f", Spearman rank correlation {rho:.3f}" if rho is not None else "")
                + (f"; {len(results) - len(done)} failed" if len(done) < len(results) else "") + ".")

    def _median(self):
        ratios = sorted(r.ratio for r in self.result if r.error is None and r.ratio)
        if not ratios:
            return None
        return ratios[len(ratios) // 2] if len(ratios) % 2 else sum(ratios[len(ratios) // 2 - 1:][:2]) / 2

    def _profile(self) -> str:
        done = [r for r in self.result if r.error is None]
        return done[0].profile if done else ""

    def sections(self) -> list[Section]:
        results = self.result

        def ratio(value):
            return "-" if value is None else f"{value:.2f}"

        headers: tuple[str, ...]
        if self.options["detail"] and results:
            headers = ("Layer", "Type", "Predicted", "Measured", "Measured / predicted")
            rows = [[l.name, l.kind, seconds(l.predicted_s), seconds(l.measured_s), ratio(l.ratio)]
                    for l in results[0].layers]
            rows.append(["network", "", seconds(results[0].predicted_s), seconds(results[0].measured_s),
                         ratio(results[0].ratio)])
        else:
            headers = ("Model", "Predicted", "Measured", "Measured / predicted")
            rows = [[r.model, seconds(r.predicted_s), seconds(r.measured_s),
                     ratio(r.ratio) if r.error is None else r.error] for r in results]
        return [Section("roofline against torch", headers, rows, right=set(headers) - {"Layer", "Type", "Model"},
                        wrap={"Layer": 14, "Model": 14}, stacked=STACKED, drop=("Type",), notes=[self._summary()])]

    def data(self) -> dict:
        return {"profile": self._profile(), "median_ratio": self._median(), "spearman": self._spearman(),
                "models": [{"model": r.model, "input": list(r.input), "batch": r.batch, "dtype": r.dtype,
                            "device": r.device, "predicted_s": r.predicted_s, "measured_s": r.measured_s,
                            "ratio": r.ratio, "error": r.error,
                            "layers": [{"name": l.name, "kind": l.kind, "predicted_s": l.predicted_s,
                                        "measured_s": l.measured_s, "ratio": l.ratio} for l in r.layers]}
                           for r in self.result]}

    def _spearman(self):
        from ..validate.latency import spearman

        done = [r for r in self.result if r.error is None]
        return spearman([r.predicted_s for r in done], [r.measured_s for r in done]) if len(done) >= 3 else None

    def records(self):
        rows = []
        for r in self.result:
            rows.append((r.model, "", "network", r.predicted_s, r.measured_s, r.ratio))
            rows += [(r.model, l.name, l.kind, l.predicted_s, l.measured_s, l.ratio) for l in r.layers]
        return ("model", "layer", "kind", "predicted_s", "measured_s", "ratio"), rows

    def write_json(self) -> str:
        import json

        from ..report import versioned

        return json.dumps(versioned(self.data()), indent=2) + "\n"

    def write_markdown(self) -> str:
        section = self.sections()[0]
        lines = ["| " + " | ".join(section.headers) + " |", "| " + " | ".join(":---" for _ in section.headers) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in section.rows]
        return "\n".join(lines + ["", self._summary()]) + "\n"
