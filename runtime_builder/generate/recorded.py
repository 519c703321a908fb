"""The evidence files under evidence/ (what real runs measured, which bench/report.py shows): a JSON
document `{"schema": 1, <key>: [entries]}`, read into dataclasses and written back whole,
merged by each entry's key (the newest wins) and replaced atomically."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any, TypeVar

from ..errors import BuilderError

T = TypeVar("T")


def read(path: Path, key: str, kind: type[T], what: str) -> list[T]:
    """The entries of `path` as `kind` (fields it does not know are ignored); none when there is no
    file; a file that is not one is refused, naming it and saying it is not `what`."""
    if not path.exists():
        return []
    names = {f.name for f in fields(kind)}  # type: ignore[arg-type]
    required = [f.name for f in fields(kind) if f.default is MISSING and f.default_factory is MISSING]  # type: ignore[arg-type]
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        where = f" (line {error.lineno}, column {error.colno})" if isinstance(error, json.JSONDecodeError) else ""
        raise BuilderError(f"{path}: not {what}: not UTF-8 JSON{where}") from None
    # Said in the file's terms, not as a KeyError or "'list' object has no attribute 'items'" (issue 31).
    if not isinstance(document, dict) or not isinstance(document.get(key), list):
        raise BuilderError(f"{path}: not {what}: a JSON object with a `{key}` list is expected")
    for index, entry in enumerate(document[key]):
        missing = [name for name in required if name not in entry] if isinstance(entry, dict) else required
        if missing:
            raise BuilderError(f"{path}: not {what}: {key}[{index}]: a mapping with {', '.join(missing)} is expected")
    return [kind(**{k: v for k, v in entry.items() if k in names}) for entry in document[key]]


def merge(path: Path, key: str, existing: Iterable[T], new: Iterable[T], identity: Callable[[T], Hashable]) -> Path:
    """Write `existing` with `new` merged in (one entry per identity, the new one wins), sorted by
    identity, atomically."""
    entries: dict[Any, T] = {identity(entry): entry for entry in existing}
    for entry in new:
        entries[identity(entry)] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"schema": 1, key: [asdict(entries[k]) for k in sorted(entries)]}  # type: ignore[call-overload]
    scratch = path.with_suffix(path.suffix + ".tmp")
    scratch.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    scratch.replace(path)
    return path
