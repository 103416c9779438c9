"""docs/security.md held to the code: the data inventory says what the recipients' allow-lists
give each of them and which columns of the store are sealed, and every test its threat model and
inventory name exists — so the page cannot drift from what the hub does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import LargeBinary

from casehub.recipients import FREE_TEXT_FIELDS, RECIPIENTS_DIR, Recipient, load_recipient
from casehub.store.models import Base

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
OURS = ("Threat model", "Data inventory")
"""The sections whose claims this test checks; the page's other sections have their own tests."""
ROWS = {
    "reporter name": ("reporter_name",),
    "reporter phone": ("reporter_phone", "contact_phone"),
    "resident ID number": ("reporter_id_number",),
    "address": ("address",),
    "title": ("title",),
    "content": ("content",),
    "handling result": ("result",),
    "coordinates": ("lng", "lat"),
}
"""Each row of the recipients' table → the record fields that would carry it."""
RECIPIENTS = sorted(path.stem for path in RECIPIENTS_DIR.glob("*.json"))


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def table(text: str, *headers: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the first table in `text` whose header begins with `headers`."""
    lines = text.splitlines()
    for at, line in enumerate(lines):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and tuple(cells[: len(headers)]) == headers:
            rows = []
            for row in lines[at + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append([cell.strip() for cell in row.strip().strip("|").split("|")])
            return cells, rows
    raise AssertionError(f"no table headed {headers!r}")


def received(recipient: Recipient, row: str) -> str:
    """What the allow-list gives `recipient` of the inventory's `row`, in the page's words."""
    fields = [name for name in ROWS[row] if name in recipient.fields]
    if not fields:
        return "—"
    names = ", ".join(f"`{name}`" for name in fields)
    properties = recipient.schema["properties"]
    if row in ("reporter name", "reporter phone", "resident ID number"):
        kind = {"reporter name": "name", "reporter phone": "phone", "resident ID number": "id_number"}[row]
        assert kind in recipient.personal, f"{recipient.code} gets {names} without opening it"
        masked = "\\*" in str(properties[fields[0]].get("pattern", ""))
        return f"{names}: {'masked' if masked else 'clear'}"
    if row == "address":
        return f"{names}: {recipient.address_precision}"
    if row == "coordinates":
        coarse = all("0.01°" in properties[name]["description"] for name in fields)
        return f"{names}: {'0.01°' if coarse else 'exact'}"
    return f"{names}: {recipient.free_text[fields[0]]}"


def test_the_inventory_says_what_each_allow_list_gives_each_recipient() -> None:
    header, rows = table(section("Data inventory"), "field", "`city_brain`")
    columns = [name.strip("`") for name in header[1:]]
    assert sorted(columns) == RECIPIENTS, "a column per allow-list"
    shown = {cells[0]: dict(zip(columns, cells[1:], strict=True)) for cells in rows}
    assert set(shown) == set(ROWS)
    for code in RECIPIENTS:
        recipient = load_recipient(code)
        for row in ROWS:
            assert shown[row][code] == received(recipient, row), (code, row)


@pytest.mark.parametrize("code", RECIPIENTS)
def test_every_personal_or_free_text_field_an_allow_list_gives_is_in_the_inventory(code: str) -> None:
    covered = {name for names in ROWS.values() for name in names}
    sensitive = {
        name
        for name in load_recipient(code).fields
        if name.startswith(("reporter_", "contact_")) or name in (*FREE_TEXT_FIELDS, "address", "lng", "lat")
    }
    assert sensitive <= covered, f"{code}: {sorted(sensitive - covered)} are missing from the inventory"


def test_the_sealed_columns_are_those_of_the_store() -> None:
    text = section("Data inventory")
    listed = text[text.index("Sealed columns") : text.index("Nothing personal is kept")]
    named = set(re.findall(r"`(\w+\.\w+)`", listed))
    sealed = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, LargeBinary)
    }
    assert named == sealed
    _, rows = table(text, "field", "中文", "kept in", "sealed")
    for cells in rows:
        for column in re.findall(r"`(\w+\.\w+)`", cells[2]):
            if column in sealed:
                assert cells[3].startswith("yes"), f"{column} is sealed: {cells[0]}"


def test_every_test_the_page_names_exists() -> None:
    cited = [
        (path, name)
        for title in OURS
        for path, name in re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", section(title))
    ]
    assert len(cited) >= 30
    for path, name in cited:
        source = ROOT / path
        assert source.is_file(), path
        if name:
            assert re.search(rf"^(?:async )?def {name}\(", source.read_text(encoding="utf-8"), re.M), (
                f"{path}::{name}"
            )
