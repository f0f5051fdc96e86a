"""Environment settings A/B: settings read once at process start (by MKL or OpenMP), so
every variant runs in a fresh process, the variants alternating round by round."""
from __future__ import annotations

import json
import statistics
from typing import Dict, List, Optional

from .. import runtime
from .children import child_env, run_child
from .steps import NUM_CLASSES, bench_bare, synthetic_batch
from .timing import gemm_gflops

ENV_VARIANTS: Dict[str, Dict[str, str]] = {
    "default": {},
    "MKL_DEBUG_CPU_TYPE=5": {"MKL_DEBUG_CPU_TYPE": "5"},
    "OMP_PROC_BIND=true": {"OMP_PROC_BIND": "true", "OMP_PLACES": "cores"},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "PADDLECNN_MALLOC=off": {"PADDLECNN_MALLOC": "off"},
    "1 thread": {"OMP_NUM_THREADS": "1"},
}


def env_child(spec: str) -> None:
    """Subprocess body of :func:`env_ab`: GEMM GFLOP/s and one model's bare-step images/s, as JSON."""
    s = json.loads(spec)
    from ..models import create

    options = s["options"]
    x, y = synthetic_batch(s["batch_size"], options.get("in_channels", 3), options.get("input_size", 224))
    model = create(s["name"], num_classes=NUM_CLASSES, **options)
    step = bench_bare(model, x, y, s["steps"], 1)
    print(json.dumps({"gemm_gflops": gemm_gflops(s["gemm_n"], 3), "images_per_sec": step.images_per_sec,
                      "threads": runtime.SETTINGS.get("threads")}))


def env_ab(name: str, options: dict, batch_size: int = 32, steps: int = 3, rounds: int = 3, gemm_n: int = 2048,
           variants: Optional[Dict[str, Dict[str, str]]] = None, timeout: float = 900) -> Dict[str, dict]:
    """Environment settings A/B: each variant runs in its own process, variants alternating for
    ``rounds`` rounds; returns per variant the medians of GEMM GFLOP/s and bare-step images/s."""
    variants = variants or ENV_VARIANTS
    spec = json.dumps({"name": name, "options": options, "batch_size": batch_size, "steps": steps,
                       "gemm_n": gemm_n})
    runs: Dict[str, List[dict]] = {k: [] for k in variants}
    for r in range(rounds):
        for key in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
            runs[key].append(run_child(f"{__name__}:env_child", spec, f"env A/B child {key}",
                                       child_env(variants[key]), timeout))
    return {k: {"env": variants[k], "rounds": len(v), "threads": v[0]["threads"],
                "gemm_gflops": statistics.median(d["gemm_gflops"] for d in v),
                "images_per_sec": statistics.median(d["images_per_sec"] for d in v),
                "images_per_sec_all": [d["images_per_sec"] for d in v]} for k, v in runs.items()}


