"""How fast cnncost analyses an ONNX file: whole process, as a user runs 'cnncost table model.onnx'.

    python benchmarks/onnx_import.py                 # needs torch and onnx to export the model once
    python benchmarks/onnx_import.py --runs 31 --python /tmp/venv/bin/python

It exports cnncost's own ResNet-50 (torchvision's 25,557,032 parameters) with
torch.onnx.export's defaults (the TorchScript exporter, eval mode, constant
folding: 102 MB), then times fresh processes in rounds, one of each command
per round, so that noise from the rest of the machine falls on all alike,
and prints medians. It also records why cnncost reads the file itself:
'import onnx' and onnx.load of the same file, timed the same way. Exits 1
when the target (issue 17: <= 0.2 s for 'cnncost table resnet50.onnx', with
neither torch nor onnx imported) is missed. docs/performance.md has a run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 0.2
HEAVY = ("torch", "onnx", "google.protobuf", "numpy")


def export(folder: str, python: str) -> str:
    path = os.path.join(folder, "resnet50.onnx")
    code = ("import warnings, torch, cnncost; warnings.simplefilter('ignore')\n"
            "net = cnncost.to_torch('resnet50').eval()\n"
            f"torch.onnx.export(net, (torch.zeros(1, 3, 224, 224),), {path!r}, dynamo=False)\n")
    subprocess.run([python, "-c", code], check=True)
    return path


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()}")
    return seconds


def heavy_modules(python: str, path: str) -> list[str]:
    """The heavy modules 'cnncost table FILE.onnx --format json' imports, run in one process."""
    code = ("import sys; from cnncost.cli import main\n"
            f"try:\n    main(['table', {path!r}, '--format', 'json'])\nexcept SystemExit: pass\n"
            f"sys.stderr.write(repr([m for m in {HEAVY!r} if m in sys.modules]))")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return eval(done.stderr.strip().splitlines()[-1])  # a list literal this script wrote


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter with cnncost installed")
    parser.add_argument("--export-python", help="interpreter with torch and onnx, to export (default: --python)")
    parser.add_argument("--runs", type=int, default=21, help="whole-process runs of each command")
    args = parser.parse_args()
    python = args.python
    script = Path(python).parent / "cnncost"
    cnncost = [str(script)] if script.exists() else [python, "-m", "cnncost"]
    folder = tempfile.mkdtemp(prefix="cnncost-onnx-bench-")
    path = export(folder, args.export_python or python)
    size = os.path.getsize(path)
    commands = [
        ("python -c pass (the floor)", [python, "-c", "pass"]),
        ("cnncost table resnet50 --format json (the zoo's YAML)", cnncost + ["table", "resnet50", "--format", "json"]),
        ("cnncost table resnet50.onnx --format json", cnncost + ["table", path, "--format", "json"]),
        ("cnncost table resnet50.onnx (rich table, piped)", cnncost + ["table", path]),
        ("cnncost import resnet50.onnx (the YAML)", cnncost + ["import", path]),
    ]
    if subprocess.run([python, "-c", "import onnx"], capture_output=True).returncode == 0:
        commands += [("python -c 'import onnx'", [python, "-c", "import onnx"]),
                     ("python -c 'import onnx; onnx.load(file)'", [python, "-c", f"import onnx; onnx.load({path!r})"])]
    times: dict = {label: [] for label, _ in commands}
    for i in range(args.runs):
        print(f"\rround {i + 1}/{args.runs}", end="", file=sys.stderr, flush=True)
        for label, argv in commands:
            times[label].append(wall(argv))
    print(file=sys.stderr)
    heavy = heavy_modules(python, path)
    table = statistics.median(times["cnncost table resnet50.onnx --format json"])
    rich = statistics.median(times["cnncost table resnet50.onnx (rich table, piped)"])
    print(f"resnet50.onnx: {size / 1e6:.0f} MB; load average {os.getloadavg()[0]:.2f}; medians of {args.runs} runs")
    for label, seconds in times.items():
        print(f"  {label:60s} {statistics.median(seconds):.3f} s")
    ok = table <= TARGET_SECONDS and rich <= TARGET_SECONDS and not heavy
    print(f"  heavy modules imported by 'table resnet50.onnx': {', '.join(heavy) or 'none'}")
    print(f"target: <= {TARGET_SECONDS} s with neither torch nor onnx imported: {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
