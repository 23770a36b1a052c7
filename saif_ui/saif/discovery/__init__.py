"""SAIF Stage 1: contrast prompts with and without an instruction and rank the SAE latents that carry it."""
