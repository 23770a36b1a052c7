"""SAIF Stage 2: steering specs, original / steered / prompted comparisons, evaluation sweeps and baselines."""
