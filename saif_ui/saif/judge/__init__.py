"""Judging answers: deterministic compliance checkers and fluency (repetition, perplexity)."""
