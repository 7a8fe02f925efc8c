"""How fast cnncost is, next to the floor and next to the torch-based counters.

    python benchmarks/run.py                 # everything, with the peers that import
    python benchmarks/run.py --no-peers      # cnncost alone (half a minute)
    python benchmarks/run.py --python /tmp/venv-bench/bin/python

Whole-process figures are wall time and peak resident memory of a fresh
process, measured with os.wait4, as a user meets them on the command line;
each is the median of --runs runs (--peer-runs for the peers), taken in
rounds so that noise from the rest of the machine falls on all alike. The
in-process figures come from benchmarks/inprocess.py, run in the same
interpreter. Prints one table; docs/performance.md has a run and how to read it.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from inprocess import chain_yaml  # noqa: E402  (the synthetic network of the engine figures)
PEERS = ("ptflops", "fvcore", "thop", "torchinfo", "flopcounter")
# commands that need none of rich, numpy or torch, and so must not import them
PLAIN_COMMANDS = (
    ("table", "resnet152", "--format", "json"),
    ("table", "resnet152", "--format", "csv"),
    ("table", "alexnet", "--format", "markdown"),
    ("table", "resnet152", "--pass", "train", "--format", "json"),
    ("list", "--format", "json"),
    ("compare", "vgg16", "googlenet", "--format", "json"),
    ("explain", "resnet152", "--format", "json"),
    ("memory", "resnet152", "--format", "json"),
    ("rf", "resnet152", "--format", "json"),
    ("latency", "resnet152", "--format", "json", "--device", "a100-80gb"),
)
PEER_SKIPPED = 3  # benchmarks/peer.py's exit code when it cannot run

# targets of issue 7 (and of issues 10 to 13, for explain, memory, rf, latency and sweep)
TABLE_SECONDS, TABLE_MIB, PEER_RATIO = 0.10, 50, 30
LIST_SECONDS = 1.0  # the whole zoo expanded each run: 91 models, 24,062 layers
ENGINE_SECONDS, SYNTHETIC_SECONDS, LINEAR_RATIO = 0.005, 1.0, 12


def run_once(argv: list[str], env: dict | None = None, terminal: int | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB and stdout of one fresh process; terminal: its stdout is a
    pseudo-terminal of that many columns (and COLUMNS unset), as when a user runs it."""
    if terminal is not None:
        return run_in_terminal(argv, terminal)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                 env=None if env is None else {**os.environ, **env})
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if child.returncode == PEER_SKIPPED and "peer.py" in " ".join(argv):
        raise Skipped(stderr.strip().splitlines()[-1] if stderr.strip() else "cannot run")
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {child.returncode}:\n{stderr}")
    kib = usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS, KiB on Linux
    return seconds, kib / 1024, stdout


def run_in_terminal(argv: list[str], columns: int) -> tuple[float, float, str]:
    """run_once with stdout and stderr on a pseudo-terminal of the given width, read as it is written."""
    import fcntl
    import struct
    import termios
    import threading

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    chunks: list[bytes] = []

    def drain():
        while True:
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # the child's side is closed
                return
            if not data:
                return
            chunks.append(data)

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    reader = threading.Thread(target=drain)
    reader.start()
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    reader.join()
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {os.waitstatus_to_exitcode(status)}:\n{text}")
    kib = usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)
    return seconds, kib / 1024, text


class Skipped(Exception):
    pass


class Series:
    """Repeated whole-process runs of one command."""

    def __init__(self, label: str, argv: list[str], runs: int, env: dict | None = None, terminal: int | None = None):
        self.label, self.argv, self.runs, self.env, self.terminal = label, argv, runs, env, terminal
        self.seconds: list[float] = []
        self.mib: list[float] = []
        self.output = ""
        self.skipped: str | None = None

    def step(self):
        if self.skipped or len(self.seconds) >= self.runs:
            return
        try:
            seconds, mib, self.output = run_once(self.argv, self.env, self.terminal)
        except Skipped as why:
            self.skipped = str(why)
            return
        self.seconds.append(seconds)
        self.mib.append(mib)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak(self) -> float:
        return statistics.median(self.mib)


def cnncost_command(python: str) -> list[str]:
    """The console script beside the interpreter, as a user runs it; else python -m cnncost."""
    script = Path(python).parent / "cnncost"
    return [str(script)] if script.exists() else [python, "-m", "cnncost"]


