"""Latents tab: the ranked instruction-relevant latents, the tokens × latents heatmap of a prompt pair, the latent card
(logit lens, top activating contexts, histogram) and its decoder-space neighbours (table and UMAP map)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from saif_ui.service import Backend, LatentCard, PromptChoice, Session
from saif_ui.ui import figures, latent_figures
from saif_ui.ui.instructions import InstructionsTab
from saif_ui.ui.tables import LATENT_HEADERS, lens_table, neighbour_table, word_table
from saif_ui.ui.texts import contexts_html
from saif_ui.ui.widgets import MODEL_EVENT, PROGRESS, TRACK_TQDM, gpu, handler, private, session_of, user_errors


@dataclass
class LatentsTab:
    table: gr.Dataframe
    flagged: gr.Dataframe
    n_latents: gr.Slider
    include_special: gr.Checkbox
    heatmap_btn: gr.Button
    heatmap: gr.Plot
    latent_id: gr.Number
    card_btn: gr.Button
    add_btn: gr.Button
    card_md: gr.Markdown
    lens: gr.Dataframe
    words: gr.Dataframe
    contexts: gr.HTML
    histogram: gr.Plot
    cards_btn: gr.Button
    neighbours: gr.Dataframe
    umap_btn: gr.Button
    umap: gr.Plot
    umap_status: gr.Markdown
    follow_discovery: Callable[[Any], None] | None = None
    """Chains the tab's refresh (heatmap, top latent's card, map) onto a discovery event; set by `_wire`."""


def _latent_table(label: str, elem_id: str, scale: int) -> gr.Dataframe:
    """A read-only table of ranked latents (`LATENT_HEADERS`); clicking a row opens its card."""
    return gr.Dataframe(headers=LATENT_HEADERS, label=label, interactive=False, elem_id=elem_id, scale=scale)


def build_latents_tab(backend: Backend, state: gr.State, sae: gr.Dropdown, ins: InstructionsTab) -> LatentsTab:
    gr.Markdown(
        "Ranked by how much the instruction switches each latent on (positives vs negatives). Special-token and dense "
        "latents are ranked apart: their activations are 10–100× larger. **Click a row** to open its card."
    )
    with gr.Row():
        table = _latent_table("Instruction-relevant latents", "latent-table", scale=3)
        flagged = _latent_table("Special-token / dense latents (ranked apart)", "flagged-table", scale=2)
    with gr.Accordion("Heatmap: tokens × top latents, with vs without the instruction", open=True):
        with gr.Row():
            n_latents = gr.Slider(1, 30, value=10, step=1, label="Latents shown")
            include_special = gr.Checkbox(True, label="Add special-token latents (own colour scale ★)")
            heatmap_btn = gr.Button("Draw for the current content", size="sm")
        heatmap = gr.Plot(figures.empty_figure("Run discovery to see where the latents fire."), elem_id="heatmap")
    gr.Markdown("### Latent card")
    with gr.Row():
        latent_id = gr.Number(label="Latent", precision=0, minimum=0, elem_id="latent-id", scale=1)
        card_btn = gr.Button("Show card", size="sm", scale=1)
        add_btn = gr.Button("Steer with this latent", size="sm", variant="secondary", scale=1, elem_id="add-latent")
    with gr.Row():
        with gr.Column(scale=3):
            card_md = gr.Markdown(elem_id="card")
            contexts = gr.HTML(label="Top activating contexts", elem_id="contexts")
            cards_btn = gr.Button("Compute activation cards for this SAE (minutes on a CPU)", size="sm", visible=False)
            histogram = gr.Plot(figures.empty_figure("Activation histogram", 220))
        with gr.Column(scale=2):
            lens = gr.Dataframe(
                headers=["promotes", "cos +", "suppresses", "cos −"], label="Logit lens", interactive=False
            )
            words = gr.Dataframe(
                headers=["instruction word", "cosine"], label="Closest instruction words", interactive=False
            )
    gr.Markdown("### Neighbours in decoder space")
    with gr.Row():
        neighbours = gr.Dataframe(
            headers=["latent", "cosine", "instruction rank"],
            label="Nearest latents (cosine)",
            interactive=False,
            scale=1,
            elem_id="neighbours",
        )
        with gr.Column(scale=2):
            umap_btn = gr.Button("Show the UMAP map of all latents", size="sm")
            umap_status = gr.Markdown()
            umap = gr.Plot(figures.empty_figure("UMAP map of the SAE's latents"), elem_id="umap")
    tab = LatentsTab(
        table,
        flagged,
        n_latents,
        include_special,
        heatmap_btn,
        heatmap,
        latent_id,
        card_btn,
        add_btn,
        card_md,
        lens,
        words,
        contexts,
        histogram,
        cards_btn,
        neighbours,
        umap_btn,
        umap,
        umap_status,
    )
    _wire(backend, tab, state, sae, ins)
    return tab


def _wire(backend: Backend, tab: LatentsTab, state: gr.State, sae: gr.Dropdown, ins: InstructionsTab) -> None:
    @gpu("heatmap")
    @handler
    def heatmap(
        choice: PromptChoice,
        sae: str,
        n_latents: float,
        include_special: bool,
        state: Session,
    ) -> tuple[Any, Session]:
        ranked = state.ranked_ids()[: int(n_latents)]
        special = state.flagged_ids("special")[:5] if include_special else []
        if not ranked and not special:
            raise gr.Error("Run discovery first: the heatmap shows the latents it ranks.")
        if state.discovery and state.discovery.sae != sae:
            raise gr.Error(f"The ranked latents belong to {state.discovery.sae}; run discovery for {sae}.")
        maps = backend.saes.heatmaps(choice, sae, ranked + special)
        state.heatmap = {**maps, "special": special}
        title = f"{backend.instructions.resolve(choice).id} · {sae}"
        return latent_figures.token_heatmap(maps["positive"], maps["negative"], special, title), state

    heat_inputs = [*ins.prompt_inputs, sae, tab.n_latents, tab.include_special, state]
    tab.heatmap_btn.click(heatmap, heat_inputs, [tab.heatmap, state], api_name="heatmap", **MODEL_EVENT)

    def pick(table_kind: str) -> Any:
        def select(state: Session, evt: gr.SelectData) -> int:
            d = state.discovery
            rows = (d.flagged if table_kind == "flagged" else d.latents) if d else []
            row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
            if not isinstance(row, int) or not 0 <= row < len(rows):
                raise gr.Error("Pick a row of the table.")
            return rows[row].id

        return select

    @gpu("latent_card")
    @user_errors
    def latent_card(sae: str, latent: float | None, state: Session) -> tuple[Any, ...]:
        if not sae:
            raise gr.Error("No SAE is attached.")
        if latent is None:
            raise gr.Error("Type a latent id or click a row of the table.")
        card = backend.saes.card(sae, latent)
        state.card = card
        acts = card.activations
        hist = (
            latent_figures.activation_histogram(acts["histogram"]["edges"], acts["histogram"]["counts"])
            if acts
            else figures.empty_figure("No activation cards for this SAE yet.", 220)
        )
        ctx = (
            contexts_html(acts["contexts"])
            if acts
            else "<p><em>Top contexts come from activation cards, which this SAE does not have yet.</em></p>"
        )
        return (
            card_markdown(card, state),
            lens_table(card).frame(),
            word_table(card).frame(),
            ctx,
            hist,
            gr.update(visible=acts is None),
            neighbour_table(card, state.discovery).frame(),
            state,
        )

    card_outputs = [tab.card_md, tab.lens, tab.words, tab.contexts, tab.histogram, tab.cards_btn, tab.neighbours, state]

    @gpu("umap")
    @user_errors
    def umap_map(
        sae: str, latent: float | None, state: Session, request: gr.Request, progress: gr.Progress = PROGRESS
    ) -> tuple:
        if not sae:
            raise gr.Error("No SAE is attached.")
        if latent is not None:
            backend.saes.latent_id(sae, latent)  # a highlight outside the map is a typo, not a request for no highlight
        if not backend.saes.umap_ready(sae):
            progress(0, desc="computing the UMAP map once (about a minute on a CPU); it is cached afterwards")
        with backend.jobs.run(session_of(request), "UMAP map"):
            coords = backend.saes.umap(sae)
        return _umap_figure(coords, latent, state), f"{coords.shape[0]} latents of {sae}."

    @gpu("umap_redraw")
    def umap_if_ready(sae: str, latent: float | None, state: Session) -> tuple:
        # Redraw after each card only when the map is already there: computing it is an explicit click.
        if not sae or not backend.saes.umap_ready(sae):
            return gr.update(), "The UMAP map of this SAE is not computed yet: click the button (about a minute)."
        coords = backend.saes.umap(sae)
        return _umap_figure(coords, latent, state), f"{coords.shape[0]} latents of {sae}."

    def _umap_figure(coords: Any, latent: float | None, state: Session) -> Any:
        card = state.card
        sel = int(latent) if latent is not None else None
        near = [n.id for n in card.neighbours] if card is not None and card.id == sel else []
        labels = backend.saes.latent_labels(state.discovery.sae) if state.discovery else {}
        return latent_figures.umap_scatter(
            coords, state.ranked_ids(), state.flagged_ids("special"), sel, near, labels=labels
        )

    card_ev = gr.on(
        [tab.card_btn.click, tab.latent_id.submit],
        latent_card,
        [sae, tab.latent_id, state],
        card_outputs,
        api_name="latent_card",
    )
    card_ev.success(umap_if_ready, [sae, tab.latent_id, state], [tab.umap, tab.umap_status], **private("umap_redraw"))
    for name, df in (("latents", tab.table), ("flagged", tab.flagged)):
        sel_ev = df.select(pick(name), [state], [tab.latent_id], **private(f"select_{name}"))
        sel_ev.success(latent_card, [sae, tab.latent_id, state], card_outputs, **private(f"card_from_{name}")).success(
            umap_if_ready, [sae, tab.latent_id, state], [tab.umap, tab.umap_status], **private(f"umap_from_{name}")
        )
    tab.umap_btn.click(
        umap_map, [sae, tab.latent_id, state], [tab.umap, tab.umap_status], api_name="umap", **MODEL_EVENT
    )

    @gpu("cards")
    @user_errors
    def compute_cards(sae: str, request: gr.Request, progress: gr.Progress = TRACK_TQDM) -> str:
        progress(0, desc="reading held-out chats")
        with backend.jobs.run(session_of(request), "card computation"):
            return f"Cards of {sae}: {backend.saes.compute_cards(sae)}."

    tab.cards_btn.click(compute_cards, [sae], [tab.umap_status], api_name="compute_cards", **MODEL_EVENT).success(
        latent_card, [sae, tab.latent_id, state], card_outputs, **private("card_after_cards")
    )

    def top_latent(state: Session) -> Any:
        ids = state.ranked_ids()
        return ids[0] if ids else gr.update()

    def follow(event: Any) -> None:
        (
            event.success(heatmap, heat_inputs, [tab.heatmap, state], **private("heatmap_after_discovery"))
            .success(top_latent, [state], [tab.latent_id], **private("top_latent"))
            .success(latent_card, [sae, tab.latent_id, state], card_outputs, **private("card_after_discovery"))
            .success(umap_if_ready, [sae, tab.latent_id, state], [tab.umap, tab.umap_status], **private("umap_after"))
        )

    tab.follow_discovery = follow


def card_markdown(card: LatentCard, state: Session) -> str:
    """The card's header: which latent, how it ranked for the instruction, and how it behaves on held-out chats."""
    lines = [f"#### Latent #{card.id} · {card.sae} (layer {card.layer})"]
    if card.label:
        lines.append(f"Reads (from its top contexts): **{card.label}** · writes (logit lens): "
                     f"{' '.join(t.token.strip() or repr(t.token) for t in card.logit_lens.promoted[:3])}")  # fmt: skip
    lines.append(f"Decoder norm {card.decoder_norm:.3f}.")
    row = state.discovery.row(card.id) if state.discovery else None
    if row is not None:
        flags = f" · flags: {', '.join(row.flags)}" if row.flags else ""
        lines.append(
            f"Discovery: score {row.score:.2f} · active on {100 * row.freq_pos:.0f}% of positives vs "
            f"{100 * row.freq_neg:.0f}% of negatives · mean {row.mean_pos:.2f} vs {row.mean_neg:.2f}{flags}."
        )
    acts = card.activations
    if acts:
        lines.append(
            f"On {acts['n_conversations']} held-out chats ({acts['n_tokens']:,} tokens, cards {acts['source']}): "
            f"fires on {100 * acts['density']:.2f}% of tokens · max {acts['max']:.2f} · "
            f"mean when firing {acts['mean_when_firing']:.2f}."
        )
    return "\n\n".join(lines)
