"""The walk of α from the Steering tab to the hook: which saif_ui functions receive it on one steer.

    python -m bench.alpha_walk

Profiles one `Backend.steer` (the call the /steer handler makes after parsing its controls) on the embedded model and
the shipped layer-24 SAE, and lists, in call order, every saif_ui function whose arguments hold α (the value itself,
or an object whose `.alpha` it is). The UI's `handler` decorator parses `SteerControls` before this call.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from saif_ui.engine import Engine, EngineConfig
from saif_ui.engine.config import shipped_saes
from saif_ui.engine.decoding import Decoding
from saif_ui.service import Backend, PromptChoice, SteerControls

ALPHA = 1.2345
"""A value no default takes, so a frame holding it got it from the request."""


def carries_alpha(frame: FrameType) -> bool:
    for value in frame.f_locals.values():
        if isinstance(value, float) and value == ALPHA:
            return True
        inner = getattr(value, "alpha", None)
        if isinstance(inner, float) and inner == ALPHA:
            return True
    return False


def main() -> None:
    saes = [s for s in shipped_saes() if "L24" in s]
    backend = Backend(Engine.load(EngineConfig.from_env(saes=saes, warmup=False)))
    choice = PromptChoice("french", content="The cat sleeps on the sofa.")
    sae = backend.saes.names()[0]
    found = backend.discovery.discover(choice, sae, positions="last", score="t", top_k=5, n_contents=8)
    seen: list[str] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        code = frame.f_code
        if event == "call" and "/saif_ui/" in code.co_filename and carries_alpha(frame):
            name = f"{code.co_filename.split('/saif_ui/')[-1]}:{code.co_qualname}"
            if name not in seen:
                seen.append(name)

    controls = SteerControls.parse(found.ids[:3], [1.0, 0.5, 1.0], ALPHA)
    sys.setprofile(profile)
    try:
        backend.steering.steer(choice, sae, controls, found, Decoding(max_new_tokens=4))
    finally:
        sys.setprofile(None)
    print(f"{len(seen)} saif_ui functions receive α after the handler parsed it:")
    for name in seen:
        print("  " + name)


if __name__ == "__main__":
    main()
