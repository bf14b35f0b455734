"""Tiny synthetic datasets, generated on the fly (the project ships no third-party images).

    python scripts/make_synthetic.py paired DIR [--n 64 --size 64]     # A|B: a sketch (edges) | the coloured shapes
    python scripts/make_synthetic.py unpaired DIR                       # trainA/ circles, trainB/ squares
    python scripts/make_synthetic.py labelled DIR                       # one folder per class
"""

from __future__ import annotations

import argparse
from pathlib import Path

from translate.data.synthetic import make_labelled, make_paired, make_unpaired

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["paired", "unpaired", "labelled"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    make = {"paired": make_paired, "unpaired": make_unpaired, "labelled": make_labelled}[args.kind]
    print(make(args.out, n=args.n, size=args.size, seed=args.seed))
