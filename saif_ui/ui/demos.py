"""The first screen: one button per validated recipe that works on held-out passages. A click runs the demo end to
end — discover the latents that carry the instruction, answer a test passage original / steered (not told) /
prompted, streamed, and judge the steered answer as the studies do — beside the recipe's test figures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from saif_ui.service import Backend, Demo, DiscoveryResult, Passage, PromptChoice, Steered, Verdict, renders
from saif_ui.ui.texts import RECIPE_ROWS, answer_and_verdict, partial_answers
from saif_ui.ui.widgets import MODEL_EVENT, answer_columns, gpu, private, session_of, user_errors, wire_stop

COLUMNS = ("original", "steered", "prompted")
LABELS = {
    "original": "Not told, not steered",
    "steered": "Not told, steered with the recipe",
    "prompted": "Told the instruction",
}
METHOD_NAMES = dict(RECIPE_ROWS)
TOP_LATENTS = 8


@dataclass
class DemoSection:
    buttons: dict[str, gr.Button]
    pick: gr.Textbox
    index: gr.Number
    again_btn: gr.Button
    next_btn: gr.Button
    stop_btn: gr.Button
    about: gr.Markdown
    latents: gr.Markdown
    answers: dict[str, tuple[gr.Textbox, gr.Markdown]]
    verdict: gr.Markdown


def pct(rate: tuple[float, float, float]) -> str:
    return f"{rate[0]:.0%} [{rate[1]:.0%}, {rate[2]:.0%}]"


def button_label(demo: Demo) -> str:
    return f"{demo.wording} — {demo.steered[0]:.0%} not told vs {demo.original[0]:.0%}"


def about_md(demo: Demo, passage: Passage) -> str:
    """What the demo shows and what the test contents showed, before anything runs."""
    method = METHOD_NAMES.get(demo.method, demo.method)
    return "\n".join(
        [
            f"### `{demo.instruction}`: “{demo.wording}” — without telling the model",
            "",
            f"Steered with the validated recipe's **{method}**. On {demo.n} held-out test passages the steered "
            "answer succeeded (complies, is not a loop, keeps the passage's content) in "
            f"**{pct(demo.steered)}**, against {pct(demo.original)} unsteered and {pct(demo.prompted)} when told "
            "(95% Wilson intervals; FINDINGS.md has the controls and every text).",
            "",
            f"Test passage {passage.index + 1} of {passage.of} (in file order, not picked): *{passage.content.text}*",
        ]
    )


def latents_md(found: DiscoveryResult | None, demo: Demo) -> str:
    """Step 1: the latents that carry the instruction, SAIF's recipe's and the applied vector's marked."""
    if found is None:
        return "**Step 1 · discover** — contrasting prompts with and without the instruction…"
    distilled = demo.method.startswith("distil")

    def marks(latent: int) -> str:
        return (" ★" if latent in demo.saif_latents else "") + (
            " ◆" if distilled and latent in demo.applied_latents else ""
        )

    top = found.latents[:TOP_LATENTS]
    rows = [f"| {i + 1} | {r.id}{marks(r.id)} | {r.score:.2f} | {r.label or '–'} |" for i, r in enumerate(top)]
    where = "cached" if found.cached else f"{found.seconds:.1f} s"
    lines = [
        f"**Step 1 · discover** — SAIF's top latents of {found.sae} (layer {found.layer}) over {found.n_pairs} "
        f"prompt pairs ({where}); ★ = in SAIF's top-k recipe"
        + ("; ◆ = in the distilled vector." if distilled and demo.applied_latents else "."),
        "",
        "| rank | latent | score | reads |",
        "|---|---|---|---|",
        *rows,
    ]
    if distilled:
        shown = {r.id for r in top}
        lines += [
            "",
            "The applied vector was distilled from the prompt: "
            + (
                f"a combination of {len(demo.applied_latents)} SAE latents, "
                f"{len(shown & set(demo.applied_latents))} of them among these {len(top)}."
                if demo.applied_latents
                else "a free vector (no SAE latents; the Distil panel reads it through the SAE)."
            ),
        ]
    return "\n".join(lines)


def verdict_md(verdict: Verdict | None, stopped: bool = False) -> str:
    if verdict is None:
        return "**Step 2 · steer** — generating…"
    if stopped:
        return "**Step 3 · verdict** — stopped before the end: no verdict on an unfinished answer."
    ok = "✓" if verdict.success else "✗"
    return (
        f"**Step 3 · verdict {ok}: {'success' if verdict.success else 'not a success'}** — complies "
        f"{'yes' if verdict.complies else 'no'} · loop {'yes' if verdict.loop else 'no'} (repeats "
        f"{verdict.repetition:.0%}, limit {verdict.repetition_limit:.0%}) · keeps the content "
        f"{'yes' if verdict.faithful else 'no'} (chrF {verdict.chrf:.0f} to the told answer, threshold "
        f"{verdict.threshold:.0f})."
    )


