#!/usr/bin/env bash
# Replication lag (RPO) under a steady load of small writes: drkit-watch
# (which runs `drkit watch`) to a local replica and to a peer over SSH, and
# lsyncd (rsync mode, delay 0) over the same sshd without and with SSH
# connection sharing.
#
# For every configuration the replicator is started, its first sync is
# awaited, and bench/rpo_lag.py writes one file of 300 bytes every 100 ms
# for SECONDS_ seconds (default 60, so 600 files) into a probe folder inside
# the source while it polls the replica every 5 ms. A file's lag is the
# first moment it is readable there with its full content minus the moment
# its write was closed. Each configuration appends one JSON record to
# $BENCH_OUT/rpo.jsonl.
#
# lsyncd runs through ../shared/bench/lsyncd_latency.py (its own writer and
# poller, with the same size, rate and poll period; it waits for the file
# name to appear, which rsync creates only when the content is complete).
#
# The probe folders and their replicas are removed afterwards and the
# mtime of the probe's parent folder is put back, so the source tree ends
# as the script found it. Every watcher is stopped by its PID.
#
# Environment: DATA (default /tmp/anchors), SRC (default $DATA/src),
# BENCH_OUT (default /tmp/drkit-bench), DRKIT (the drkit binary), SECONDS_
# (length of each window, default 60), DEBOUNCES (the debounce settings to
# try, default "0.005", drkit watch's default),
# TESTS (default "local ssh lsyncd"), KEEP_VERSIONS (default 7, drkit's
# default), RUN (a number stored in each record, default 1), LSYNCD_DST
# (lsyncd's replica, default $DATA/dst-ssh), RAW_OUT (where raw copies go,
# default bench/raw).
# Needs: inotify-tools, jq, lsyncd, openssh-server, python3, sqlite3,
# /usr/bin/time, and the loopback sshd of ../shared/bench/sshd_loopback.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED_BENCH:-$HERE/../../shared/bench}
DATA=${DATA:-/tmp/anchors}
SRC=${SRC:-$DATA/src}
SSHDIR=${SSHDIR:-/tmp/anchors/ssh}
OUTDIR=${BENCH_OUT:-/tmp/drkit-bench}
DRKIT=${DRKIT:-$HERE/../target/release/drkit}
WINDOW=${SECONDS_:-60}
DEBOUNCES=${DEBOUNCES:-0.005}
TESTS=${TESTS:-local ssh lsyncd}
KEEP_VERSIONS=${KEEP_VERSIONS:-7}
PROBE_REL=sites/site-00/public_html/wp-content/uploads/rpo-probe
WORK=$OUTDIR/rpo
OUT=$OUTDIR/rpo.jsonl
RAW=${RAW_OUT:-$HERE/raw}
LAG="python3 $HERE/rpo_lag.py --seconds $WINDOW --interval 0.1 --poll 0.005 --size 300 --out $OUT"

PROBE_PARENT=$SRC/$(dirname "$PROBE_REL")
[ -d "$PROBE_PARENT" ] || { echo "missing $PROBE_PARENT: generate the tree first (see bench/README.md)"; exit 1; }
mkdir -p "$WORK" "$RAW"
PARENT_MTIME=$(stat -c %Y "$PROBE_PARENT")

watcher_pid=""
replicas=()

stop_watcher() {
    if [ -n "$watcher_pid" ]; then
        kill -TERM "$watcher_pid" 2>/dev/null || true
        # drkit-watch waits for a running sync before it exits.
        for _ in $(seq 300); do kill -0 "$watcher_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$watcher_pid" 2>/dev/null && kill -KILL "$watcher_pid"
        wait "$watcher_pid" 2>/dev/null || true
        watcher_pid=""
    fi
}

