"""Probe 4: the paper recipes at cpu scale on animals10 with the learning rate scaled to batch 32 (lr * 32/paper batch)."""
import json, time
import paddlecnn
variants = [
    ("alexnet_paper", dict(recipe="alexnet-paper", input_size=96, width=0.5, batch_size=32, lr=0.0025, epoch_num=8)),
    ("vgg11", dict(recipe="vgg-paper", input_size=64, width=0.25, batch_size=32, lr=0.00125, epoch_num=8, transform="basic")),
]
for k, (model, opts) in enumerate(variants):
    t = time.time()
    h = paddlecnn.train(model=model, data="animals10", subset=640, eval_subset=320, seed=0, quiet=True,
                        run_dir=f"probe-logs/logs4/{k}-{model}", **opts)
    print(model, opts, {"train_acc": [round(r["train_acc"], 3) for r in h.records],
                        "eval_acc": [round(r["eval_acc"], 3) for r in h.records], "minutes": round((time.time() - t) / 60, 2)}, flush=True)
