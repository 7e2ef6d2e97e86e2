"""Store calls a stand-in can take: the steps call the store through `ctx.store`, which is the store itself
everywhere but in a bulk build's worker process. There it is a stand-in (agent/batch/predict.py) that predicts
what each call would return, writes nothing, and records the calls for the build's one writer to make and check.
A stand-in defines the Store methods the steps use; the module-level store functions the steps call (conflation
verdicts, splits, slots) hand the call to it through `hands_over`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def hands_over(fn: F) -> F:
    """`fn(store, ...)` runs as it is, unless `store` is a stand-in (it has `take_call`): then the stand-in gets
    the call, with `fn` to read the committed store with."""

    @functools.wraps(fn)
    def call(store: Any, *args: Any, **kwargs: Any) -> Any:
        take = getattr(store, "take_call", None)
        if take is None:
            return fn(store, *args, **kwargs)
        return take(fn.__name__, fn, args, kwargs)

    return call  # type: ignore[return-value]
