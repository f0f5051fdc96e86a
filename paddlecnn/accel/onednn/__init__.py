"""A oneDNN CPU backend for training: convolution and pooling as paddle custom operators.

paddle 3.3's dygraph CPU convolution is im2col + one matrix product per image; its
CPU wheel nevertheless ships oneDNN (``paddle/libs/libdnnl.so.3``). This package
compiles a few custom operators (``csrc/*.cc``) against that library on first use and
wraps them as layers that share the parameters of paddle's:

* :class:`OneDNNConv2D`: convolution forward, backward-data and backward-weights with bias;
* :class:`OneDNNPool2D`: max pooling (with oneDNN's workspace) and average pooling, run on a
  channel-blocked copy where oneDNN has JIT kernels;
* :func:`fuse_activations`: a ReLU/LeakyReLU/sigmoid after a conv runs inside it (a post-op), its
  backward on all cores.

``available()`` says whether the operators could be built here, and why not;
:func:`choose_backend` turns ``train(fastconv=...)``'s setting into a backend.

>>> ok, why = onednn.available()                    # doctest: +SKIP
>>> net = paddlecnn.models.create("vgg11", num_classes=10, input_size=32, width=0.25)
>>> onednn.maybe_enable(net, ok)                    # doctest: +SKIP  (enable_all when ok)
"""
from .build import available, reset
from .layers import FusedAway, OneDNNConv2D, OneDNNPool2D, conv_eligible, pool_eligible
from .swap import choose_backend, disable, enable, enable_all, enable_pools, fuse_activations, maybe_enable

__all__ = ["available", "reset", "FusedAway", "OneDNNConv2D", "OneDNNPool2D", "conv_eligible", "pool_eligible",
           "choose_backend", "enable", "enable_all", "enable_pools", "fuse_activations", "disable", "maybe_enable"]
