"""One training step and one evaluation step, and the one evaluator of the project.

:func:`train_step` is the textbook step (forward, loss, backward, update, clear the
gradients), :func:`compute_loss` the one loss (GoogLeNet's auxiliary heads included)
and :func:`evaluate_loader` the evaluator both :func:`paddlecnn.train` and
:func:`paddlecnn.evaluate` use. Results stay on the device (no host read per step):
the caller reads them back when it needs numbers.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple, Union

import numpy as np
import paddle
import paddle.nn.functional as F

from ..errors import PaddleCNNError
from .batches import unpack_batch
from .meter import all_reduce

Output = Union[paddle.Tensor, Tuple[paddle.Tensor, ...]]


def compute_loss(out: Output, y: paddle.Tensor, aux_weight: float = 0.3, label_smoothing: float = 0.0) -> paddle.Tensor:
    """Mean cross-entropy of logits ``out`` (N, K) against labels ``y`` (N,) int64.

    A tuple ``(logits, aux1, aux2)`` (GoogLeNet in training mode) adds ``aux_weight`` x the
    auxiliary heads' losses, the paper's 0.3. ``label_smoothing`` in [0, 1) mixes the one-hot
    target with the uniform distribution.
    """
    if not isinstance(out, (tuple, list)):
        return F.cross_entropy(out, y, label_smoothing=label_smoothing)
    loss = F.cross_entropy(out[0], y, label_smoothing=label_smoothing)
    for head in out[1:]:
        loss = loss + aux_weight * F.cross_entropy(head, y, label_smoothing=label_smoothing)
    return loss


def train_step(model, optimizer, x, y, aux_weight=0.3, label_smoothing=0.0, amp=None, scaler=None,
               set_to_zero=False, keep_grads=False):
    """One step on images ``x`` (N, C, H, W) float32 and labels ``y`` (N,) int64.

    Returns (mean loss, number of correct top-1 predictions), both device tensors.
    ``amp``: None, "float16" or "bfloat16" (autocast; float16 also needs a GradScaler).
    ``set_to_zero``: zero-fill the gradients (data parallel's all-reduce needs the buffers)
    instead of dropping them (saves a memset per parameter: 1.08x on AlexNet).
    """
    with paddle.amp.auto_cast(enable=amp is not None, dtype=amp or "float16", level="O1"):
        out = model(x)                           # (N, K) logits, or (logits, aux1, aux2)
        loss = compute_loss(out, y, aux_weight, label_smoothing)
    if scaler is not None:                       # float16: scale so small gradients do not underflow
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()                          # gradients of the loss w.r.t. every parameter
        optimizer.step()                         # w <- w - lr * update(gradient)
    if not keep_grads:                           # (kept only for a gradient histogram)
        optimizer.clear_grad(set_to_zero=set_to_zero)
    logits = out[0] if isinstance(out, (tuple, list)) else out
    correct = (logits.argmax(axis=-1) == y).astype("int64").sum()
    return loss.detach(), correct


def eval_step(model: Callable, x: paddle.Tensor, y: paddle.Tensor, probabilities: bool = False
              ) -> Tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor, paddle.Tensor]:
    """Summed loss, top-1 and top-5 hits of one batch, and the outputs (N, K), on the device.

    ``model`` returns logits, or with ``probabilities=True`` softmax posteriors (a
    multi-crop or ensemble view, see :mod:`paddlecnn.evaluation`); the loss is then
    -log p[label] (clipped at 1e-12). Top-5 becomes top-min(5, K) with K < 5 classes.
    """
    out = model(x)
    out = out[0] if isinstance(out, (tuple, list)) else out
    if probabilities:
        loss = -paddle.log(paddle.clip(paddle.take_along_axis(out, y.unsqueeze(-1), axis=-1), min=1e-12)).sum()
    else:
        loss = F.cross_entropy(out, y, reduction="sum")
    top1 = (out.argmax(axis=-1) == y).astype("int64").sum()
    k = min(5, out.shape[-1])
    top5 = (paddle.topk(out, k, axis=-1)[1] == y.unsqueeze(-1)).any(axis=-1).astype("int64").sum()
    return loss, top1, top5, out


def _label_error(model: Callable, x: paddle.Tensor, y: paddle.Tensor) -> PaddleCNNError:
    out = model(x)
    k = int((out[0] if isinstance(out, (tuple, list)) else out).shape[-1])
    labels = y.numpy()
    return PaddleCNNError(f"labels must be in [0, {k}) for a {k}-class model; got {labels.min()}..{labels.max()} "
                          "(does the dataset match the model?)")


def evaluate_loader(model: Callable, loader, world: int = 1, probabilities: bool = False,
                    keep_outputs: bool = False, progress: bool = False) -> Dict[str, object]:
    """Mean loss, top-1 and top-5 accuracy (fractions) of ``model`` over ``loader``.

    Returns ``{"loss", "top1", "top5", "seen"}``, plus ``"outputs"`` (N, K) and
    ``"labels"`` (N,) numpy arrays with ``keep_outputs``. Sums stay on the device
    until the end (one host read). With ``world > 1`` each process holds a shard and
    the sums are all-reduced. A Layer is put in eval mode (a DataParallel wrapper is
    looked through: no gradients, nothing to synchronise).
    """
    net = getattr(model, "_layers", model)
    if isinstance(net, paddle.nn.Layer):
        net.eval()
    loss, top1, top5, seen = paddle.zeros([]), paddle.zeros([], "int64"), paddle.zeros([], "int64"), 0
    outputs, labels = [], []
    batches = loader
    if progress:
        from tqdm import tqdm

        batches = tqdm(loader, desc="evaluate", unit="batch")
    with paddle.no_grad():
        for batch in batches:
            x, y, _ = unpack_batch(batch, getattr(loader, "dataset", None))
            if x.shape[0] == 0:
                continue
            try:
                batch_loss, batch_top1, batch_top5, out = eval_step(net, x, y, probabilities)
            except IndexError:             # paddle's gather/cross-entropy on a label >= K
                raise _label_error(net, x, y) from None
            loss, top1, top5, seen = loss + batch_loss, top1 + batch_top1, top5 + batch_top5, seen + int(x.shape[0])
            if keep_outputs:
                outputs.append(out.numpy())
                labels.append(y.numpy())
    totals = all_reduce([float(loss), float(top1), float(top5), float(seen)], world)
    n = max(totals[3], 1.0)
    result = {"loss": totals[0] / n, "top1": totals[1] / n, "top5": totals[2] / n, "seen": int(totals[3])}
    if keep_outputs:
        result["outputs"] = np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)
        result["labels"] = np.concatenate(labels) if labels else np.zeros((0,), np.int64)
    return result
