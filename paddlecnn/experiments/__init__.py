"""The sources' findings as experiments: data (:mod:`.catalog`), a runner (:mod:`.runner`) and the
verdict table (:mod:`.verdicts`). The library layer above ``engine`` and ``evaluation``: nothing
below imports it.

>>> from paddlecnn import experiments
>>> "trick-series" in experiments.list_experiments()
True
>>> results = experiments.run_experiment("trick-series", "quick")     # doctest: +SKIP
"""
from __future__ import annotations

from .catalog import (CLAIM_IDS, EXPERIMENTS, Claim, Comparison, Experiment, Run, Setting, get,  # noqa: F401
                      list_experiments)
from .runner import results, run_experiment  # noqa: F401
from .verdicts import verdict_table  # noqa: F401

__all__ = ["CLAIM_IDS", "EXPERIMENTS", "Claim", "Comparison", "Experiment", "Run", "Setting", "get",
           "list_experiments", "results", "run_experiment", "verdict_table"]
