#!/bin/bash
# Renders the dashboard and the daily page in headless Chromium and checks
# the DOM it builds: the set name, the page language, and a path with HTML
# in its name shown as text, not as markup.
#
# Chromium tries to reach update servers whatever its flags, so it runs only
# inside a network namespace of its own whose only interface is loopback.
# The script stops before starting Chromium if that namespace cannot be made.
#
# Needs root, iproute2 and Debian's chromium (apt-get install -y chromium).
# Usage: tests/chromium_render.sh   (set DRKIT_BIN to test a built binary;
# set SCREENSHOT_DIR to also keep phone and desktop screenshots there)

set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
namespace="drkit-chromium-$$"
work=$(mktemp -d /tmp/drkit-chromium.XXXXXX)
namespace_created=false

cleanup() {
    if $namespace_created; then
        for pid in $(ip netns pids "$namespace" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
        ip netns delete "$namespace" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

command -v ip >/dev/null || fail "ip (iproute2) is not installed"
command -v chromium >/dev/null || fail "chromium is not installed: apt-get install -y chromium"
[ "$(id -u)" = 0 ] || fail "network namespaces need root"

if [ -z "${DRKIT_BIN:-}" ]; then
    (cd "$repo" && cargo build --quiet)
    DRKIT_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/drkit"
fi
[ -x "$DRKIT_BIN" ] || fail "drkit binary not found at $DRKIT_BIN"

# A site with one set, a synced replica and a verify that finds a changed file.
mkdir -p "$work/source/www/<b>x<"
echo '<?php echo "hello";' >"$work/source/www/index.php"
echo 'bold' >"$work/source/www/<b>x</b>"
cat >"$work/drkit.toml" <<EOF
[site]
name = "web1"
data_dir = "$work/data"
report_dir = "$work/reports"
language = "en"

[targets]
rpo = "1h"

[[sync]]
name = "www"
source = "$work/source/www"
target = "$work/replica/www"
EOF
drkit() { "$DRKIT_BIN" --config "$work/drkit.toml" "$@"; }
drkit sync >/dev/null
echo 'changed on the replica' >"$work/replica/www/<b>x</b>"
drkit verify >/dev/null && fail "verify should have found the changed file"
daily_page=$(drkit report daily | sed -n '2s/^[^:]*: //p')
[ -f "$daily_page" ] || fail "no daily page at '$daily_page'"

# The namespace: created empty, loopback up, and nothing else in it.
ip netns add "$namespace"
namespace_created=true
ip -n "$namespace" link set lo up
links=$(ip -n "$namespace" -o link show | awk -F': ' '{print $2}')
[ "$links" = "lo" ] || fail "namespace $namespace has links other than lo: $links"

mkdir -p "$work/home"
browser() {
    ip netns exec "$namespace" env HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" \
        XDG_CACHE_HOME="$work/home/.cache" \
        timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run \
        --disable-features=NetworkTimeServiceQuerying --user-data-dir="$work/profile" "$@" 2>>"$work/chromium.log"
}

check_page() {
    local file=$1 dom
    dom=$(browser --dump-dom "file://$file")
    [ -n "$dom" ] || fail "Chromium returned no DOM for $file (log: $(tail -5 "$work/chromium.log"))"
    grep -q '<html lang="en">' <<<"$dom" || fail "$file: no lang attribute in the DOM"
    grep -q '>www<' <<<"$dom" || fail "$file: the set name is not in the DOM"
    grep -q '<code>&lt;b&gt;x&lt;/b&gt;</code>' <<<"$dom" || fail "$file: the <b> path is not shown as text"
    if grep -q '<b>x</b>' <<<"$dom"; then
        fail "$file: the <b> path became an element"
    fi
    echo "ok: $file"
}

check_page "$work/reports/index.html"
check_page "$daily_page"

if [ -n "${SCREENSHOT_DIR:-}" ]; then
    mkdir -p "$SCREENSHOT_DIR"
    browser --screenshot="$SCREENSHOT_DIR/index-phone.png" --window-size=390,1600 "file://$work/reports/index.html"
    browser --screenshot="$SCREENSHOT_DIR/index-desktop.png" --window-size=1280,1400 "file://$work/reports/index.html"
    browser --screenshot="$SCREENSHOT_DIR/daily-phone.png" --window-size=390,1600 "file://$daily_page"
    echo "screenshots in $SCREENSHOT_DIR"
fi

echo "chromium_render: 2 passed, 0 failed"
