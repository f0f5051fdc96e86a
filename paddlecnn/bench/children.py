"""Fresh Python processes for the measurements that must not share one: peak memory,
settings read once at start-up (MKL, OpenMP), forked DataLoader workers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

from .. import runtime
from ..errors import PaddleCNNError

# Settings a variant of :func:`paddlecnn.bench.envab.env_ab` may set: a child starts without the parent's.
TUNING_VARIABLES = ("MKL_DEBUG_CPU_TYPE", "OMP_PROC_BIND", "OMP_PLACES", "OMP_WAIT_POLICY", "PADDLECNN_MALLOC")


def child_env(extra: Optional[Dict[str, str]] = None) -> dict:
    """The environment of a child: this copy of paddlecnn importable, this process's thread
    count, no CPU-tuning variables from the parent, then ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if k not in TUNING_VARIABLES}
    env["OMP_NUM_THREADS"] = str(runtime.SETTINGS.get("threads", 1))
    package_parent = str(Path(__file__).resolve().parents[2])      # the folder holding paddlecnn/
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def run_child(target: str, spec: str, what: str, env: Optional[dict] = None, timeout: float = 600):
    """Call ``target`` ("module:function") with the JSON ``spec`` in a fresh interpreter and return
    the JSON of the last line it prints; a failing child raises PaddleCNNError naming ``what``."""
    module, function = target.split(":")
    code = f"import sys; from {module} import {function}; {function}(sys.argv[1])"
    proc = subprocess.run([sys.executable, "-c", code, spec], capture_output=True, text=True,
                          env=child_env() if env is None else env, timeout=timeout)
    if proc.returncode != 0:
        raise PaddleCNNError(f"{what} failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
