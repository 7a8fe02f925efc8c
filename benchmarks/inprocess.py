"""Timings inside one Python process, run by run.py in the interpreter it measures.

    python benchmarks/inprocess.py engine     # JSON: per-call times of the Python API
    python benchmarks/inprocess.py imports ARGS...  # JSON: heavy modules 'cnncost ARGS' imported

``engine`` times what a Python user pays per call once cnncost is imported:
``cnncost.analyze("resnet152")`` reads both YAML files (it extends resnet50),
parses, expands and costs the network; the same with the caches of parsed
files and expression values emptied before each call; and a synthetic chain of conv,
batchnorm and relu layers written out as YAML text, at 1,000 and 10,000
layers, to see that the cost grows linearly.
"""

from __future__ import annotations

import gc
import io
import json
import statistics
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))  # the source tree, if cnncost is not installed

HEAVY = ("rich", "numpy", "torch")
PATTERN = (
    "  - conv: {out: 16, kernel: 3, padding: 1, bias: false}",
    "  - batchnorm",
    "  - relu",
)


def chain_yaml(layers: int) -> str:
    """A flat chain of unnamed layers, as a user might write one by hand."""
    lines = [f"name: chain{layers}", "input: [16, 32, 32]", "layers:"]
    lines += [PATTERN[i % len(PATTERN)] for i in range(layers)]
    return "\n".join(lines) + "\n"


def repeat_yaml(layers: int) -> str:
    """The same network written with 'repeat' (a block of three, layers/3 times)."""
    return (f"name: repeat{layers}\ninput: [16, 32, 32]\nlayers:\n"
            f"  - repeat:\n      name: stack\n      count: {layers // len(PATTERN)}\n      layers:\n"
            + "".join("    " + line + "\n" for line in PATTERN))


def timed(fn, runs: int) -> dict:
    fn()  # warm: imports, caches of parsed expressions
    times = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "runs": runs}


def clear_caches():
    """Forget parsed files and expression values, as a new process would (lru caches of compiled
    expressions stay: they hold no results)."""
    from cnncost import expr, yamlio

    for cache in (getattr(yamlio, "_PARSED", None), getattr(expr, "_RESULTS", None)):
        if cache is not None:
            cache.clear()


def engine(runs: int) -> dict:
    start = time.perf_counter()
    import cnncost

    imported = time.perf_counter()
    cnncost.analyze("resnet152")
    first = {"import_s": imported - start, "first_call_s": time.perf_counter() - imported}

    def uncached():
        clear_caches()
        cnncost.analyze("resnet152")

    results = {"first": first, "resnet152": timed(lambda: cnncost.analyze("resnet152"), runs),
               "resnet152_uncached": timed(uncached, runs)}
    for layers, fewer in ((1_000, 1), (10_000, 4)):
        for form, make in (("chain", chain_yaml), ("repeat", repeat_yaml)):
            text = make(layers)
            report = cnncost.analyze_text(text)
            assert len(report.layers) == layers - layers % 3 * (form == "repeat"), len(report.layers)
            results[f"{form}{layers}"] = timed(lambda text=text: cnncost.analyze_text(text), max(3, runs // fewer))
    return results


def imports(args: list[str]) -> dict:
    from cnncost.cli import main

    with redirect_stdout(io.StringIO()):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
    return {"args": args, "exit": code, "heavy_modules": loaded}


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "engine":
        print(json.dumps(engine(int(sys.argv[2]) if len(sys.argv) > 2 else 40)))
    elif what == "imports":
        print(json.dumps(imports(sys.argv[2:])))
    else:
        sys.exit(f"unknown: {what}")
