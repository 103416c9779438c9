"""The code lists each partner publishes, read from `simulators/data/`.

They are files rather than constants because the hub's crosswalks are written against the same
lists: a code that is not in these files is, by definition, one the partner never published.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().with_name("data")


@dataclass(frozen=True)
class Code:
    """One published code with its display name."""

    code: str
    name: str


def _rows(file_name: str) -> list[dict[str, str]]:
    with (DATA_DIR / file_name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def hotline_categories() -> tuple[Code, ...]:
    """业务类别 the hotline's own category codes (YWLBDM / YWLBMC)."""
    return tuple(Code(row["code"], row["name"]) for row in _rows("hotline_categories.csv"))


@cache
def hotline_statuses() -> dict[str, str]:
    """工单状态 the hotline's status codes (GDZT), code to name."""
    return {row["code"]: row["name"] for row in _rows("hotline_statuses.csv")}


@cache
def message_board_types() -> tuple[Code, ...]:
    """留言类别 the message board's categories (typeId / typeName)."""
    return tuple(Code(row["typeId"], row["typeName"]) for row in _rows("message_board_types.csv"))


@cache
def message_board_statuses() -> tuple[str, ...]:
    """留言状态 the message board's statuses, in the order a message moves through them."""
    return tuple(row["status"] for row in _rows("message_board_statuses.csv"))
