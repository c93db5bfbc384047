#!/usr/bin/env bash
# drkit sync to a peer over SSH against `rsync -a` over the same sshd, on
# the tree of ../shared/bench/gen_tree.py (50,000 files, 2.7 GB). It times
# the initial copy, a no-change re-run, a re-run after the 1% mutation, and
# a 4 KiB in-place edit in the middle of the 450 MB SQL dump. Runs
# alternate between the tools. Both use the same sshd on 127.0.0.1:2222 (../shared/bench/
# sshd_loopback.sh), the same cipher (aes128-gcm@openssh.com, which drkit
# prefers) and the same key exchange (curve25519-sha256, which libssh2
# picks). Per-run records go to $BENCH_OUT/ssh.jsonl (rsync's bytes come
# from --stats) and drkit's JSON summaries (bytes_sent) to
# $BENCH_OUT/ssh-drkit/*.json; `python3 bench/summarize_ssh.py` prints both.
#
# PHASE=e runs only the large-file edits.
#
# Needs: the tree in $DATA/src and an untouched copy in $DATA/pristine,
# rsync, openssh-server, /usr/bin/time, and a release build of drkit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED_BENCH:-$HERE/../../shared/bench}
DATA=${ANCHORS_DATA:-/tmp/anchors}
OUTDIR=${BENCH_OUT:-/tmp/drkit-bench}
RUNS=${RUNS:-3}
DRKIT=${DRKIT:-$HERE/../target/release/drkit}
SRC=$DATA/src PRIS=$DATA/pristine DRS=$DATA/dst-ssh DDR=$DATA/dst-drkit-ssh
VERS=$DATA/.drkit-versions
SSHDIR=$DATA/ssh
CFG=$OUTDIR/drkit-ssh.toml OUT=$OUTDIR/ssh.jsonl JSONS=$OUTDIR/ssh-drkit
STATE=$OUTDIR/ssh-data AGENT=$OUTDIR/ssh-agent
M="python3 $SHARED/measure.py --out $OUT"
RSH="ssh -F $SSHDIR/ssh_config -c aes128-gcm@openssh.com -o KexAlgorithms=curve25519-sha256"
SQL=backups/wp_main-2024-06-01.sql

[ -d "$PRIS" ] || { echo "missing $PRIS: generate the tree and copy it first (see bench/README.md)"; exit 1; }
mkdir -p "$OUTDIR" "$JSONS"
"$SHARED/sshd_loopback.sh" start
cat > "$CFG" <<CONF
[site]
name = "bench-ssh"
data_dir = "$STATE"
report_dir = "$OUTDIR/ssh-reports"
language = "en"

[nodes.peer]
address = "127.0.0.1"
port = 2222
user = "root"
key = "$SSHDIR/client_ed25519"
known_hosts = "$SSHDIR/known_hosts"
agent = "$DRKIT agent --root $DATA --state $AGENT"

[[sync]]
name = "tree"
source = "$SRC"
peer = "peer"
target = "$DDR"
keep_versions = 3
CONF

echo "restoring $SRC to the original tree"
rsync -a --delete "$PRIS/" "$SRC/"
B=$(find "$SRC" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
find "$SRC" -type f -print0 | xargs -0 cat > /dev/null
DR="$DRKIT --config $CFG sync --json tree"
TRASH=$DATA/.bench-trash
mkdir -p "$TRASH"
# Old versions are moved aside, not deleted, so their deletion is not
# charged to a timed run (see local.sh).
HIDE_VERSIONS="{ [ ! -d $VERS ] || mv $VERS $TRASH/\$(date +%s%N); }"

# PHASE=e runs only the large-file edits, after one untimed sync of each tool.
if [ "${PHASE:-all}" != e ]; then
for i in $(seq "$RUNS"); do
  $M --group a-ssh --name "a. rsync -a initial, ssh" --runs 1 --bytes "$B" \
     --prepare "rm -rf $DRS && mkdir -p $DRS && sync" -- "rsync -a --stats -e '$RSH' $SRC/ 127.0.0.1:$DRS/"
  $M --group a-ssh --name "a. drkit sync initial, ssh" --runs 1 --bytes "$B" --keep-output "$JSONS/a-$i.json" \
     --prepare "rm -rf $DDR $STATE $AGENT && $HIDE_VERSIONS && sync" -- "$DR"
done
rm -rf "$OUTDIR/ssh-snapshot" && mkdir -p "$OUTDIR/ssh-snapshot"
cp -a "$STATE" "$OUTDIR/ssh-snapshot/data" && cp -a "$AGENT" "$OUTDIR/ssh-snapshot/agent"

for i in $(seq "$RUNS"); do
  $M --group b-ssh --name "b. rsync -a no change, ssh" --runs 1 --warmup 1 -- "rsync -a --stats -e '$RSH' $SRC/ 127.0.0.1:$DRS/"
  $M --group b-ssh --name "b. drkit sync no change, ssh" --runs 1 --warmup 1 --keep-output "$JSONS/b-$i.json" -- "$DR"
done

python3 "$SHARED/mutate_tree.py" "$SRC" --manifest "$OUTDIR/ssh-mutate-manifest.json"
find "$SRC" -type f -print0 | xargs -0 cat > /dev/null
RESET_D_DRKIT="rsync -a --delete $PRIS/ $DDR/ && $HIDE_VERSIONS && rm -rf $STATE $AGENT && cp -a $OUTDIR/ssh-snapshot/data $STATE && cp -a $OUTDIR/ssh-snapshot/agent $AGENT && sync"
for i in $(seq "$RUNS"); do
  $M --group d-ssh --name "d. rsync -a --delete after mutate, ssh" --runs 1 \
     --prepare "rsync -a --delete $PRIS/ $DRS/ && sync" -- "rsync -a --delete --stats -e '$RSH' $SRC/ 127.0.0.1:$DRS/"
  $M --group d-ssh --name "d. drkit sync after mutate, ssh" --runs 1 --keep-output "$JSONS/d-$i.json" \
     --prepare "$RESET_D_DRKIT" -- "$DR"
done

fi
if [ "${PHASE:-all}" = e ]; then
  rsync -a --delete -e "$RSH" "$SRC/" "127.0.0.1:$DRS/" && $DR > /dev/null
fi

# e. One 4 KiB in-place edit (same size, new mtime) in the middle of the
# 450 MB dump, a different one per round; both tools carry the same edit.
for i in $(seq "$RUNS"); do
  python3 - "$SRC/$SQL" "$i" <<'PY'
import os, random, sys
path, seed = sys.argv[1], int(sys.argv[2])
size = os.path.getsize(path)
rnd = random.Random(seed)
offset = size // 2 + rnd.randrange(0, 1 << 20)
with open(path, "r+b") as f:
    f.seek(offset)
    f.write(bytes(rnd.randrange(32, 127) for _ in range(4096)))
st = os.stat(path)
os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
PY
  $M --group e-ssh --name "e. rsync -a, 4 KiB edit in a 450 MB file, ssh" --runs 1 -- "rsync -a --stats -e '$RSH' $SRC/ 127.0.0.1:$DRS/"
  $M --group e-ssh --name "e. drkit sync, 4 KiB edit in a 450 MB file, ssh" --runs 1 --keep-output "$JSONS/e-$i.json" -- "$DR"
done

$DRKIT --config "$CFG" verify tree
rm -rf "$TRASH"
echo "restoring $SRC to the original tree"
rsync -a --delete "$PRIS/" "$SRC/"
python3 "$HERE/summarize_ssh.py" "$OUT" "$JSONS"
