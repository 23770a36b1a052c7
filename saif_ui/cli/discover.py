"""CLI commands of SAIF discovery: `discover` (ranked latents of an instruction, or the placement study), `latent`
(a latent card) and `ship-assets` (precomputed cards, context labels and UMAP maps written beside the SAEs)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from saif_ui.cli.common import Command, emit, engine_args, engine_from_args
from saif_ui.cli.fields import add_dataclass_args, dataclass_values
from saif_ui.saif.discovery.config import DiscoveryConfig

FLAGS = ("top_k", "positions", "score", "n_contents")
"""The discovery settings `discover` exposes after `--placement` (flags, defaults and help from `DiscoveryConfig`)."""


def _discover_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--instruction", metavar="ID", help="catalogue id, e.g. french, json")
    which.add_argument(
        "--instruction-text", nargs="+", metavar="TEXT", help="a custom instruction: one or more wordings"
    )
    # No default on the flag: --placement-study refuses a placement given with it (the config's default applies).
    add_dataclass_args(p, DiscoveryConfig, ["placement"], defaults={"placement": None})
    p.add_argument(
        "--placement-study",
        action="store_true",
        help="run both placements and compare them: Jaccard of the top-k and each placement's score distribution",
    )
    p.add_argument("--layer", type=int, help="layer of the attached SAE to use (default: the deepest)")
    add_dataclass_args(p, DiscoveryConfig, FLAGS, parse={"n_contents": lambda s: int(s) or None})
    p.add_argument("--no-cache", action="store_true", help="recompute even if a cached result exists")
    p.add_argument("--json", action="store_true", help="print JSON")


def _row(rank: int, r: dict[str, Any]) -> str:
    lens = " ".join(repr(t) for t in r["logit_tokens"])
    flags = ",".join(r["flags"]) or "-"
    return (
        f"{rank:>4} {r['id']:>7} {r['score']:>8.3f} {r['freq_pos']:>6.2f} {r['freq_neg']:>6.2f} "
        f"{r['mean_pos']:>8.3f} {r['mean_neg']:>8.3f} {flags:>13}  {lens}"
    )


def format_table(data: dict[str, Any]) -> str:
    head = (
        f"{data['instruction']} @ {data['sae']} (layer {data['layer']}): placement {data['placement']}, "
        f"positions {data['positions']}, score {data['score']}, {data['n_pairs']} pairs, "
        f"{data['seconds']:.1f} s{' (cached)' if data['cached'] else ''}"
    )
    cols = f"{'rank':>4} {'latent':>7} {'score':>8} {'freq+':>6} {'freq-':>6} {'mean+':>8} {'mean-':>8} {'flags':>13}  "
    lines = [head, cols + "logit lens"]
    lines += [_row(i + 1, r) for i, r in enumerate(data["latents"])] or ["   (no latent scores above 0)"]
    if data["flagged"]:
        lines += ["", "flagged (special-token or dense latents), ranked apart:", cols + "logit lens"]
        lines += [_row(i + 1, r) for i, r in enumerate(data["flagged"])]
    return "\n".join(lines)


def _distribution(name: str, d: dict[str, Any]) -> str:
    quantiles = d.get("quantiles", {})
    qs = ", ".join(f"q{float(q) * 100:g} {v:.3g}" for q, v in quantiles.items()) or "-"
    top = d["top"]
    span = f"top-k scores {top[0]:.3g} .. {top[-1]:.3g}" if top else "no top-k"
    return f"  {name:<4} {d['n_positive']:>6} of {d['n_latents']} latents score > 0; {span}; positive scores: {qs}"


def format_study(s: dict[str, Any]) -> str:
    """The placement study as text: overlap of the two top-k lists and how each placement's scores spread."""
    pre, post = s["pre"], s["post"]
    return "\n".join(
        [
            f"{s['instruction']} @ {s['sae']} (layer {s['layer']}): placement study, positions {post['positions']}, "
            f"score {post['score']}, {post['n_pairs']} pairs",
            f"  Jaccard of the top-{s['top_k']}: {s['jaccard']:.3f} ({len(s['shared'])} shared: "
            + (", ".join(str(i) for i in s["shared"]) or "none")
            + ")",
            "  pre  top-k: " + " ".join(str(r["id"]) for r in pre["latents"]),
            "  post top-k: " + " ".join(str(r["id"]) for r in post["latents"]),
            "score distributions:",
            _distribution("pre", s["distributions"]["pre"]),
            _distribution("post", s["distributions"]["post"]),
        ]
    )


