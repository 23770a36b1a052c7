"""Sixteen visitors at once, steered and plain: every answer equals the same request served alone, with the caches
emptied in between so that the concurrent answers are really generated (not read back)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from gradio_client import Client

CONTENTS = [
    "The cat sat on the mat and looked at the rain.",
    "Our train leaves at nine, so we should pack tonight.",
    "Bread rises because yeast makes gas in the dough.",
    "The museum opens late on Fridays in summer.",
]
STEER = {"latents": ["436", "2070"], "scale": "unit", "alpha": 6.0}


def requests() -> list[tuple[str, dict]]:
    """Eight distinct requests (four contents × plain / steered), each sent by two visitors."""
    out = []
    for content in CONTENTS:
        base = {"instruction": "french", "content": content, "max_new_tokens": 8}
        out.append(("/answer", base))
        out.append(("/steer", {**base, **STEER}))
    return out * 2


def texts(api: str, result: tuple) -> tuple[str, ...]:
    """Answer texts and verdict lines of a response: original and prompted (/answer); original, steered and
    prompted (/steer)."""
    strings = [r for r in result if isinstance(r, str)]
    return tuple(strings[2:6]) if api == "/answer" else tuple(strings[:6])


def test_sixteen_concurrent_visitors_get_what_each_gets_alone(served, monkeypatch) -> None:
    engine, demo = served
    url = demo.local_url
    alone = {}
    for api, kwargs in requests()[:8]:
        alone[(api, kwargs["content"])] = texts(api, Client(url, verbose=False).predict(**kwargs, api_name=api))
    assert len(set(alone.values())) == 8  # the steer changes the answers, contents differ: a mix-up would show
    engine.generations.clear()
    engine.results.clear()
    calls = []
    original = engine._generate
    monkeypatch.setattr(engine, "_generate", lambda *a, **k: calls.append(1) or original(*a, **k))
    clients = [Client(url, verbose=False) for _ in range(16)]

    def send(i: int) -> tuple[tuple[str, str], tuple[str, ...]]:
        api, kwargs = requests()[i]
        return (api, kwargs["content"]), texts(api, clients[i].predict(**kwargs, api_name=api))

    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(send, range(16)))
    assert calls, "the concurrent requests were all served from a cache"
    for key, answer in together:
        assert answer == alone[key], key
