"""The upgrades and rollbacks a deployment may make, and what real runs of them showed.

Which pairs are promised is computed from the matrix (`pairs`, pure):
- within the default release's line, each non-yanked stable or nightly release to the next
  (14.0.2 → 14.0.4 → 14.1.0);
- across lines, the newest release of one line to the newest of the next, for the last two
  line changes (12.1.1 → 13.1.0, the Airflow 2 → 3 upgrade, and 13.1.0 → 14.0.4);
- rollbacks: those across lines backwards (newest 14 → 13.1.0, 13.1.0 → 12.1.1), which Airflow
  supports by `airflow db downgrade` run from the newer image before the older one starts.

What a real run on PostgreSQL showed is recorded in `evidence/upgrades.json` (`layout.UPGRADE_RESULTS`) (written by
`bench/upgrade_report.py` and the deployment tests' report, read by render for the reference
tables): one `Result` per (source, target, kind), the newest run wins. A pair with no result,
or one whose result was taken with other Airflow versions than the matrix now names, shows as
not run: a cell of the table is only ever a run's outcome.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BuilderError
from ..matrix.model import Channel, Matrix, Release
from . import recorded

UPGRADE = "upgrade"
ROLLBACK = "rollback"
# ok: nothing lost, a new run succeeded; needs: Airflow refused the step with the images as
# shipped, and it worked with what the detail names (a package Airflow asked for); lossy: it
# worked, and Airflow's own migration removed rows it accounts for (runs it moved to a table it
# names, with their task instances and XComs), every other row kept; refused: Airflow refused
# the step, in its own words; failed: anything else (rows lost unaccounted for, a crash).
STATUSES = ("ok", "needs", "lossy", "refused", "failed")


@dataclass(frozen=True)
class Pair:
    source: Release
    target: Release
    kind: str  # UPGRADE or ROLLBACK

    @property
    def id(self) -> str:
        return f"{self.source.version}-to-{self.target.version}"


def _newest(releases: Iterable[Release]) -> Release:
    return max(releases, key=lambda r: r.version)


def pairs(matrix: Matrix) -> list[Pair]:
    """The upgrades and rollbacks the matrix promises (see the module's docstring). Pure."""
    default = matrix.default_release()
    chain = sorted((r for r in matrix.line(default.line) if not r.is_yanked
                    and r.channel in (Channel.STABLE, Channel.NIGHTLY)), key=lambda r: r.version)
    found = [Pair(a, b, UPGRADE) for a, b in itertools.pairwise(chain)]
    newest = [_newest(r for r in matrix.line(line) if not r.is_yanked and r.channel is not Channel.NIGHTLY)
              for line in matrix.lines]
    across = list(itertools.pairwise(newest))[-2:]
    found += [Pair(a, b, UPGRADE) for a, b in reversed(across)]
    found += [Pair(b, a, ROLLBACK) for a, b in reversed(across)]
    return found


def default_pair(matrix: Matrix) -> Pair:
    """What CI runs: the release before the default one in its line (non-yanked, stable) → the default."""
    default = matrix.default_release()
    before = [r for r in matrix.line(default.line)
              if r.version < default.version and r.channel is Channel.STABLE and not r.is_yanked]
    if not before:
        raise BuilderError(f"Runtime {default.version} has no earlier stable release in line {default.line} "
                           "to upgrade from")
    return Pair(_newest(before), default, UPGRADE)


def chosen(matrix: Matrix, asked: Sequence[str]) -> list[Pair]:
    """`asked`: pair ids (`14.0.2-to-14.0.4`), `default` or `all`; nothing asked is the default pair."""
    every = pairs(matrix)
    by_id = {pair.id: pair for pair in every}
    found: list[Pair] = []
    for name in asked or ["default"]:
        if name == "all":
            found += every
        elif name == "default":
            found.append(default_pair(matrix))
        elif name in by_id:
            found.append(by_id[name])
        else:
            raise BuilderError(f"no upgrade or rollback {name!r} in the matrix; it has: "
                               f"{', '.join(by_id)} (or `default`, `all`)")
    return list(dict.fromkeys(found))


@dataclass
class Result:
    source: str
    target: str
    kind: str
    airflow_source: str
    airflow_target: str
    status: str = "failed"  # one of STATUSES
    detail: str = ""
    checked_on: str = ""  # the day of the run, ISO
    history: dict[str, list[int]] = field(default_factory=dict)  # table -> [rows before, rows after]
    seconds: float = 0.0

    @classmethod
    def of(cls, pair: Pair, checked_on: str) -> Result:
        return cls(str(pair.source.version), str(pair.target.version), pair.kind,
                   pair.source.airflow_build_version, pair.target.airflow_build_version, checked_on=checked_on)

    def matches(self, pair: Pair) -> bool:
        """Whether this result was taken of `pair` as the matrix now describes it."""
        return ((self.source, self.target, self.kind, self.airflow_source, self.airflow_target)
                == (str(pair.source.version), str(pair.target.version), pair.kind,
                    pair.source.airflow_build_version, pair.target.airflow_build_version))


def load(path: Path) -> list[Result]:
    """The results recorded in `path` (the repository's: `root / layout.UPGRADE_RESULTS`); a file
    that is not what `record` writes is refused, naming it."""
    results = recorded.read(path, "results", Result, "an upgrade results file")
    for result in results:
        if result.status not in STATUSES or result.kind not in (UPGRADE, ROLLBACK):
            raise BuilderError(f"{path}: {result.source} → {result.target}: status "
                               f"{result.status!r} / kind {result.kind!r} is not one of {STATUSES} / upgrade, rollback")
    return results


def record(path: Path, results: Iterable[Result]) -> Path:
    """Merge `results` into the results file `path`, one entry per (source, target, kind), the newest wins."""
    return recorded.merge(path, "results", load(path), results, lambda r: (r.source, r.target, r.kind))


def result_of(pair: Pair, results: Sequence[Result]) -> Result | None:
    return next((r for r in results if r.matches(pair)), None)


def rows(matrix: Matrix, results: Sequence[Result]) -> list[dict]:
    """The reference table: every promised pair with its recorded outcome (or `not run`). Pure."""
    found = []
    for pair in pairs(matrix):
        result = result_of(pair, results)
        found.append({
            "kind": pair.kind,
            "source": f"{pair.source.version} (Airflow {pair.source.airflow})",
            "target": f"{pair.target.version} (Airflow {pair.target.airflow})",
            "status": result.status if result else "not run",
            "checked_on": result.checked_on if result else "",
            "detail": (result.detail if result else "").replace("|", "\\|").replace("\n", " "),
        })
    return found
