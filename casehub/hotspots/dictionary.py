"""The word lists hotspot extraction reads: contracts as files under `schemas/reference/hotspots/`.

- `stopwords.txt` — words that say nothing about what a case is about (反映, 希望, 尽快 …) and
  the city's and districts' own names; words separated by spaces or lines, `#` a comment.
- `domain.txt` — domain words (领域词) kept whole (井盖, 飞线充电, 加装电梯 …), same format.
- `userdict.txt` — jieba's user dictionary, one `word tag` a line (jieba's own format, with no
  frequency: jieba then gives each word just what it needs to be cut out whole). It is built
  from the other contracts by `build_userdict` — the place names of `regions.csv` tagged `ns`
  (districts, streets and communities, full names and the short names of three characters or
  more: a two-character short name such as 车站 is an ordinary word), the category names of
  `taxonomy.csv` of four characters or fewer tagged `n` (垃圾分类, 违章停车: the longer ones are
  an operator's labels, not what a resident writes), then `domain.txt` tagged `n` — and a test
  holds the file to it. Rebuild it with `python -m casehub.hotspots.dictionary`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from casehub.errors import ConfigurationError
from casehub.reference import REFERENCE_DIR

HOTSPOTS_DIR = REFERENCE_DIR / "hotspots"
STOPWORDS = HOTSPOTS_DIR / "stopwords.txt"
DOMAIN = HOTSPOTS_DIR / "domain.txt"
USERDICT = HOTSPOTS_DIR / "userdict.txt"
SHORT_PLACE = 3
"""A region's short name goes into the dictionary from this many characters on."""
SHORT_CATEGORY = 4
"""A category name goes into the dictionary up to this many characters."""


def words(path: Path) -> list[str]:
    """The words of a word-list file, in order: split on white space, `#` to the end of a line
    a comment."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"hotspot word list missing: {path}") from None
    return [word for line in text.splitlines() for word in line.split("#", 1)[0].split()]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def build_userdict(reference: Path = REFERENCE_DIR, domain: Path = DOMAIN) -> list[str]:
    """The lines of `userdict.txt` (`word tag`), each word once, first listing first."""
    entries: dict[str, str] = {}
    for row in _rows(reference / "regions.csv"):
        if row["level"] == "grid":
            continue
        entries.setdefault(row["name"], "ns")
        short = row["short_name"]
        if short and (row["level"] == "district" or len(short) >= SHORT_PLACE):
            entries.setdefault(short, "ns")
    for row in _rows(reference / "taxonomy.csv"):
        if len(row["minor_name"]) <= SHORT_CATEGORY:
            entries.setdefault(row["minor_name"], "n")
    for word in words(domain):
        entries.setdefault(word, "n")
    return [f"{word} {tag}" for word, tag in entries.items()]


def main() -> None:
    USERDICT.write_text("\n".join(build_userdict()) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
