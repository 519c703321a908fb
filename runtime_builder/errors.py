"""The errors a user can act on, each with its exit code, caught once in `cli.main` (as
cibuildwheel's errors are): the message says what happened and what to do.

Exit codes: 1 a step failed (a build, a test, the registry, the engine); 2 the input is wrong
(arguments, versions.yaml, a project folder) and nothing was started or written.
"""

from __future__ import annotations


class BuilderError(Exception):
    """A failure of a step; nothing half-written was left behind (each raiser makes sure)."""

    exit_code = 1


class UsageError(BuilderError):
    """The input is wrong: the message names the argument, file, field or value."""

    exit_code = 2
