"""Performance: `python -m bench` measures every figure in one run (see bench/__main__.py); other scripts run as
modules from the repo root, e.g. `python -m bench.load`."""

IDS = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10", "P11", "P12")
"""Every figure of `python -m bench`, in the order of its table."""
GPU_IDS = ("P1", "P2", "P3", "P7", "P8", "P10", "P11")
"""The figures `python -m bench --gpu` runs (issue 31 §4): steered vs plain decode, discovery vs forward, sae-lens on
TransformerLens, harvest, the batched sweep, decode vs bandwidth and distillation training. The app's figures (P4, P5,
P6, P9) start the app on the machine's default device and P12 measures streaming to a page: not the engine on a GPU."""
