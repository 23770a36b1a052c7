"""The engine: the one shared object that owns the model and its SAEs, encodes prompts (cached: `forwards.py`, its
base) and generates."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from transformers import GenerationConfig

from saif_ui.engine import hooks
from saif_ui.engine.cache import ByteLRU, ResultCache, remove_stale_temps
from saif_ui.engine.chat import ChatTemplate, Message
from saif_ui.engine.config import CHARS_PER_TOKEN_BOUND, EngineConfig
from saif_ui.engine.decoding import GREEDY, Decoding, answer_penalties
from saif_ui.engine.errors import PromptTooLong, SaifError
from saif_ui.engine.forwards import Forwards
from saif_ui.engine.model import LoadedModel, decoder_layers, load_model
from saif_ui.engine.plan import preflight
from saif_ui.engine.results import Generation
from saif_ui.engine.sae import LoadedSAE, SAELoadError, check_source, load_sae
from saif_ui.engine.steering import Intervention, Steering
from saif_ui.engine.steering import rows as per_row
from saif_ui.engine.watch import Watch, hooks_for, merge


class Engine(Forwards):
    """Owns the model, tokenizer, chat template and SAEs; every model call goes through it.

    One engine is shared by all requests of an app. A lock serialises model calls: hooks are registered on the
    shared model, so two calls running at once could otherwise see each other's steering. Steering state lives in the
    hooks of each call, never on the engine.
    """

    def __init__(self, loaded: LoadedModel, config: EngineConfig) -> None:
        self.loaded = loaded
        self.config = config
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.chat = ChatTemplate(self.tokenizer, default_system_prompt=config.default_system_prompt)
        self.saes: dict[str, LoadedSAE] = {}
        self.cache: ByteLRU[torch.Tensor] = ByteLRU(config.encode_cache_bytes)
        self.generations: ByteLRU[Generation] = ByteLRU(config.generation_cache_bytes)
        """Greedy generations keyed by prompt, steering and settings: a repeated request skips the model."""
        self.results = ResultCache(config.result_cache_bytes)
        """JSON-able results (comparisons, evaluations, cards...) keyed by every setting: the one result cache all
        requests of an app share."""
        self._lock = threading.RLock()
        self.forward_calls = 0
        """Model forwards run by `encode`; tests use it to prove a cache hit does not touch the model."""

    # ------------------------------------------------------------ construction

    @classmethod
    def load(cls, config: EngineConfig | None = None) -> Engine:
        """Load the model and SAEs named by `config` (default: `EngineConfig.from_env()`), after planning their memory:
        a configuration that cannot serve one request on this device is refused (`plan.DoesNotFit`) before anything
        is loaded, with the numbers and what would make it fit."""
        config = config or EngineConfig.from_env()
        for source in config.saes:
            check_source(source)  # a typo in an SAE path fails now, not after loading the model
        loaded = load_model(
            config.model,
            cache_dir=config.cache_dir,
            device=config.device,
            dtype=config.dtype,
            device_map=preflight(config),
        )
        engine = cls(loaded, config)
        remove_stale_temps(config.cache_dir)  # what a killed server left half-written is never read; free its disk
        for source in config.saes:
            engine.add_sae(source)
        # On a ZeroGPU Space the GPU exists only inside a GPU call: a warm-up here would start CUDA in the main process,
        # which the `spaces` package forbids (the first call warms up instead).
        if config.warmup and not os.environ.get("SPACES_ZERO_GPU"):
            engine.generate([engine.render("Hi")], decoding=Decoding(max_new_tokens=2))
        return engine

    def add_sae(self, source: str, name: str | None = None) -> LoadedSAE:
        """Attach an SAE (folder or `release/sae_id`); several at different layers can be attached at once."""
        sae = load_sae(source, d_model=self.d_model, n_layers=self.n_layers, device=str(self.loaded.device), name=name)
        with self._lock:
            if sae.name in self.saes and self.saes[sae.name].source != source:
                raise SAELoadError(f"an SAE named {sae.name!r} is already attached from {self.saes[sae.name].source}")
            self.saes[sae.name] = sae
        return sae

    def remove_sae(self, name: str) -> None:
        with self._lock:
            self.saes.pop(name, None)

    def sae(self, name: str) -> LoadedSAE:
        try:
            return self.saes[name]
        except KeyError:
            raise SAELoadError(f"no SAE named {name!r}; attached: {sorted(self.saes) or 'none'}") from None

    def sae_names(self) -> list[str]:
        """Attached SAEs, shallowest layer first (ties by name)."""
        return [s.name for s in sorted(self.saes.values(), key=lambda s: (s.layer, s.name))]

    def sae_at_layer(self, layer: int | None = None) -> str:
        """Name of the attached SAE reading `layer` (None: the deepest: SAIF finds steering works best in the last
        quarter of the layers); the error lists what is attached."""
        names = self.sae_names()
        if not names:
            raise SAELoadError("no SAE is attached: pass --sae FOLDER (or set SAIF_SAES)")
        if layer is None:
            return names[-1]
        at = [n for n in names if self.saes[n].layer == layer]
        if not at:
            have = ", ".join(f"{n} (layer {self.saes[n].layer})" for n in names)
            raise SAELoadError(f"no attached SAE reads layer {layer}; attached: {have}")
        return at[0]

    # ------------------------------------------------------------ facts

    @property
    def n_layers(self) -> int:
        return len(decoder_layers(self.model))

    @property
    def d_model(self) -> int:
        return int(self.model.config.hidden_size)

    def info(self) -> dict[str, Any]:
        """What is loaded and where: for `python -m saif_ui info` and the UI."""
        return {
            "model": self.loaded.model_id,
            "model_path": self.loaded.path,
            "architecture": type(self.model).__name__,
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "vocab_size": int(self.model.config.vocab_size),
            "device": str(self.loaded.device),
            "dtype": str(self.loaded.dtype).removeprefix("torch."),
            "cache_dir": str(self.config.cache_dir),
            "default_system_prompt": self.chat.default_system_prompt,
            "load_seconds": round(self.loaded.load_seconds, 2),
            "converted_on_load": self.loaded.converted,
            "saes": [s.info() for s in self.saes.values()],
            "encode_cache": self.cache.stats(),
            "generation_cache": self.generations.stats(),
            "result_cache": self.results.stats(),
        }

    # ------------------------------------------------------------ prompts

    def render(self, prompt: str | Sequence[Message], *, system_prompt: bool | None = None) -> str:
        """Render a user text or messages with the chat template, ready for generation (assistant turn opened)."""
        return self.chat.render(prompt, add_generation_prompt=True, system_prompt=system_prompt)

    def prompt_ids(self, text: str) -> list[int]:
        """Token ids of a rendered prompt, refused with `PromptTooLong` beyond `config.max_prompt_tokens` (and,
        before tokenising, beyond `CHARS_PER_TOKEN_BOUND` characters per allowed token)."""
        limit = self.config.max_prompt_tokens
        if len(text) > limit * CHARS_PER_TOKEN_BOUND:
            raise PromptTooLong(
                f"the prompt is {len(text):,} characters, far beyond the limit of {limit:,} tokens "
                "(SAIF_MAX_PROMPT_TOKENS): shorten the content"
            )
        ids = self.chat.tokenize(text)
        if len(ids) > limit:
            raise PromptTooLong(
                f"the prompt is {len(ids):,} tokens (content, instruction and chat template together); the limit is "
                f"{limit:,} (SAIF_MAX_PROMPT_TOKENS): shorten the content"
            )
        return ids

    def tokens(self, text: str) -> tuple[list[int], list[str], list[bool]]:
        """Token ids, token strings and special-token mask of a rendered prompt (length-checked: `prompt_ids`)."""
        ids = self.prompt_ids(text)
        tokens = self.tokenizer.convert_ids_to_tokens(ids)
        return ids, [str(t) for t in tokens], self.chat.special_mask(ids)

    # ------------------------------------------------------------ generate

    @contextlib.contextmanager
    def steering(
        self, steerings: Sequence[Intervention], prompt_len: int, starts: torch.Tensor | None = None
    ) -> Iterator[None]:
        """Hold the model lock with these steering hooks attached; hooks are removed on exit, exceptions included.
        `starts`: each row's left padding (see `hooks.steer`)."""
        with self._lock, hooks.steer(self.model, steerings, prompt_len, starts):
            yield

    def eos_ids(self) -> set[int]:
        """Ids that end the assistant's turn (some models, e.g. Gemma, have several)."""
        ids = self.model.generation_config.eos_token_id
        ids = ids if isinstance(ids, list) else [ids]
        tok = self.tokenizer.eos_token_id
        return {int(i) for i in [*ids, tok] if i is not None}

    def generate(
        self,
        prompts: Sequence[str],
        steering: Sequence[Intervention] | None = None,
        *,
        decoding: Decoding = GREEDY,
        use_cache: bool = True,
        reuse: bool = True,
    ) -> list[Generation]:
        """Generate continuations of rendered prompts in one left-padded batch.

        Args:
            prompts: rendered texts (see `render`).
            steering: vectors added to block outputs during this call only (see `Steering` for positions).
            decoding: length, greedy or sampling (seeded; the global RNG is left undisturbed), temperature, top-p.
            use_cache: the KV cache; steered output is identical with and without it.
            reuse: serve greedy results from the engine's generation cache (keyed by prompt, steering and length);
                False always runs the model (tests of the model's own behaviour need that).
        """
        if isinstance(prompts, str):
            raise TypeError("generate takes a list of rendered prompts; wrap a single prompt in a list")
        shared = list(steering or ())
        return self.generate_each(
            prompts,
            [shared] * len(prompts),
            decoding=decoding,
            use_cache=use_cache,
            reuse=reuse,
        )

    def generate_each(
        self,
        prompts: Sequence[str],
        steerings: Sequence[Sequence[Intervention]],
        *,
        decoding: Decoding = GREEDY,
        use_cache: bool = True,
        reuse: bool = True,
        watch: Watch | None = None,
    ) -> list[Generation]:
        """`generate` with each prompt steered by its own list (`steerings[i]`, empty: unsteered), in one batch.

        Answers steered differently (the original, steered and prompted answers of a comparison; every α of a sweep)
        then share one batched generate instead of one call each: on a CPU a batch of a few rows decodes almost as
        fast as one row. Row i is steered exactly as `generate([prompts[i]], steerings[i])` would steer it (see
        `steering.rows`), and greedy results share that cache entry. `watch` follows the answers token by token and
        can stop them (`engine.watch`).
        """
        if isinstance(prompts, str):
            raise TypeError("generate_each takes a list of rendered prompts; wrap a single prompt in a list")
        if len(steerings) != len(prompts):
            raise SaifError(f"{len(prompts)} prompts but {len(steerings)} steering lists; give one per prompt")
        if not prompts:
            return []
        for text in dict.fromkeys(prompts):
            self.prompt_ids(text)  # bounded cost: refuse an over-long prompt before any batch runs
        for items in steerings:
            for s in items:
                why = s.width(self.d_model) or (
                    "per-row steering takes 1-D vectors" if isinstance(s, Steering) and s.vector.ndim != 1 else None
                )
                if why:
                    raise SaifError(why)
        rows = [(p, list(items)) for p, items in zip(prompts, steerings, strict=True)]
        if decoding.do_sample or not reuse:  # a seeded sample depends on its batch-mates: only greedy is reusable
            return self._generate(rows, decoding, use_cache, watch.on_texts if watch else None, watch)

        def key(p: str, items: list[Intervention]) -> tuple[Any, ...]:
            return (
                "gen",
                p,
                (
                    tuple(s.key() for s in items),
                    decoding.max_new_tokens,
                    decoding.repetition_penalty,
                    decoding.no_repeat_ngram_size,
                ),
            )

        keys = [key(p, items) for p, items in rows]
        found = {k: self.generations.get(k) for k in dict.fromkeys(keys)}
        missing = [k for k, g in found.items() if g is None]
        report: Callable[[list[str]], None] | None = None
        if watch is not None:
            known = [g.text if (g := found[k]) is not None else None for k in keys]
            texts = merge(known, {i: missing.index(k) for i, k in enumerate(keys) if k in missing})
            report = lambda generated: watch.on_texts(texts(generated))  # noqa: E731
            report([""] * len(missing))
        if missing:
            todo = [rows[keys.index(k)] for k in missing]
            gens = self._generate(todo, decoding, use_cache, report, watch)
            for k, g in zip(missing, gens, strict=True):
                if watch is None or not watch.stop.is_set():  # a stopped answer is not the model's whole answer
                    self.generations.put(k, g, 4 * len(g.token_ids) + 2 * len(g.text) + 256)
                found[k] = g
        fresh = set(missing)
        return [
            g if k in fresh else dataclasses.replace(g, cached=True) for k in keys for g in [found[k]] if g is not None
        ]

    def _answer_text(self, ids: list[int]) -> str:
        """An answer's text from its tokens so far, up to its end of turn."""
        eos = self.eos_ids()
        end = next((i for i, t in enumerate(ids) if t in eos), len(ids))
        return str(self.tokenizer.decode(ids[:end], skip_special_tokens=True))

    def _generate(
        self,
        rows: Sequence[tuple[str, list[Intervention]]],
        decoding: Decoding,
        use_cache: bool,
        report: Callable[[list[str]], None] | None = None,
        watch: Watch | None = None,
    ) -> list[Generation]:
        prompts = [p for p, _ in rows]
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        input_ids = enc["input_ids"].to(self.loaded.device)
        attention = enc["attention_mask"].to(self.loaded.device)
        prompt_len = int(input_ids.shape[1])
        sample = decoding.do_sample
        gen_config = GenerationConfig(
            max_new_tokens=decoding.max_new_tokens,
            do_sample=sample,
            temperature=decoding.temperature if sample else None,
            top_p=decoding.top_p if sample else None,
            top_k=None,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self.eos_ids()),
            use_cache=use_cache,
        )
        start = time.perf_counter()
        with (
            self.steering(per_row([items for _, items in rows]), prompt_len, (attention == 0).sum(dim=1)),
            torch.no_grad(),
            torch.random.fork_rng(devices=[self.loaded.device] if self.loaded.device.type == "cuda" else []),
        ):
            torch.manual_seed(decoding.seed)
            out = self.model.generate(  # type: ignore[operator]
                input_ids=input_ids,
                attention_mask=attention,
                generation_config=gen_config,
                logits_processor=answer_penalties(decoding, prompt_len),
                **(hooks_for(watch, len(rows), self._answer_text, report) if watch and report else {}),
            )
        seconds = time.perf_counter() - start
        results = []
        eos = self.eos_ids()
        for prompt, row in zip(prompts, out[:, prompt_len:].tolist(), strict=True):
            end = next((i for i, t in enumerate(row) if t in eos), None)
            finished = end is not None
            new = row[:end]
            text = str(self.tokenizer.decode(new, skip_special_tokens=True))
            results.append(
                Generation(
                    prompt=prompt,
                    text=text,
                    token_ids=new,
                    finished=finished,
                    seconds=seconds,
                    stop_id=row[end] if end is not None else None,
                )
            )
        if report is not None:  # the whole answers, as returned (decoded once)
            report([g.text for g in results])
        return results
