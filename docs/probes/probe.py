"""Which cheap cpu setting makes the tutorial's networks learn on 640 shapes16 images? (suite redesign probe)"""
import json, sys, time
import paddlecnn
variants = [
    ("alexnet", dict(optimizer="momentum", lr=0.01, batch_size=16)),
    ("alexnet", dict(optimizer="adam", lr=0.001, batch_size=32)),
    ("cnn_baseline", dict(optimizer="momentum", lr=0.001, batch_size=32)),
    ("cnn_baseline", dict(optimizer="momentum", lr=0.01, batch_size=16)),
    ("vgg13_tutorial", dict(optimizer="momentum", lr=0.01, batch_size=16)),
    ("vgg13_tutorial", dict(optimizer="adam", lr=0.001, batch_size=32)),
]
out = {}
for model, opts in variants:
    t = time.time()
    h = paddlecnn.train(model=model, data="shapes16", recipe="tutorial", input_size=64, width=0.25, subset=640,
                        eval_subset=320, epoch_num=10, seed=0, quiet=True,
                        run_dir=f"probe-logs/logs/{model}-{opts['optimizer']}-{opts['lr']}-{opts['batch_size']}", **opts)
    key = f"{model} {opts}"
    out[key] = {"train_acc": [round(r["train_acc"], 3) for r in h.records],
                "eval_acc": [round(r["eval_acc"], 3) for r in h.records], "minutes": round((time.time() - t) / 60, 2)}
    print(key, out[key], flush=True)
json.dump(out, open("probe-logs/probe.json", "w"), indent=1)
