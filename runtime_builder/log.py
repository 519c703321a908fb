"""Titled steps with their durations, so a long build log reads as a table."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def step(title: str) -> Iterator[None]:
    info(f"==> {title}")
    start = time.monotonic()
    try:
        yield
    except BaseException:
        info(f"<== FAILED {title} after {time.monotonic() - start:.1f}s")
        raise
    info(f"<== {title}: {time.monotonic() - start:.1f}s")
