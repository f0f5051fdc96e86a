"""``data check``: scan a list file and every image, report every problem at once.

One :class:`~paddlecnn.data.lists.Problem` per finding, each naming the list file's
line (0 for the file as a whole) and the image path: malformed lines, labels that
are not integers, negative, >= num_classes or above the number of entries, gaps in
the labels, duplicate entries, paths escaping the root (also through symlinks),
missing files, unreadable / corrupt / truncated images, image bombs and images over
the pixel budget, classes with no images. A bad image never stops the scan.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import List, Optional

from ..errors import PaddleCNNError
from .images import ImageError, open_image
from .lists import (PathLike, Problem, file_problems, image_path, label_problems, parse_list, read_class_names,
                    resolve_root)

# Empty classes listed one by one before the rest are summed up in one line.
_MAX_EMPTY = 20


def check_list(list_file: PathLike, root: Optional[PathLike] = None, num_classes: Optional[int] = None,
               allow_outside_root: bool = False) -> List[Problem]:
    """Every problem of ``list_file`` (paths relative to ``root``), sorted by line; [] when clean.

    ``num_classes`` defaults to the number of names in ``labels.txt`` next to the list,
    else labels must not exceed the number of entries and gaps are reported
    (:func:`~paddlecnn.data.lists.label_problems`). ``allow_outside_root``: images
    that symlinks lead outside the root are read instead of reported.
    """
    list_file = Path(list_file)
    try:
        root = resolve_root(list_file, root, allow_outside_root)
    except PaddleCNNError as exc:
        return [Problem(0, "", str(exc), "file")]
    if not root.is_dir():
        return [Problem(0, str(root), "root folder not found; pass --root, the folder the paths are relative to",
                        "file")]
    try:
        names = read_class_names(list_file, allow_outside_root)
        if num_classes is None and names:
            num_classes = len(names)
        entries, problems = parse_list(list_file, root, num_classes)
    except PaddleCNNError as exc:
        return [Problem(0, "", str(exc), "file")]
    if not entries and not problems:
        return [Problem(0, "", "the list has no entries; expected lines 'relative/path.jpg LABEL'", "empty")]
    missing = file_problems(entries, root, allow_outside_root)
    problems += missing
    missing_lines = {p.line for p in missing}
    for entry in entries:
        if entry.line in missing_lines:
            continue
        try:
            open_image(image_path(root, entry.path, allow_outside_root), 3)
        except ImageError as exc:   # bombs included: listed like any bad image, the scan goes on
            problems.append(Problem(entry.line, entry.path, exc.reason, "image"))
    problems += _label_gaps(entries, num_classes, names)
    return sorted(problems, key=lambda p: (p.line, p.kind))


def _label_gaps(entries, num_classes: Optional[int], names) -> List[Problem]:
    """Classes with no image: named one by one when the class count is known, else the
    gaps of :func:`label_problems` (ranges: cheap for any label value)."""
    if not entries:
        return []
    if num_classes is None:
        return [Problem(0, "", msg, "labels") for msg in label_problems([e.label for e in entries])]
    present = {e.label for e in entries}
    n_empty = num_classes - len(present)   # parse_list dropped labels >= num_classes
    out = []
    label = 0
    while len(out) < min(n_empty, _MAX_EMPTY):   # no loop over num_classes itself: it may be huge
        if label not in present:
            name = names[label] if names and label < len(names) else str(label)
            out.append(Problem(0, name, f"class {label} ({name}) has no images in this list", "empty"))
        label += 1
    if n_empty > _MAX_EMPTY:
        out.append(Problem(0, "", f"... and {n_empty - _MAX_EMPTY} more classes with no images", "empty"))
    return out


def summary(list_file: PathLike, root: Optional[PathLike] = None, allow_outside_root: bool = False) -> str:
    """One line for a clean list: images, classes, images per class (min-max)."""
    entries, _ = parse_list(list_file, resolve_root(list_file, root, allow_outside_root))
    counts = Counter(e.label for e in entries)
    return (f"{list_file}: OK, {len(entries)} images, {len(counts)} classes, "
            f"{min(counts.values())}-{max(counts.values())} images per class")
