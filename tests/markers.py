"""Personal values no test data holds otherwise: a reporter and an address to look for wherever
personal data must not go (logs, errors, XCom, refusals, dead letters, quarantine, quality results).

Each is valid, so a record carrying them is accepted where it should be; each is unique, so
finding one anywhere means it leaked from the record that carried it.
"""

from __future__ import annotations

from typing import Any

from tests.samples import work_order

NAME = "闵秘乙"
PHONE = "13987650123"
ID_NUMBER = "420102197704015277"
ADDRESS = "江岸区解放大道8765号秘密楼"
SHOWN = (NAME, PHONE, "87650123", ID_NUMBER, "19770401", "8765号", "秘密楼")
"""What must never be found: each value, and the parts of each that would identify on their own
(the phone's last eight digits, the birth date in the ID, the door and the building)."""


def marked_order(gdbh: str = "WH20261120008765", **changes: str) -> dict[str, Any]:
    """A hotline work order whose caller, number, ID and address are the markers, and whose text
    repeats them as residents do."""
    marked = {
        "GDBH": gdbh,
        "LDRXM": NAME,
        "LDHM": PHONE,
        "SFZHM": ID_NUMBER,
        "FSDZ": ADDRESS,
        "BT": f"{NAME}反映噪音扰民",
        "SQNR": f"我是{NAME}，电话{PHONE}，身份证{ID_NUMBER}，住{ADDRESS}，楼下噪音扰民。",
        "YWLBDM": "HL0201",
    }
    return work_order(**{**marked, **changes})


def leaked(*texts: object) -> list[str]:
    """The markers found in any of `texts` (each turned into its text)."""
    found = []
    for text in texts:
        shown = str(text)
        found += [marker for marker in SHOWN if marker in shown]
    return found
