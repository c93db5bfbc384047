#!/usr/bin/env python3
"""Print a markdown table of medians from measure.py records.

Unlike ../shared/bench/report.py, every non-warmup record of a test name
counts, so runs that alternate between tools (one run each, repeated) are
summarised together. usage: summarize.py FILE.jsonl [...]"""
import json
import statistics
import sys
from collections import OrderedDict


def main():
    rows = OrderedDict()
    for path in sys.argv[1:]:
        for line in open(path):
            record = json.loads(line)
            if not record["warmup"]:
                rows.setdefault(record["name"], []).append(record)
    print("| test | n | wall s median [min-max] | CPU s (user+sys) | machine CPU s | peak RSS MB | failed runs |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in rows.items():
        walls = [r["wall_s"] for r in runs]
        cpu = statistics.median(r["user_s"] + r["sys_s"] for r in runs)
        machine = statistics.median(r["machine_cpu_s"] for r in runs)
        rss = max(r["maxrss_kb"] for r in runs) / 1024
        failed = sum(1 for r in runs if r["rc"] != 0)
        print("| %s | %d | %.2f [%.2f-%.2f] | %.2f | %.2f | %.0f | %d |" % (
            name, len(runs), statistics.median(walls), min(walls), max(walls), cpu, machine, rss, failed))


if __name__ == "__main__":
    main()
