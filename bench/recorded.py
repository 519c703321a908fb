"""Every recorded benchmark run, as data: bench/recorded.json holds each run with its bench, commit,
date, machine and figures, oldest first. A benchmark prints its new figures beside their targets
and the bench's last recorded run; `--record` (on any bench) appends the run. docs/performance.md
and its plots are generated from this file and the evidence files (bench/report.py), never written
by hand; prose does not log runs.

A run: `bench` (the bench script's name, `test-command` for a whole `make test`/`.ci/run` with its
total and stages, or a clear name for what was timed by hand), `commit` (the commit measured, or
"unknown"), `date` (the day of the run, or of the commit it measured where only that was written
down, or "unknown"), `machine`, `run` (the conditions) and `figures` (name -> text, e.g. "21.4 s").

    python3 bench/recorded.py test-command 682 [--record --run "make test on a warm host"]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

RECORDED = Path(__file__).resolve().with_name("recorded.json")
ROOT = RECORDED.parent.parent
SCHEMA = 2
UNKNOWN = "unknown"  # a run's commit or date the record does not know (runs moved from old notes)
# Issue 17's targets for the test command, seconds.
TEST_COMMAND_TARGETS = {"warm": 15 * 60, "new machine": 45 * 60}


@dataclass(frozen=True)
class Figure:
    name: str
    now: str
    target: str = "-"


def runs(path: Path = RECORDED) -> list[dict]:
    """Every recorded run, oldest first."""
    if not path.exists():
        return []
    document = json.loads(path.read_text())
    if document.get("schema") != SCHEMA:
        raise SystemExit(f"{path}: not a schema {SCHEMA} record of runs")
    return document["runs"]


def load(path: Path = RECORDED) -> dict[str, dict]:
    """Each bench's last recorded run."""
    return {run["bench"]: run for run in runs(path)}


def table(bench: str, figures: list[Figure], path: Path = RECORDED) -> list[str]:
    """Lines: each figure, its target, and the last recorded run's value (or "-")."""
    entry = load(path).get(bench, {})
    previous = entry.get("figures", {})
    what = f"{entry['run']}, {entry['commit']}, {entry['date']}" if entry else "none recorded"
    width = max([len(f.name) for f in figures] + [6])
    lines = [f"{'figure':<{width}}  {'now':>10}  {'target':>10}  previous ({what})"]
    for figure in figures:
        lines.append(f"{figure.name:<{width}}  {figure.now:>10}  {figure.target:>10}  {previous.get(figure.name, '-')}")
    return lines


def commit() -> str:
    """The commit measured, `-dirty` when the working tree differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    found = git("rev-parse", "--short", "HEAD") or "unknown"
    return found + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def machine() -> str:
    """What the run ran on: architecture, cores, memory."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory = 0
    return f"{platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB"


def record(bench: str, run: str, figures: list[Figure], path: Path = RECORDED, when: date | None = None,
           at: str | None = None, on: str | None = None) -> None:
    """Append one run of `bench` (written whole: a new file moved into place)."""
    found = runs(path)
    found.append({"bench": bench, "commit": at or commit(), "date": (when or date.today()).isoformat(),
                  "machine": on or machine(), "run": run, "figures": {figure.name: figure.now for figure in figures}})
    staged = path.with_suffix(".json.new")
    staged.write_text(json.dumps({"schema": SCHEMA, "runs": found}, indent=2, sort_keys=True) + "\n")
    staged.replace(path)


def report(bench: str, run: str, figures: list[Figure], save: bool, path: Path = RECORDED) -> None:
    """Print the table; with `save`, append the run to the record."""
    print()
    for line in table(bench, figures, path):
        print(line)
    if save:
        record(bench, run, figures, path)
        print(f"recorded in {path.name}: run `python3 bench/report.py` to write docs/performance.md")


def add_record_argument(parser: argparse.ArgumentParser) -> None:
    """A bench's `--record`: its run is appended to the record."""
    parser.add_argument("--record", action="store_true", help="append this run to the record (bench/recorded.json)")


def main(argv: list[str] | None = None, path: Path = RECORDED) -> int:
    parser = argparse.ArgumentParser(description="The test command's total beside its targets and the recorded ones.")
    parser.add_argument("bench", choices=["test-command"])
    parser.add_argument("seconds", type=int)
    parser.add_argument("--record", action="store_true", help="append this total to the record")
    parser.add_argument("--run", default="", help="what was measured (with --record), e.g. `bash .ci/run on a "
                                                  "clean clone on a new machine`")
    args = parser.parse_args(argv)
    figures = [Figure("total", f"{args.seconds} s",
                      " / ".join(f"<= {target} s {kind}" for kind, target in TEST_COMMAND_TARGETS.items()))]
    if args.record and not args.run:
        parser.error("--record needs --run: what was measured")
    report(args.bench, args.run, figures, args.record, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
