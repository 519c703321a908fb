"""The prose a reader follows: README.md and docs/. Its relative links lead somewhere, and it logs no
runs (issue 31): measured runs are records of bench/recorded.json, shown by the generated
docs/performance.md, never told in prose with their commit or day."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .support import REPO_ROOT

GENERATED = {Path("docs/performance.md")}  # bench/report.py writes it from the records
DOCS = sorted(path.relative_to(REPO_ROOT) for path in (REPO_ROOT / "docs").rglob("*.md"))
PROSE = [path for path in DOCS if path not in GENERATED]

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
# What is not prose: fenced blocks, inline code, HTML comments (commands, outputs and examples may
# show digests, hashes and dates).
NOT_PROSE = re.compile(r"^(```|~~~).*?^\1[^\n]*$|`[^`\n]+`|<!--.*?-->", re.DOTALL | re.MULTILINE)
# A commit: 7 to 40 hex digits with a digit and a letter in them, as a word of its own (a 64-digit
# image digest is not one).
COMMIT = re.compile(r"(?<![\w/.:@-])(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}(?:-dirty)?(?![\w/-])")
# A dated measurement: "measured on 2026-11-30", "Measured and not done (2026-12-01", "the runs of
# 2026-11-30", "ran on 2026-12-01", "took 682 s on 2026-12-01"; a lifecycle date or an example of
# one is not a measurement.
DATED_RUN = re.compile(r"\b(?:measured|measuring|benchmarked|ran|runs? of|run on|took)\b[^\n]{0,40}?"
                       r"\b20\d\d-\d\d-\d\d\b", re.IGNORECASE)


def prose(text: str) -> str:
    """The text a reader reads as sentences: code and comments out, each paragraph on one line."""
    text = NOT_PROSE.sub(" ", text)
    return re.sub(r"(?<!\n)\n(?!\n)", " ", text)


def run_logs(text: str) -> list[str]:
    """Each commit hash or dated measurement in the prose of a page."""
    found = prose(text)
    return [match[0] for match in COMMIT.finditer(found)] + [match[0] for match in DATED_RUN.finditer(found)]


@pytest.mark.parametrize("path", PROSE, ids=str)
def test_docs_log_no_runs(path: Path) -> None:
    assert run_logs((REPO_ROOT / path).read_text()) == [], (
        f"{path} logs a run: record it in bench/recorded.json (`--record` on a bench) and let "
        "docs/performance.md show it; explain it here without its commit or day")


@pytest.mark.parametrize("text", [
    "The final run of the session (171f637, a clean clone on the same machine, warm): **1623 s**.",
    "`bash .ci/run` on a clean clone of\n89ebf94, 2026-11-30: **2497 s**",
    "Measured on a new machine (2026-12-01, a clean clone, 2 cores): **1691 s, 28 min**",
    "What the runs of 2026-11-30 showed",
    "Leaving out byte-code, measured (2026-12-01, 14.1.1 `-slim-base` amd64)",
])
def test_a_run_log_is_found(text: str) -> None:
    assert run_logs(text) != []


@pytest.mark.parametrize("text", [
    "Runtime 14.2.1: supported (maintenance until 2027-06-30), end of life 2028-01-31.",
    "| 2027-04-01 (line 11 at end of life) | 12, 13, 14 | 15 | 15 |",
    "Check the digest `sha256:0f3a9c2b7e1d` or `git show 1bc79d4` in code.",
    "```\n$ build.py lifecycle --as-of 2027-04-01\nmeasured on 2026-11-30 by c2aef21\n```",
    "Every file of a layer carries one time (2000-01-01), and the tests ran 45 tests in 8.6 min.",
    "The feed is deadbeef-free: facade, decade, accede and 1234567 are not commits.",
])
def test_dates_and_hex_words_that_are_not_run_logs_pass(text: str) -> None:
    assert run_logs(text) == []


def test_the_old_diary_would_fail() -> None:
    """What docs/performance-notes.md was before its runs became records: a diary of runs."""
    diary = ("The warm target holds since 3ccf8ed: **682 s, 11.4 min** (726 s with the QEMU change alone, "
             "416b831).\n\nMeasured on a new machine (2026-12-01, 02fb165, a clean clone, 2 cores): **1691 s**.")
    assert run_logs(diary) == ["3ccf8ed", "416b831", "02fb165", "Measured on a new machine (2026-12-01"]


@pytest.mark.parametrize("path", [Path("README.md"), *DOCS], ids=str)
def test_relative_links_lead_to_files_that_exist(path: Path) -> None:
    dead = []
    for target in LINK.findall(NOT_PROSE.sub(" ", (REPO_ROOT / path).read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL, an anchor of the page itself
        if not ((REPO_ROOT / path).parent / target.split("#")[0]).exists():
            dead.append(target)
    assert dead == []
