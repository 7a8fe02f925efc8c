"""Time and peak memory of cnncost on hostile inputs: each must be refused or answered in < 1 s and < 200 MiB.

    python benchmarks/hostile.py [--runs 3]

Each case is a whole `cnncost` process (what a CI job checking a pull request runs); the figure is the median
wall time and the largest peak RSS over the runs. docs/security.md records the results.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

SECONDS, MIB = 1.0, 200


def bomb(levels: int = 9) -> str:
    rows = [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i else "x"] * 10) + "]" for i in range(levels)]
    return "\n".join(rows) + f"\ninput: [3, 8, 8]\nlayers: *a{levels - 1}\n"


def expression(text: str) -> str:
    return f'input: [3, 8, 8]\nparams: {{v: "${{{text}}}"}}\nlayers:\n  - relu\n'


def cases(folder: str) -> list[tuple[str, list[str], bytes | None]]:
    def file(name: str, text: str) -> str:
        path = os.path.join(folder, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    four_mib = 4 * 1024 * 1024
    million = ("input: [3, 8, 8]\nlayers:\n  - repeat:\n      count: 10000\n      layers:\n"
               "        - repeat: {count: 100, layers: [relu]}\n")
    most_layers = ("input: [3, 8, 8]\nlayers:\n  - repeat:\n      count: 1999\n      layers:\n"
                   "        - repeat: {count: 10, layers: [relu]}\n")
    return [
        ("alias bomb, 81 aliases (file)", ["table", file("bomb.yaml", bomb())], None),
        ("alias bomb on stdin", ["table", "-"], bomb().encode()),
        ("alias bomb through extends", ["table", file("child.yaml", "extends: bomb.yaml\n")], None),
        ("alias bomb in --set", ["table", "alexnet", "--set", "classes=" + bomb().replace(
            "input: [3, 8, 8]\nlayers: *a8\n", "top: *a8\n")], None),
        ("alias bomb as check --model-file", ["check", "--model-file", f"vgg16={os.path.join(folder, 'bomb.yaml')}"],
         None),
        ("4 MiB flow list of 2M items", ["table", file("items.yaml", "layers: [" + ",".join(
            ["x"] * (four_mib // 2 - 10)) + "]\n")], None),
        ("4 MiB of block lines", ["table", file("lines.yaml", "layers:\n" + "- relu\n" * (four_mib // 7 - 2))], None),
        ("4 MiB string", ["table", file("string.yaml", 'input: [3, 8, 8]\nlayers: [relu]\nnotes: "'
                                        + "a" * (four_mib - 60) + '"\n')], None),
        ("/dev/zero as the file", ["table", "/dev/zero"], None),
        ("extends: /dev/zero", ["table", file("zero.yaml", "extends: /dev/zero\n")], None),
        ("${'a' * 10**9}", ["table", file("e1.yaml", expression("'a' * 10**9"))], None),
        ("${'%0999999999d' % 1}", ["table", file("e2.yaml", expression("'%0999999999d' % 1"))], None),
        ("${[0] * 10**9}", ["table", file("e3.yaml", expression("[0] * 10**9"))], None),
        ("${sum([[0]*1000]*100000, [])}", ["table", file("e4.yaml", expression("sum([[0]*1000]*100000, [])"))],
         None),
        ("adaptive_avgpool output 10**9", ["table", file("adaptive.yaml", "input: [3, 8, 8]\nlayers:\n"
                                                      "  - adaptive_avgpool: {output: 1000000000}\n"), "--format",
                                            "json"], None),
        ("1,000,000 layers (refused)", ["table", file("million.yaml", million)], None),
        ("19,990 layers, json", ["table", file("most.yaml", most_layers), "--format", "json"], None),
        ("19,990 layers, memory json", ["memory", os.path.join(folder, "most.yaml"), "--format", "json"], None),
        ("19,990 layers, rf json", ["rf", os.path.join(folder, "most.yaml"), "--format", "json"], None),
        ("19,990 layers, default table", ["table", os.path.join(folder, "most.yaml")], None),
    ]


def run(argv: list[str], stdin: bytes | None, env: dict) -> tuple[float, float, int]:
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "cnncost", *argv], stdin=subprocess.PIPE if stdin else
                               subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    if stdin:
        try:
            process.stdin.write(stdin)
        except BrokenPipeError:  # refused before reading it all
            pass
        process.stdin.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "CNNCOST_CACHE_DIR": ""}  # every run parses: the worst case
        print(f"{'case':44} {'exit':>4} {'median s':>9} {'peak MiB':>9}  verdict")
        for label, argv, stdin in cases(folder):
            times, peaks, codes = [], [], set()
            for _ in range(args.runs):
                seconds, mib, code = run(argv, stdin, env)
                times.append(seconds)
                peaks.append(mib)
                codes.add(code)
            median, peak = statistics.median(times), max(peaks)
            verdict = "ok" if median < SECONDS and peak < MIB else "MISSED"
            print(f"{label:44} {'/'.join(map(str, sorted(codes))):>4} {median:9.3f} {peak:9.1f}  {verdict}")


if __name__ == "__main__":
    main()
