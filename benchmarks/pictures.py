"""How long the pictures take: cnncost graph and cnncost plot, whole process, as a user runs them.

    python benchmarks/pictures.py            # 5 rounds; --runs N for more

Each command runs once per round, all commands in turn (interleaved, so that the rest of the machine's load
falls on all alike), in a fresh process; the table gives each command's median wall time and its range.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = (
    ("graph", "resnet152", "-o", "{out}/r152.dot"),
    ("graph", "resnet152", "-o", "{out}/r152.html"),
    ("graph", "resnet152", "-o", "{out}/r152.svg"),
    ("graph", "resnet152", "--depth", "1", "-o", "{out}/r152d1.svg"),
    ("graph", "googlenet", "-o", "{out}/googlenet.png"),
    ("plot", "alexnet", "-o", "{out}/alexnet.png"),
    ("plot", "--landscape", "-o", "{out}/zoo.png"),
    ("sweep", "resnet50", "--input", "3x{{128..512..32}}", "--batch", "1,8,64", "--plot", "{out}/sweep.png",
     "--format", "csv"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": ROOT}
    times: dict = {c: [] for c in COMMANDS}
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.runs):
            for command in COMMANDS:
                argv = [a.format(out=out) for a in command]
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "cnncost", *argv], env=env, check=True,
                               stdout=subprocess.DEVNULL)
                times[command].append(time.perf_counter() - start)
    print(f"{'command':<72} {'median':>8} {'min':>7} {'max':>7}")
    for command, values in times.items():
        text = "cnncost " + " ".join(a.replace("{out}/", "").replace("{{", "{").replace("}}", "}") for a in command)
        print(f"{text:<72} {statistics.median(values):8.2f} {min(values):7.2f} {max(values):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
