#!/usr/bin/env bash
# Peak memory of drkit on one million small files: initial sync, no-change
# sync and verify, each measured by /usr/bin/time's maximum resident set
# size (%M, KB), which counts the whole process including SQLite's cache.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED_BENCH:-$HERE/../../shared/bench}
DATA=${MANY_DATA:-/tmp/drkit-many}
OUTDIR=${BENCH_OUT:-/tmp/drkit-bench}
DRKIT=${DRKIT:-$HERE/../target/release/drkit}
FILES=${FILES:-1000000}
OUT=$OUTDIR/many.jsonl
M="python3 $SHARED/measure.py --out $OUT"
mkdir -p "$OUTDIR"
[ -d "$DATA/src" ] || python3 "$HERE/gen_many.py" "$DATA/src" --files "$FILES"
cat > "$DATA/drkit.toml" <<CONF
[site]
name = "many"
data_dir = "$DATA/data"
report_dir = "$DATA/reports"
language = "en"

[[sync]]
name = "many"
source = "$DATA/src"
target = "$DATA/dst"
keep_versions = 1
CONF
$M --group mem --name "m. drkit sync initial, $FILES files" --runs 1 \
   --prepare "rm -rf $DATA/dst $DATA/data $DATA/.drkit-versions && sync" -- "$DRKIT --config $DATA/drkit.toml sync"
$M --group mem --name "m. drkit sync no change, $FILES files" --runs 3 -- "$DRKIT --config $DATA/drkit.toml sync"
$M --group mem --name "m. rsync -a no change, $FILES files" --runs 3 -- "rsync -a $DATA/src/ $DATA/dst/"
$M --group mem --name "m. drkit verify, $FILES files" --runs 1 -- "$DRKIT --config $DATA/drkit.toml verify"
python3 "$HERE/summarize.py" "$OUT"
