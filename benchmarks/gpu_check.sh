#!/usr/bin/env bash
# One call on a lent GPU machine checks everything cnncost computes differently on CUDA, in at most 8 minutes:
#   1. cnncost validate --all --device cuda                       (every figure of every zoo model, in torch)
#   2. cnncost validate --all --memory --smallest-input --device cuda
#      (saved_tensors_hooks on CUDA: the byte dropout mask, cuDNN batch norm's saves)
#   3. training memory against torch.cuda.max_memory_allocated, 12 models at batch 32, with the CUDA context,
#      the allocator's slack and cuDNN's workspaces measured apart (benchmarks/gpu_check.py memory)
#   4. roofline latency against CUDA-event timings, 12 models at batch 1 and 64, float32 and bfloat16
#      (benchmarks/gpu_check.py latency)
# The machine is bare and offline: its python3 has torch (CUDA), torchvision, timm, click, rich and PyYAML;
# cnncost is installed with pip install --no-deps --no-build-isolation . and nothing else.
# Each step has its own time limit; one that fails or runs out is recorded and the rest still run.
# Output, under $OUT (default ./gpu_check_out): one JSON file per step, steps.json (each step's exit status and
# seconds) and summary.txt.
#
#   bash benchmarks/gpu_check.sh             # on the GPU machine, from the repository root
#   bash benchmarks/gpu_check.sh --dry-run   # on any CPU machine: the same steps, two models each, on the CPU,
#                                            # cnncost from this checkout (PYTHONPATH), nothing installed
set -u
cd "$(dirname "$0")/.."
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
OUT="${OUT:-$PWD/gpu_check_out}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
STEPS="$OUT/steps.json"
echo "[" > "$STEPS"
FIRST=1

step() {  # step NAME SECONDS COMMAND...: run it under a time limit, record its status and time
    local name=$1 limit=$2
    shift 2
    local start end status
    start=$(date +%s)
    timeout --kill-after=5 "$limit" "$@" > "$OUT/$name.log" 2>&1
    status=$?
    end=$(date +%s)
    [ $FIRST -eq 1 ] || echo "," >> "$STEPS"
    FIRST=0
    printf '  {"step": "%s", "exit_status": %d, "seconds": %d, "timed_out": %s}' "$name" "$status" \
        $((end - start)) "$([ $status -eq 124 ] || [ $status -eq 137 ] && echo true || echo false)" >> "$STEPS"
    echo "$name: exit $status in $((end - start)) s" | tee -a "$OUT/summary.txt"
}

: > "$OUT/summary.txt"
if [ $DRY -eq 1 ]; then
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    DEVICE=cpu
    MODELS=(alexnet resnet18)
    echo "dry run: on the CPU, models ${MODELS[*]}; these are not GPU figures" | tee -a "$OUT/summary.txt"
else
    DEVICE=cuda
    MODELS=(--all)
    step install 30 "$PY" -m pip install --no-deps --no-build-isolation --no-index .
    "$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" \
        | tee -a "$OUT/summary.txt"
fi

step validate 140 "$PY" -m cnncost validate "${MODELS[@]}" --device "$DEVICE" --format json -o "$OUT/validate.json"
step validate_memory 90 "$PY" -m cnncost validate "${MODELS[@]}" --memory --smallest-input --device "$DEVICE" \
    --format json -o "$OUT/validate_memory.json"
step training_memory 90 "$PY" benchmarks/gpu_check.py memory --out "$OUT" $([ $DRY -eq 1 ] && echo --dry-run)
step latency 90 "$PY" benchmarks/gpu_check.py latency --out "$OUT" $([ $DRY -eq 1 ] && echo --dry-run)
echo "" >> "$STEPS"
echo "]" >> "$STEPS"

# the summary: what passed, and the figures to record in docs/validation.md and docs/memory.md
"$PY" - "$OUT" <<'EOF' | tee -a "$OUT/summary.txt"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
def load(name):
    path = out / name
    return json.loads(path.read_text()) if path.exists() else None
for name in ("validate.json", "validate_memory.json"):
    data = load(name)
    if data is None:
        print(f"{name}: not written")
        continue
    models = data.get("models", [])
    bad = [m["model"] for m in models if not m.get("ok", False)]
    print(f"{name}: {len(models)} models, {len(models) - len(bad)} agree" + (f"; not: {', '.join(bad)}" if bad else ""))
memory = load("memory.json")
if memory:
    print(f"training memory on {memory['device']}: CUDA context {memory['cuda_context_bytes']} bytes")
    for m in memory["models"]:
        print("  " + ", ".join(f"{k} {v}" for k, v in m.items()))
latency = load("latency.json")
if latency:
    print(f"latency on {latency['device']} against the device table's {latency['device_table_entry']}:")
    for r in latency["rows"]:
        print("  " + ", ".join(f"{k} {v}" for k, v in r.items()))
EOF
