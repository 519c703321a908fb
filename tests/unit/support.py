"""Helpers shared by the unit tests: the fixture matrix and ways to break it on purpose."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from runtime_builder.errors import MatrixError
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Matrix

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
FIXTURE = HERE / "data" / "versions.yaml"
GOLDEN_TAGS = HERE / "golden" / "tags.txt"

Mutation = Callable[[str], str]


def fixture_text() -> str:
    return FIXTURE.read_text(encoding="utf-8")


# libyaml when available: the mutations parse and dump the fixture hundreds of times.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def parse(text: str) -> dict:
    return yaml.load(text, Loader=_Loader)


def dump(doc: dict) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def edit(change: Callable[[dict], object]) -> Mutation:
    """A mutation of the parsed fixture: `change` edits the document in place."""

    def mutate(text: str) -> str:
        doc = copy.deepcopy(parse(text))
        change(doc)
        return dump(doc)

    return mutate


def replace(old: str, new: str) -> Mutation:
    """A mutation of the fixture's text (for what a parsed document cannot express)."""

    def mutate(text: str) -> str:
        assert text.count(old) == 1, f"{old!r} must occur exactly once in the fixture"
        return text.replace(old, new)

    return mutate


def line(doc: dict, runtime: int) -> dict:
    return next(entry for entry in doc["lines"] if entry["runtime"] == runtime)


def release(doc: dict, version: str) -> dict:
    for entry in doc["lines"]:
        for raw in entry["releases"]:
            if str(raw["version"]) == version:
                return raw
    raise KeyError(version)


def write_matrix(directory: Path, text: str) -> Path:
    path = directory / "versions.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_text(directory: Path, text: str) -> Matrix:
    return load_matrix(write_matrix(directory, text))


def problems(directory: Path, text: str) -> list[str]:
    """The rendered problems load_matrix reports for `text`; fails if it loads."""
    try:
        load_text(directory, text)
    except MatrixError as error:
        assert error.problems, "a MatrixError must carry at least one problem"
        return [problem.render("versions.yaml") for problem in error.problems]
    raise AssertionError("load_matrix accepted an invalid document")


def line_number(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line number of the `occurrence`-th line containing `needle`."""
    hits = [number for number, content in enumerate(text.splitlines(), 1) if needle in content]
    return hits[occurrence - 1]


# What of the repository a test of `new-version`, `promote` or a nightly draft needs in a copy.
COPIED = ("versions.yaml", "patches", "inhouse", "templates", "locks", "evidence", "distributions", "releases.json",
          "released-contexts.sha256")


def copy_repository(target: Path) -> Path:
    """The repository's own COPIED files and folders copied under `target` (made)."""
    target.mkdir(parents=True)
    for name in COPIED:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns(".distributions.*"))
        elif source.exists():
            shutil.copy2(source, target / name)
    return target
