"""Where a training step's time goes inside oneDNN, for paddlecnn's CPU step and PyTorch's twin.

    python docs/bench/onednn_verbose.py vgg11 > docs/bench/onednn-verbose-DATE-CPU.txt

Runs each framework's step in a fresh process with ``ONEDNN_VERBOSE=profile_exec`` (both
paddle's oneDNN and the one inside PyTorch print one line per primitive executed), times 5
steps after 3 warm-up steps and sums the verbose lines of those 5 steps per primitive kind,
implementation and (for convolutions) shape. Prints ms per step. The verbose printing slows
the step down a little; compare the two frameworks with each other, not with the benchmark.
"""
import collections
import os
import subprocess
import sys

from paddlecnn.bench import DEFAULT_MODELS

STEPS, WARMUP, TOP = 5, 3, 24


def child(framework: str, name: str) -> None:
    """Subprocess body: build ``name`` as the benchmark does and run its step between markers."""
    import time

    from paddlecnn import runtime
    from paddlecnn.bench import NUM_CLASSES, paddle_step, synthetic_batch
    from paddlecnn.models import create

    runtime.set_threads(2)
    options = dict(DEFAULT_MODELS[name])
    x, y = synthetic_batch(32, options.get("in_channels", 3), options["input_size"])
    net = create(name, num_classes=NUM_CLASSES, **options)
    if framework == "paddle":
        from paddlecnn.accel import onednn

        onednn.enable_all(net)
        step = paddle_step(net, x, y, zero_grads=False)
    else:
        from paddlecnn.bench.torch_twin import torch_step, torch_twin

        step = torch_step(torch_twin(net), x, y, threads=2)
    for _ in range(WARMUP):
        step()
    print("MARK-START", flush=True)
    start = time.perf_counter()
    for _ in range(STEPS):
        step()
    print(f"MARK-END {(time.perf_counter() - start) / STEPS * 1e3:.1f}", flush=True)


def summary(log: str) -> str:
    """ms per step by (primitive, implementation, direction, convolution shape) between the markers."""
    inside, rest = log.split("MARK-START", 1)[1].split("MARK-END", 1)
    step_ms = float(rest.split()[0])
    total, rows, calls = 0.0, collections.defaultdict(float), collections.Counter()
    for line in inside.splitlines():
        parts = line.split(",")
        if not line.startswith("onednn_verbose") or "exec" not in parts:
            continue
        i = parts.index("exec")
        kind, impl, direction = parts[i + 2], parts[i + 3], parts[i + 4]
        key = (kind, impl, direction, parts[-2] if kind == "convolution" else "")
        rows[key] += float(parts[-1])
        calls[key] += 1
        total += float(parts[-1])
    out = [f"step {step_ms:.1f} ms, of which inside oneDNN {total / STEPS:.1f} ms"]
    for key, ms in sorted(rows.items(), key=lambda kv: -kv[1])[:TOP]:
        out.append(f"  {ms / STEPS:7.2f} ms {calls[key] // STEPS:3d}x  {' '.join(k for k in key if k)}")
    return "\n".join(out)


def main(name: str) -> None:
    for framework in ("paddle", "torch"):
        proc = subprocess.run([sys.executable, __file__, "--child", framework, name], capture_output=True, text=True,
                              env=dict(os.environ, ONEDNN_VERBOSE="profile_exec", DNNL_VERBOSE="profile_exec"))
        print(f"{name} {DEFAULT_MODELS[name]}, {framework}:")
        print(summary(proc.stdout + proc.stderr) if "MARK-END" in proc.stdout else proc.stderr[-2000:])


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "vgg11")