def inprocess(python: str, *args: str) -> dict:
    """What benchmarks/inprocess.py measures inside the interpreter, as JSON."""
    done = subprocess.run([python, str(HERE / "inprocess.py"), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"inprocess.py {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return json.loads(done.stdout)


def interpreter_info(python: str, code: str) -> str:
    # not from the checkout's root, where 'import cnncost' would find the source tree
    return subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir()
                          ).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter with cnncost installed")
    parser.add_argument("--peers-python", help="interpreter with torch and the peers (default: --python)")
    parser.add_argument("--runs", type=int, default=21, help="whole-process runs of each cnncost command")
    parser.add_argument("--peer-runs", type=int, default=3, help="whole-process runs of each peer")
    parser.add_argument("--engine-runs", type=int, default=60, help="in-process calls for ResNet-152")
    parser.add_argument("--no-peers", action="store_true", help="leave the torch-based tools out")
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    args = parser.parse_args()
    python, peers_python = args.python, args.peers_python or args.python
    cnncost = cnncost_command(python)

    where = interpreter_info(python, f"import sys; sys.path.append({str(HERE.parent)!r}); import cnncost; "
                                     "print(cnncost.__file__, sys.version.split()[0])")
    print(f"cnncost: {where}  ({' '.join(cnncost)})", file=sys.stderr)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; "
          f"load average {os.getloadavg()[0]:.2f} at start", file=sys.stderr)

    folder = tempfile.mkdtemp(prefix="cnncost-bench-")
    atexit.register(shutil.rmtree, folder, True)
    largest = os.path.join(folder, "chain19998.yaml")
    with open(largest, "w") as f:
        f.write(chain_yaml(19_998))
    series = [
        Series("python -c pass (the floor)", [python, "-c", "pass"], args.runs),
        Series("python -c 'import click, yaml' (dependencies)", [python, "-c", "import click, yaml"], args.runs),
        Series("cnncost table resnet152 --format json", cnncost + ["table", "resnet152", "--format", "json"],
               args.runs),
        # the default format on a terminal of 120 columns (a pseudo-terminal): what users run most (issue 16)
        Series("cnncost table resnet152 (a 120-column terminal)", cnncost + ["table", "resnet152"], args.runs,
               terminal=120),
        Series("cnncost table alexnet (a 120-column terminal)", cnncost + ["table", "alexnet"], args.runs,
               terminal=120),
        # the most layers cnncost expands (expand.MAX_NODES): the default table must stay well under a second
        Series("cnncost table, 19,998 layers (a 120-column terminal)", cnncost + ["table", largest],
               max(3, args.runs // 7), terminal=120),
        # a training step's backward MACs (issue 23): the same 0.10 s target
        Series("cnncost table resnet152 --pass train --format json",
               cnncost + ["table", "resnet152", "--pass", "train", "--format", "json"], args.runs),
        Series("cnncost table resnet152 --pass train (a 120-column terminal)",
               cnncost + ["table", "resnet152", "--pass", "train"], args.runs, terminal=120),
        # the parse cache off: every YAML file parsed, as on a first run after an install or an edit
        Series("  table json, parse cache off (first run)", cnncost + ["table", "resnet152", "--format", "json"],
               args.runs, env={"CNNCOST_CACHE_DIR": ""}),
        Series("cnncost list (whole zoo)", cnncost + ["list"], max(5, args.runs // 3)),
        Series("cnncost explain resnet152 --format json", cnncost + ["explain", "resnet152", "--format", "json"],
               args.runs),
        Series("cnncost memory resnet152 --format json", cnncost + ["memory", "resnet152", "--format", "json"],
               args.runs),
        Series("cnncost rf resnet152 --format json", cnncost + ["rf", "resnet152", "--format", "json"], args.runs),
        Series("cnncost latency resnet152 --format json", cnncost + ["latency", "resnet152", "--format", "json",
                                                                      "--device", "a100-80gb"], args.runs),
        Series("cnncost sweep resnet50, 1,000 input sizes (csv)",
               cnncost + ["sweep", "resnet50", "--input", "3x{128..1127}", "--format", "csv"], max(5, args.runs // 3)),
    ]
    peers = [] if args.no_peers else [
        Series(f"peer: {name}", [peers_python, str(HERE / "peer.py"), name], args.peer_runs) for name in PEERS]
    rounds = max(s.runs for s in series + peers)
    for i in range(rounds):
        print(f"\rround {i + 1}/{rounds}", end="", file=sys.stderr, flush=True)
        for s in series + peers:
            s.step()
    print(file=sys.stderr)

    engine = inprocess(python, "engine", str(args.engine_runs))
    heavy = {" ".join(c): inprocess(python, "imports", *c)["heavy_modules"] for c in PLAIN_COMMANDS}
    offenders = "; ".join(f"{c}: {', '.join(m)}" for c, m in heavy.items() if m)
    zoo_size = len(json.loads(run_once(cnncost + ["list", "--format", "json"])[2]))

    def check(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    by_label = {s.label: s for s in series}  # by name, not position: a series added anywhere shifts no target
    floor, table, terminal, train, train_terminal, largest_table, listing, explain, memory, fields, roofline, \
        sweep1k = (by_label[label] for label in (
            "python -c pass (the floor)", "cnncost table resnet152 --format json",
            "cnncost table resnet152 (a 120-column terminal)", "cnncost table resnet152 --pass train --format json",
            "cnncost table resnet152 --pass train (a 120-column terminal)",
            "cnncost table, 19,998 layers (a 120-column terminal)", "cnncost list (whole zoo)",
            "cnncost explain resnet152 --format json", "cnncost memory resnet152 --format json",
            "cnncost rf resnet152 --format json", "cnncost latency resnet152 --format json",
            "cnncost sweep resnet50, 1,000 input sizes (csv)"))
    listing.label = f"cnncost list ({zoo_size} models)"
    targets = {  # series -> (target, verdict)
        table: (f"<= {TABLE_SECONDS} s, <= {TABLE_MIB} MiB",
                check(table.median <= TABLE_SECONDS and table.peak <= TABLE_MIB)),
        terminal: (f"<= {TABLE_SECONDS} s", check(terminal.median <= TABLE_SECONDS)),
        largest_table: (f"< {SYNTHETIC_SECONDS:.0f} s", check(largest_table.median < SYNTHETIC_SECONDS)),
        listing: (f"< {LIST_SECONDS} s", check(listing.median < LIST_SECONDS)),
        explain: (f"<= {TABLE_SECONDS} s, <= {TABLE_MIB} MiB",
                  check(explain.median <= TABLE_SECONDS and explain.peak <= TABLE_MIB)),
        memory: (f"<= {TABLE_SECONDS} s", check(memory.median <= TABLE_SECONDS)),
        fields: (f"<= {TABLE_SECONDS} s", check(fields.median <= TABLE_SECONDS)),
        roofline: (f"<= {TABLE_SECONDS} s", check(roofline.median <= TABLE_SECONDS)),
        train: (f"<= {TABLE_SECONDS} s", check(train.median <= TABLE_SECONDS)),
        train_terminal: (f"<= {TABLE_SECONDS} s", check(train_terminal.median <= TABLE_SECONDS)),
        sweep1k: ("< 1 s", check(sweep1k.median < 1.0)),
    }
    rows = [(s.label, f"{s.median:.3f} s, {s.peak:.0f} MiB") + targets.get(s, ("", "")) for s in series]
    rows.append(("  table json above the floor", f"{table.median - floor.median:.3f} s, "
                 f"{table.peak - floor.peak:.0f} MiB", "", ""))
    rows.append((f"heavy modules imported by {len(PLAIN_COMMANDS)} plain-text commands", offenders or "none",
                 "none of rich, numpy, torch", check(not offenders)))

    ran = [p for p in peers if p.seconds]
    for p in peers:
        if p.skipped:
            rows.append((p.label, "skipped", "", p.skipped))
        else:
            rows.append((p.label, f"{p.median:.3f} s, {p.peak:.0f} MiB", "",
                         f"{p.median / table.median:.0f}x cnncost"))
    if ran:
        fastest = min(ran, key=lambda p: p.median)
        ratio = fastest.median / table.median
        rows.append((f"  fastest peer ({fastest.label.removeprefix('peer: ')}) / cnncost table json", f"{ratio:.1f}x",
                     f">= {PEER_RATIO}x", check(ratio >= PEER_RATIO)))

    r152, cold = engine["resnet152"]["median_s"], engine["resnet152_uncached"]["median_s"]
    rows.append(("engine: cnncost.analyze('resnet152') per call", f"{r152 * 1e3:.2f} ms",
                 f"< {ENGINE_SECONDS * 1e3:.0f} ms", check(r152 < ENGINE_SECONDS)))
    rows.append(("  the same, parsed files and values forgotten", f"{cold * 1e3:.2f} ms", "", ""))
    first = engine["first"]
    rows.append(("  import cnncost; first call in a new process",
                 f"{first['import_s'] * 1e3:.1f} ms; {first['first_call_s'] * 1e3:.2f} ms", "", ""))
    for form in ("chain", "repeat"):
        small, large = engine[f"{form}1000"]["median_s"], engine[f"{form}10000"]["median_s"]
        label = "flat list of" if form == "chain" else "'repeat' of"
        rows.append((f"engine: {label} 1,000 layers", f"{small * 1e3:.1f} ms", "", ""))
        rows.append((f"engine: {label} 10,000 layers", f"{large * 1e3:.1f} ms",
                     f"< {SYNTHETIC_SECONDS:.0f} s", check(large < SYNTHETIC_SECONDS)))
        rows.append(("  10,000 / 1,000 layers", f"{large / small:.1f}x", f"<= {LINEAR_RATIO}x",
                     check(large / small <= LINEAR_RATIO)))

    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("measurement", "median", "target", "")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    print("  ".join("-" * w for w in widths).rstrip())
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"\nwhole process: median of {args.runs} runs ({listing.runs} for list, {args.peer_runs} for each peer); "
          f"engine: median of {args.engine_runs} calls after one warm-up; "
          f"load average {os.getloadavg()[0]:.2f} at the end")

    if args.json:
        data = {"series": {s.label: {"seconds": s.seconds, "mib": s.mib, "skipped": s.skipped,
                                     "output": s.output if s in peers else None}
                           for s in series + peers},
                "engine": engine, "heavy_modules": heavy, "zoo_size": zoo_size}
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    return 0 if all(r[3] != "MISSED" for r in rows) else 1  # exit 1: a target missed


if __name__ == "__main__":
    sys.exit(main())
