#!/usr/bin/env python3
"""Create a tree of many small files for the memory benchmark.

usage: gen_many.py DEST [--files 1000000] [--per-dir 100]
Files hold 11 to 217 bytes of deterministic PHP-like text. Folders are two
levels deep (d0000/s00/page-0000000.php), so paths have a realistic length."""
import argparse
import os
import random


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dest")
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--per-dir", type=int, default=100)
    args = parser.parse_args()
    rng = random.Random(42)
    made = 0
    while made < args.files:
        top = "d%04d" % (made // (args.per_dir * 100))
        sub = "s%02d" % ((made // args.per_dir) % 100)
        folder = os.path.join(args.dest, top, sub)
        os.makedirs(folder, exist_ok=True)
        for _ in range(min(args.per_dir, args.files - made)):
            path = os.path.join(folder, "page-%07d.php" % made)
            with open(path, "w") as f:
                f.write("<?php // %d\n" % made + "x" * rng.randrange(0, 200))
            made += 1
        if made % 100_000 == 0:
            print("%d files" % made, flush=True)


if __name__ == "__main__":
    main()
