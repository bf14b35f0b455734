"""``translate check DIR``: the layout, counts, image sizes and every problem, each with its fix."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from translate.data.image_files import image_size, load_image
from translate.data.labelled import find_labelled
from translate.data.layouts import detect, find_images, find_paired
from translate.data.unpaired import find_unpaired
from translate.errors import ArgumentError, ImageError, UserError

FINDERS = {"paired": find_paired, "unpaired": find_unpaired, "labelled": find_labelled, "images": find_images}


def check_folder(folder: Path, layout: str = "auto") -> tuple[list[str], list[str]]:
    notes: list[str] = []
    kind = detect(folder) if layout == "auto" else layout
    if kind not in FINDERS:
        raise ArgumentError("{layout} must be auto or one of {choices}, not '{value}'", "layout",
                            choices=", ".join(sorted(FINDERS)), value=layout)
    lines = [f"folder: {folder}", f"layout: {kind}{' (detected)' if layout == 'auto' else ''}"]
    try:
        found = FINDERS[kind](Path(folder), notes.append)
    except UserError as exc:
        return lines + notes, [str(exc)]
    lines += notes
    lines.append(f"contents: {found.describe()}")
    if found.class_names:
        lines.append(f"classes: {', '.join(found.class_names)}")
    problems: list[str] = []
    sizes: Counter = Counter()
    for path in found.files():
        try:
            load_image(path)  # a full decode: finds truncated files too
            sizes[image_size(path)] += 1
        except ImageError as exc:
            problems.append(str(exc))
    common = ", ".join(f"{w}x{h} ({n})" for (w, h), n in sizes.most_common(5))
    more = f" and {len(sizes) - 5} other sizes" if len(sizes) > 5 else ""
    lines.append(f"image sizes: {common}{more}")
    return lines, problems
