#!/usr/bin/env python3
"""Measure replication lag of small files written at a steady rate.

The main thread creates one file of --size bytes in SRC_PROBE every
--interval seconds for --seconds seconds. A poller thread checks the matching
path under DST_PROBE every --poll seconds and records the first moment the
file is readable there with its full content. The lag of a file is that
moment minus the moment its write was closed (both from time.monotonic()).

The replicator (drkit-watch, lsyncd, ...) must already be running and be
done with its first sync: this script only writes, polls and reports.
It prints one JSON record and appends it to --out when given.

usage: rpo_lag.py --label NAME SRC_PROBE DST_PROBE
                  [--seconds 60] [--interval 0.1] [--poll 0.005]
                  [--size 300] [--max-wait 60] [--out FILE]
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds():
    """Return (busy, niced) time of all CPUs from /proc/stat, in seconds.

    Niced time is part of busy time. It shows work of low-priority
    processes, such as a compiler started by someone else, that competed
    with the measured replicator.
    """
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / CLOCK_TICKS, nice / CLOCK_TICKS


def percentile(values, p):
    """Return the p-th percentile with linear interpolation (numpy's default)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def probe_content(index, size):
    """Return the bytes of probe file INDEX: unique per file, exactly SIZE bytes."""
    head = "probe %06d written at %.6f\n" % (index, time.time())
    return (head + "x" * size)[: size - 1].encode() + b"\n"


def read_if_complete(path, expected):
    """Return True when PATH exists and contains exactly EXPECTED."""
    try:
        with open(path, "rb") as f:
            return f.read(len(expected) + 1) == expected
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src_probe")
    parser.add_argument("dst_probe")
    parser.add_argument("--label", required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--poll", type=float, default=0.005)
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--max-wait", type=float, default=60.0,
                        help="seconds to keep polling after the last write")
    parser.add_argument("--out")
    args = parser.parse_args()

    count = int(round(args.seconds / args.interval))
    if not 1 <= count <= 10000:
        sys.exit("rpo_lag.py: --seconds / --interval gives %d files; use 1 to 10000" % count)
    if args.size < 64:
        sys.exit("rpo_lag.py: --size %d is too small; use 64 bytes or more" % args.size)
    os.makedirs(args.src_probe, exist_ok=True)

    names = ["f%06d.txt" % i for i in range(count)]
    contents = [None] * count
    closed_at = [None] * count
    arrived_at = [None] * count
    written = 0  # files 0 .. written-1 are closed; only the writer raises it
    stop = threading.Event()

    def poll_replica():
        first_pending = 0
        while not stop.is_set():
            upto = written
            for i in range(first_pending, upto):
                if arrived_at[i] is None:
                    if read_if_complete(os.path.join(args.dst_probe, names[i]), contents[i]):
                        arrived_at[i] = time.monotonic()
            while first_pending < upto and arrived_at[first_pending] is not None:
                first_pending += 1
            if first_pending == count:
                return
            time.sleep(args.poll)

    poller = threading.Thread(target=poll_replica, daemon=True)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cpu_before = cpu_seconds()
    poller.start()
    start = time.monotonic()
    for i in range(count):
        delay = start + i * args.interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        contents[i] = probe_content(i, args.size)
        with open(os.path.join(args.src_probe, names[i]), "wb") as f:
            f.write(contents[i])
        closed_at[i] = time.monotonic()
        written = i + 1
    last_write = time.monotonic()
    poller.join(timeout=args.max_wait)
    stop.set()
    poller.join(timeout=5)
    end = time.monotonic()
    cpu_after = cpu_seconds()

    lags_ms = [(a - c) * 1000 for c, a in zip(closed_at, arrived_at) if a is not None]
    record = {
        "test": args.label,
        "started_at": started_at,
        "files": count,
        "arrived": len(lags_ms),
        "interval_s": args.interval,
        "poll_s": args.poll,
        "size_bytes": args.size,
        "write_span_s": round(last_write - start, 2),
        "window_s": round(end - start, 2),
        "machine_cpu_s": round(cpu_after[0] - cpu_before[0], 2),
        "niced_cpu_s": round(cpu_after[1] - cpu_before[1], 2),
    }
    if lags_ms:
        record.update({
            "lag_ms_median": round(statistics.median(lags_ms), 1),
            "lag_ms_p90": round(percentile(lags_ms, 90), 1),
            "lag_ms_p99": round(percentile(lags_ms, 99), 1),
            "lag_ms_max": round(max(lags_ms), 1),
            "lag_ms_min": round(min(lags_ms), 1),
            "lag_ms_mean": round(statistics.mean(lags_ms), 1),
        })
    line = json.dumps(record)
    print(line, flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")
    return 0 if len(lags_ms) == count else 1


if __name__ == "__main__":
    sys.exit(main())
