"""Horse-to-zebra with CycleGAN: the same as ``translate demo horse2zebra`` (kept for old links).

    python scripts/horse2zebra.py --pretrained --photos my_horses/   # the official generator on your photos
    python scripts/horse2zebra.py --data data/horse2zebra            # train at a CPU-sized budget, then a gallery

``translate demo --help`` lists the flags.
"""

from __future__ import annotations

import sys

from translate.cli import app


def main(argv=None) -> None:
    app(["demo", "horse2zebra", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
