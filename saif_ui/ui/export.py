"""Export and import of an exploration (JSON), CSV files of its tables, and shareable links (URL query parameters)."""

from __future__ import annotations

import json
import math
import re
import tempfile
import time
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from saif_ui.service import (
    CHAT_SOURCES,
    MAX_ABS_ALPHA,
    MAX_ABS_STRENGTH,
    MAX_CHAT_TURNS,
    MAX_LATENTS,
    ControlError,
    Decoding,
    SaifError,
    Session,
    parse_latent_ids,
    read_json,
)
from saif_ui.ui.tables import session_tables

FORMAT = "saif_ui.exploration"
VERSION = 1
DECODING_KEYS = tuple(f.name for f in fields(Decoding))
"""The decoding controls: `Decoding`'s fields, so a knob added there is recorded, read back and type-checked here
with no edit (its component in the Steering tab takes the field's name)."""
CONTROL_KEYS = (
    "instruction",
    "custom_text",
    "checker",
    "content",
    "placement",
    "system_prompt",
    "sae",
    "latents",
    "strengths",
    "alpha",
    "positions",
    "scale",
    "decay",
    "decay_power",
    "method",
    "prompted_steered",
    *DECODING_KEYS,
)
"""The controls an exploration records, in the order the app lists their components."""
_TEXT, _NUMBER = ((str,), "text"), ((int, float), "a number")
_BOOL, _WHOLE = (bool, "true or false"), ((int,), "a whole number")
_BY_FIELD_TYPE = {bool: _BOOL, int: _WHOLE, float: _NUMBER}
"""The JSON type a decoding control takes, by its `Decoding` field's type."""
CONTROL_TYPES: dict[str, tuple[Any, str]] = {
    **dict.fromkeys(("instruction", "custom_text", "checker", "content", "placement", "sae"), _TEXT),
    **dict.fromkeys(("positions", "scale", "method"), _TEXT),
    **dict.fromkeys(("alpha", "decay", "decay_power"), _NUMBER),
    **dict.fromkeys(("system_prompt", "prompted_steered"), _BOOL),
    **{name: _BY_FIELD_TYPE[kind] for name, kind in typing.get_type_hints(Decoding).items()},
}
"""The JSON type of each scalar control: a hand-edited file with a wrong one is refused with the field's name."""
TOP_KEYS = frozenset(
    {"format", "version", "created", "model", "instruction", "content", "placement", "system_prompt", "sae", "layer"}
    | {"latents", "strengths", "alpha", "steering", "decoding", "spec", "outputs"}
)
"""The fields `exploration` writes; others are reported as ignored."""


def exploration(controls: Mapping[str, Any], session: Session, model: str, layer: int | None) -> dict[str, Any]:
    """One JSON-able record of what a visitor set up and what came back.

    Args:
        controls: values of the components named in `CONTROL_KEYS` (strengths: latent id -> strength).
        session: the results.
        model: engine model id, so a file from another model is recognised on import.
        layer: layer of the chosen SAE.
    """
    unknown = set(controls) - set(CONTROL_KEYS)
    if unknown:
        raise ValueError(f"unknown controls: {sorted(unknown)}")
    latents = parse_latent_ids(controls.get("latents"))
    strengths = {str(k): float(v) for k, v in (controls.get("strengths") or {}).items()}
    spec = session.comparison.spec.to_dict() if session.comparison else None
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": model,
        "instruction": {
            "id": controls.get("instruction"),
            "custom_text": controls.get("custom_text") or "",
            "checker": controls.get("checker"),
        },
        "content": controls.get("content"),
        "placement": controls.get("placement"),
        "system_prompt": controls.get("system_prompt"),
        "sae": controls.get("sae"),
        "layer": layer,
        "latents": latents,
        "strengths": {str(i): strengths.get(str(i), 1.0) for i in latents},
        "alpha": controls.get("alpha"),
        "steering": {
            k: controls.get(k) for k in ("positions", "scale", "decay", "decay_power", "method", "prompted_steered")
        },
        "decoding": {k: controls.get(k) for k in DECODING_KEYS},
        "spec": spec,
        "outputs": session.to_dict(),
    }


