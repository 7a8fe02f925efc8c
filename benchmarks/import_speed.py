"""How long cnncost.from_torch takes on models people bring (issue 21's speed line).

    python benchmarks/import_speed.py            # needs torch and timm (tools/measure_outside.py's venv)

Each figure is the median of --runs fresh processes. A process imports torch and timm and builds the model
(not timed: torch's own import), then times ``import cnncost`` and ``cnncost.from_torch(model, input=...)``
together: what a user waits for beyond torch. Also the largest module cnncost accepts, 20,000 calls of F.relu
(the expander's MAX_NODES), and one of 25,000, which is refused: both must take at most 5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TIMM = """
import sys, time, torch
sys.path.insert(0, "tools")
from torchvision_import import import_torchvision  # a CPU torch: torchvision without its compiled ops
import_torchvision()
import timm
model = timm.create_model(sys.argv[1], pretrained=False).eval()
size = int(sys.argv[2])
start = time.perf_counter()
import cnncost
cnncost.from_torch(model, input=(1, 3, size, size))
print(time.perf_counter() - start)
"""

CALLS = """
import sys, time, torch
class Many(torch.nn.Module):
    def forward(self, x):
        for _ in range(int(sys.argv[1])):
            x = torch.nn.functional.relu(x)
        return x
model = Many()
start = time.perf_counter()
import cnncost
try:
    cnncost.from_torch(model, input=(1, 3, 4, 4))
except cnncost.CnnCostError:
    pass
print(time.perf_counter() - start)
"""

CASES = (  # label, program, arguments, target in seconds
    ("timm resnet50 at 224x224", TIMM, ["resnet50", "224"], 1.0),
    ("timm convnext_atto at 224x224", TIMM, ["convnext_atto", "224"], None),
    ("timm efficientnet_b0 at 224x224", TIMM, ["efficientnet_b0", "224"], None),
    ("a module of 20,000 F.relu calls (imports)", CALLS, ["20000"], 5.0),
    ("a module of 25,000 F.relu calls (refused)", CALLS, ["25000"], 5.0),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    times = {label: [] for label, *_ in CASES}
    for _ in range(args.runs):  # rounds: the machine's noise falls on every case alike
        for label, program, argv, _ in CASES:
            done = subprocess.run([sys.executable, "-c", program, *argv], capture_output=True, text=True, env=env,
                                  cwd=ROOT, check=True)
            times[label].append(float(done.stdout.split()[-1]))
    print(f"load average {os.getloadavg()[0]:.2f} at the end; median of {args.runs} processes")
    for label, _, _, target in CASES:
        median = statistics.median(times[label])
        verdict = "" if target is None else f"  <= {target} s  {'ok' if median <= target else 'MISSED'}"
        print(f"{label:45s} {median:7.3f} s{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
