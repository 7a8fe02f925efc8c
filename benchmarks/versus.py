"""The same cnncost commands under two installs, interleaved: a before-and-after of one change.

    python benchmarks/versus.py BEFORE_PYTHON AFTER_PYTHON [--runs 21] [--columns 120] [--command "table alexnet"]...

Each command runs as a fresh process (as run.py measures them) on a pseudo-terminal of --columns
columns, or with stdout to a file where the command asks for --format or -o. Rounds take one run of
each command under each interpreter in turn, so the machine's load falls on both alike; the figures
are medians. docs/performance.md records a run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

from run import cnncost_command, run_once

DEFAULT_COMMANDS = ("table resnet152", "table alexnet", "table resnet152 --format json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="the interpreter with the code before the change")
    parser.add_argument("after", help="the interpreter with the code after it")
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--columns", type=int, default=120, help="the terminal's width for table commands")
    parser.add_argument("--command", action="append", help="a cnncost command line (repeatable)")
    args = parser.parse_args()
    # away from a checkout, where 'python -m cnncost' would import the source tree, not the install
    os.chdir(tempfile.gettempdir())
    commands = [c.split() for c in (args.command or DEFAULT_COMMANDS)]
    floor = ["-c", "pass"]  # each interpreter's start, for scale
    pythons = {"before": args.before, "after": args.after}
    times: dict[tuple[str, str], list[float]] = {}
    for n in range(args.runs):
        print(f"\rround {n + 1}/{args.runs}", end="", file=sys.stderr, flush=True)
        for command in [floor] + commands:
            terminal = None if command is floor or any(a in ("--format", "-o") for a in command) else args.columns
            for which, python in pythons.items():
                argv = [python, *floor] if command is floor else cnncost_command(python) + command
                seconds, _, _ = run_once(argv, terminal=terminal)
                times.setdefault((" ".join(command), which), []).append(seconds)
    print(file=sys.stderr)
    labels = {" ".join(floor): "python -c pass (the floor)"}
    width = max(len(labels.get(" ".join(c), "cnncost " + " ".join(c))) for c in [floor] + commands)
    print(f"{'command':<{width}}  before    after     after/before")
    for command in [floor] + commands:
        text = " ".join(command)
        before, after = (statistics.median(times[(text, w)]) for w in pythons)
        print(f"{labels.get(text, 'cnncost ' + text):<{width}}  {before:.3f} s  {after:.3f} s  {after / before:.2f}")
    print(f"\nmedians of {args.runs} rounds; load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
