"""Probe 5: the AlexNet experiments' new cpu setting (paddle init, lr 0.001) on animals10 learns?"""
import time
import paddlecnn
t = time.time()
h = paddlecnn.train(model="alexnet_paper", data="animals10", recipe="alexnet-paper", input_size=96, width=0.5, subset=640,
                    eval_subset=320, epoch_num=8, batch_size=32, lr=0.001, init="paddle", seed=0, quiet=True,
                    run_dir="probe-logs/logs5/alexnet_paper")
print({"train_acc": [round(r["train_acc"], 3) for r in h.records], "eval_acc": [round(r["eval_acc"], 3) for r in h.records],
       "minutes": round((time.time() - t) / 60, 2)}, flush=True)
