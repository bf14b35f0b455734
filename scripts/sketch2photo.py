"""Sketch to photo with pix2pix: the same as ``translate demo sketch2photo`` (kept for old links).

    python scripts/sketch2photo.py --pretrained                      # the official edges2shoes generator on a drawn sketch
    python scripts/sketch2photo.py --photos my_shoe_photos/          # edges|photo pairs of your photos, training, a gallery
    python scripts/sketch2photo.py --data data/edges2shoes           # train on edges2shoes at a CPU-sized budget

``translate demo --help`` lists the flags.
"""

from __future__ import annotations

import sys

from translate.cli import app


def main(argv=None) -> None:
    app(["demo", "sketch2photo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
