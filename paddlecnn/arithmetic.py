"""Convolution arithmetic: the first lesson's tools, and a per-layer model summary.

Plain numpy references a student can read line by line (:func:`corr2d`,
:func:`conv2d_numpy`), the size formulas (:func:`output_size`,
:func:`receptive_field`), the parameter-count arguments of the papers
(:func:`stacked_vs_single`, :func:`dense_vs_conv_params`), and
:func:`summary`, which runs a model once and tabulates every layer.

>>> corr2d([[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[0, 1], [2, 3]]).tolist()
[[25.0, 31.0], [43.0, 49.0]]
>>> output_size(224, kernel=11, padding=2, stride=4)
55
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import paddle
import paddle.nn as nn

from .errors import PaddleCNNError

IntPair = Union[int, Sequence[int]]


def _pair(value: IntPair, name: str) -> Tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    if len(value) != 2:
        raise PaddleCNNError(f"{name} must be an int or a pair (h, w), got {value!r}")
    return int(value[0]), int(value[1])


# --------------------------------------------------------------------------- #
# Reference convolutions in numpy
# --------------------------------------------------------------------------- #
def corr2d(x, k, bias: float = 0.0, stride: int = 1, padding: int = 0) -> np.ndarray:
    """2-D cross-correlation of one (H, W) image with one (kh, kw) kernel, as a CNN computes it.

    The kernel is *not* flipped (deep-learning "convolution" is cross-correlation):
    ``out[i, j] = sum_{u, v} x[i*s + u, j*s + v] * k[u, v] + bias`` on ``x`` padded
    with ``padding`` zeros on every side. Returns a float64 (H', W') array with
    H' = (H + 2p - kh) // s + 1 (see :func:`output_size`).
    """
    x = np.pad(np.asarray(x, dtype=np.float64), padding)
    k = np.asarray(k, dtype=np.float64)
    if x.ndim != 2 or k.ndim != 2:
        raise PaddleCNNError(f"corr2d takes a 2-D image and a 2-D kernel, got shapes {x.shape} and {k.shape}")
    kh, kw = k.shape
    out_h = output_size(x.shape[0], kh, 0, stride)
    out_w = output_size(x.shape[1], kw, 0, stride)
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = x[i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[i, j] = (window * k).sum() + bias
    return out


def conv2d_numpy(x, w, b=None, stride: IntPair = 1, padding: IntPair = 0) -> np.ndarray:
    """Multi-channel convolution layer in numpy: (N, C, H, W) * (O, C, kh, kw) -> (N, O, H', W').

    The same sliding window as :func:`corr2d`, but each window covers all C input
    channels and is multiplied with all O kernels at once, so one output position
    gives O numbers per image. ``b`` is an optional (O,) bias. Matches
    ``paddle.nn.functional.conv2d`` (groups=1, dilation=1) in float32 to ~1e-5.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise PaddleCNNError(f"conv2d_numpy needs x (N, C, H, W) and w (O, C, kh, kw) with the same C, "
                             f"got {x.shape} and {w.shape}")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    out_h, out_w = output_size(h, kh, 0, sh), output_size(wd, kw, 0, sw)
    out = np.zeros((n, o, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]      # (N, C, kh, kw)
            # sum over C, kh, kw for every (image, kernel) pair -> (N, O)
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        out += np.asarray(b, dtype=np.float64).reshape(1, o, 1, 1)
    return out


# --------------------------------------------------------------------------- #
# Size formulas
# --------------------------------------------------------------------------- #
def output_size(n: int, kernel: int, padding: int = 0, stride: int = 1, dilation: int = 1) -> int:
    """Output length of a conv/pool along one axis: floor((n + 2p - d(k-1) - 1) / s) + 1.

    ``n`` input pixels, ``kernel`` taps, ``padding`` zeros per side, ``stride`` and
    ``dilation`` in pixels. Raises :class:`PaddleCNNError` when the window does not
    fit even once (output < 1).
    """
    if kernel < 1 or stride < 1 or dilation < 1 or padding < 0:
        raise PaddleCNNError(f"output_size: kernel, stride and dilation must be >= 1 and padding >= 0, got "
                             f"kernel={kernel}, stride={stride}, dilation={dilation}, padding={padding}")
    span = dilation * (kernel - 1) + 1
    size = (n + 2 * padding - span) // stride + 1
    if size < 1:
        raise PaddleCNNError(f"output_size: a {kernel}x{kernel} window (dilation {dilation}, span {span} px) does "
                             f"not fit an input of {n} px with padding {padding}: use a larger input or more padding")
    return size


def receptive_field(layers: Sequence) -> List[Tuple[int, int]]:
    """Receptive field and jump (both in input pixels) after each layer of a chain.

    ``layers`` holds ``(kernel, stride)`` pairs, ``(kernel, stride, dilation)``
    triples or dicts with keys ``kernel``, ``stride`` and optional ``dilation``.
    Starting from r = 1, j = 1 (one input pixel):
    r_out = r_in + (k_eff - 1) * j_in and j_out = j_in * s, with
    k_eff = d(k - 1) + 1. Padding moves the field but does not change its size.

    >>> receptive_field([(3, 1)] * 3)[-1]
    (7, 1)
    """
    r, j = 1, 1
    out = []
    for i, layer in enumerate(layers):
        if isinstance(layer, dict):
            if "kernel" not in layer:
                raise PaddleCNNError(f"receptive_field: layer {i} {layer!r} has no 'kernel' key")
            k, s, d = layer["kernel"], layer.get("stride", 1), layer.get("dilation", 1)
        else:
            k, s, d = (tuple(layer) + (1,))[:3]
        r, j = r + (d * (k - 1)) * j, j * s
        out.append((r, j))
    return out


# --------------------------------------------------------------------------- #
# Parameter-count arguments
# --------------------------------------------------------------------------- #
def stacked_vs_single(channels: int, n_stacked: int = 3) -> Dict[str, int]:
    """VGG's argument: n stacked 3x3 convs see as far as one (2n+1)x(2n+1) conv, with fewer weights.

    Both map ``channels`` channels to ``channels`` channels; biases are left out,
    as in the paper. For n = 3: 27 C^2 vs 49 C^2 weights, receptive field 7;
    for n = 2: 18 C^2 vs 25 C^2, field 5. (The stack also has n non-linearities.)
    """
    c2 = channels * channels
    single_kernel = 2 * n_stacked + 1
    return {
        "n_stacked": n_stacked,
        "stacked_params": n_stacked * 9 * c2,
        "single_kernel": single_kernel,
        "single_params": single_kernel * single_kernel * c2,
        "stacked_receptive_field": receptive_field([(3, 1)] * n_stacked)[-1][0],
        "single_receptive_field": single_kernel,
    }


def dense_vs_conv_params(height: int, width: int, in_channels: int, out_channels: int,
                         kernel: int = 3, bias: bool = True) -> Dict[str, int]:
    """Weights needed to turn an (in_channels, H, W) image into an (out_channels, H, W) map.

    A fully connected layer links every input pixel to every output pixel:
    (C_in H W) x (C_out H W) weights (+ C_out H W biases). A ``kernel`` x ``kernel``
    convolution with "same" padding shares one small kernel across all positions:
    k^2 C_in C_out weights (+ C_out biases), whatever H and W are.
    """
    n_in, n_out = in_channels * height * width, out_channels * height * width
    return {
        "dense_params": n_in * n_out + (n_out if bias else 0),
        "conv_params": kernel * kernel * in_channels * out_channels + (out_channels if bias else 0),
    }


def _bn_running_stats(model: nn.Layer) -> set:
    """ids of BatchNorm running mean/variance, which paddle stores as (stop-gradient) parameters."""
    ids = set()
    for layer in model.sublayers(include_self=True):
        if isinstance(layer, (nn.BatchNorm, nn.layer.norm._BatchNormBase)):
            ids.update(id(p) for p in (getattr(layer, "_mean", None), getattr(layer, "_variance", None))
                       if p is not None)
    return ids


def count_parameters(model: nn.Layer, trainable_only: bool = False) -> int:
    """Number of learnable numbers in ``model``; BatchNorm running statistics are not counted.

    Running mean/variance are excluded by layer type (they are statistics, not
    weights); other parameters with ``stop_gradient=True`` (frozen weights) still
    count unless ``trainable_only``.
    """
    stats = _bn_running_stats(model)
    return sum(int(np.prod(p.shape)) for p in model.parameters()
               if id(p) not in stats and not (trainable_only and p.stop_gradient))


# --------------------------------------------------------------------------- #
# Model summary
# --------------------------------------------------------------------------- #
@dataclass
class LayerRow:
    """One executed layer: output shape (N, C, H, W) with N = batch_size, MACs per image.

    ``receptive_field`` and ``jump`` are in input pixels; ``None`` means the layer
    sees the whole input (after a fully connected layer).
    """

    name: str
    type: str
    output_shape: Tuple[int, ...]
    params: int
    macs: int
    receptive_field: Optional[int]
    jump: Optional[int]


@dataclass
class Summary:
    """What :func:`summary` measured. ``str(summary)`` is an aligned table plus totals."""

    input_shape: Tuple[int, ...]
    rows: List[LayerRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    macs: int = 0
    params_not_run: int = 0

    @property
    def weight_mib(self) -> float:
        """Size of the parameters as float32, in MiB (2**20 bytes), BN running stats excluded."""
        return self.total_params * 4 / 2 ** 20

    def __str__(self) -> str:
        header = ("Layer", "Type", "Output shape", "Params", "MACs", "RF", "Jump")
        cells = [header] + [(r.name, r.type, str(list(r.output_shape)), f"{r.params:,}", _human(r.macs),
                             "all" if r.receptive_field is None else str(r.receptive_field),
                             "-" if r.jump is None else str(r.jump)) for r in self.rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
        right = {3, 4, 5, 6}   # numbers align right

        def fmt(c):
            return "  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(c, widths)))

        rule = "-" * len(fmt(header))
        lines = [rule, fmt(header), rule] + [fmt(c) for c in cells[1:]] + [rule]
        lines += [f"Input shape:            {list(self.input_shape)}",
                  f"Total parameters:       {self.total_params:,}",
                  f"Trainable parameters:   {self.trainable_params:,}",
                  f"Multiply-adds / image:  {_human(self.macs)} ({self.macs:,})",
                  f"float32 weights:        {self.weight_mib:.{2 if self.weight_mib >= 0.1 else 4}f} MiB "
                  "(1 MiB = 2**20 bytes)"]
        if self.params_not_run:
            lines.append(f"Parameters in layers not run (e.g. aux heads in eval mode): {self.params_not_run:,}")
        lines.append("BatchNorm running statistics are not counted as parameters; MACs count conv and "
                     "fully connected layers only.")
        lines.append("RF / Jump: receptive field and stride of one unit in input pixels; 'all' after a fully "
                     "connected layer; a concatenation of parallel branches takes the widest branch.")
        return "\n".join(lines)


def _human(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def _first_tensor(value):
    while isinstance(value, (list, tuple)):
        if not value:
            return None
        value = value[0]
    return value if isinstance(value, paddle.Tensor) else None


def _window(layer: nn.Layer, in_shape, out_shape) -> Optional[Tuple[int, int]]:
    """(effective kernel, stride) along H of a layer that slides a window, else None."""
    if isinstance(layer, nn.layer.conv._ConvNd) and not isinstance(layer, nn.Conv2DTranspose):
        k, s, d = layer._kernel_size[0], layer._stride[0], layer._dilation[0]
        return d * (k - 1) + 1, s
    if "Adaptive" in type(layer).__name__ and len(in_shape) == 4:
        # An adaptive pool with output o over input n acts like stride n // o, kernel n - (o - 1) * stride.
        n, o = in_shape[2], out_shape[2]
        s = max(1, n // o)
        return n - (o - 1) * s, s
    if hasattr(layer, "ksize"):   # MaxPool2D, AvgPool2D, ...
        k = _pair(layer.ksize, "kernel_size")[0]
        s = k if layer.stride is None else _pair(layer.stride, "stride")[0]
        return k, s
    return None


def _macs(layer: nn.Layer, inp, out) -> int:
    """Multiply-adds for the whole batch: conv out_elems * (C_in/groups) * kh * kw; linear in * out."""
    if isinstance(layer, nn.Conv2DTranspose):
        return int(np.prod(inp.shape)) * (layer._out_channels // layer._groups) * int(np.prod(layer._kernel_size))
    if isinstance(layer, nn.layer.conv._ConvNd):
        return int(np.prod(out.shape)) * (layer._in_channels // layer._groups) * int(np.prod(layer._kernel_size))
    if isinstance(layer, nn.Linear):
        return int(np.prod(out.shape)) * int(layer.weight.shape[0])
    return 0


def _total_padding(padding) -> Optional[Tuple[int, int]]:
    """Zeros a conv's ``padding`` adds along (H, W), in any of paddle's forms; None for 'SAME'."""
    if isinstance(padding, str):
        return None if padding.upper() == "SAME" else (0, 0)
    if isinstance(padding, int):
        return 2 * padding, 2 * padding
    flat = [int(v) for v in np.ravel(np.asarray(padding, dtype=np.int64))]
    if len(flat) == 2:                 # [pad_h, pad_w]
        return 2 * flat[0], 2 * flat[1]
    if len(flat) == 4:                 # [top, bottom, left, right]
        return flat[0] + flat[1], flat[2] + flat[3]
    return flat[-4] + flat[-3], flat[-2] + flat[-1]   # per-dimension pairs, NCHW: H and W are last


class _Tracker:
    """Forward hooks that follow receptive fields tensor by tensor and record leaf-layer rows."""

    def __init__(self, model: nn.Layer, x: paddle.Tensor, batch_size: int):
        self.stats = _bn_running_stats(model)
        self.batch_size = batch_size
        self.names = {id(layer): name for name, layer in model.named_sublayers()}
        self.state = {id(x): (1, 1)}     # id(tensor) -> (receptive field, jump)
        self.keep = [x]                  # keeps tensors alive so their ids are not reused
        self.last = (1, 1)
        self.starts: Dict[int, List[int]] = {}
        self.trace: List[Tuple[Optional[int], Optional[int]]] = []   # every state produced, in order
        self.rows: List[LayerRow] = []
        self.ran = set()

    def pre(self, layer, inputs):
        self.starts.setdefault(id(layer), []).append(len(self.trace))
        inp = _first_tensor(inputs)
        if isinstance(layer, nn.Conv2D) and inp is not None and len(inp.shape) == 4:
            # paddle 3.3 aborts the whole process (uncatchable) on a conv whose kernel
            # overhangs its input, so check here and raise a readable error instead.
            span = layer._dilation[0] * (layer._kernel_size[0] - 1) + 1
            pad = _total_padding(layer._padding)
            if pad is not None and min(inp.shape[2] + pad[0], inp.shape[3] + pad[1]) < span:
                raise PaddleCNNError(f"layer {self.names.get(id(layer), type(layer).__name__)!r} ({span}x{span} "
                                     f"conv) gets a {inp.shape[2]}x{inp.shape[3]} map, smaller than its kernel: "
                                     "use a larger input size (--input-size)")

    def post(self, layer, inputs, output):
        start = self.starts[id(layer)].pop()
        inp, out = _first_tensor(inputs), _first_tensor(output)
        own = [p for p in layer.parameters(include_sublayers=False) if id(p) not in self.stats]
        is_leaf = not layer.sublayers()
        if out is None:
            return
        if id(out) in self.state:
            new = self.state[id(out)]
        elif not is_leaf:
            # A block whose forward ends in a functional op (Inception's concat): its output
            # sees as far as the widest branch inside it, so take the largest field traced.
            inside = self.trace[start:] or [self.last]
            new = max(inside, key=lambda st: float("inf") if st[0] is None else st[0])
        else:
            r, j = self.state.get(id(inp), self.last) if inp is not None else self.last
            if isinstance(layer, nn.Linear):
                r, j = None, None
            elif r is not None and inp is not None and len(inp.shape) == 4:
                win = _window(layer, inp.shape, out.shape)
                if win is not None:
                    r, j = r + (win[0] - 1) * j, j * win[1]
            new = (r, j)
        self.state[id(out)] = new
        self.keep.append(out)
        self.trace.append(new)
        self.last = new
        if is_leaf or own:
            self.ran.add(id(layer))
            self.rows.append(LayerRow(self.names.get(id(layer), type(layer).__name__), type(layer).__name__,
                                      tuple(out.shape), sum(int(np.prod(p.shape)) for p in own),
                                      _macs(layer, inp, out) // self.batch_size, new[0], new[1]))


def summary(model: nn.Layer, input_size: IntPair = 224, in_channels: int = 3, batch_size: int = 1) -> Summary:
    """Run ``model`` once on a zero (batch_size, in_channels, H, W) batch and tabulate every layer.

    Rows are the leaf layers (and any layer owning parameters itself) in the order
    they ran: output shape, own parameters, multiply-adds per image and the
    receptive field / jump in input pixels along H.

    MACs: conv = output elements x (C_in / groups) x kh x kw; linear = in x out per
    row; pooling, activations, BatchNorm, LRN and dropout count 0 (they are cheap
    element-wise work, and leaving them out matches the papers' counts).

    Receptive field: each conv or pooling window grows it by (k_eff - 1) x jump
    (adaptive pools act as a window over their input); a fully connected layer sees
    everything (``None``, shown "all"). On parallel branches (Inception) each branch
    is followed on its own tensors; the block's concatenated output takes the
    *largest* field of its branches, which is where the 5x5 branch or the pool
    branch sees furthest. Layers called through ``paddle.nn.functional`` inside a
    ``forward`` are invisible to hooks and give no row.

    Totals come from :func:`count_parameters` over the whole model, so parameters
    of layers that did not run (auxiliary heads skipped in eval mode) still count;
    ``params_not_run`` says how many. The model runs in eval mode without
    gradients and is put back in its previous mode.
    """
    h, w = _pair(input_size, "input_size")
    x = paddle.zeros([batch_size, in_channels, h, w], dtype="float32")
    tracker = _Tracker(model, x, batch_size)
    handles = []
    for layer in model.sublayers(include_self=True):
        handles.append(layer.register_forward_pre_hook(tracker.pre))
        handles.append(layer.register_forward_post_hook(tracker.post))
    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad():
            model(x)
    except PaddleCNNError:
        raise
    except Exception as exc:  # paddle raises several error types for a map that shrinks to nothing
        raise PaddleCNNError(f"{type(model).__name__} cannot run on a {in_channels}x{h}x{w} input "
                             f"(check --input-size / --in-channels): {str(exc).strip().splitlines()[-1]}") from None
    finally:
        for handle in handles:
            handle.remove()
        if was_training:
            model.train()
    stats = tracker.stats
    not_run = sum(int(np.prod(p.shape)) for layer in model.sublayers(include_self=True)
                  if id(layer) not in tracker.ran
                  for p in layer.parameters(include_sublayers=False) if id(p) not in stats)
    return Summary(input_shape=(batch_size, in_channels, h, w), rows=tracker.rows,
                   total_params=count_parameters(model),
                   trainable_params=count_parameters(model, trainable_only=True),
                   macs=sum(r.macs for r in tracker.rows), params_not_run=not_run)
