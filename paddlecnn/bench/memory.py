"""Peak resident memory per model, one fresh process each so the peaks do not mix."""
from __future__ import annotations

import json

from .children import run_child
from .steps import NUM_CLASSES, paddle_step, synthetic_batch


def _rss_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    # VmHWM starts afresh at exec; ru_maxrss would carry the forking parent's peak over.
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:  # pragma: no cover - not Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def rss_child(spec: str) -> None:
    """Subprocess body of :func:`peak_rss`: build the model, train ``steps`` steps, print JSON."""
    s = json.loads(spec)
    from ..models import create

    after_import = _rss_mib()
    model = create(s["name"], num_classes=NUM_CLASSES, **s["options"])
    after_model = _rss_mib()
    x, y = synthetic_batch(s["batch_size"], s["options"].get("in_channels", 3), s["input_size"])
    backend = s.get("backend", "paddle")
    if backend in ("fast", "onednn"):          # the CPU steps of paddlecnn.train, before and with oneDNN
        from ..accel import fastconv, onednn

        if backend == "onednn":
            onednn.enable_all(model)
        else:
            fastconv.maybe_enable(model, fastconv=True)
    step = paddle_step(model, x, y, zero_grads=backend == "paddle")
    for _ in range(s["steps"]):
        step()
    print(json.dumps({"import_mib": after_import, "model_mib": after_model, "peak_mib": _rss_mib()}))


def peak_rss(name: str, options: dict, input_size: int, batch_size: int, steps: int = 2,
             timeout: float = 600, backend: str = "paddle") -> dict:
    """Peak resident memory (MiB) of a fresh process that imports paddlecnn, builds ``name``
    and trains ``steps`` steps at ``batch_size``: {"import_mib", "model_mib", "peak_mib"}.
    ``backend``: "paddle" (its own layers), "fast" (FastConv2D) or "onednn" (train's CPU step)."""
    spec = json.dumps({"name": name, "options": options, "input_size": input_size,
                       "batch_size": batch_size, "steps": steps, "backend": backend})
    return run_child(f"{__name__}:rss_child", spec, f"peak-RSS subprocess for {name}", timeout=timeout)
