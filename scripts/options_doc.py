"""Write docs/options.md, the options reference of ``translate fit``, from the config's fields.

    python scripts/options_doc.py            # writes docs/options.md
    python scripts/options_doc.py --check    # exit 1 when docs/options.md is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

from translate.cli import reference_markdown

PATH = Path(__file__).resolve().parent.parent / "docs" / "options.md"

if __name__ == "__main__":
    text = reference_markdown()
    if "--check" in sys.argv[1:]:
        stale = not PATH.is_file() or PATH.read_text() != text
        print(f"{PATH.name} is {'stale: run python scripts/options_doc.py' if stale else 'up to date'}")
        sys.exit(1 if stale else 0)
    PATH.write_text(text)
    print(f"wrote {PATH}")
