"""The figures the README records, kept in bench/recorded.json so that each benchmark prints its
new figures beside their targets and the previous recorded ones; `--record` (on any bench)
replaces a bench's recorded figures with the run's, to be copied into the README's tables.

    python3 bench/recorded.py test-command 682      # the test command's total beside its targets

Each bench's entry: {"run": "<what was measured, when>", "figures": {name: text}}; the texts are
as the bench prints them ("0.11x", "1%", "21.4 s").
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

RECORDED = Path(__file__).resolve().with_name("recorded.json")
# Issue 17's targets for the test command, seconds.
TEST_COMMAND_TARGETS = {"warm": 15 * 60, "new machine": 45 * 60}


@dataclass(frozen=True)
class Figure:
    name: str
    now: str
    target: str = "-"


def load(path: Path = RECORDED) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.exists() else {}


def table(bench: str, figures: list[Figure], path: Path = RECORDED) -> list[str]:
    """Lines: each figure, its target, and the previous recorded value (or "-")."""
    entry = load(path).get(bench, {})
    previous = entry.get("figures", {})
    width = max([len(f.name) for f in figures] + [6])
    lines = [f"{'figure':<{width}}  {'now':>10}  {'target':>10}  previous ({entry.get('run', 'none recorded')})"]
    for figure in figures:
        lines.append(f"{figure.name:<{width}}  {figure.now:>10}  {figure.target:>10}  {previous.get(figure.name, '-')}")
    return lines


def record(bench: str, run: str, figures: list[Figure], path: Path = RECORDED) -> None:
    """Replace `bench`'s recorded figures with these (written whole: a new file moved into place)."""
    everything = load(path)
    everything[bench] = {"run": run, "figures": {figure.name: figure.now for figure in figures}}
    staged = path.with_suffix(".json.new")
    staged.write_text(json.dumps(everything, indent=2, sort_keys=True) + "\n")
    staged.replace(path)


def add_record_argument(parser: argparse.ArgumentParser) -> None:
    """A bench's `--record`: its figures become the recorded (previous) ones."""
    parser.add_argument("--record", action="store_true",
                        help="record this run's figures as the previous ones (bench/recorded.json)")


def report(bench: str, run: str, figures: list[Figure], save: bool, path: Path = RECORDED) -> None:
    """Print the table; with `save`, record the figures as the new previous ones."""
    print()
    for line in table(bench, figures, path):
        print(line)
    if save:
        record(bench, run, figures, path)
        print(f"recorded in {path.name}: copy the figures into the README's tables")


def main(argv: list[str] | None = None, path: Path = RECORDED) -> int:
    parser = argparse.ArgumentParser(description="The test command's total beside its targets and the recorded ones.")
    parser.add_argument("bench", choices=["test-command"])
    parser.add_argument("seconds", type=int)
    parser.add_argument("--record", choices=sorted(TEST_COMMAND_TARGETS),
                        help="record this total as the warm or the new-machine figure")
    parser.add_argument("--run", default="", help="what was measured, when (with --record)")
    args = parser.parse_args(argv)
    # A run does not know whether the host was new: its total stands beside both targets.
    figures = [Figure(f"all ({kind})", f"{args.seconds} s", f"<= {target} s")
               for kind, target in TEST_COMMAND_TARGETS.items()]
    if args.record:  # each figure carries its own run: the two come from different hosts
        kept = load(path).get(args.bench, {}).get("figures", {})
        figures = [Figure(figure.name, f"{args.seconds} s ({args.run})" if figure.name == f"all ({args.record})"
                          else kept.get(figure.name, "-"), figure.target) for figure in figures]
    report(args.bench, "each figure's own run", figures, bool(args.record), path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
