"""'cnncost calibrate': this machine's CPU as a device of the roofline (``--device local``).

It measures the sustained FP32 rate of large matrix products (torch's when torch is installed, as the
networks run through it; numpy's BLAS otherwise) and the memory bandwidth of large copies (bytes read
plus bytes written), each the best of repeated runs, in at most 30 seconds (enforced: no run starts that
the last one's time says would end after the deadline, and a larger product is skipped when its predicted
time does not fit what is left), and writes them as a device
entry to the user's config folder ($CNNCOST_CONFIG_DIR, else $XDG_CONFIG_HOME/cnncost, else
~/.config/cnncost), in the form of the device table.
"""

from __future__ import annotations

import datetime
import os
import platform
import time

from .devices import PROFILE, config_dir, local_device, profile_path  # noqa: F401  (kept importable from here)
from .errors import CnnCostError

BUDGET_S = 30.0
GEMM_SIZES = (512, 1024, 2048)
COPY_BYTES = 256 * 1024 * 1024


def _backend():
    """torch's tensors when torch imports, else numpy's arrays: (name, make(n, m), matmul, copy)."""
    try:
        import torch

        return (f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
                lambda shape: torch.rand(*shape, dtype=torch.float32),
                lambda a, b, out: torch.mm(a, b, out=out), lambda src, dst: dst.copy_(src))
    except ImportError:
        pass
    try:
        import numpy
    except ImportError:
        raise CnnCostError("calibrate needs numpy or torch", hint="pip install numpy") from None
    return (f"numpy {numpy.__version__}", lambda shape: numpy.random.rand(*shape).astype(numpy.float32),
            lambda a, b, out: numpy.matmul(a, b, out=out), lambda src, dst: numpy.copyto(dst, src))


RESERVE_S = 1.0  # of the budget, for writing the profile and exiting


def _best_rate(step, work: float, until: float) -> tuple[float, float]:
    """The best work/second over repeated runs of ``step``, none started that the last one's time says would
    end after ``until``; and the last run's seconds. The first run (threads, caches, page faults) counts."""
    start = time.perf_counter()
    step()
    last = time.perf_counter() - start
    best = work / last
    while time.perf_counter() + last < until:
        start = time.perf_counter()
        step()
        last = time.perf_counter() - start
        best = max(best, work / last)
    return best, last


def measure(progress=None) -> dict:
    """The device entry for this machine, measured within BUDGET_S from this call; ``progress(text)`` is
    told each step."""
    deadline = time.perf_counter() + BUDGET_S - RESERVE_S
    name, make, matmul, copy = _backend()
    rates: list[float] = []
    last, previous = 0.0, None
    for k, size in enumerate(GEMM_SIZES):
        share = (deadline - time.perf_counter()) / (len(GEMM_SIZES) + 1 - k)  # the copies get a share too
        predicted = last * (size / previous) ** 3 if previous else 0.0
        if rates and predicted > share:
            break  # this product would not fit the time left: the smaller ones' best stands
        if progress:
            progress(f"matrix product {size}x{size}")
        a, b, out = make((size, size)), make((size, size)), make((size, size))
        rate, last = _best_rate(lambda a=a, b=b, out=out: matmul(a, b, out), 2.0 * size ** 3,
                                time.perf_counter() + share)
        rates.append(rate)
        previous = size
    if progress:
        progress("memory bandwidth (copies of 256 MiB)")
    src, dst = make((COPY_BYTES // 4,)), make((COPY_BYTES // 4,))
    bandwidth, _ = _best_rate(lambda: copy(src, dst), 2.0 * COPY_BYTES, deadline)
    pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    memory = (pages * page_size) // 2 ** 30 * 2 ** 30
    today = datetime.date.today().isoformat()
    return {
        "name": f"this machine ({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs), calibrated",
        "kind": "cpu",
        "memory_bytes": memory,
        "memory_printed": f"{memory // 2 ** 30} GiB of RAM",
        "bandwidth_gb_s": round(bandwidth / 1e9, 3),
        "peak_tflops": {"fp32": round(max(rates) / 1e12, 6), "tf32": None, "fp16": None, "bf16": None,
                        "int8": None},
        "source": f"cnncost calibrate, {today}: best FP32 rate of {name} matrix products "
                  f"{'/'.join(map(str, GEMM_SIZES))}, and of {COPY_BYTES // 2 ** 20} MiB copies (read + write)",
        "checked": "measured",
        "notes": "sustained rates, not the CPU's theoretical peak; other processes on the machine lower them",
    }


def check_destination() -> str:
    """The profile's path, once it is known that it can be written: checked before the 30 s of measuring."""
    from .errors import OutputError

    folder = config_dir()
    path = os.path.join(folder, PROFILE)
    try:
        os.makedirs(folder, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write the profile {path}: {folder} is a file, not a folder") from None
    except OSError as exc:
        raise OutputError(f"cannot write the profile {path}: cannot make the folder {folder}: "
                          f"{exc.strerror}") from None
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write the profile {path}: {folder} is not a folder")
    if os.path.isdir(path):
        raise OutputError(f"cannot write the profile {path}: it is a folder")
    if not os.access(folder, os.W_OK | os.X_OK) and not (os.path.exists(path) and os.access(path, os.W_OK)):
        raise OutputError(f"cannot write the profile {path}: the folder {folder} is not writable")
    return path


def write(entry: dict) -> str:
    """Write the profile atomically; the path written."""
    import yaml

    from .errors import OutputError
    from .output import write_text

    folder = config_dir()
    path = os.path.join(folder, PROFILE)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write the profile {path}: {exc.strerror}") from None
    write_text(path, "# written by 'cnncost calibrate'; '--device local' reads it (docs/latency.md)\n"
               + yaml.safe_dump({"devices": {"local": entry}}, sort_keys=False))
    return path
