"""The benchmark's result as plain-text tables, and as JSON on disk."""
from __future__ import annotations

import json
import os
from typing import List, Sequence

from .timing import ips, ratio

def _f(v, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def format_report(result: dict) -> str:
    """The result as plain-text tables (images/s are medians; min-max are in the JSON)."""
    out = _header(result)
    for section in (_models_table, _scaling_table, _rss_table, _data_table, _ab_tables, _env_table):
        out += section(result)
    return "\n".join(out)


def _header(result: dict) -> List[str]:
    m, g = result["machine"], result["gemm"]
    out = [f"paddlecnn bench {result['date']}: {m['cpu']}, {m['threads']} threads of {m['cores']} cores, "
           f"paddle {m['paddle']}, torch {m['torch'] or 'not installed'}, MKL_DEBUG_CPU_TYPE {m['MKL_DEBUG_CPU_TYPE']}"
           + (f", malloc: {m['malloc']}" if m.get("malloc") else ""),
           f"float32 GEMM {g['n']}x{g['n']}: paddle {g['paddle_gflops']:.1f} GFLOP/s, numpy {g['numpy_gflops']:.1f}"
           + (f", torch {g['torch_gflops']:.1f}" if "torch_gflops" in g else "")]
    busy = max(filter(None, [result.get("load_before"), result.get("load_after")]), default=None)
    if busy is not None and busy > m["cores"]:
        out.append(f"WARNING: load average {busy:.1f} on {m['cores']} cores: other processes shared the CPU, "
                   "so absolute numbers are noisy (and OpenMP threads that spin-wait, torch's especially, "
                   "suffer most); rerun on a quiet machine")
    return out + [""]


def _models_table(result: dict) -> List[str]:
    out: List[str] = []
    rows = []
    dp = any("dp" in r for r in result["models"])
    for r in result["models"]:
        rows.append([r["name"], r["input_size"], r["batch_size"], _f(ips(r["train"])), _f(ips(r["loop"])),
                     _f(ips(r["fit"])), _f(ips(r["bare"])), _f(ips(r["torch"])),
                     _f(r["ratios"]["train_vs_loop"], "{:.2f}"), _f(r["ratios"]["fit_vs_loop"], "{:.2f}"),
                     _f(r["ratios"]["paddle_vs_torch"], "{:.2f}"), _f(ips(r.get("fast", {}))),
                     _f(r["ratios"].get("fast_vs_torch"), "{:.2f}"), _f(ips(r.get("onednn", {}))),
                     _f(r["ratios"].get("onednn_vs_torch"), "{:.2f}"),
                     _f(r["gflops"]), _f(r["peak_fraction"] and 100 * r["peak_fraction"], "{:.0f}%")]
                    + ([_f(ips(r.get("dp"))), _f(r["ratios"].get("dp_vs_torch"), "{:.2f}")] if dp else []))
    out.append("Training images/s (median of timed steps). train = paddlecnn.train, loop = bare paddle loop over a "
               "DataLoader,\nfit = paddle.Model.fit, bare/torch = the step alone on one fixed batch in paddle / PyTorch; "
               "GFLOP/s of the bare step;\nfast = the bare step with FastConv2D, FastMaxPool2D, gradients dropped, not "
               "zero-filled; onednn = the bare step as paddlecnn.train\nruns it on a CPU (oneDNN convolutions with their ReLU/LeakyReLU/sigmoid fused in, "
               "oneDNN pools, gradients dropped); train/loop/fit/bare use paddle's own layers;\nfast, onednn and torch were "
               f"timed in alternating blocks ({result['plan'].get('rounds', 1)} rounds of {result['plan']['steps']} steps "
               "each), so a slow spell of the machine hits all three:")
    out.append(_table(["model", "px", "batch", "train", "loop", "fit", "bare", "torch", "train/loop", "fit/loop",
                       "paddle/torch", "fast", "fast/torch", "onednn", "onednn/torch", "GFLOP/s", "of peak"]
                      + (["dp", "dp/torch"] if dp else []), rows))
    if dp:
        out.append(f"dp = the fast step in {result['plan']['processes']} one-thread processes under "
                   "paddle.distributed.launch (gloo), each on its share of the batch")
    errors = [f"  {r['name']} {col}: {r[col]['error']}" for r in result["models"]
              for col in ("train", "loop", "fit", "bare", "fast", "onednn", "dp", "torch") if "error" in r.get(col, {})]
    errors += [f"  {name}: {why}" for name, why in result.get("skipped", {}).items()]
    out += ["Not measured:"] + errors if errors else []
    return out


def _scaling_table(result: dict) -> List[str]:
    out: List[str] = []
    sc = result.get("scaling")
    if sc:
        out += ["", f"{sc['model']}: bare-loop images/s by input size and batch size:",
                _table(["px", "batch", "MMACs/img", "images/s", "min", "max"],
                       [[r["input_size"], r["batch_size"], _f(r.get("macs_per_image") and r["macs_per_image"] / 1e6, "{:.2f}"),
                         _f(r.get("images_per_sec")), _f(r.get("images_per_sec_min")), _f(r.get("images_per_sec_max"))]
                        for r in sc["rows"]])]
    return out


def _rss_table(result: dict) -> List[str]:
    out: List[str] = []
    if result.get("rss"):
        out += ["", "Peak RSS (MiB) of a process that builds the model and trains 2 steps:",
                _table(["model", "after import", "after model", "peak", "peak fast", "peak onednn"],
                       [[r["name"], _f(r.get("import_mib"), "{:.0f}"), _f(r.get("model_mib"), "{:.0f}"),
                         _f(r.get("peak_mib"), "{:.0f}"), _f(r.get("fast_peak_mib"), "{:.0f}"),
                         _f(r.get("onednn_peak_mib"), "{:.0f}")] for r in result["rss"]])]
    return out


def _data_table(result: dict) -> List[str]:
    out: List[str] = []
    d = result.get("data")
    if d and "rows" in d:
        first_row = next((r for r in d["rows"] if "dataset" in r), {"dataset": "?", "preset": "?"})
        out += ["", f"Data pipeline alone ({first_row['dataset']}: decode + '{first_row['preset']}' "
                    "transforms, one process per row), images/s; "
                    f"best / model = {_f(d['data_vs_model'], '{:.1f}')}x:",
                _table(["workers", "cache", "images/s"],
                       [[r["num_workers"], "yes" if r["cache"] else "no",
                         _f(r.get("images_per_sec"), "{:.0f}") if "error" not in r else r["error"]]
                        for r in d["rows"]])]
    elif d:
        out += ["", f"Data pipeline: {d['error']}"]
    return out


def _ab_tables(result: dict) -> List[str]:
    out: List[str] = []
    for ab in result.get("ab", []):
        if "error" in ab:
            out += ["", f"{ab['name']} A/B: {ab['error']}"]
            continue
        out += ["", f"{ab['name']} A/B, interleaved over {ab['rounds']} rounds (speed-up vs paddle as built):",
                _table(["variant", "images/s", "speed-up"],
                       [[k, _f(v["images_per_sec"]), _f(ab["speedup"].get(k), "{:.2f}x")]
                        for k, v in ab["variants"].items()])]
    return out


def _env_table(result: dict) -> List[str]:
    out: List[str] = []
    env = result.get("env_ab")
    if env:
        out += ["", f"{env['model']}: environment settings, one process per run, alternating (medians):"]
        out += [env["error"]] if "error" in env else [
            _table(["setting", "GEMM GFLOP/s", "images/s", "vs default"],
                   [[k, _f(v["gemm_gflops"]), _f(v["images_per_sec"]),
                     _f(ratio(v["images_per_sec"], env["variants"]["default"]["images_per_sec"]), "{:.2f}x")]
                    for k, v in env["variants"].items()])]
    return out


def save(result: dict, path: str) -> str:
    """Write ``result`` as indented JSON (creating folders); returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, default=str)
    return path