def cmd_discover(args: argparse.Namespace) -> int:
    from saif_ui.saif.discovery.discover import discover, resolve_instruction
    from saif_ui.saif.inputs.catalogue import Instruction, UnknownInstructionError

    try:  # before loading the model: a typo should fail in a second, not after the load
        instruction = (
            Instruction.custom(args.instruction_text)
            if args.instruction_text
            else resolve_instruction(args.instruction)
        )
    except UnknownInstructionError as e:
        raise ValueError(str(e)) from None
    if args.placement_study and args.placement:
        raise ValueError("--placement-study runs both placements; drop --placement")
    engine = engine_from_args(args, warmup=False)
    sae_name = engine.sae_at_layer(args.layer)
    cfg = DiscoveryConfig(**dataclass_values(DiscoveryConfig, args, FLAGS))
    if args.placement:
        cfg = replace(cfg, placement=args.placement)
    if args.placement_study:
        from saif_ui.saif.studies.placement_study import compare_placements

        study = compare_placements(engine, instruction, sae_name, cfg, use_cache=not args.no_cache).to_dict()
        emit(args, study, format_study(study))
        return 0
    data = discover(engine, instruction, sae_name, cfg, use_cache=not args.no_cache).to_dict()
    emit(args, data, format_table(data))
    return 0


def _latent_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument("--layer", type=int, help="layer of the attached SAE (default: the deepest)")
    p.add_argument("--id", type=int, required=True, help="latent index")
    p.add_argument("--lens", type=int, default=10, help="logit-lens tokens each way")
    p.add_argument("--neighbours", type=int, default=10, help="nearest latents in decoder space")
    cards = p.add_mutually_exclusive_group()
    cards.add_argument(
        "--cards-conversations",
        type=int,
        metavar="N",
        help="top contexts from N held-out chats: shipped or cached cards if they match, else computed now "
        "(minutes) and cached; default: shipped or cached cards only",
    )
    cards.add_argument("--no-cards", action="store_true", help="leave out contexts, histogram and density")
    p.add_argument("--json", action="store_true", help="print JSON")


_SPARK = " ▁▂▃▄▅▆▇█"


def _sparkline(hist: dict[str, list[float]]) -> str:
    """The histogram's occupied bins as bars, with the edges of that range (bins are log-spaced)."""
    counts, edges = hist["counts"], hist["edges"]
    used = [i for i, c in enumerate(counts) if c]
    if not used:
        return "(never fires)"
    lo, hi = used[0], used[-1] + 1
    top = max(counts)
    bars = "".join(_SPARK[0 if not c else max(1, round(8 * c / top))] for c in counts[lo:hi])
    return f"{edges[lo]:.3g} |{bars}| {edges[hi]:.3g}"


def format_context(ctx: dict[str, Any]) -> str:
    """One context on one line, the max token in [[ ]] and newlines shown as ↵."""
    toks = [t.replace("\n", "↵") for t in ctx["tokens"]]
    h = ctx["highlight"]
    return f"{ctx['value']:>9.2f}  {''.join(toks[:h])}[[{toks[h]}]]{''.join(toks[h + 1 :])}"


def _format_activations(a: dict[str, Any] | None) -> list[str]:
    if a is None:
        return ["  activations: no cards for this SAE yet (--cards-conversations 200 computes and caches them)"]
    return [
        f"  fires on {100 * a['density']:.3f}% of {a['n_tokens']:,} held-out tokens ({a['n_conversations']} "
        f"conversations, {a['source']} cards); max {a['max']:.3g}, mean when firing {a['mean_when_firing']:.3g}",
        f"  histogram (log bins): {_sparkline(a['histogram'])}",
        "  top contexts:",
        *([format_context(c) for c in a["contexts"]] or ["    (none)"]),
    ]


def format_card(c: dict[str, Any]) -> str:
    def toks(items: list[dict[str, Any]]) -> str:
        return " ".join(f"{t['token']!r}({t['logit']:.1f})" for t in items)

    return "\n".join(
        [
            f"latent {c['id']} of {c['sae']} (layer {c['layer']}), decoder norm {c['decoder_norm']:.3f}",
            f"  promotes:   {toks(c['logit_lens']['promoted'])}",
            f"  suppresses: {toks(c['logit_lens']['suppressed'])}",
            "  neighbours: " + ", ".join(f"{n['id']} ({n['cosine']:.2f})" for n in c["neighbours"]),
            "  closest instruction words: "
            + ", ".join(f"{w['word']} ({w['cosine']:.2f})" for w in c["instruction_words"]),
            *(_format_activations(c.get("activations")) if "activations" in c else []),
        ]
    )


