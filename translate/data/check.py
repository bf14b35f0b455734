"""``translate check DIR``: the layout, counts, image sizes and every problem, each with its fix."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from translate.data.image_files import image_size, load_image
from translate.data.labelled import find_labelled
from translate.data.layouts import ab_problem, detect, find_images, find_paired
from translate.data.unpaired import find_unpaired
from translate.errors import ArgumentError, ImageError, UserError

FINDERS = {"paired": find_paired, "unpaired": find_unpaired, "labelled": find_labelled, "images": find_images}


def check_folder(folder: Path, layout: str = "auto") -> tuple[list[str], list[UserError]]:
    """(report lines, problems): each problem is the error that names the file (or folder) and the fix."""
    notes: list[str] = []
    kind = detect(folder) if layout == "auto" else layout
    if kind not in FINDERS:
        raise ArgumentError("{layout} must be auto or one of {choices}, not '{value}'", "layout",
                            choices=", ".join(sorted(FINDERS)), value=layout)
    lines = [f"folder: {folder}", f"layout: {kind}{' (detected)' if layout == 'auto' else ''}"]
    try:
        found = FINDERS[kind](Path(folder), notes.append)
    except UserError as exc:
        return lines + notes, [exc]
    lines += notes
    problems: list[UserError] = list(found.problems)
    sizes: Counter = Counter()
    bad: set[Path] = set()
    for path in found.files():
        try:
            load_image(path)  # a full decode: finds truncated files too
            size = image_size(path)
            sizes[size] += 1
            problem = ab_problem(path, *size) if found.kind == "paired A|B" else None
            if problem:
                problems.append(problem)
                bad.add(path)
        except ImageError as exc:
            problems.append(exc)
            bad.add(path)
    unusable = f" ({len(bad)} of {len(found.files())} files cannot be used, listed below)" if bad else ""
    lines.append(f"contents: {found.without(bad).describe()}{unusable}")
    if found.class_names:
        lines.append(f"classes: {', '.join(found.class_names)}")
    common = ", ".join(f"{w}x{h} ({n})" for (w, h), n in sizes.most_common(5))
    more = f" and {len(sizes) - 5} other sizes" if len(sizes) > 5 else ""
    lines.append(f"image sizes: {common}{more}")
    return lines, problems
