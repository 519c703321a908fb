"""The summary table of a test run: each stage's time and outcome, the tests each JUnit report
counted, and the images the run built with their sizes. Printed at the end of the test command
(`make test`, `.ci/run`) and, on GitHub, appended to the job's summary as Markdown.

    .venv/bin/python scripts/run_summary.py --stages build/reports/stage-times.txt \\
        --junit build/reports/junit-*.xml --records build/records --since EPOCH [--markdown FILE]

Reads only what the run wrote; prints figures and asserts nothing (the stages' exits decide).
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: int
    busy: str  # share of the host's cores busy, "72%"
    outcome: str  # "ok", "FAILED (exit 1)"
    lane: str


@dataclass(frozen=True)
class Tests:
    report: str  # junit-image.xml -> image
    passed: int
    failed: int
    skipped: int
    seconds: float


@dataclass(frozen=True)
class Image:
    reference: str
    platform: str
    size: int | None  # bytes; None when the engine no longer has it
    seconds: float  # its build


def stages(text: str) -> list[Stage]:
    """scripts/test-all's stage lines: `name  123s  45%  ok  [side by side: lane]`."""
    found = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 4 or not words[1].endswith("s"):
            continue
        outcome, _, lane = " ".join(words[3:]).partition(" [side by side: ")
        found.append(Stage(words[0], int(words[1][:-1]), words[2], outcome.strip(), lane.rstrip("]").strip()))
    return found


def tests(report: Path) -> Tests:
    """The outcome counts of one JUnit report (pytest's: one or more <testsuite>)."""
    root = ET.parse(report).getroot()  # noqa: S314 - our own pytest's reports
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = failed = skipped = 0
    seconds = 0.0
    for suite in suites:
        total += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
        seconds += float(suite.get("time", 0) or 0)
    return Tests(report.stem.removeprefix("junit-"), total - failed - skipped, failed, skipped, seconds)


def images(records: Path, since: float, size_of) -> list[Image]:
    """The images whose build records the run wrote (modified at `since` or later)."""
    found = []
    for record in sorted(records.glob("*.json")) if records.is_dir() else []:
        if record.stat().st_mtime < since:
            continue
        data = json.loads(record.read_text())
        found.append(Image(data["reference"], data.get("platform", ""), size_of(data["reference"]),
                           float(data.get("seconds", 0))))
    return sorted(found, key=lambda image: image.reference)


def _size(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:.0f} MB"


def text(stage_rows: list[Stage], test_rows: list[Tests], image_rows: list[Image]) -> str:
    lines = []
    if stage_rows:
        lines += [f"{'stage':<16} {'seconds':>7}  {'busy':>4}  outcome"]
        lines += [f"{s.name:<16} {s.seconds:>7}  {s.busy:>4}  {s.outcome}{f'  (beside {s.lane})' if s.lane else ''}"
                  for s in stage_rows]
    if test_rows:
        lines += ["", f"{'tests':<16} {'passed':>7} {'failed':>7} {'skipped':>7} {'seconds':>8}"]
        lines += [f"{t.report:<16} {t.passed:>7} {t.failed:>7} {t.skipped:>7} {t.seconds:>8.0f}" for t in test_rows]
    if image_rows:
        lines += ["", f"{'image built':<58} {'platform':<12} {'size':>7} {'build':>7}"]
        lines += [f"{i.reference:<58} {i.platform:<12} {_size(i.size):>7} {i.seconds:>6.0f}s" for i in image_rows]
    return "\n".join(lines).strip("\n")


def markdown(stage_rows: list[Stage], test_rows: list[Tests], image_rows: list[Image]) -> str:
    out = []
    if stage_rows:
        out += ["### Stages", "", "| stage | seconds | cores busy | outcome |", "|---|--:|--:|---|"]
        out += [f"| {s.name} | {s.seconds} | {s.busy} | {s.outcome}{f' (beside {s.lane})' if s.lane else ''} |"
                for s in stage_rows]
    if test_rows:
        out += ["", "### Tests", "", "| report | passed | failed | skipped | seconds |", "|---|--:|--:|--:|--:|"]
        out += [f"| {t.report} | {t.passed} | {t.failed} | {t.skipped} | {t.seconds:.0f} |" for t in test_rows]
    if image_rows:
        out += ["", "### Images built", "", "| image | platform | size | build |", "|---|---|--:|--:|"]
        out += [f"| `{i.reference}` | {i.platform} | {_size(i.size)} | {i.seconds:.0f} s |" for i in image_rows]
    return "\n".join(out).strip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=Path, help="scripts/test-all's stage-times.txt")
    parser.add_argument("--junit", type=Path, nargs="*", default=[], help="JUnit reports")
    parser.add_argument("--records", type=Path, help="build/records: the images built")
    parser.add_argument("--since", type=float, default=0.0, help="only records written from this epoch on")
    parser.add_argument("--markdown", type=Path, help="also append the tables as Markdown here ($GITHUB_STEP_SUMMARY)")
    args = parser.parse_args(argv)
    stage_rows = stages(args.stages.read_text()) if args.stages and args.stages.exists() else []
    test_rows = [tests(report) for report in args.junit if report.exists()]
    image_rows: list[Image] = []
    if args.records:
        from runtime_builder.errors import EngineError
        from runtime_builder.images.engine import Engine

        try:
            engine = Engine.detect()
        except EngineError:
            engine = None

        def size_of(ref: str) -> int | None:  # what the engine has; nothing is pulled for a summary
            found = engine.inspect_image(ref) if engine else None
            return int(found["Size"]) if found else None

        image_rows = images(args.records, args.since, size_of)
    print(text(stage_rows, test_rows, image_rows))
    if args.markdown:
        with args.markdown.open("a") as out:
            out.write(markdown(stage_rows, test_rows, image_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
