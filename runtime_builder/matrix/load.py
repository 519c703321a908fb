"""versions.yaml to a validated Matrix: the structure (`schema`), then the rules (`rules`).

The one way in for every command: `load_matrix` for the file, `parse_text` for a text not
written yet (what `new-version` checks before it writes anything).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MatrixError
from .model import Matrix
from .reader import Problem
from .rules import check_rules
from .schema import parse_document


def load_matrix(path: Path) -> Matrix:
    """Parse and fully validate versions.yaml; raise MatrixError listing every problem."""
    filename = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise MatrixError(filename, [Problem("", "", f"cannot read the file: {error.strerror}")]) from error
    return parse_text(text, path.parent, filename)


def parse_text(text: str, root: Path | None = None, filename: str = "versions.yaml") -> Matrix:
    """Parse and fully validate a versions.yaml text; `root`: the folder its patches/ and inhouse/ are in."""
    matrix, problems = parse_document(text, root)
    if matrix is not None:
        problems += check_rules(matrix)
    if problems or matrix is None:
        raise MatrixError(filename, problems)
    return matrix
