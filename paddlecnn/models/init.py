"""Named weight-initialisation schemes: each network starts as its source started it.

=============  ==============================================  ===================  ==========================
scheme         Conv2D weight (k x k, C_in -> C_out)            Linear weight        source
=============  ==============================================  ===================  ==========================
paddle         N(0, sqrt(2 / (k*k*C_in)))                      Xavier uniform       fluid 1.x ``dygraph.Conv2D``
                                                                                    / ``Linear`` defaults, the
                                                                                    same in paddle 3: the
                                                                                    PaddlePaddle tutorial
alexnet_paper  N(0, 0.01)                                      N(0, 0.01)           the AlexNet paper, section 5
                                                                                    (bias 1: see below)
vgg_paper      N(0, 0.1): variance 1e-2                        N(0, 0.1)            the VGG paper, section 3.1
msra_prelu     N(0, sqrt(2 / (1 + 0.25^2) / ((fan_in + fan_out) / 2)))  (same)      MXNet ``MSRAPrelu()``: the
                                                                                    VGG16-on-ImageNet chapter
msra           N(0, sqrt(2 / fan_in)) (He, fan-in)             same                 He et al. 2015
normal_0.01    N(0, 0.01)                                      N(0, 0.01)           (AlexNet's std, no bias 1)
xavier         Xavier (Glorot) uniform                         Xavier uniform       Glorot & Bengio 2010
=============  ==============================================  ===================  ==========================

fan_in = C_in*k*k, fan_out = C_out*k*k for a convolution, the in/out features for a Linear.
Biases are 0, except ``alexnet_paper``: 1 in the sublayers the model lists in
``paper_bias_one`` (AlexNet: conv2, conv4, conv5, fc6, fc7), which feeds the ReLUs
positive inputs early on. BatchNorm: scale 1, shift 0, running mean 0 and variance 1.
PReLU slopes: 0.25 (the value ``MSRAPrelu`` assumes).

Every network is built inside :func:`deferred` (parameters created as constants, no
random draw) and then :func:`apply_init` draws each weight once, so ``paddle.seed(s)``
before ``create`` gives the same weights every time.

Paddle 1.x source: ``python/paddle/fluid/dygraph/nn.py``, ``Conv2D.__init__``'s
``_get_default_param_initializer`` (std = (2.0 / filter_elem_num) ** 0.5 with
filter_elem_num = k*k*num_channels); ``Linear`` passes no default, so ``ParamAttr``
falls back to Xavier. Paddle 3.3.1: ``paddle/nn/layer/conv.py`` has the same function,
and ``ParamAttr._set_default_param_initializer`` is ``XavierUniform()``.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Dict, Iterator, List

import paddle
import paddle.nn as nn
from paddle.base.initializer import _global_bias_initializer, _global_weight_initializer
from paddle.nn import initializer as I

from ..errors import PaddleCNNError

PRELU_SLOPE = 0.25  # paddle's PReLU default and the slope MXNet's MSRAPrelu assumes


def _fans(weight: paddle.Tensor) -> tuple:
    """(fan_in, fan_out) of a Conv2D weight [C_out, C_in, k, k] or a Linear weight [in, out]."""
    shape = list(weight.shape)
    if len(shape) == 2:
        return shape[0], shape[1]
    field = math.prod(shape[2:])
    return shape[1] * field, shape[0] * field


def _normal(std_of: Callable[[int, int], float]) -> Callable[[paddle.Tensor], I.Initializer]:
    return lambda w: I.Normal(0.0, std_of(*_fans(w)))


def paddle_default_std(fan_in: int, fan_out: int, conv: bool) -> float:
    """Std of the ``paddle`` scheme: sqrt(2/fan_in) for a conv, Xavier uniform's sqrt(2/(in+out)) for a Linear."""
    return math.sqrt(2.0 / fan_in) if conv else math.sqrt(2.0 / (fan_in + fan_out))


