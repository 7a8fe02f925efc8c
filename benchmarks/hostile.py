"""Time and peak memory of cnncost on hostile inputs: each must be refused or answered in < 1 s and < 200 MiB
(the cases of issue 26 state their own target).

    python benchmarks/hostile.py [--runs 3] [--only TEXT] [--kill-s 60]

Each case is a whole `cnncost` process (what a CI job checking a pull request runs); the figure is the median
wall time, the median CPU time (user + system, which the verdict reads) and the largest peak RSS over the
runs; a run past --kill-s is killed and shown as such. To compare
two versions, run it with PYTHONPATH set to each (a `git archive` of each commit). docs/security.md records the
results.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SECONDS, MIB = 1.0, 200
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fuzz():
    """tools/fuzz.py, for its protobuf writer of ONNX files."""
    spec = importlib.util.spec_from_file_location("cnncost_tools_fuzz", os.path.join(ROOT, "tools", "fuzz.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def onnx_relus(count: int, named: str = "relu", unused: bool = False) -> bytes:
    """count Relu nodes all named alike, chained (or each reading the input, nothing reading them)."""
    f = _fuzz()
    nodes = [f._node("Relu", ["x" if unused or i == 0 else f"t{i - 1}"], [f"t{i}"], named) for i in range(count)]
    return f.onnx_model(nodes, [], [("x", [1, 3, 8, 8])], [("t0" if unused else f"t{count - 1}", None)])


def onnx_int64_initializer(megabytes: int) -> bytes:
    """A Relu model with an unused int64 initializer of that many megabytes of packed int64_data (one-byte
    values)."""
    f = _fuzz()
    count = megabytes * 1_000_000
    big = f._field(1, count) + f._field(2, 7) + f._field(7, bytes(count)) + f._field(8, "big")
    return f.onnx_model([f._node("Relu", ["x"], ["y"])], [big], [("x", [1, 3, 8, 8])], [("y", None)])


TORCH_CALLS = """
import sys, torch, cnncost
class Many(torch.nn.Module):
    def forward(self, x):
        for _ in range(int(sys.argv[1])):
            x = torch.nn.functional.relu(x)
        return x
try:
    cnncost.from_torch(Many(), input="3x4x4")
except cnncost.CnnCostError:
    sys.exit(2)
"""


def bomb(levels: int = 9) -> str:
    rows = [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i else "x"] * 10) + "]" for i in range(levels)]
    return "\n".join(rows) + f"\ninput: [3, 8, 8]\nlayers: *a{levels - 1}\n"


def expression(text: str) -> str:
    return f'input: [3, 8, 8]\nparams: {{v: "${{{text}}}"}}\nlayers:\n  - relu\n'


def cases(folder: str) -> list[tuple]:
    """(label, argv after 'python -m cnncost' (or 'python' for -c), stdin, and the target in seconds when it is
    not SECONDS)."""
    def file(name: str, text: str | bytes) -> str:
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
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
        # issue 26
        ("ONNX: 4,000 Relu nodes named alike", ["table", os.path.join(folder, "relu4000.onnx"), "--format",
                                                "json"], None),
        ("ONNX: 19,999 Relu nodes named alike", ["table", os.path.join(folder, "relu19999.onnx"), "--format",
                                                 "json"], None, 2.0),
        ("ONNX: 100,000 unused nodes (2.9 MB)", ["table", os.path.join(folder, "unused.onnx")], None, 2.0),
        ("ONNX: 40 MB int64_data initializer", ["table", os.path.join(folder, "int64.onnx")], None),
        ("sweep: 100,000 points (batch)", ["sweep", "alexnet", "--batch", "{1..100000}", "--format", "csv"], None,
         3.0),
        ("sweep: 50,000 points (batch), the table", ["sweep", "alexnet", "--batch", "{1..50000}"], None, 2.0),
        ("sweep: 49,500 points of five axes", ["sweep", "resnet18", "--batch", "{1..55}", "--dtype",
                                               "float32,float16,bfloat16", "--convention", "lecture,torchvision,fvcore",
                                               "--device", "a100-80gb,t4", "--input", "3x{224..773..11}",
                                               "--format", "csv"], None, 3.0),
        ("from_torch: 25,000 F.relu calls", ["-c", TORCH_CALLS, "25000"], None, 5.0),
    ]


def write_onnx(folder: str):
    """The ONNX files, written by a child process: a child forked by this one would start from its memory."""
    for name, data in (("relu4000.onnx", lambda: onnx_relus(4000)), ("relu19999.onnx", lambda: onnx_relus(19_999)),
                       ("unused.onnx", lambda: onnx_relus(100_000, unused=True)),
                       ("int64.onnx", lambda: onnx_int64_initializer(40))):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data())


def run(argv: list[str], stdin: bytes | None, env: dict, kill_s: float) -> tuple[float, float, float, int | str]:
    start = time.perf_counter()
    program = [sys.executable] if argv[0] == "-c" else [sys.executable, "-m", "cnncost"]
    process = subprocess.Popen([*program, *argv], stdin=subprocess.PIPE if stdin else
                               subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    timer = threading.Timer(kill_s, process.kill)
    timer.start()
    if stdin:
        try:
            process.stdin.write(stdin)
        except BrokenPipeError:  # refused before reading it all
            pass
        process.stdin.close()
    _, status, usage = os.wait4(process.pid, 0)
    timer.cancel()
    code = os.waitstatus_to_exitcode(status)
    return (time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
            "killed" if code == -9 else code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", help="only the cases whose label contains this")
    parser.add_argument("--kill-s", type=float, default=120.0, help="kill a run after this many seconds")
    parser.add_argument("--write-onnx", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_onnx:
        write_onnx(args.write_onnx)
        return
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, __file__, "--write-onnx", folder], check=True)
        env = {**os.environ, "CNNCOST_CACHE_DIR": ""}  # every run parses: the worst case
        print(f"{'case':44} {'exit':>6} {'median s':>9} {'CPU s':>7} {'peak MiB':>9}  verdict")
        for label, argv, stdin, *target in cases(folder):
            if args.only and args.only not in label:
                continue
            times, cpus, peaks, codes = [], [], [], set()
            for _ in range(args.runs):
                seconds, cpu, mib, code = run(argv, stdin, env, args.kill_s)
                times.append(seconds)
                cpus.append(cpu)
                peaks.append(mib)
                codes.add(str(code))
            median, cpu, peak = statistics.median(times), statistics.median(cpus), max(peaks)
            # judged on CPU time, which other jobs on the machine change far less than wall time
            verdict = "ok" if cpu < (target[0] if target else SECONDS) and peak < MIB else "MISSED"
            print(f"{label:44} {'/'.join(map(str, sorted(codes))):>6} {median:9.3f} {cpu:7.2f} {peak:9.1f}  {verdict}")


if __name__ == "__main__":
    main()
