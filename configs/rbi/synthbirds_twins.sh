#!/usr/bin/env bash
# Same-budget SynthBirds twins of the baseline and RBI variants (README,
# "SynthBirds"), several in parallel. Each line of VARIANTS is
# "name config extra-cfg-options"; every variant runs for every seed in
# SEEDS. The final test top-1 (memory test mode for RBI) is read from the
# last validation, run on the test split; one line per run is appended to
# $OUT/results.txt. Environment: SEEDS, JOBS (runs at a time), WORKERS
# (data workers per run), PY (python executable), OUT, LOGS (logs and work
# dirs, default $OUT), VARIANTS (default: the baseline and the default RBI;
# write config paths in full). From the repository root:
#   SEEDS="0 1 2" JOBS=8 OUT=/tmp/rbi_twins bash configs/rbi/synthbirds_twins.sh
set -u
SEEDS=${SEEDS:-"0 1"}
JOBS=${JOBS:-2}
OUT=${OUT:-/tmp/rbi_twins}  # results.txt; logs and work dirs under LOGS
LOGS=${LOGS:-$OUT}
WORKERS=${WORKERS:-2}
PY=${PY:-python}
TWIN="model.backbone.base_channels=32 model.head.in_channels=256 \
train_cfg.max_epochs=20 param_scheduler.0.T_max=20 param_scheduler.0.end=20 \
val_dataloader.dataset.split=test train_dataloader.num_workers=$WORKERS \
val_dataloader.num_workers=$WORKERS \
default_hooks.checkpoint.interval=100 default_hooks.checkpoint.save_best=None"
B=configs/baseline/resnet18_synthbirds.py
R=configs/rbi/rbi_r18_synthbirds.py
N="model.neck.in_channels=256"
VARIANTS=${VARIANTS:-"baseline $B
rbi $R $N"}
mkdir -p "$OUT" "$LOGS"
jobs_list() {  # seed-major: an interrupted sweep stays balanced
  for s in $SEEDS; do
    while read -r name cfg extra; do
      [ -z "$name" ] && continue
      echo "$name $s $cfg${extra:+ $extra}"
    done <<< "$VARIANTS"
  done
}
run_one() {
  name=$1; seed=$2; cfg=$3; shift 3
  OMP_NUM_THREADS=1 $PY tools/train.py "$cfg" \
    --work-dir "$LOGS/work/${name}_s$seed" --cfg-options $TWIN \
    randomness.seed=$seed "$@" > "$LOGS/${name}_s$seed.log" 2>&1
  acc=$(grep 'Epoch(val) \[20\]' "$LOGS/${name}_s$seed.log" |
        sed -n 's/.*accuracy\/top1: \([0-9.]*\).*/\1/p' | tail -1)
  loss=$(grep 'Epoch(train) \[20\]' "$LOGS/${name}_s$seed.log" |
         sed -n 's/.* loss: \([0-9.]*\).*/\1/p' | tail -1)
  echo "$name seed=$seed test_top1=${acc:-FAIL} last_train_loss=${loss:-?}" \
    | tee -a "$OUT/results.txt"
}
export -f run_one
export TWIN OUT LOGS PY
jobs_list | xargs -P "$JOBS" -L 1 bash -c 'run_one "$@"' _
