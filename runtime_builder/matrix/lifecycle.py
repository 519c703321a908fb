"""Where each Runtime version stands in its lifecycle on a given day. Pure.

The dates come from versions.yaml (the `policy:` block, or a line's explicit dates) and are
already resolved on every `Release`; this module only compares them with a day. Both end
dates are the last day of their period: a release is still maintained on its
`end_of_maintenance` day and still basically supported on its `end_of_basic_support` day.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import Enum

from ..errors import UsageError
from .model import Matrix, Policy, Release


class Status(Enum):
    NOT_RELEASED = "not released"  # its release date is still ahead
    SUPPORTED = "supported"  # released, within maintenance
    BASIC_SUPPORT = "basic support"  # maintenance over, basic support not yet
    END_OF_LIFE = "end of life"  # basic support over: not built or published any more


def status(release: Release, as_of: date) -> Status:
    if release.released > as_of:
        return Status.NOT_RELEASED
    if as_of <= release.end_of_maintenance:
        return Status.SUPPORTED
    if as_of <= release.end_of_basic_support:
        return Status.BASIC_SUPPORT
    return Status.END_OF_LIFE


@dataclass(frozen=True)
class Row:
    version: str
    channel: str
    released: date
    end_of_maintenance: date
    end_of_basic_support: date
    yanked: str | None  # the reason, when yanked
    status: Status

    def as_json(self) -> dict:
        return {
            "version": self.version,
            "channel": self.channel,
            "released": self.released.isoformat(),
            "end_of_maintenance": self.end_of_maintenance.isoformat(),
            "end_of_basic_support": self.end_of_basic_support.isoformat(),
            "yanked": self.yanked is not None,
            "yanked_reason": self.yanked,
            "status": self.status.value,
        }


def table(matrix: Matrix, as_of: date) -> list[Row]:
    """One row per Runtime version, in version order."""
    return [
        Row(str(r.version), r.channel.value, r.released, r.end_of_maintenance, r.end_of_basic_support, r.yanked,
            status(r, as_of))
        for r in matrix.releases
    ]


def as_json(rows: Iterable[Row], as_of: date) -> dict:
    return {"as_of": as_of.isoformat(), "releases": [row.as_json() for row in rows]}


HEADINGS = ("Runtime", "Channel", "Released", "End of maintenance", "End of basic support", "Yanked", "Status")


def as_text(rows: Iterable[Row], as_of: date) -> str:
    """A fixed-width table for the terminal, its status column naming the day."""
    cells = [[r.version, r.channel, r.released.isoformat(), r.end_of_maintenance.isoformat(),
              r.end_of_basic_support.isoformat(), "yes" if r.yanked is not None else "no", r.status.value]
             for r in rows]
    headings = [*HEADINGS[:-1], f"Status on {as_of.isoformat()}"]
    widths = [max(len(text) for text in column) for column in zip(headings, *cells, strict=False)]
    return "\n".join("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
                     for line in [headings, *cells]) + "\n"


def end_of_life_refusal(releases: Iterable[Release], today: date) -> str | None:
    """Why building or publishing these releases is refused today, or None when it is not."""
    ended = sorted({r for r in releases if status(r, today) is Status.END_OF_LIFE}, key=lambda r: r.version)
    if not ended:
        return None
    which = "; ".join(f"Runtime {r.version} is end of life: its basic support ended on "
                      f"{r.end_of_basic_support.isoformat()}" for r in ended)
    return (f"{which} (today is {today.isoformat()}); building or publishing it is refused, "
            "give --force-eol to do it anyway")


def refuse_end_of_life(releases: Iterable[Release], today: date, force: bool) -> None:
    """Building, publishing or running an end-of-life version needs --force-eol."""
    refusal = end_of_life_refusal(releases, today)
    if refusal and not force:
        raise UsageError(refusal)


def add_months(day: date, months: int, month_end: bool) -> date:
    """`day` moved by whole months; clamped to the month's length, or its last day if month_end."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, last if month_end else min(day.day, last))


def maintenance_end(first_release: date, policy: Policy) -> date:
    return add_months(first_release, policy.maintenance_months, policy.maintenance_ends_at_month_end)