# Removes the probe folder from the source and every replica, and puts the
# source parent's mtime back.
remove_probes() {
    rm -rf "$SRC/$PROBE_REL"
    touch -m -d "@$PARENT_MTIME" "$PROBE_PARENT"
    local replica
    for replica in "${replicas[@]}"; do
        rm -rf "${replica:?}/$PROBE_REL"
    done
}

cleanup() {
    stop_watcher
    remove_probes
}
trap cleanup EXIT

# Writes the drkit config of test $1 (local or ssh) and prints its path.
write_config() {
    local test=$1 config=$WORK/$1.toml
    local target=$DATA/dst-rpo-$test
    {
        cat <<CONF
[site]
name = "bench-rpo-$test"
data_dir = "$WORK/$test-data"
report_dir = "$WORK/$test-reports"
language = "en"

CONF
        if [ "$test" = ssh ]; then
            cat <<CONF
[nodes.peer]
address = "127.0.0.1"
port = 2222
user = "root"
key = "$SSHDIR/client_ed25519"
known_hosts = "$SSHDIR/known_hosts"
agent = "$DRKIT agent --root $DATA --state $WORK/agent-state"

CONF
        fi
        cat <<CONF
[[sync]]
name = "tree"
source = "$SRC"
target = "$target"
versions_dir = "$DATA/.rpo-versions/$test"
keep_versions = $KEEP_VERSIONS
CONF
        [ "$test" = ssh ] && echo 'peer = "peer"'
    } > "$config"
    echo "$config"
}

# Waits until file $1 on the replica has the content of file $2, at most 300 s.
await_copy() {
    for _ in $(seq 6000); do
        cmp -s "$1" "$2" && return 0
        sleep 0.05
    done
    echo "timed out waiting for $1"
    return 1
}

run_drkit_watch() {
    local test=$1 config target
    config=$(write_config "$test")
    target=$DATA/dst-rpo-$test
    replicas+=("$target")
    echo "[$test] initial sync of $SRC to $target"
    /usr/bin/time -f "[$test] initial sync: wall %e s" "$DRKIT" --config "$config" sync tree >/dev/null
    local debounce label log marker
    for debounce in $DEBOUNCES; do
        label="drkit-watch $test, debounce $debounce s"
        log=$WORK/watch-$test-$debounce.log
        remove_probes
        mkdir -p "$SRC/$PROBE_REL"
        DRKIT_BIN=$DRKIT "$HERE/../cron/drkit-watch" --config "$config" --debounce "$debounce" tree >"$log" 2>&1 &
        watcher_pid=$!
        # The watcher syncs once when its watches are set; the marker shows
        # that this first sync has reached the replica.
        marker=$SRC/$PROBE_REL/ready
        date +%s%N > "$marker"
        await_copy "$target/$PROBE_REL/ready" "$marker"
        sleep 1
        local db=$WORK/$test-data/drkit.db last_id
        last_id=$(sqlite3 "$db" "SELECT coalesce(max(id), 0) FROM results")
        echo "[$label] measuring for $WINDOW s"
        $LAG --label "$label" "$SRC/$PROBE_REL" "$target/$PROBE_REL" || echo "[$label] some files did not arrive"
        stop_watcher
        remove_probes
        add_sync_stats "$label" "$db" "$last_id" "$test" "$debounce" && tail -1 "$OUT"
        cp "$log" "$RAW/rpo-watch-$test-$debounce-keep$KEEP_VERSIONS-run${RUN:-1}.log"
    done
}