def to_json(record: Mapping[str, Any]) -> str:
    """Strict JSON (NaN and infinities become null, which other tools can read) of an exploration."""
    return json.dumps(_finite(record), indent=2, ensure_ascii=False, allow_nan=False, default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@dataclass
class Imported:
    """An exploration read back: control values to set, the session to restore, and what could not be used."""

    controls: dict[str, Any]
    session: Session
    model: str | None = None
    warnings: list[str] = field(default_factory=list)


def parse_exploration(text: str | bytes) -> Imported:
    """Read an exploration written by `exploration` + `to_json`; raises `ValueError` saying what is wrong."""
    try:
        data = read_json(text, "the exploration")
    except SaifError as err:
        raise ControlError(str(err)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ControlError(f'not a saif_ui exploration (expected "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise ControlError(f"exploration version {data.get('version')} is not supported (this app reads {VERSION})")
    warnings: list[str] = []
    extra = sorted(set(data) - TOP_KEYS)
    if extra:
        warnings.append(f"ignored unknown fields: {', '.join(map(str, extra))[:200]}")
    for key in ("instruction", "steering", "decoding", "strengths", "outputs"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise ControlError(f"'{key}' must be an object")
    if data.get("latents") is not None and not isinstance(data["latents"], list):
        raise ControlError("'latents' must be a list of latent ids")
    if len(data.get("latents") or []) > MAX_LATENTS:
        raise ControlError(f"the exploration steers with {len(data['latents'])} latents; at most {MAX_LATENTS} at once")
    instr = data.get("instruction") or {}
    controls: dict[str, Any] = {
        "instruction": instr.get("id"),
        "custom_text": instr.get("custom_text", ""),
        "checker": instr.get("checker"),
        "content": data.get("content"),
        "placement": data.get("placement"),
        "system_prompt": data.get("system_prompt"),
        "sae": data.get("sae"),
        "alpha": data.get("alpha"),
        **(data.get("steering") or {}),
        **(data.get("decoding") or {}),
    }
    latents = parse_latent_ids(data.get("latents") or [])
    raw = data.get("strengths") or {}
    if not isinstance(raw, dict):
        raise ControlError("'strengths' must map latent ids to numbers")
    controls["latents"] = latents
    try:
        controls["strengths"] = {int(k): float(v) for k, v in raw.items() if str(k).isascii() and str(k).isdigit()}
    except (TypeError, ValueError):
        raise ControlError("'strengths' must map latent ids to numbers") from None
    controls = {k: v for k, v in controls.items() if k in CONTROL_KEYS and v is not None}
    for key, value in controls.items():
        kind, what = CONTROL_TYPES.get(key, (object, ""))
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            raise ControlError(f"'{key}' must be {what}, not {json.dumps(value, default=str)[:40]}")
    outputs = data.get("outputs") or {}
    return Imported(controls=controls, session=Session.from_dict(outputs), model=data.get("model"), warnings=warnings)


def write_json(record: Mapping[str, Any], folder: Path | None = None) -> Path:
    """Write the exploration to a fresh file named after its instruction and time (for a download button)."""
    folder = folder or Path(tempfile.mkdtemp(prefix="saif_export_"))
    name = _slug(str((record.get("instruction") or {}).get("id") or "exploration"))
    path = folder / f"saif_{name}_{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(to_json(record), encoding="utf-8")
    return path


def write_csvs(session: Session, folder: Path | None = None) -> list[Path]:
    """One CSV file per non-empty table of the session."""
    folder = folder or Path(tempfile.mkdtemp(prefix="saif_csv_"))
    paths = []
    for name, table in session_tables(session).items():
        path = folder / f"{name}.csv"
        path.write_text(table.csv(), encoding="utf-8")
        paths.append(path)
    return paths


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:40] or "exploration"


# ---------------------------------------------------------------- shareable links

LINK_KEYS = ("instruction", "text", "layer", "sae", "latents", "strengths", "alpha", "placement")


def share_query(
    instruction: str | None,
    custom_text: str | None,
    layer: int | None,
    latents: Sequence[int],
    alpha: float | None,
    strengths: Mapping[int, float] | None = None,
    placement: str | None = None,
    chat: Sequence[str] = (),
    chat_source: str | None = None,
) -> str:
    """The query string (without `?`) that preloads an exploration: instruction (or custom wordings), layer,
    latents, their strengths and α; and a chat's messages (a JSON list: the answers are made again on load) with
    what steered it."""
    params: dict[str, str] = {}
    if instruction == "custom":
        lines = [line.strip() for line in (custom_text or "").splitlines() if line.strip()]
        if lines:
            params["text"] = "|".join(lines)
    elif instruction:
        params["instruction"] = instruction
    if layer is not None:
        params["layer"] = str(layer)
    if latents:
        params["latents"] = ",".join(str(i) for i in latents)
        if strengths and any(float(strengths.get(i, 1.0)) != 1.0 for i in latents):
            params["strengths"] = ",".join(f"{float(strengths.get(i, 1.0)):g}" for i in latents)
    if alpha is not None:
        params["alpha"] = f"{float(alpha):g}"
    if placement and placement != "post":
        params["placement"] = placement
    if chat:
        params["chat"] = json.dumps(list(chat), ensure_ascii=False)
        params["steer_with"] = chat_source or "recipe"
    return urlencode(params, safe=",|")


@dataclass
class LinkParams:
    """What a shared link asks for, validated: None where the link says nothing; `errors` for what was refused."""

    instruction: str | None = None
    custom_text: str | None = None
    layer: int | None = None
    sae: str | None = None
    latents: list[int] = field(default_factory=list)
    strengths: dict[int, float] = field(default_factory=dict)
    alpha: float | None = None
    placement: str | None = None
    chat: list[str] = field(default_factory=list)
    """A conversation's user messages, answered again on load."""
    chat_source: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return all(
            getattr(self, k) in (None, [], {})
            for k in ("instruction", "custom_text", "layer", "sae", "latents", "chat")
        )


def parse_query(
    params: Mapping[str, str],
    instruction_ids: Sequence[str],
    layers: Mapping[int, str],
    sae_names: Sequence[str] = (),
) -> LinkParams:
    """Validate query parameters against what the app has: catalogue ids and the attached SAEs' layers.

    Args:
        params: the request's query parameters.
        instruction_ids: valid catalogue ids.
        layers: layer -> name of the SAE that reads it.
        sae_names: attached SAE names (a link may name the SAE instead of the layer).
    """
    out = LinkParams()
    if params.get("instruction"):
        value = params["instruction"].strip()
        if value in instruction_ids:
            out.instruction = value
        else:
            out.errors.append(f"unknown instruction {value!r}; valid: {', '.join(instruction_ids)}")
    if params.get("text"):
        texts = [t.strip() for t in params["text"].split("|") if t.strip()]
        if texts:
            out.instruction, out.custom_text = "custom", "\n".join(texts)
    if params.get("sae"):
        if params["sae"] in sae_names:
            out.sae = params["sae"]
        else:
            out.errors.append(f"no SAE named {params['sae']!r} is attached")
    if params.get("layer"):
        raw = params["layer"].strip()
        # isdecimal, not isdigit: "¹" is a digit that int() refuses (found by the property test).
        if raw.lstrip("-").isdecimal() and raw.isascii() and int(raw) in layers:
            out.layer = int(raw)
            out.sae = out.sae or layers[int(raw)]
        else:
            have = ", ".join(str(k) for k in sorted(layers)) or "none"
            out.errors.append(f"no attached SAE reads layer {raw!r}; layers with an SAE: {have}")
    if params.get("latents"):
        try:
            out.latents = parse_latent_ids(params["latents"])[:MAX_LATENTS]
        except ValueError as err:
            out.errors.append(str(err))
    if params.get("strengths") and out.latents:
        values = [v for v in params["strengths"].split(",") if v.strip()]
        try:
            floats = [float(v) for v in values]
        except ValueError:
            out.errors.append(f"strengths must be numbers, got {params['strengths']!r}")
        else:
            out.strengths = {i: s for i, s in zip(out.latents, floats, strict=False) if abs(s) <= MAX_ABS_STRENGTH}
            if len(out.strengths) < min(len(floats), len(out.latents)):
                out.errors.append(f"strengths must be finite and within ±{MAX_ABS_STRENGTH:g}")
    if params.get("alpha"):
        try:
            alpha = float(params["alpha"])
        except ValueError:
            out.errors.append(f"alpha must be a number, got {params['alpha']!r}")
        else:
            if abs(alpha) <= MAX_ABS_ALPHA:
                out.alpha = alpha
            else:
                out.errors.append(f"alpha must be finite and within ±{MAX_ABS_ALPHA:g}")
    if params.get("placement"):
        if params["placement"] in ("post", "pre"):
            out.placement = params["placement"]
        else:
            out.errors.append("placement must be post or pre")
    if params.get("chat"):
        _parse_chat(params, out)
    return out


def _parse_chat(params: Mapping[str, str], out: LinkParams) -> None:
    """A link's chat: a JSON list of at most `MAX_CHAT_TURNS` messages and what steers it (`steer_with`)."""
    try:
        messages = json.loads(params["chat"])
    except ValueError:
        out.errors.append("chat must be a JSON list of messages")
        return
    if not isinstance(messages, list) or not all(isinstance(m, str) and m.strip() for m in messages):
        out.errors.append("chat must be a JSON list of non-empty messages")
    elif len(messages) > MAX_CHAT_TURNS:
        out.errors.append(f"a chat holds at most {MAX_CHAT_TURNS} turns, the link has {len(messages)}")
    else:
        out.chat = [m.strip() for m in messages]
    source = params.get("steer_with", "recipe")
    if source in CHAT_SOURCES:
        out.chat_source = source
    else:
        out.errors.append(f"steer_with must be one of {', '.join(CHAT_SOURCES)}, not {source!r}")
