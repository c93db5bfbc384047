#!/usr/bin/env python3
"""Print the SSH benchmark as a markdown table: medians of the timed runs
of each test, with the bytes each tool sent (rsync's --stats "Total bytes
sent", drkit's bytes_sent from its JSON summaries).

usage: summarize_ssh.py ssh.jsonl ssh-drkit/"""
import json
import os
import statistics
import sys
from collections import OrderedDict


def drkit_bytes(folder, phase):
    sent = []
    for name in sorted(os.listdir(folder)):
        if name.startswith(phase + "-") and name.endswith(".json"):
            with open(os.path.join(folder, name)) as f:
                text = f.read().strip()
            for line in text.splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("bytes_sent") is not None:
                    sent.append(record["bytes_sent"])
    return statistics.median(sent) if sent else None


def main():
    records, folder = sys.argv[1], sys.argv[2]
    rows = OrderedDict()
    for line in open(records):
        record = json.loads(line)
        if not record["warmup"]:
            rows.setdefault(record["name"], []).append(record)
    print("| test | n | wall s median [min-max] | client CPU s | machine CPU s | bytes sent (median) | failed runs |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in rows.items():
        walls = [r["wall_s"] for r in runs]
        cpu = statistics.median(r["user_s"] + r["sys_s"] for r in runs)
        machine = statistics.median(r["machine_cpu_s"] for r in runs)
        if "drkit" in name:
            sent = drkit_bytes(folder, name.split(".")[0])
        else:
            values = [r.get("rsync_total_bytes_sent") for r in runs if r.get("rsync_total_bytes_sent")]
            sent = statistics.median(values) if values else None
        shown = "-" if sent is None else "{:,.0f}".format(sent)
        failed = sum(1 for r in runs if r["rc"] != 0)
        print("| %s | %d | %.2f [%.2f-%.2f] | %.2f | %.2f | %s | %d |" % (
            name, len(runs), statistics.median(walls), min(walls), max(walls), cpu, machine, shown, failed))


if __name__ == "__main__":
    main()
