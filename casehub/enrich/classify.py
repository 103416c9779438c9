"""Classification (分类): the channel's own category code → a minor of the unified taxonomy.

Each channel publishes its own category list and the hub keeps a crosswalk of it,
`schemas/reference/crosswalk/<channel>_category.csv`. Partners add codes without notice, and a
channel may have no crosswalk yet; neither is a reason to lose a resident's case, so such a case
is classified as the taxonomy's catch-all 其他诉求 and a warning tells quality officers which
crosswalk needs a row. The health flag travels with the category, from the taxonomy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from casehub.errors import ConfigurationError, Reason
from casehub.reasons import Code
from casehub.reference import Category, Reference

CATCH_ALL = "190004"
"""其他诉求 (other matters) under major 19 其他: where a case goes that no crosswalk row places."""


@dataclass(frozen=True)
class Classification:
    category: Category
    rule: str
    warnings: list[Reason]

    def event(self) -> dict[str, Any]:
        return {"kind": "classified", "category": self.category.code, "rule": self.rule}


def _catch_all(reference: Reference, message: str) -> Classification:
    try:
        category = reference.categories[CATCH_ALL]
    except KeyError:
        raise ConfigurationError(f"the taxonomy lacks the catch-all category {CATCH_ALL}") from None
    warning = Reason(code=str(Code.UNMAPPED_CATEGORY), field="source_category", message=message)
    return Classification(category=category, rule="catch_all", warnings=[warning])


def classify(channel: object, source_category: object, reference: Reference) -> Classification:
    """The unified category of the channel's code; the catch-all, with a warning, when the
    crosswalk does not place it. Total: any value of either argument gives a category."""
    if not isinstance(channel, str) or not isinstance(source_category, str):
        return _catch_all(reference, "source_category: no channel code to look up")
    try:
        crosswalk = reference.crosswalk(channel, "category")
    except ConfigurationError:
        return _catch_all(reference, f"source_category: the {channel} channel has no category crosswalk")
    code = crosswalk.get(source_category)
    if code is None:
        return _catch_all(reference, f"source_category: not in the {channel} category crosswalk")
    category = reference.categories.get(code)
    if category is None:
        return _catch_all(
            reference, f"source_category: the {channel} category crosswalk points outside the taxonomy"
        )
    return Classification(category=category, rule="crosswalk", warnings=[])