BUTTONS_PER_ROW = 5
"""The most demo buttons side by side (each carries a sentence and its rates)."""


def button_rows(n: int, most: int = BUTTONS_PER_ROW) -> list[int]:
    """How many of `n` buttons go in each row: as few rows as `most` allows, their sizes as equal as can be (seven
    in one wrapping row left the seventh alone at full width)."""
    rows = -(-n // most)
    return [n // rows + (i < n % rows) for i in range(rows)]


def build_demo_section(backend: Backend) -> DemoSection:
    demos = backend.demos.available()
    gr.Markdown(
        "## Steer the model to follow an instruction it was not given\n"
        "Each button runs a validated recipe end to end on a held-out passage: SAIF discovers the latents that "
        "carry the instruction, the model answers without being told (steered) beside the plain and the told "
        "answers, and the steered answer is judged as the studies judge it. The tabs below do each step by hand."
    )
    buttons = {}
    start = 0
    for size in button_rows(len(demos)):
        with gr.Row(equal_height=True):
            for demo in demos[start : start + size]:
                buttons[demo.instruction] = gr.Button(
                    button_label(demo), variant="primary", elem_id=f"demo-{demo.instruction}", size="sm"
                )
        start += size
    if not demos:
        gr.Markdown("*No validated recipe of this model clears the bar on test, or its SAE is not attached.*")
    with gr.Row():
        pick = gr.Textbox(demos[0].instruction if demos else "", visible=False, label="demo")
        index = gr.Number(0, precision=0, label="test passage (index)", visible=False)
        again_btn = gr.Button("Run again", size="sm", elem_id="demo-again")
        next_btn = gr.Button("Next test passage", size="sm", elem_id="demo-next")
        stop_btn = gr.Button("Stop", variant="stop", size="sm", elem_id="demo-stop")
    about = gr.Markdown(elem_id="demo-about")
    latents = gr.Markdown(elem_id="demo-latents")
    answers = answer_columns({mode: LABELS[mode] for mode in COLUMNS}, "demo-out-{}", "demo-verdict-{}", lines=5)
    verdict = gr.Markdown(elem_id="demo-verdict")
    return DemoSection(buttons, pick, index, again_btn, next_btn, stop_btn, about, latents, answers, verdict)


def wire_demos(backend: Backend, section: DemoSection) -> None:
    boxes = [c for mode in COLUMNS for c in section.answers[mode]]
    outputs = [section.about, section.latents, *boxes, section.verdict]

    @gpu("demo")
    @user_errors
    def run(instruction: str, index: float, request: gr.Request) -> Iterator[list[Any]]:
        """Discover, then steer the test passage (streamed), then the verdict."""
        demo = backend.demos.demo(instruction)
        passage = backend.demos.passage(int(index))
        about, skip = about_md(demo, passage), gr.skip()
        yield [about, latents_md(None, demo), *[""] * len(boxes), ""]
        found = latents_md(backend.demos.discover(instruction), demo)
        yield [skip, found, *[skip] * len(boxes), verdict_md(None)]
        with backend.streams.open(session_of(request), "demo") as stop:
            updates = backend.demos.steer_stream(instruction, passage.index, stop=stop)
            steered: Steered = yield from renders(updates, lambda p: [skip, skip, *partial_answers(p, COLUMNS), skip])
        checker = backend.instructions.resolve(PromptChoice(instruction)).checker
        answers = [x for mode in COLUMNS for x in answer_and_verdict(steered.comparison, mode, checker)]
        stopped = steered.comparison.stopped
        # whole values, not skips, at the end: an API caller that does not stream gets only this update
        yield [about, found, *answers, verdict_md(None if stopped else backend.demos.verdict(steered), stopped)]

    events = []
    for iid, button in section.buttons.items():
        chosen = button.click(lambda iid=iid: (iid, 0), None, [section.pick, section.index], **private(f"pick_{iid}"))
        events.append(chosen.then(run, [section.pick, section.index], outputs, **private(f"demo_{iid}"), **MODEL_EVENT))
    events.append(section.again_btn.click(run, [section.pick, section.index], outputs, api_name="demo", **MODEL_EVENT))
    step = section.next_btn.click(lambda i: int(i) + 1, section.index, section.index, **private("demo_next"))
    events.append(step.then(run, [section.pick, section.index], outputs, **private("demo_next_run"), **MODEL_EVENT))
    wire_stop(backend, section.stop_btn, "demo", events)
