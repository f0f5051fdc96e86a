"""CPU accelerators that ``paddlecnn.train`` swaps in while training and takes out again.

They change speed, not results (beyond float rounding), and are not models:
:mod:`paddlecnn.accel.fastconv` has the faster Conv2D and MaxPool2D and conv+BN fusion.
Import the submodule you need; this package imports nothing itself.
"""
