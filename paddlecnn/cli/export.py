"""``python -m paddlecnn export RUN_DIR_OR_CHECKPOINT --out DIR [--onnx]``.

Writes model.json + model.pdiparams (paddle.jit.save), meta.json and, with --onnx,
model.onnx; then checks the exported outputs against the dygraph model.
"""
from __future__ import annotations

import argparse

from .common import add_run_command

TOLERANCE = 1e-4  # largest acceptable |exported - dygraph| logit


def add_parser(subparsers) -> None:
    p = add_run_command(
        subparsers, "export", help="static inference model (paddle.jit.save) and optional ONNX",
        description="Export a run for deployment: model.json + model.pdiparams for paddle.jit.load and paddle "
                    "Inference, meta.json (classes, input shape, mean/std), and model.onnx with --onnx "
                    "(needs pip install 'paddlecnn[onnx]').")
    p.add_argument("--out", required=True, help="output folder (created if missing); files already there "
                                                "are kept unless --force")
    p.add_argument("--force", action="store_true", help="replace model.json/model.pdiparams/meta.json/model.onnx "
                                                        "already in --out")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx with paddle2onnx")
    p.add_argument("--opset", type=int, default=13, help="ONNX opset (default 13)")
    p.add_argument("--input-size", type=int, default=None, help="input side in pixels (default: the run's)")
    p.add_argument("--no-verify", action="store_true", help="skip comparing the exported outputs with dygraph")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..export import export_model

    result = export_model(args.run, args.out, input_size=args.input_size, onnx=args.onnx, opset=args.opset,
                          verify=not args.no_verify, force=args.force)
    for key in ("json", "pdiparams", "onnx", "meta"):
        if key in result:
            print(f"wrote {result[key]}")
    diffs = result.get("max_abs_diff")
    if diffs:
        print("max |exported - dygraph| logit: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
        if max(diffs.values()) > TOLERANCE:
            print(f"error: an exported model differs from dygraph by more than {TOLERANCE}")
            return 1
    return 0
