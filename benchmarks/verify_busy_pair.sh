#!/usr/bin/env bash
# Wall-time A/A "with the other core busy", both function sizes at once: two runs of
# verify_power.py, one per size, side by side on the 2 cores, so that each one's other core
# is kept busy by the other run (its measuring processes and its bootstrap). When one run
# ends first, a spinning process takes its place until the other one ends.
#
#   benchmarks/verify_busy_pair.sh [REPS]      # default 40 A/A repetitions per size
#
# Results: benchmarks/results/verify_power-DATE-busy-{small,large}.json
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
reps=${1:-40}
out=benchmarks/results/verify_power-$(date -u +%F)-busy
run() {
  "$py" benchmarks/verify_power.py --sizes "$1" --reps 0 --ab-reps 0 --large-reps 0 \
    --large-ab-reps 0 --busy --busy-reps "$reps" --busy-sizes "$1" --instr-sizes "" \
    --busy-external "verify_power.py measuring the other size alongside (verify_busy_pair.sh)" \
    --seed "$2" --out "$out-$1.json"
}
run small 31 &
small=$!
run large 32 &
large=$!
status=0
wait -n "$small" "$large" || status=$?
"$py" -c "while True: pass" &
spinner=$!
trap 'kill "$spinner" 2>/dev/null || true' EXIT
echo "$(date -u +%T) one size finished (exit $status): a spinner keeps its core busy" >&2
wait "$small" || status=$?
wait "$large" || status=$?
exit "$status"
