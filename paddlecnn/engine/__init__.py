"""The training engine: what :func:`paddlecnn.train` is made of, one concern per module.

==============  ===============================================================
``config``      :class:`TrainConfig`, every option of train() (defaults, help, validation)
``step``        :func:`train_step`, :func:`compute_loss`, :func:`eval_step`, :func:`evaluate_loader`
``trainer``     :func:`train` and the epoch loop
``jobs``        the loop's side jobs: progress bar, NaN guard, checkpoint, history, early stop
``run``         :class:`Run`, the state of one run, and its set-up
``setup``       data and model resolution, the fit check
``recipes``     optimizers and learning-rate policies by name
``sampler``     the seeded, resumable batch order; ``batches``: the safe dataset view
``meter``       training sums on the device; ``interrupt``: Ctrl-C and out-of-memory
==============  ===============================================================

Modules load on first use (``paddlecnn.engine.trainer`` pulls in the rest).
"""
