"""`build.py bisect`'s locks and answer: the two locks compared (GOOD and BAD, one cell of one
line), the candidate lock of a probe (GOOD with some of the moves applied, resolved so it is
installable), and the report with the `constraints:` entry that holds a culprit back.

A candidate is resolved by `resolver.resolve`, not patched by hand: every package of GOOD's lock
(with the asked moves applied) is a requirement, an asked move at BAD's version exactly, and every
other package is held between its GOOD and BAD versions (at its version, where they agree), with
the target pins preferred. So the candidate moves what was asked, plus only what the asked moves
need (the resolver drags it along, and the probe reports it).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import UsageError
from ..matrix.model import Matrix, Platform, Release
from .bisect import Move, Result, Verdict
from .locks import LockCell
from .resolver import exclude_newer, pins, resolve


@dataclass(frozen=True)
class Side:
    """GOOD or BAD: a release of the matrix and the lock of one of its cells."""

    release: Release
    python: str
    platform: Platform
    lock: str
    source: str  # the lock file it was read from

    @property
    def pins(self) -> dict[str, str]:
        return pins(self.lock)

    @property
    def label(self) -> str:
        """How the command line named it: the version, or the lock file given instead."""
        standard = self.source == LockCell(self.release, self.python, self.platform).path
        return str(self.release.version) if standard else self.source


def side(matrix: Matrix, root: Path, given: str, python: str | None, platform: Platform) -> Side:
    """A side named as on the command line: a Runtime version (its lock of `python`, default the
    release's default Python, and `platform`), or a lock file laid out as locks/ lays them out
    (`.../<version>/python-<X.Y>/<arch>.txt`, a copy anywhere)."""
    path = Path(given)
    if path.suffix == ".txt":
        if not path.is_file():
            raise UsageError(f"{given}: no such lock file")
        parts = PurePosixPath(path.resolve().as_posix()).parts
        version, folder, arch = parts[-3], parts[-2], parts[-1].removesuffix(".txt")
        found = [p for p in Platform if p.arch == arch]
        if not folder.startswith("python-") or not found:
            raise UsageError(f"{given}: a lock file is <version>/python-<X.Y>/<arch>.txt, as under locks/")
        release = matrix.release(version)
        return Side(release, folder.removeprefix("python-"), found[0], path.read_text(), given)
    release = matrix.release(given)
    python = python or release.python
    if python not in release.pythons:
        raise UsageError(f"Runtime {release.version} has no Python {python}; it has {', '.join(release.pythons)}")
    cell = LockCell(release, python, platform)
    if not (root / cell.path).is_file():
        raise UsageError(f"{cell.path}: no lock file; run `python build.py lock {release.version}`")
    return Side(release, python, platform, (root / cell.path).read_text(), cell.path)


def refuse_unrelated(good: Side, bad: Side) -> None:
    """GOOD and BAD are locks of one line's same cell (Python and architecture), and differ."""
    if good.release.line != bad.release.line:
        raise UsageError(f"{good.release.version} and {bad.release.version} are not of one Runtime line")
    if (good.python, good.platform) != (bad.python, bad.platform):
        raise UsageError(f"{good.source} and {bad.source} lock different cells (Python, architecture)")


def request(good: Mapping[str, str], bad: Mapping[str, str], asked: Collection[str]) -> tuple[str, str, str]:
    """(requirements, constraints, preferred pins) of the candidate that applies `asked`. Pure."""
    target = dict(good)
    for name in asked:
        if name in bad:
            target[name] = bad[name]
        else:
            target.pop(name, None)
    requirements = "".join(f"{name}=={target[name]}\n" if name in asked else f"{name}\n" for name in sorted(target))
    constraints = "".join(f"{name}{_held(good.get(name), bad.get(name))}\n"
                          for name in sorted(set(good) | set(bad)) if name not in asked)
    preferred = "".join(f"{name}=={version}\n" for name, version in sorted(target.items()))
    return requirements, constraints, preferred


def _held(old: str | None, new: str | None) -> str:
    """The bound on a package no move of the candidate asks for: between its two versions."""
    if old is None or new is None or old == new:
        return f"=={old or new}"
    low, high = sorted((old, new), key=Version)
    return f">={low},<={high}"


def applied(good: Mapping[str, str], candidate: Mapping[str, str], moves: Collection[Move]) -> frozenset[str]:
    """The moves a resolved candidate applies: the packages it pins otherwise than GOOD. Pure."""
    return frozenset(move.name for move in moves if candidate.get(move.name) != good.get(move.name))


def candidate_lock(good: Side, bad: Side, asked: Collection[str]) -> str:
    """The hash-pinned lock of GOOD with the moves `asked` applied, as uv resolves it for the cell
    (packages published by the day after BAD's release date)."""
    requirements, constraints, preferred = request(good.pins, bad.pins, asked)
    body = resolve(requirements, bad.python, bad.platform, exclude_newer(bad.release.released),
                   constraints=constraints, preferred=preferred)
    return (f"# A `build.py bisect` candidate: {good.source} with {len(asked)} of the moves to {bad.source}.\n"
            + body)


# -- the answer ------------------------------------------------------------------------------------


def constraint_entry(move: Move, since: str, reason: str) -> str | None:
    """The `constraints:` item that holds `move` back, as versions.yaml takes it (None when no
    bound can: a package BAD added or removed, or Airflow itself, which `airflow:` sets)."""
    if move.old is None or move.new is None or move.name == "apache-airflow":
        return None
    try:
        upward = Version(move.new) > Version(move.old)
    except InvalidVersion:
        return None
    requirement = f"{move.name}{'<' if upward else '>'}{move.new}"
    return (f"      - requirement: {json.dumps(requirement)}\n        since: {since}\n"
            f"        reason: {json.dumps(reason)}\n")


@dataclass(frozen=True)
class Report:
    good: Side
    bad: Side
    moves: tuple[Move, ...]
    selection: tuple[str, ...]  # the test selection (pytest arguments)
    result: Result
    seconds: float

    def move(self, name: str) -> Move:
        return next(m for m in self.moves if m.name == canonicalize_name(name))

    def reason(self, move: Move) -> str:
        partners = [str(self.move(n)) for n in self.result.culprits if n != move.name]
        together = f", together with {', '.join(partners)}" if partners else ""
        return (f"{move.name} {move.new} breaks {' '.join(self.selection)}{together} (found by `build.py bisect "
                f"{self.good.label} {self.bad.label}`)")

    def entries(self) -> dict[str, str | None]:
        """The `constraints:` entry of each culprit (None where no bound can hold it back, or where
        BAD's release pins it in `packages:`: its pin is what to move back)."""
        pinned = {canonicalize_name(name) for name, _ in self.bad.release.packages}
        return {name: None if name in pinned else
                constraint_entry(self.move(name), str(self.bad.release.version), self.reason(self.move(name)))
                for name in self.result.culprits}

    def pinned(self, name: str) -> bool:
        return name in {canonicalize_name(pinned) for pinned, _ in self.bad.release.packages}


def as_text(report: Report) -> str:
    result = report.result
    lines = [f"bisect {report.good.source} (good) .. {report.bad.source} (bad): {len(report.moves)} moved packages, "
             f"{result.probes} probes (image builds and test runs), {report.seconds:.0f} s"]
    lines += [f"  {'red  ' if step.red else 'green'} {step.why:<12} {len(step.asked):>3} moves asked, "
              f"{len(step.applied):>3} applied{_added(step.asked, step.applied)}" for step in result.steps]
    if result.verdict is Verdict.NOT_REPRODUCED:
        lines.append("no subset of the moves turns the test red, and BAD itself passed when run again: "
                     "a flaky test, or one that fails for a reason the packages do not decide")
    elif result.verdict is Verdict.RED_ON_GOOD:
        lines.append(f"the test fails on {report.good.source} too: no package move between them is to blame")
    else:
        many = result.verdict is Verdict.TOGETHER
        lines.append("the break needs these moves together (each alone passes):" if many else "culprit:")
        lines += [f"  {report.move(name)}" for name in result.culprits]
        if result.dragged:
            lines.append(f"  (the resolver moved along with {'them' if many else 'it'}: "
                         f"{', '.join(str(report.move(n)) for n in result.dragged)}; alone they pass)")
        entries = report.entries()
        held = [entry for entry in entries.values() if entry]
        if held:
            either = " (any one holds the pair apart)" if many and len(held) > 1 else ""
            lines.append(f"under the line's `constraints:` in versions.yaml{either}:")
            lines += [entry.rstrip("\n") for entry in held]
        for name, entry in entries.items():
            if entry is not None:
                continue
            move = report.move(name)
            lines.append(f"  {name} is pinned by {report.bad.release.version}'s `packages:`: pin {move.old} there "
                         "instead" if report.pinned(name) and move.old else
                         f"  no constraint holds {move} back: pin its old version in the release instead")
    return "\n".join(lines) + "\n"


def _added(asked: tuple[str, ...], applied: tuple[str, ...]) -> str:
    """What the resolver moved beyond the asked moves, the first few by name."""
    added = sorted(set(applied) - set(asked))
    if not added:
        return ""
    return f" (the resolver also moved {', '.join(added[:4])}{f' and {len(added) - 4} more' if len(added) > 4 else ''})"


def as_json(report: Report) -> dict[str, Any]:
    result = report.result

    def move(name: str) -> dict[str, Any]:
        found = report.move(name)
        return {"package": found.name, "old": found.old, "new": found.new}

    return {"good": report.good.source, "bad": report.bad.source, "selection": list(report.selection),
            "moves": [move(m.name) for m in report.moves], "verdict": result.verdict.value,
            "culprits": [move(n) for n in result.culprits], "dragged": [move(n) for n in result.dragged],
            "constraints": [entry for entry in report.entries().values() if entry],
            "probes": result.probes, "seconds": round(report.seconds, 1),
            "steps": [{"why": s.why, "asked": list(s.asked), "applied": list(s.applied), "red": s.red}
                      for s in result.steps]}
