#!/usr/bin/env bash
# fp32 vs bf16 accuracy parity of the quick start: for each seed, train (deterministic) and test in
# fp32, then with --amp, through tools/train.py + tools/test.py; prints every run's clean-test
# accuracy and mean ± sample standard deviation per precision (docs/benchmark.md#accuracy-parity).
#
#   bash tools/analysis_tools/amp_parity.sh                      # the full quick start, seeds 0 1 2
#   SEEDS="0 1 2 3" OUT=work_dirs/parity bash tools/analysis_tools/amp_parity.sh
#   EXTRA="train_dataloader.dataset.num_samples=1600 train_cfg.max_epochs=2" bash ...  # reduced
#
# Environment: CONFIG (configs/quickstart/resnet18_synthfer.py), SEEDS ("0 1 2"),
# OUT (work_dirs/amp_parity), EXTRA (more --cfg-options for train and test), PYTHON (python).
# Runs whose metrics.json exists are skipped (re-running the script resumes a sweep).
set -euo pipefail
cd "$(dirname "$0")/../.."
CONFIG=${CONFIG:-configs/quickstart/resnet18_synthfer.py}
SEEDS=${SEEDS:-0 1 2}
OUT=${OUT:-work_dirs/amp_parity}
EXTRA=${EXTRA:-}
PYTHON=${PYTHON:-python}
mkdir -p "$OUT"

for seed in $SEEDS; do
  for prec in fp32 bf16; do
    work="$OUT/${prec}_s${seed}"
    [ -f "$work/metrics.json" ] && continue
    amp=()
    [ "$prec" = bf16 ] && amp=(--amp)
    # shellcheck disable=SC2086  # EXTRA is a list of key=value words
    opts=(randomness.seed="$seed" randomness.deterministic=True $EXTRA)
    start=$(date +%s)
    "$PYTHON" tools/train.py "$CONFIG" "${amp[@]}" --work-dir "$work" --cfg-options "${opts[@]}" \
      > "$work.train.log" 2>&1 || { echo "training failed, see $work.train.log"; exit 1; }
    mid=$(date +%s)
    "$PYTHON" tools/test.py "$CONFIG" latest "${amp[@]}" --work-dir "$work" --cfg-options "${opts[@]}" \
      > "$work.test.log" 2>&1 || { echo "testing failed, see $work.test.log"; exit 1; }
    end=$(date +%s)
    echo "{\"train_s\": $((mid - start)), \"test_s\": $((end - mid))}" > "$work/time.json"
    echo "$prec seed $seed: train $((mid - start)) s, test $((end - mid)) s"
  done
done

"$PYTHON" - "$OUT" $SEEDS <<'EOF'
import json, os.path as osp, statistics, sys

out, seeds = sys.argv[1], sys.argv[2:]
for prec in ('fp32', 'bf16'):
    accs, times = [], []
    for s in seeds:
        work = osp.join(out, f'{prec}_s{s}')
        accs.append(json.load(open(osp.join(work, 'metrics.json')))['accuracy'])
        if osp.isfile(osp.join(work, 'time.json')):
            times.append(json.load(open(osp.join(work, 'time.json')))['train_s'])
    sd = statistics.stdev(accs) if len(accs) > 1 else float('nan')
    t = f', train {statistics.mean(times):.0f} s per run' if times else ''
    print(f'{prec}: accuracy {" ".join(f"{a:.2f}" for a in accs)} -> mean {statistics.mean(accs):.2f} '
          f'± {sd:.2f} (sample sd, {len(accs)} seeds){t}')
EOF