def msra_prelu_std(fan_in: int, fan_out: int, slope: float = PRELU_SLOPE) -> float:
    """MXNet ``MSRAPrelu(factor_type="avg", slope)``: Xavier gaussian with magnitude 2/(1+slope^2)."""
    return math.sqrt(2.0 / (1.0 + slope ** 2) / ((fan_in + fan_out) / 2.0))


def _paddle(w: paddle.Tensor) -> I.Initializer:
    fan_in, fan_out = _fans(w)
    if len(w.shape) == 2:
        return I.XavierUniform()
    return I.Normal(0.0, paddle_default_std(fan_in, fan_out, conv=True))


_WEIGHT_INITS: Dict[str, Callable[[paddle.Tensor], I.Initializer]] = {
    "paddle": _paddle,
    "alexnet_paper": _normal(lambda fi, fo: 0.01),
    "normal_0.01": _normal(lambda fi, fo: 0.01),
    "vgg_paper": _normal(lambda fi, fo: 0.1),
    "msra": _normal(lambda fi, fo: math.sqrt(2.0 / fi)),
    "msra_prelu": _normal(msra_prelu_std),
    "xavier": lambda w: I.XavierUniform(),
}


def list_inits() -> List[str]:
    """Names accepted by :func:`apply_init`."""
    return sorted(_WEIGHT_INITS)


def check_scheme(scheme: str) -> str:
    """``scheme`` if it names an init scheme, else a one-line PaddleCNNError."""
    if scheme not in _WEIGHT_INITS:
        raise PaddleCNNError(f"unknown init scheme {scheme!r}; choose one of: {', '.join(list_inits())}")
    return scheme


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Create parameters as zeros (no random draw) inside; :func:`apply_init` fills them after.

    paddle would otherwise draw every weight with its own default and we would draw it
    again: twice the time on VGG's 100M-weight fc6 and an RNG stream that depends on both.
    """
    previous = (_global_weight_initializer(), _global_bias_initializer())
    I.set_global_initializer(I.Constant(0.0), I.Constant(0.0))
    try:
        yield
    finally:
        I.set_global_initializer(*previous)


def apply_init(model: nn.Layer, scheme: str) -> nn.Layer:
    """(Re-)initialise every parameter of ``model`` with ``scheme``; returns ``model``.

    Raises PaddleCNNError for a parameter in a layer type this module does not know, so a
    new layer cannot silently keep the zeros :func:`deferred` gave it.
    """
    weight_init = _WEIGHT_INITS[check_scheme(scheme)]
    bias_one = set(getattr(model, "paper_bias_one", ())) if scheme == "alexnet_paper" else set()
    done = set()
    with paddle.no_grad():
        for name, layer in model.named_sublayers(include_self=True):
            done |= _init_layer(layer, name, weight_init, bias_one)
    missed = [n for n, p in model.named_parameters() if id(p) not in done]
    if missed:
        raise PaddleCNNError(f"apply_init does not know how to initialise {missed[0]}; add its layer type "
                             "to paddlecnn/models/init.py")
    return model


def _init_layer(layer: nn.Layer, name: str, weight_init, bias_one: set) -> set:
    """Initialise the parameters ``layer`` owns directly; returns their ids."""
    one, zero = I.Constant(1.0), I.Constant(0.0)
    if isinstance(layer, (nn.Conv2D, nn.Linear)):
        weight_init(layer.weight)(layer.weight)
        if layer.bias is not None:
            (one if _in_group(name, bias_one) else zero)(layer.bias)
    elif isinstance(layer, (nn.BatchNorm2D, nn.BatchNorm1D, nn.BatchNorm)):
        for param, value in ((layer.weight, one), (layer.bias, zero)):
            if param is not None:
                value(param)
        zero(layer._mean)
        one(layer._variance)
    elif isinstance(layer, nn.PReLU):
        I.Constant(PRELU_SLOPE)(layer._weight)
    else:
        return set()
    return {id(p) for p in layer.parameters(include_sublayers=False)}


def _in_group(name: str, prefixes: set) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)
