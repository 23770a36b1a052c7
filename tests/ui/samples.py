"""Sample library results the UI tests render: a steering spec, a judged output and a comparison (no model)."""

from __future__ import annotations

from saif_ui.saif.steering.compare import Comparison

SPEC = {"latents": [{"sae": "L24", "layer": 24, "latent": 7, "strength": 0.5, "mean_act": 5.0}], "alpha": 2.0}


def output(text: str, strict: bool | None = True, **kw) -> dict:
    return {"text": text, "strict": strict, "loose": strict, "perplexity": 9.0, "repetition": 0.1, "finished": True,
            **kw}  # fmt: skip


COMPARISON = Comparison.from_dict(
    {
        "instruction": "french",
        "content": "Hi.",
        "placement": "post",
        "wording": "Translate the text into French.",
        "spec": SPEC,
        "prompts": {"original": "p0", "steered": "p0"},
        "original": output("Hi.", False),
        "steered": output("Bonjour"),
    }
)
