"""USD per million tokens (input, output). Local and fake backends cost 0. Unknown hosted models cost 0 and are
flagged by `known_price`, so a missing price never blocks a run."""

from __future__ import annotations

# Standard (not batch, not cached-input) prices per 1M tokens, as OpenAI's pricing page listed them in spring 2026
# (developers.openai.com/api/docs/pricing); update when they change.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}
FREE_BACKENDS = {"embedded", "fake"}


def _lookup(model: str) -> tuple[float, float] | None:
    # longest prefix wins, so dated snapshots ("gpt-4o-mini-2024-07-18") find their family
    for name in sorted(PRICES, key=len, reverse=True):
        if model == name or model.startswith(name + "-"):
            return PRICES[name]
    return None


def known_price(backend: str, model: str) -> bool:
    return backend in FREE_BACKENDS or _lookup(model) is not None


def cost_usd(backend: str, model: str, tokens_in: int, tokens_out: int) -> float:
    if backend in FREE_BACKENDS:
        return 0.0
    price = _lookup(model)
    if price is None:
        return 0.0
    return round((tokens_in * price[0] + tokens_out * price[1]) / 1_000_000, 8)


# The Batch API's price as a share of the online one, where the provider publishes it (OpenAI: 50% off, "Batch API"
# on its pricing page). Other OpenAI-compatible runners (vLLM on your own GPUs) have no published batch price.
BATCH_SHARE: dict[str, float] = {"openai": 0.5}


def batch_cost_usd(backend: str, model: str, tokens_in: int, tokens_out: int) -> float:
    return round(cost_usd(backend, model, tokens_in, tokens_out) * BATCH_SHARE.get(backend, 1.0), 8)
