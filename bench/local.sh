#!/usr/bin/env bash
# drkit sync/verify against rsync with a local destination, on the tree of
# ../shared/bench/gen_tree.py (50,000 files, 2.7 GB). Runs alternate between
# the tools (rsync, drkit, rsync, drkit, ...) because write-heavy runs are
# noisy on this VM. Appends per-run records to $BENCH_OUT/local.jsonl;
# `python3 bench/summarize.py $BENCH_OUT/local.jsonl` prints the table.
#
# Needs: the tree in $DATA/src and an untouched copy in $DATA/pristine
# (gen_tree.py, then `rsync -a src/ pristine/`), rsync, b3sum, /usr/bin/time,
# and a release build of drkit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED_BENCH:-$HERE/../../shared/bench}
DATA=${ANCHORS_DATA:-/tmp/anchors}
OUTDIR=${BENCH_OUT:-/tmp/drkit-bench}
RUNS=${RUNS:-5}
DRKIT=${DRKIT:-$HERE/../target/release/drkit}
SRC=$DATA/src PRIS=$DATA/pristine DLOC=$DATA/dst-local DDR=$DATA/dst-drkit
VERS=$DATA/.drkit-versions
CFG=$OUTDIR/drkit.toml OUT=$OUTDIR/local.jsonl
M="python3 $SHARED/measure.py --out $OUT"

[ -d "$PRIS" ] || { echo "missing $PRIS: generate the tree and copy it first (see bench/README.md)"; exit 1; }
mkdir -p "$OUTDIR"
cat > "$CFG" <<CONF
[site]
name = "bench"
data_dir = "$OUTDIR/data"
report_dir = "$OUTDIR/reports"
language = "en"

[[sync]]
name = "tree"
source = "$SRC"
target = "$DDR"
keep_versions = 3
CONF

echo "restoring $SRC to the original tree"
rsync -a --delete "$PRIS/" "$SRC/"
B=$(find "$SRC" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
find "$SRC" -type f -print0 | xargs -0 cat > /dev/null

# PHASE=d runs only the re-runs after the 1% change, reusing the state
# snapshot that a full run left in $OUTDIR/data-snapshot.
if [ "${PHASE:-all}" != d ]; then
RESET_DRKIT="rm -rf $DDR $VERS $OUTDIR/data && sync"
for i in $(seq "$RUNS"); do
  $M --group a-local --name "a. rsync -a initial, local" --runs 1 --bytes "$B" \
     --prepare "rm -rf $DLOC && mkdir -p $DLOC && sync" -- "rsync -a $SRC/ $DLOC/"
  $M --group a-local --name "a. drkit sync initial, local" --runs 1 --bytes "$B" \
     --prepare "$RESET_DRKIT" -- "$DRKIT --config $CFG sync"
done

$DRKIT --config "$CFG" verify >/dev/null
rm -rf "$OUTDIR/data-snapshot" && cp -a "$OUTDIR/data" "$OUTDIR/data-snapshot"

for i in $(seq "$RUNS"); do
  $M --group b-local --name "b. rsync -a no change, local" --runs 1 --warmup 1 -- "rsync -a $SRC/ $DLOC/"
  $M --group b-local --name "b. drkit sync no change, local" --runs 1 --warmup 1 -- "$DRKIT --config $CFG sync"
done

(cd "$SRC" && find . -type f -print0 | sort -z) > "$OUTDIR/filelist0"
FLOOR="cd $SRC && xargs -0 -a $OUTDIR/filelist0 -P2 -n500 b3sum --num-threads 1 >/dev/null && cd $DDR && xargs -0 -a $OUTDIR/filelist0 -P2 -n500 b3sum --num-threads 1 >/dev/null"
for i in $(seq "$RUNS"); do
  $M --group c-local --name "c. rsync -a -c no change, local" --runs 1 --warmup 1 -- "rsync -a -c $SRC/ $DLOC/"
  $M --group c-local --name "c. drkit verify, local" --runs 1 --warmup 1 -- "$DRKIT --config $CFG verify"
  $M --group c-local --name "c. b3sum floor: both trees, 2 procs" --runs 1 --warmup 1 -- "$FLOOR"
done
fi
[ -d "$OUTDIR/data-snapshot" ] || { echo "missing $OUTDIR/data-snapshot: run without PHASE=d first"; exit 1; }

python3 "$SHARED/mutate_tree.py" "$SRC" --manifest "$OUTDIR/mutate-manifest.json"
find "$SRC" -type f -print0 | xargs -0 cat > /dev/null
# The versions of earlier runs are moved aside rather than deleted. On this
# VM's ext4, creating inodes right after deleting many was slow, because the
# allocator skips recently deleted ones (seen with perf). Deleting here would
# charge the prepare step's deletions to the timed run. The end deletes them.
TRASH=$DATA/.bench-trash
mkdir -p "$TRASH"
RESET_D_DRKIT="rsync -a --delete $PRIS/ $DDR/ && { [ ! -d $VERS ] || mv $VERS $TRASH/\$(date +%s%N); } && rm -rf $OUTDIR/data && cp -a $OUTDIR/data-snapshot $OUTDIR/data && sync"
for i in $(seq "$RUNS"); do
  $M --group d-local --name "d. rsync -a --delete after mutate, local" --runs 1 \
     --prepare "rsync -a --delete $PRIS/ $DLOC/ && sync" -- "rsync -a --delete $SRC/ $DLOC/"
  $M --group d-local --name "d. drkit sync after mutate, local" --runs 1 \
     --prepare "$RESET_D_DRKIT" -- "$DRKIT --config $CFG sync"
done
# Steady state: earlier versions stay, so every run also prunes the oldest.
RESET_D_KEEP="rsync -a --delete $PRIS/ $DDR/ && rm -rf $OUTDIR/data && cp -a $OUTDIR/data-snapshot $OUTDIR/data && sync"
for i in 1 2 3; do   # fill keep_versions = 3, so each timed run prunes one
  bash -c "$RESET_D_KEEP" && $DRKIT --config "$CFG" sync >/dev/null
done
for i in $(seq "$RUNS"); do
  $M --group d-local --name "d'. drkit sync after mutate, local, pruning a version" --runs 1 \
     --prepare "$RESET_D_KEEP" -- "$DRKIT --config $CFG sync"
done
$DRKIT --config "$CFG" verify
rm -rf "$TRASH"

echo "restoring $SRC to the original tree"
rsync -a --delete "$PRIS/" "$SRC/"
python3 "$HERE/summarize.py" "$OUT"