# Adds to the last record of $OUT, when it is the record of test $1, the
# settings ($4 test, $5 debounce) and the syncs drkit made during the
# measured window. Their number and durations come from the "sync
# finished" lines of drkit.log beside database $2, because drkit watch
# records the batches of one minute as one result. It also adds the longest
# delay drkit itself measured (end of a batch minus the newest change it
# carried) among the results after id $3.
add_sync_stats() {
    python3 - "$OUT" "$@" "$KEEP_VERSIONS" <<'PY'
import datetime, json, os, re, sqlite3, statistics, sys
path, label, db, last_id, test, debounce, keep = sys.argv[1:]
lines = open(path).read().splitlines()
record = json.loads(lines[-1])
if record["test"] != label:
    sys.exit("rpo.sh: no record of %s in %s, so its sync statistics are not written" % (label, path))
def instant(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
start = instant(record["started_at"])
end = start + datetime.timedelta(seconds=record["window_s"] + 1)
durations = []
for line in open(os.path.join(os.path.dirname(db), "drkit.log"), errors="replace"):
    if "sync finished" not in line:
        continue
    at = instant(line.split()[0])
    found = re.search(r"duration_ms=(\d+)", line)
    if start <= at <= end and found:
        durations.append(int(found.group(1)))
rows = sqlite3.connect(db).execute(
    "SELECT data FROM results WHERE kind = 'sync' AND id > ?", (int(last_id),)).fetchall()
delays = [json.loads(data).get("batch_delay_ms_max") for (data,) in rows]
delays = [d for d in delays if d is not None]
record.update({"tool": "drkit-watch", "run": int(os.environ.get("RUN", "1")), "replica": test, "debounce_s": float(debounce),
               "keep_versions": int(keep), "syncs": len(durations),
               "sync_ms_median": statistics.median(durations) if durations else None,
               "sync_ms_max": max(durations) if durations else None,
               "drkit_delay_ms_max": max(delays) if delays else None})
record.pop("drkit_delay_ms_median", None)
lines[-1] = json.dumps(record)
open(path, "w").write("\n".join(lines) + "\n")
PY
}

run_lsyncd() {
    local mode label dst=${LSYNCD_DST:-$DATA/dst-ssh}
    for mode in ssh ssh-cm; do
        label="lsyncd $mode, delay 0"
        echo "[$label] measuring for $WINDOW s"
        local niced_before niced_after
        niced_before=$(awk '/^cpu / {print $3}' /proc/stat)
        python3 "$SHARED/lsyncd_latency.py" --mode "$mode" --delay 0 --count $((${WINDOW%.*} * 10)) \
            --interval 0.1 --poll 0.005 --src "$SRC" --dst "$dst" --out "$WORK/lsyncd.jsonl"
        niced_after=$(awk '/^cpu / {print $3}' /proc/stat)
        tail -1 "$WORK/lsyncd.jsonl" | jq -c --arg name "$label" --arg mode "$mode" --arg run "${RUN:-1}" \
            --argjson niced "$(((niced_after - niced_before) / $(getconf CLK_TCK)))" '{
            test: $name, tool: "lsyncd", replica: $mode, files: .count, arrived: .delivered,
            interval_s: .interval_s, poll_s: .poll_s, size_bytes: 256,
            write_span_s: .write_span_s, window_s: .measure_wall_s, machine_cpu_s: .machine_cpu_s,
            lag_ms_median: .lag_ms_median, lag_ms_p90: .lag_ms_p90, lag_ms_p99: .lag_ms_p99,
            lag_ms_max: .lag_ms_max, lag_ms_min: .lag_ms_min, lag_ms_mean: .lag_ms_mean,
            syncs: .rsync_invocations, startup_s: .startup_s, run: ($run | tonumber),
            niced_cpu_s_with_startup: $niced}' >> "$OUT"
        tail -1 "$OUT"
    done
}

"$SHARED/sshd_loopback.sh" start >/dev/null
for test in $TESTS; do
    case $test in
        local | ssh) run_drkit_watch "$test" ;;
        lsyncd) run_lsyncd ;;
        *) echo "unknown test $test (use local, ssh or lsyncd)"; exit 2 ;;
    esac
done
# Appended, so the records of earlier runs stay beside the new ones.
cat "$OUT" >> "$RAW/rpo.jsonl"
echo "records in $OUT, appended to $RAW/rpo.jsonl"
