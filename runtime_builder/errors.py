"""Every error a user can act on, each with its exit code, caught once in `cli.main` (as
cibuildwheel's errors are): the message says what happened and what to do. One home for all of
them, in the pipeline's order; a stage raises its own, never a bare Exception or RuntimeError.

Exit codes: 1 a step failed (a build, a test, the registry, the engine); 2 the input is wrong
(arguments, versions.yaml, a project folder) and nothing was started or written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class BuilderError(Exception):
    """A failure of a step; nothing half-written was left behind (each raiser makes sure)."""

    exit_code = 1


class UsageError(BuilderError):
    """The input is wrong: the message names the argument, file, field or value."""

    exit_code = 2


# -- matrix ----------------------------------------------------------------------------------------


class MatrixError(UsageError):
    """versions.yaml is not valid; carries one problem per mistake (matrix.reader.Problem)."""

    def __init__(self, filename: str, problems: Sequence[Any]) -> None:
        self.filename = filename
        self.problems = list(problems)
        super().__init__("\n".join(p.render(filename) for p in problems))


class UnknownVersion(UsageError, LookupError):
    """A version the matrix does not have."""


# -- lock ------------------------------------------------------------------------------------------


class ResolutionError(BuilderError):
    """uv could not resolve (no such version, no compatible versions, or no index); uv's words."""


class LockError(BuilderError):
    """uv could not resolve a lock; the message carries its words."""


class StaleLocks(LockError):
    """Locks disagree with versions.yaml or inhouse/: nothing was started; the message says what to run."""

    exit_code = 2


class PackageIndexError(BuilderError):
    """The package index failed a question (unreachable, an error status, not PEP 691 JSON); the
    message names the index and the package. `transient`: a failure that asking again may not
    meet (a reset connection, a timeout, 429, a 5xx answer)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


# -- generate --------------------------------------------------------------------------------------


class RenderError(UsageError):
    """A template cannot be rendered (a syntax error, a name it does not know); distributions/ is unchanged."""


class FrozenContextError(BuilderError):
    """A frozen build context differs from what it was released with, or cannot be read."""


# -- images ----------------------------------------------------------------------------------------


class EngineError(BuilderError):
    """A docker command failed or no usable client exists."""


class BuildError(EngineError):
    """An image build failed; the message carries the tail of the build log."""


class HostError(BuilderError):
    """The host could not be brought into a usable state."""


class BuildPlanError(BuilderError):
    """A build cannot start: something it needs is missing. The message says what to do."""


class BootstrapError(BuilderError):
    """A base image could not be made; the message names the image and the failing tool."""


class BisectError(BuilderError):
    """A probe of `build.py bisect` could not be made or run (a candidate lock that does not resolve,
    a test selection that does not run); the message names the probe and its log."""


# -- publish ---------------------------------------------------------------------------------------


class RegistryError(BuilderError):
    """The registry refused a request or could not be reached; the message says which."""


class EvidenceError(BuilderError):
    """An image has no SBOM or build record to attach; the message says how to make them."""


class PublishError(BuilderError):
    """Publishing stopped; the message says where, and that no tag was changed."""


class SignatureError(BuilderError):
    """A signature that is missing, malformed, or not made by the key given; the message says which."""


# -- deploy ----------------------------------------------------------------------------------------


class DeployError(BuilderError):
    """A deployment could not be started or checked; the message names the component and shows its log."""


class Unhealthy(DeployError):
    """A check did not pass within the timeout: `name` and `what` name it, `others` had not passed either."""

    def __init__(self, name: str, what: str, others: Sequence[str]) -> None:
        super().__init__(f"{name} did not pass {what}")
        self.name, self.what, self.others = name, what, list(others)


class ApiError(DeployError):
    """Airflow's API refused a request or did not answer; the message carries its reply."""


class ProjectError(BuilderError):
    """The project's image does not build (a DAG that does not import, a requirement that does not
    install); the message carries the build's own words. A folder that is not a project is a UsageError."""


# -- release ---------------------------------------------------------------------------------------


class NewVersionError(UsageError):
    """The new version cannot be cut as asked; nothing was written."""


class NothingToDraft(Exception):  # an outcome, not an error
    """`new-version --from-upstream` drafted a nightly that moves nothing but its date: raised inside
    `newversion.apply`, whose roll-back puts every file back, and caught by the command (exit 0)."""

    exit_code = 0


class TextEditError(UsageError):
    """versions.yaml is written in a way the text edits cannot follow (e.g. flow style)."""
