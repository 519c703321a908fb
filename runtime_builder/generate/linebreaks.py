"""Generated files break lines at "\\n" only (issue 30): a reader that also breaks them elsewhere
(pip reads constraints.txt with str.splitlines, which breaks at U+2028) would see lines no
template wrote."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath

from ..errors import RenderError
from .frozen import RenderedFile

# What str.splitlines (and so pip, reading constraints.txt) breaks lines at, beside "\n".
LINE_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def one_kind_of_line_break(files: Mapping[PurePosixPath, RenderedFile]) -> None:
    """Raise RenderError naming the file and line of the first other line break. Pure."""
    for path, rendered in files.items():
        text = rendered.content.decode("utf-8", errors="replace")
        found = LINE_BREAKS.search(text)
        if found is not None:
            line = text.count("\n", 0, found.start()) + 1
            raise RenderError(f"{path}: line {line} holds the line break U+{ord(found.group()):04X}; generated files "
                              "break lines at \\n only (a value in versions.yaml or a template put it there)")
