"""Realistic raw partner records for tests that need one without a simulator."""

from __future__ import annotations

from typing import Any


def work_order(**changes: str) -> dict[str, Any]:
    """A hotline work order (工单) exactly as the SOAP service sends it: strings, empties for null."""
    order = {
        "GDBH": "WH20261120000001",
        "LDSJ": "2026-11-20 08:30:00",
        "LDRXM": "张明",
        "LDHM": "+86 138 0013 8000",
        "LXDH": "",
        "SFZHM": "",
        "SQLX": "投诉",
        "BT": "小区楼下烧烤店油烟扰民",
        "SQNR": "江岸区解放大道1000号楼下烧烤店每天营业到凌晨，油烟和噪音很大，希望有关部门处理。",
        "SSQX": "江岸",
        "FSDZ": "江岸区解放大道1000号",
        "YWLBDM": "HL0101",
        "YWLBMC": "占道经营",
        "JJCD": "一般",
        "BLSX": "5",
        "GDZT": "02",
        "GXSJ": "2026-11-20 09:00:00",
        "BJSJ": "",
        "BLJG": "",
        "MYD": "",
    }
    order.update(changes)
    return order
