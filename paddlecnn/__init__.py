"""paddlecnn: classic convolutional networks (LeNet, AlexNet, VGG, GoogLeNet) on PaddlePaddle 3.x.

>>> import paddlecnn
>>> net = paddlecnn.models.create("lenet5", num_classes=10, in_channels=1)
>>> history = paddlecnn.train(2, 32, net, data="mnist5k")      # doctest: +SKIP

``runtime`` is imported first: it gives paddle all CPU cores and the fast MKL path
(see :mod:`paddlecnn.runtime`) before anything else touches paddle.
"""
import os as _os
import sys as _sys

def _interrupted(exc: BaseException) -> bool:
    """A Ctrl-C, or paddle's ImportError raised while handling one (it re-raises inside libpaddle's import)."""
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__context__
    return False


try:
    from . import runtime  # noqa: F401  (must come first)
    from . import models  # noqa: F401
except (KeyboardInterrupt, ImportError) as _exc:
    # Ctrl-C while `python -m paddlecnn` (or the paddlecnn script) is still importing paddle: one
    # line, exit code 130, as the CLI does once it runs; a library import keeps Python's behaviour.
    _cli = _sys.argv[:1] == ["-m"] or _os.path.basename(_sys.argv[0] if _sys.argv else "") == "paddlecnn"
    if _cli and _interrupted(_exc):
        print("interrupted", file=_sys.stderr)
        raise SystemExit(130) from None
    raise
from .errors import PaddleCNNError  # noqa: F401

__version__ = "0.1.0"

# Heavier parts load on first use, so `python -m paddlecnn summary` starts fast.
# Module names differ from the functions (engine.trainer.train, not train.train) so that
# importing the module never shadows the function on the package.
_LAZY = {
    "train": ("paddlecnn.engine.trainer", "train"),
    "evaluate": ("paddlecnn.evaluation", "evaluate"),
    "predict": ("paddlecnn.prediction", "predict"),
    "data": ("paddlecnn.data", None),
    "recipes": ("paddlecnn.engine.recipes", None),   # `from paddlecnn import recipes` (lessons)
    "arithmetic": ("paddlecnn.arithmetic", None),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'paddlecnn' has no attribute {name!r}")
    import importlib

    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attr is None else getattr(module, attr)
