"""Probe 2: the paper-recipe experiments' cpu settings: do AlexNet (paper init), VGG11 (MSRA) and the no-BN
activation race learn in ~600 steps with batch 16?"""
import json, time
import paddlecnn, sys
DATA = sys.argv[1]
variants = [
    ("alexnet", dict(recipe="tutorial", input_size=64, width=0.25, epoch_num=8)),
    ("vgg13_tutorial", dict(recipe="tutorial", input_size=64, width=0.25, epoch_num=8)),
    ("googlenet", dict(recipe="tutorial", input_size=64, width=0.25, epoch_num=8)),
    ("alexnet_paper", dict(recipe="alexnet-paper", input_size=96, width=0.5, batch_size=16, epoch_num=8)),
    ("vgg11", dict(recipe="vgg-paper", input_size=64, width=0.25, batch_size=16, epoch_num=8, transform="basic")),
    ("cnn_sigmoid", dict(recipe="alexnet-paper", input_size=64, width=0.25, batch_size=16, epoch_num=8,
                         transform="eval", schedule="constant", model_options={"act": "relu"})),
    ("cnn_sigmoid", dict(recipe="alexnet-paper", input_size=64, width=0.25, batch_size=16, epoch_num=8,
                         transform="eval", schedule="constant", model_options={"act": "tanh"})),
]
out = {}
for k, (model, opts) in enumerate(variants):
    t = time.time()
    h = paddlecnn.train(model=model, data=DATA, subset=640, eval_subset=320, seed=0, quiet=True,
                        run_dir=f"probe-logs/logs3-{DATA}/{k}-{model}", **opts)
    key = f"{model} {opts}"
    out[key] = {"train_acc": [round(r["train_acc"], 3) for r in h.records],
                "eval_acc": [round(r["eval_acc"], 3) for r in h.records], "minutes": round((time.time() - t) / 60, 2)}
    print(key, out[key], flush=True)
json.dump(out, open("probe-logs/probe3.json", "w"), indent=1)
