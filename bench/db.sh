#!/usr/bin/env bash
# `drkit db dump` and `drkit sync` of a MariaDB database of about 1 GB to a
# peer over SSH, after 1% of its rows changed; `rsync -a` of the same dump
# file over the same sshd for comparison.
#
# Starts a throw-away MariaDB server (own datadir in a temporary folder,
# socket there, port 13316 on 127.0.0.1), loads a WordPress-shaped
# wp_posts table of ROWS rows (default 580,000 posts of 1-2 KB of text,
# loaded with LOAD DATA from a generated TSV file), dumps it with drkit and
# syncs the dump to the loopback peer once. Then, ROUNDS times (default 3),
# it updates 1% of the rows at random ids (new post_modified, a few words
# appended to post_content, comment_count + 1) and times, separately:
# `drkit db dump`, `drkit sync --json` (bytes_sent from its summary) and
# `rsync -a --stats` of the dump file to another folder on the peer.
#
# Records go to $BENCH_OUT/db.jsonl and bench/raw/db.jsonl. The server is
# stopped by its PID and its datadir, the dumps and both replicas are
# deleted at the end.
#
# Environment: ROWS, ROUNDS, BENCH_OUT (default /tmp/drkit-bench), DRKIT,
# DATA (agent root holding the replicas, default /tmp/anchors), SSHDIR
# (default /tmp/anchors/ssh), RAW_OUT (default bench/raw).
# Needs: mariadb-server, mariadb-client, rsync, openssh-server, python3,
# /usr/bin/time, and the loopback sshd of ../shared/bench/sshd_loopback.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED_BENCH:-$HERE/../../shared/bench}
DATA=${DATA:-/tmp/anchors}
SSHDIR=${SSHDIR:-/tmp/anchors/ssh}
OUTDIR=${BENCH_OUT:-/tmp/drkit-bench}
RAW=${RAW_OUT:-$HERE/raw}
DRKIT=${DRKIT:-$HERE/../target/release/drkit}
ROWS=${ROWS:-580000}
ROUNDS=${ROUNDS:-3}
OUT=$OUTDIR/db.jsonl
REPLICA=$DATA/dst-rpo-db
RSYNC_REPLICA=$DATA/dst-rpo-db-rsync
VERSIONS=$DATA/.rpo-versions/db
RSH="ssh -F $SSHDIR/ssh_config -c aes128-gcm@openssh.com -o KexAlgorithms=curve25519-sha256"

mkdir -p "$OUTDIR" "$RAW"
WORK=$(mktemp -d /tmp/drkit-db.XXXXXX)
SERVER_PID=""

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        for _ in $(seq 600); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$WORK" "$REPLICA" "$RSYNC_REPLICA" "$VERSIONS"
}
trap cleanup EXIT

MARIADB=(mariadb --no-defaults --default-character-set=utf8mb4 --socket="$WORK/mysqld.sock" -uroot)
sql() {
    "${MARIADB[@]}" "$@"
}

# Runs command "$2..." under /usr/bin/time and appends a record named $1
# with its wall and CPU seconds to $OUT (and stderr); extra JSON fields may
# come in $EXTRA. The command's stdout stays the caller's.
timed() {
    local name=$1
    shift
    local timing=$WORK/time.txt
    /usr/bin/time -f '%e %U %S' -o "$timing" "$@"
    read -r wall user sys < "$timing"
    local record extra=${EXTRA:-}
    [ -n "$extra" ] || extra='{}'
    record=$(jq -cn --arg test "$name" --argjson wall "$wall" --argjson user "$user" --argjson sys "$sys" \
        --argjson extra "$extra" '{test: $test, wall_s: $wall, user_s: $user, sys_s: $sys} + $extra')
    echo "$record" >> "$OUT"
    echo "$record" >&2
}

# ---------------------------------------------------------------------------
echo "starting MariaDB in $WORK"
"$SHARED/sshd_loopback.sh" start >/dev/null
mariadb-install-db --no-defaults --datadir="$WORK/data" --skip-test-db \
    --auth-root-authentication-method=socket >"$WORK/install.log" 2>&1
