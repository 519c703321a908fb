"""Fault injection for the publishing tests: with RUNTIME_BUILDER_KILL_AFTER_WRITES=N in the
environment, the process kills itself (SIGKILL: no cleanup, no `finally`) right after its Nth
write to a registry has succeeded, the way a crash or a cancelled CI job would stop it there.
Unset (always, outside tests), `wrote` only counts.
"""

from __future__ import annotations

import os
import signal
import sys

VARIABLE = "RUNTIME_BUILDER_KILL_AFTER_WRITES"
_writes = 0


def wrote(what: str) -> None:
    """Call after every successful registry write (a manifest, a blob, an image push)."""
    global _writes
    _writes += 1
    limit = os.environ.get(VARIABLE)
    if limit and _writes >= int(limit):
        print(f"fault injection: killed after write {_writes} ({what})", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def writes() -> int:
    return _writes
