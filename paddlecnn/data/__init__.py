"""Data: built-in offline datasets, list files, class folders, augmentations, checks.

>>> from paddlecnn import data
>>> train = data.load("shapes16", "train", transform="basic")     # doctest: +SKIP
>>> x, y = train[0]                    # float32 (3, 64, 64), np.int64 label

Layers, bottom up (each imports only those below it): ``images`` (decode one file),
``lists`` (parse list files, pure), ``stats`` and ``transforms``, ``dataset``
(:class:`ListFileDataset`), then ``check``, ``folders``, ``shapes16`` and ``builtin``.

Every dataset is a list file (``relative/path.jpg LABEL`` per line) read by
:class:`ListFileDataset`: the built-ins are materialised as image files and list
files under ``paths.data_dir()``, so they follow the user's code path exactly.
"""
from . import transforms  # noqa: F401
from .builtin import default_transform, list_builtin, load, materialise  # noqa: F401
from .check import check_list  # noqa: F401
from .dataset import ListFileDataset, collate_skip  # noqa: F401
from .folders import caltech16_from_101, make_lists  # noqa: F401
from .images import ImageError, open_image  # noqa: F401
from .lists import Problem, label_problems, parse_list, read_class_names  # noqa: F401
from .stats import channel_stats  # noqa: F401
from .transforms import PCALighting, ScaleJitter, TenCrop, FiveCrop, five_crop, ten_crop  # noqa: F401

__all__ = ["load", "list_builtin", "materialise", "default_transform", "ListFileDataset", "collate_skip",
           "Problem", "label_problems", "ImageError", "open_image",
           "make_lists", "caltech16_from_101", "channel_stats", "check_list", "transforms",
           "ten_crop", "five_crop", "TenCrop", "FiveCrop", "PCALighting", "ScaleJitter"]