def cmd_latent(args: argparse.Namespace) -> int:
    from saif_ui.saif.interpret.cards import CardsConfig
    from saif_ui.saif.interpret.cards_store import find_cards, latent_cards
    from saif_ui.saif.interpret.latent_card import latent_card

    cfg = CardsConfig(n_conversations=args.cards_conversations) if args.cards_conversations is not None else None
    engine = engine_from_args(args, warmup=False)
    name = engine.sae_at_layer(args.layer)
    engine.sae(name).direction(args.id)  # a bad id fails now, not after minutes of computing cards
    cards = None
    if not args.no_cards:
        cards = latent_cards(engine, name, cfg) if cfg is not None else find_cards(engine, name)
    card = latent_card(engine, name, args.id, args.lens, args.neighbours, cards).to_dict()
    emit(args, card, format_card(card))
    return 0


def _ship_args(p: argparse.ArgumentParser) -> None:
    engine_args(p)
    p.add_argument(
        "--n-conversations", type=int, default=200, help="held-out chats the cards are computed from (default: 200)"
    )
    p.add_argument("--max-len", type=int, default=512, help="tokens kept per chat (default: 512)")
    p.add_argument("--top-n", type=int, default=8, help="top contexts kept per latent (default: 8)")
    p.add_argument("--skip-cards", action="store_true", help="keep the shipped cards (labels are made from them)")
    p.add_argument("--skip-umap", action="store_true", help="keep the shipped UMAP maps")
    p.add_argument("--json", action="store_true", help="print JSON")


def cmd_ship_assets(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from saif_ui.resources import refuse_installed
    from saif_ui.saif.interpret.cards import CardsConfig
    from saif_ui.saif.interpret.cards_store import ship_cards
    from saif_ui.saif.interpret.labels import ship_labels
    from saif_ui.saif.interpret.umap_map import ship_umap

    cfg = CardsConfig(n_conversations=args.n_conversations, max_len=args.max_len, top_n=args.top_n)
    engine = engine_from_args(args, warmup=False)
    names = [s.name for s in sorted(engine.saes.values(), key=lambda s: (s.layer, s.name))]
    if not names:
        raise ValueError("no SAE is attached: pass --sae FOLDER")
    not_folders = [n for n in names if not Path(engine.sae(n).source).expanduser().is_dir()]
    if not_folders:
        raise ValueError(f"only SAEs loaded from folders can hold shipped files; not folders: {', '.join(not_folders)}")
    for name in names:  # the shipped SAEs of an installed package are read-only: ship into a checkout's
        refuse_installed(Path(engine.sae(name).source))
    files: dict[str, dict[str, Any]] = {n: {} for n in names}
    seconds: dict[str, float] = {}
    if not args.skip_cards:
        start = time.perf_counter()
        for name, path in ship_cards(engine, names, cfg).items():
            files[name]["cards"] = {"path": str(path), "bytes": path.stat().st_size}
        seconds["cards"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    for name in names:  # from the cards just written, or the shipped ones with --skip-cards (seconds either way)
        path = ship_labels(engine, name)
        files[name]["labels"] = {"path": str(path), "bytes": path.stat().st_size}
    seconds["labels"] = round(time.perf_counter() - start, 1)
    if not args.skip_umap:
        start = time.perf_counter()
        for name in names:
            path = ship_umap(engine.sae(name), engine.config.cache_dir)
            files[name]["umap"] = {"path": str(path), "bytes": path.stat().st_size}
        seconds["umap"] = round(time.perf_counter() - start, 1)
    data = {"saes": files, "seconds": seconds, "cards_config": cfg.key_settings()}
    lines = [f"{kind}: {s:.1f} s" for kind, s in seconds.items()]
    lines += [f"  {f['path']} ({f['bytes'] / 2**20:.2f} MiB)" for entry in files.values() for f in entry.values()]
    emit(args, data, "\n".join(lines))
    return 0


COMMANDS: dict[str, Command] = {
    "discover": ("rank the SAE latents that carry an instruction (SAIF Stage 1)", _discover_args, cmd_discover),
    "latent": (
        "show a latent card: logit lens, neighbours, closest instruction words, top contexts, histogram, density",
        _latent_args,
        cmd_latent,
    ),
    "ship-assets": (
        "write latent cards (cards.npz) and the UMAP map (umap.npz) into each attached SAE's folder",
        _ship_args,
        cmd_ship_assets,
    ),
}
