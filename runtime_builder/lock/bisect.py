"""`build.py bisect`'s search (issue 32): the smallest set of package moves between two locks of
one line (GOOD, where a test passes, and BAD, where it fails) that turns the test red. Pure: the
probe (a candidate lock with some moves applied, an image built from it, the test run on it) is
injected, so the search is tested without an engine.

The search is an adaptive binary search over prefixes of the moves (sorted by name): the smallest
prefix that, applied to GOOD, is red ends with a move the break needs. One culprit among n moves
costs ceil(log2 n) probes and one more to confirm it alone, so at most log2(n) + 2. When the
culprit alone is green, the break needs it together with others: the search goes on over the
moves before it, with the found ones always applied, and names every move the break needs (each
rechecked once: without it the others pass, so a flaky green cannot add an innocent move).

Two assumptions are checked only when they decide the answer: BAD is red (the user saw it fail)
and GOOD is green. If no subset is red, BAD itself is probed again (`reruns` times) before
concluding that nothing reproduces (a flaky test); if every probe was red, GOOD is probed before
a culprit is named. A probe reports what its candidate lock really applied: the resolver may
drag moves along (a new version that needs another's new version); when the confirmed culprits
dragged others, those are probed alone and searched if they are red on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Move:
    """A package whose pin differs between GOOD's and BAD's lock (None: absent from that lock)."""

    name: str
    old: str | None
    new: str | None

    def __str__(self) -> str:
        return f"{self.name} {self.old or '(absent)'} -> {self.new or '(removed)'}"


def moves(good: Mapping[str, str], bad: Mapping[str, str]) -> tuple[Move, ...]:
    """Every package whose pin differs between two locks' pins (canonical name -> version), by name."""
    return tuple(Move(name, good.get(name), bad.get(name)) for name in sorted(set(good) | set(bad))
                 if good.get(name) != bad.get(name))


@dataclass(frozen=True)
class Outcome:
    """What one probe found: the test red or green, and the moves its candidate lock applied (the
    ones asked for and any the resolver dragged along)."""

    red: bool
    applied: frozenset[str]


Probe = Callable[[frozenset[str]], Outcome]


@dataclass(frozen=True)
class Step:
    """One probe as the report shows it."""

    why: str  # bisect, confirm, good, rerun of BAD, recheck, dragged
    asked: tuple[str, ...]
    applied: tuple[str, ...]
    red: bool


class Verdict(Enum):
    CULPRIT = "culprit"  # one move alone turns the test red
    TOGETHER = "together"  # the break needs these moves together
    NOT_REPRODUCED = "not-reproduced"  # BAD is green when probed again: a flaky test, or not this test
    RED_ON_GOOD = "red-on-good"  # the test fails on GOOD too: nothing between them to blame


@dataclass(frozen=True)
class Result:
    verdict: Verdict
    culprits: tuple[str, ...]  # the moves the break needs (empty unless CULPRIT or TOGETHER)
    dragged: tuple[str, ...]  # moves the resolver applied along with the culprits (innocent alone)
    steps: tuple[Step, ...]

    @property
    def probes(self) -> int:
        return len(self.steps)


class _Prober:
    """The probe with a memory: a set asked for twice is built and tested once (except reruns)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.steps: list[Step] = []
        self.seen: dict[frozenset[str], Outcome] = {}

    def __call__(self, asked: Sequence[str], why: str, again: bool = False) -> Outcome:
        key = frozenset(asked)
        if key in self.seen and not again:
            return self.seen[key]
        outcome = self.probe(key)
        self.seen[key] = outcome
        self.steps.append(Step(why, tuple(sorted(key)), tuple(sorted(outcome.applied | key)), outcome.red))
        return outcome

    @property
    def any_green(self) -> bool:
        return any(not step.red for step in self.steps)


def search(names: Sequence[str], probe: Probe, *, reruns: int = 1) -> Result:
    """The moves (by name, in the order to search) the break needs; see the module's docstring."""
    prober = _Prober(probe)
    if not names:
        return _unreproduced(prober, names, reruns)
    found = _needed(prober, list(names), bad_seen_red=False, reruns=reruns)
    if found is None:
        return Result(Verdict.NOT_REPRODUCED, (), (), tuple(prober.steps))
    if not prober.any_green and prober((), "good").red:
        return Result(Verdict.RED_ON_GOOD, (), (), tuple(prober.steps))
    culprits, dragged = _undrag(prober, _minimal(prober, found), reruns)
    verdict = Verdict.CULPRIT if len(culprits) == 1 else Verdict.TOGETHER
    return Result(verdict, tuple(culprits), tuple(sorted(dragged)), tuple(prober.steps))


def _needed(prober: _Prober, pool: list[str], *, bad_seen_red: bool, reruns: int,
            required: Sequence[str] = ()) -> list[str] | None:
    """The moves of `pool` the break needs besides `required` (always applied), or None when the
    whole of it is green however often it is rerun. `bad_seen_red`: required + pool was red in a probe."""
    required = list(required)
    while True:
        lo, hi = 0, len(pool)  # required + pool[:lo] is green, required + pool[:hi] red
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if prober([*required, *pool[:mid]], "bisect").red:
                hi, bad_seen_red = mid, True
            else:
                lo = mid
        required.append(pool[hi - 1])
        pool = pool[:hi - 1]
        if prober(required, "confirm").red:
            return required
        if not bad_seen_red:
            if not _red_again(prober, [*required, *pool], reruns):
                return None
            bad_seen_red = True
        if not pool:  # required + pool is required: red when BAD was probed again, green when confirmed
            return required if prober.seen[frozenset(required)].red else None


def _minimal(prober: _Prober, culprits: list[str]) -> list[str]:
    """Moves the break needs together, each checked once more: without it, the others pass (a
    flaky green of a smaller set would otherwise add an innocent move)."""
    kept = list(culprits)
    for name in culprits if len(culprits) > 1 else ():
        rest = [other for other in kept if other != name]
        if rest and prober(rest, "recheck", again=True).red:
            kept = rest
    return kept


def _red_again(prober: _Prober, everything: Sequence[str], reruns: int) -> bool:
    """BAD (every move) probed again, up to `reruns` times, until it is red."""
    return any(prober(everything, "rerun of BAD", again=True).red for _ in range(max(reruns, 1)))


def _unreproduced(prober: _Prober, names: Sequence[str], reruns: int) -> Result:
    verdict = Verdict.RED_ON_GOOD if _red_again(prober, names, reruns) else Verdict.NOT_REPRODUCED
    return Result(verdict, (), (), tuple(prober.steps))


def _undrag(prober: _Prober, culprits: list[str], reruns: int) -> tuple[list[str], set[str]]:
    """The culprits, and the moves the resolver dragged along with them: if those alone are red,
    the break is among them (the culprits only pulled them in), so the search goes on in them."""
    dragged = set(prober.seen[frozenset(culprits)].applied) - set(culprits)
    if not dragged:
        return culprits, set()
    pool = sorted(dragged)
    if not prober(pool, "dragged").red:
        return culprits, dragged
    inner = _needed(prober, pool, bad_seen_red=True, reruns=reruns)
    if inner is None:
        return culprits, dragged
    return inner, set(culprits) | (dragged - set(inner))
