"""Data: built-in offline datasets, list files, class folders, augmentations, checks.

>>> from paddlecnn import data
>>> train = data.load("shapes16", "train", transform="basic")     # doctest: +SKIP
>>> x, y = train[0]                    # float32 (3, 64, 64), np.int64 label

Every dataset is a list file (``relative/path.jpg LABEL`` per line) read by
:class:`ListFileDataset`: the built-ins are materialised as image files and list
files under ``paths.data_dir()``, so they follow the user's code path exactly.
"""
from . import transforms  # noqa: F401
from .builtin import list_builtin, load, materialise  # noqa: F401
from .check import check_list  # noqa: F401
from .folders import caltech16_from_101, make_lists  # noqa: F401
from .images import open_image  # noqa: F401
from .lists import ListFileDataset, Problem, collate_skip, parse_list, read_class_names  # noqa: F401
from .stats import channel_stats  # noqa: F401
from .transforms import PCALighting, ScaleJitter, TenCrop, FiveCrop, five_crop, ten_crop  # noqa: F401

__all__ = ["load", "list_builtin", "materialise", "ListFileDataset", "collate_skip", "Problem",
           "make_lists", "caltech16_from_101", "channel_stats", "check_list", "transforms",
           "ten_crop", "five_crop", "TenCrop", "FiveCrop", "PCALighting", "ScaleJitter"]