# A large buffer pool and a relaxed log flush make the load fast; they do
# not change what the dump reads.
mariadbd --no-defaults --user=root --datadir="$WORK/data" --socket="$WORK/mysqld.sock" \
    --pid-file="$WORK/mysqld.pid" --port=13316 --bind-address=127.0.0.1 --skip-name-resolve \
    --character-set-server=utf8mb4 --innodb-buffer-pool-size=3G --innodb-log-file-size=1G \
    --innodb-flush-log-at-trx-commit=0 --log-error="$WORK/error.log" &
SERVER_PID=$!
for _ in $(seq 300); do
    mariadb-admin --no-defaults --socket="$WORK/mysqld.sock" -uroot ping >/dev/null 2>&1 && break
    sleep 0.1
done

sql <<'SQL'
CREATE DATABASE wordpress CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE TABLE wordpress.wp_posts (
  ID bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  post_author bigint(20) unsigned NOT NULL DEFAULT 0,
  post_date datetime NOT NULL DEFAULT '0000-00-00 00:00:00',
  post_date_gmt datetime NOT NULL DEFAULT '0000-00-00 00:00:00',
  post_content longtext NOT NULL,
  post_title text NOT NULL,
  post_excerpt text NOT NULL,
  post_status varchar(20) NOT NULL DEFAULT 'publish',
  comment_status varchar(20) NOT NULL DEFAULT 'open',
  ping_status varchar(20) NOT NULL DEFAULT 'open',
  post_password varchar(255) NOT NULL DEFAULT '',
  post_name varchar(200) NOT NULL DEFAULT '',
  to_ping text NOT NULL,
  pinged text NOT NULL,
  post_modified datetime NOT NULL DEFAULT '0000-00-00 00:00:00',
  post_modified_gmt datetime NOT NULL DEFAULT '0000-00-00 00:00:00',
  post_content_filtered longtext NOT NULL,
  post_parent bigint(20) unsigned NOT NULL DEFAULT 0,
  guid varchar(255) NOT NULL DEFAULT '',
  menu_order int(11) NOT NULL DEFAULT 0,
  post_type varchar(20) NOT NULL DEFAULT 'post',
  post_mime_type varchar(100) NOT NULL DEFAULT '',
  comment_count bigint(20) NOT NULL DEFAULT 0,
  PRIMARY KEY (ID),
  KEY post_name (post_name(191)),
  KEY type_status_date (post_type, post_status, post_date, ID),
  KEY post_parent (post_parent),
  KEY post_author (post_author)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
SQL

echo "generating $ROWS rows"
EXTRA="{\"rows\": $ROWS}" timed "generate wp_posts TSV" python3 - "$ROWS" "$WORK/wp_posts.tsv" <<'PY'
import random, sys
rows, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(20261205)
letters = "abcdefghijklmnopqrstuvwxyz"
vocabulary = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(5000)]
# Each post is a slice of a 64 MB pool of random words at a random offset,
# so rows that sit next to each other in the dump never repeat one text.
words = rng.choices(vocabulary, k=11_000_000)
pool = " ".join(words)
with open(path, "w") as out:
    for post_id in range(1, rows + 1):
        size = rng.randint(900, 1900)
        start = rng.randrange(0, len(pool) - size)
        content = "<p>" + pool[start:start + size] + "</p>"
        title = pool[start:start + rng.randint(20, 60)].strip()
        day = "2024-%02d-%02d %02d:%02d:%02d" % (rng.randint(1, 12), rng.randint(1, 28),
                                                 rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
        slug = "-".join(title.split()[:6]) + "-%d" % post_id
        out.write("\t".join([
            str(post_id), str(rng.randint(1, 40)), day, day, content, title,
            content[:120], "publish", "open", "open", "", slug, "", "", day, day, "", "0",
            "https://example.test/?p=%d" % post_id, "0", "post", "", str(rng.randint(0, 30)),
        ]) + "\n")
PY

echo "loading"
EXTRA="{\"rows\": $ROWS}" timed "LOAD DATA wp_posts" "${MARIADB[@]}" -e "LOAD DATA INFILE '$WORK/wp_posts.tsv' INTO TABLE wordpress.wp_posts CHARACTER SET utf8mb4"
rm -f "$WORK/wp_posts.tsv"
sql -N -e "SELECT table_rows, data_length, index_length FROM information_schema.tables WHERE table_schema = 'wordpress'"

mkdir -p "$WORK/dumps/wp"
CONFIG=$WORK/drkit.toml
cat > "$CONFIG" <<CONF
[site]
name = "bench-db"
data_dir = "$WORK/state"
report_dir = "$WORK/reports"
language = "en"

[nodes.peer]
address = "127.0.0.1"
port = 2222
user = "root"
key = "$SSHDIR/client_ed25519"
known_hosts = "$SSHDIR/known_hosts"
agent = "$DRKIT agent --root $DATA --state $WORK/agent-state"

[[sync]]
name = "db-dumps"
source = "$WORK/dumps"
peer = "peer"
target = "$REPLICA"
versions_dir = "$VERSIONS"

[[database]]
name = "wp"
kind = "mysql"
socket = "$WORK/mysqld.sock"
user = "root"
databases = ["wordpress"]
dump_dir = "$WORK/dumps/wp"
datadir = "$WORK/data"
CONF
"$DRKIT" --config "$CONFIG" config check

DUMP=$WORK/dumps/wp/wordpress.sql
drkit_sync() {
    timed "$1" "$DRKIT" --config "$CONFIG" sync --json db-dumps > "$WORK/sync.json"
    local sent
    sent=$(jq -s '.[-1].bytes_sent' "$WORK/sync.json")
    # Adds bytes_sent to the record just written.
    python3 - "$OUT" "$sent" <<'PY'
import json, sys
path, sent = sys.argv[1], int(sys.argv[2])
lines = open(path).read().splitlines()
record = json.loads(lines[-1])
record["bytes_sent"] = sent
lines[-1] = json.dumps(record)
open(path, "w").write("\n".join(lines) + "\n")
PY
    tail -1 "$OUT"
}
rsync_dump() {
    local stats=$WORK/rsync.txt
    timed "$1" rsync -a --stats -e "$RSH" "$DUMP" "127.0.0.1:$RSYNC_REPLICA/" > "$stats"
    local sent
    sent=$(awk -F': ' '/^Total bytes sent/ {gsub(",", "", $2); print $2}' "$stats")
    python3 - "$OUT" "$sent" <<'PY'
import json, sys
path, sent = sys.argv[1], int(sys.argv[2])
lines = open(path).read().splitlines()
record = json.loads(lines[-1])
record["bytes_sent"] = sent
lines[-1] = json.dumps(record)
open(path, "w").write("\n".join(lines) + "\n")
PY
    tail -1 "$OUT"
}

echo "initial dump and sync"
timed "drkit db dump, initial" "$DRKIT" --config "$CONFIG" db dump wp
echo "dump size: $(stat -c %s "$DUMP") bytes"
drkit_sync "drkit sync, initial"
$RSH 127.0.0.1 mkdir -p "$RSYNC_REPLICA"
rsync_dump "rsync -a, initial"

for round in $(seq "$ROUNDS"); do
    echo "round $round: updating 1% of the rows"
    python3 - "$ROWS" "$round" > "$WORK/update.sql" <<'PY'
import random, sys
rows, round_number = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(round_number)
ids = rng.sample(range(1, rows + 1), rows // 100)
print("UPDATE wordpress.wp_posts SET post_modified = NOW(), post_modified_gmt = UTC_TIMESTAMP(),")
print("  post_content = CONCAT(post_content, ' <p>Updated in round %d.</p>'), comment_count = comment_count + 1" % round_number)
print("  WHERE ID IN (%s);" % ",".join(map(str, sorted(ids))))
PY
    EXTRA="{\"round\": $round, \"rows_changed\": $((ROWS / 100))}" timed "UPDATE 1% of wp_posts" "${MARIADB[@]}" < "$WORK/update.sql"
    EXTRA="{\"round\": $round}" timed "drkit db dump, after 1% change" "$DRKIT" --config "$CONFIG" db dump wp
    echo "dump size: $(stat -c %s "$DUMP") bytes"
    EXTRA="{\"round\": $round, \"dump_bytes\": $(stat -c %s "$DUMP")}" drkit_sync "drkit sync, after 1% change"
    EXTRA="{\"round\": $round, \"dump_bytes\": $(stat -c %s "$DUMP")}" rsync_dump "rsync -a, after 1% change"
done

cmp "$DUMP" "$REPLICA/wp/wordpress.sql" && echo "drkit replica of the dump is identical"
cmp "$DUMP" "$RSYNC_REPLICA/wordpress.sql" && echo "rsync replica of the dump is identical"
cp "$OUT" "$RAW/db.jsonl"
echo "records in $OUT and $RAW/db.jsonl"
