"""Performance: `python -m bench` measures every figure in one run (see bench/__main__.py); other scripts run as
modules from the repo root, e.g. `python -m bench.load`."""
