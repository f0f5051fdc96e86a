"""``data check``: scan a list file and every image, report every problem at once.

One :class:`~paddlecnn.data.lists.Problem` per finding, each naming the list file's
line (0 for the file as a whole) and the image path: malformed lines, labels that
are not integers, negative or >= num_classes, duplicate entries, paths escaping the
root, missing files, unreadable / corrupt / truncated images, classes with no images.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import List, Optional

from ..errors import PaddleCNNError
from .images import ImageError, open_image
from .lists import PathLike, Problem, missing_files, parse_list, read_class_names, resolve_root


def check_list(list_file: PathLike, root: Optional[PathLike] = None,
               num_classes: Optional[int] = None) -> List[Problem]:
    """Every problem of ``list_file`` (paths relative to ``root``), sorted by line; [] when clean.

    ``num_classes`` defaults to the number of names in ``labels.txt`` next to the list,
    else labels are only checked to be integers >= 0 (and gaps count as empty classes).
    """
    list_file = Path(list_file)
    try:
        root = resolve_root(list_file, root)
    except PaddleCNNError as exc:
        return [Problem(0, "", str(exc), "file")]
    if not root.is_dir():
        return [Problem(0, str(root), "root folder not found; pass --root, the folder the paths are relative to",
                        "file")]
    names = read_class_names(list_file)
    if num_classes is None and names:
        num_classes = len(names)
    try:
        entries, problems = parse_list(list_file, root, num_classes)
    except PaddleCNNError as exc:
        return [Problem(0, "", str(exc), "file")]
    if not entries and not problems:
        return [Problem(0, "", "the list has no entries; expected lines 'relative/path.jpg LABEL'", "empty")]
    missing = missing_files(entries, root)
    problems += missing
    missing_lines = {p.line for p in missing}
    for entry in entries:
        if entry.line in missing_lines:
            continue
        try:
            open_image(os.path.join(root, entry.path), 3)
        except ImageError as exc:
            problems.append(Problem(entry.line, entry.path, str(exc), "image"))
    problems += _empty_classes(entries, num_classes, names)
    return sorted(problems, key=lambda p: (p.line, p.kind))


def _empty_classes(entries, num_classes: Optional[int], names) -> List[Problem]:
    counts = Counter(e.label for e in entries)
    if not counts:
        return []
    k = num_classes if num_classes is not None else max(counts) + 1
    out = []
    for label in range(k):
        if counts[label] == 0:
            name = names[label] if names and label < len(names) else str(label)
            out.append(Problem(0, name, f"class {label} ({name}) has no images in this list", "empty"))
    return out


def summary(list_file: PathLike, root: Optional[PathLike] = None) -> str:
    """One line for a clean list: images, classes, images per class (min-max)."""
    entries, _ = parse_list(list_file, resolve_root(list_file, root))
    counts = Counter(e.label for e in entries)
    return (f"{list_file}: OK, {len(entries)} images, {len(counts)} classes, "
            f"{min(counts.values())}-{max(counts.values())} images per class")
