#!/usr/bin/env bash
# One GPU session of benchmarks/train_step.py: the runs behind docs/performance.rst, "On a GPU".
#
# Run from the repository root on a machine with an NVIDIA GPU, JAX and PyTorch (and no
# TensorFlow: the project side runs on Keras's JAX backend).  Keras and its two small
# dependencies may come as wheels in .whl/ (a machine without network access; NO_WHEELS=1
# ignores them).
#
#   bash benchmarks/gpu_session.sh OUT_DIR [quick]
#
# Writes OUT_DIR/log.txt (every table) and OUT_DIR/results.jsonl (one JSON report per run,
# rewritten after each run so that a cut-off session keeps what it measured).
set -u
out=${1:?usage: gpu_session.sh OUT_DIR [quick]}
mode=${2:-full}
mkdir -p "$out"
if [ -z "${NO_WHEELS:-}" ] && compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/gruvsynth-site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/gruvsynth-site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/gruvsynth-jax-cache}
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
json=$(mktemp -d)
log="$out/log.txt"
n=0

bench() {  # bench ARGS...: one benchmark run, its table to the log, its JSON collected
    n=$((n + 1))
    echo "### $(date -u +%H:%M:%S) train_step.py $*" | tee -a "$log"
    timeout 240 python3 benchmarks/train_step.py "$@" --json "$json/$(printf %02d $n).json" \
        2>&1 | grep -v -e '^I0000' -e 'All log messages before' | tee -a "$log"
    python3 -c 'import glob, json, sys
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    print(json.dumps(json.load(open(f))))' "$json" > "$out/results.jsonl.tmp" \
        && mv "$out/results.jsonl.tmp" "$out/results.jsonl"
}

{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
    python3 -c 'import jax, keras, torch, numpy; print("jax", jax.__version__, jax.devices(),
"keras", keras.__version__, "torch", torch.__version__, "numpy", numpy.__version__)'
} 2>&1 | grep -v -e '^I0000' -e 'All log messages before' | tee -a "$log"

C=${CONFIG:-paper}  # CONFIG=tiny: a dry run of this script
# 40 steps per round = 2 calls of 20 steps; the check runs use the same call size, so the
# persistent compilation cache serves them the timing runs' compiled steps
P="--config $C --rounds 5 --steps 40 --steps-per-call 20"
L="--config $C --cell lstm --check-loss 200 --steps 40 --steps-per-call 20"
# What gruvsynth train does on a GPU: precision auto (tf32), resident feed
bench $P --cell lstm
bench $P --cell lstm --unroll 8
bench $P --cell lstm --precision bfloat16
bench $P --cell gru
bench $L --precision tf32
bench $L --precision bfloat16
bench $P --cell lstm --precision float32
[ "$mode" = quick ] && exit 0
bench --config $C --rounds 3 --steps 8 --cell lstm --feed stream
bench $P --cell lstm --representation rfft
bench $P --cell gru --precision bfloat16
