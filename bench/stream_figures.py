"""Streaming's figure (P12): the time to the first token of a warm streamed steer (its first snapshot with text, as
the Steering tab gets it from the service) beside the time to its whole answer, and that whole streamed answer
against the same steer not streamed (the worker thread and the snapshots should cost nothing measurable).

"Warm" is a server that has loaded everything and answered before; every timed request is new to it (the result and
generation caches are emptied first), so the model really generates all three answers.
"""

from __future__ import annotations

import threading
import time

from bench.timing import Figure
from saif_ui.engine import Engine
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.service import Backend, Decoding, Partial, PromptChoice, SteerControls

CONTROLS = SteerControls.parse(["436", "2070"], None, 6.0, scale="unit")
"""The app tests' steer (two L24 latents at the unit scale): no discovery needed."""


def p12_first_token(engine: Engine, sae: str, quick: bool) -> Figure:
    """Seconds to the first token of a streamed steer (best of the repeats), with its whole answer's time streamed
    and not streamed, measured interleaved."""
    backend = Backend(engine)
    choice = PromptChoice("french", content=load_contents("validation")[0].text)
    decoding = Decoding(max_new_tokens=24 if quick else 64)

    def fresh() -> None:
        engine.results.clear()
        engine.generations.clear()

    def streamed() -> tuple[float, float]:
        fresh()
        start, first = time.perf_counter(), None
        for update in backend.steering.steer_stream(choice, sae, CONTROLS, None, decoding):
            if first is None and isinstance(update, Partial) and any(update.texts.values()):
                first = time.perf_counter() - start
        whole = time.perf_counter() - start
        return (whole if first is None else first), whole

    def plain() -> float:
        fresh()
        took: list[float] = []

        def steer() -> None:
            start = time.perf_counter()
            backend.steering.steer(choice, sae, CONTROLS, None, decoding)
            took.append(time.perf_counter() - start)

        # In a thread, as gradio runs a handler (and as the streamed steer generates): on the loaded 2-core machine
        # the same steer in the main thread took 10-15x as long (its OpenMP team), which would flatter streaming.
        worker = threading.Thread(target=steer)
        worker.start()
        worker.join()
        return took[0]

    streamed()  # warm: the first steer of a server pays for the spec's vectors and the prompt's tokens
    firsts, wholes, plains = [], [], []
    for _ in range(3 if quick else 5):
        first, whole = streamed()
        firsts.append(first)
        wholes.append(whole)
        plains.append(plain())
    first, whole, not_streamed = min(firsts), min(wholes), min(plains)
    return Figure(
        "P12",
        f"time to the first token of a warm streamed steer (3 answers, {decoding.max_new_tokens} tokens, one batch)",
        round(first, 3),
        1.0,
        "<=",
        "s",
        raw={
            "first_token_s": [round(t, 3) for t in firsts],
            "streamed_answer_s": [round(t, 3) for t in wholes],
            "plain_answer_s": [round(t, 3) for t in plains],
            "first_over_whole": round(first / whole, 3),
            "streamed_over_plain": round(whole / not_streamed, 3),
        },
        note=f"the whole answer takes {whole:.2f} s streamed and {not_streamed:.2f} s not streamed "
        f"({whole / not_streamed:.2f}×); the first token comes at {100 * first / whole:.0f}% of it",
    )
