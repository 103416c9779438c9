"""Masked personal data: recognisable to a desk, never enough to identify or dial."""

from __future__ import annotations

import pytest

from casehub.masking import mask_name, mask_phone


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        ("+8613800138000", "+86138****8000"),
        ("+862785123456", "+8627****3456"),
        ("02785123456", "027****3456"),
        ("+861234", "+86****"),
        (None, None),
        ("", None),
    ],
)
def test_mask_phone(phone: str | None, shown: str | None) -> None:
    assert mask_phone(phone) == shown


@pytest.mark.parametrize(
    ("name", "shown"), [("欧阳明华", "欧*"), ("张明", "张*"), ("欧", "*"), (None, None), ("", None)]
)
def test_mask_name(name: str | None, shown: str | None) -> None:
    assert mask_name(name) == shown
