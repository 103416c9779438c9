"""Top and rising terms of one period against the period before: pure functions of counts.

A term's `cases` is how many of the period's cases name it (`Extractor.case_terms`).

- **Top terms** (热点): the most-named terms, ordered by `cases`, then by weight (the mean of
  the period's TF-IDF and TextRank weights), then by the term; the first `TOP`.
- **Rising terms** (焦点): named by at least `MIN_CASES` cases now, and with
  `rise = (cases + 1) / (expected + 1) >= MIN_RISE`, where `expected` is the previous
  period's count scaled by how many cases each period had (`previous_cases × scope_cases /
  previous_scope_cases`; 0 when the previous period had none). The add-one smoothing keeps a
  term seen once before and three times now (rise 2.0) from counting as a surge like one seen
  never before and ten times now (rise 11.0); the scaling keeps a busy day from making every
  term rise. Ordered by `rise`, then `cases`, then the term; the first `RISING`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from casehub.hotspots.terms import Weight

TOP = 20
RISING = 10
MIN_CASES = 3
MIN_RISE = 2.0
_NONE = Weight(0.0, 0.0)


@dataclass(frozen=True)
class Term:
    term: str
    cases: int
    previous_cases: int
    tfidf: float
    textrank: float
    weight: float
    rise: float
    rank: int | None = None
    rising_rank: int | None = None


@dataclass(frozen=True)
class Ranked:
    """A period's top and rising terms, and how many cases it and the period before had."""

    scope_cases: int
    previous_scope_cases: int
    top: tuple[Term, ...]
    rising: tuple[Term, ...]

    def terms(self) -> list[Term]:
        """Every term shown, once, with both its ranks."""
        merged: dict[str, Term] = {t.term: t for t in self.top}
        for t in self.rising:
            merged[t.term] = replace(merged.get(t.term, t), rising_rank=t.rising_rank)
        return list(merged.values())


def counts(named: Iterable[Sequence[str]]) -> Counter[str]:
    """How many cases name each term, from each case's terms."""
    found: Counter[str] = Counter()
    for terms in named:
        found.update(set(terms))
    return found


def rise(cases: int, previous_cases: int, scope_cases: int, previous_scope_cases: int) -> float:
    expected = previous_cases * scope_cases / previous_scope_cases if previous_scope_cases else 0.0
    return round((cases + 1) / (expected + 1), 4)


def rank(
    now: Sequence[Sequence[str]],
    before: Sequence[Sequence[str]],
    weights: Mapping[str, Weight],
    *,
    top: int = TOP,
    rising: int = RISING,
) -> Ranked:
    """The top and rising terms of the cases `now` (each given as the terms it names) against
    the cases `before`, with the period's `weights`."""
    current, previous = counts(now), counts(before)

    def term(word: str, n: int) -> Term:
        w = weights.get(word, _NONE)
        return Term(
            term=word,
            cases=n,
            previous_cases=previous[word],
            tfidf=w.tfidf,
            textrank=w.textrank,
            weight=round(w.combined, 6),
            rise=rise(n, previous[word], len(now), len(before)),
        )

    every = [term(word, n) for word, n in current.items()]
    by_count = sorted(every, key=lambda t: (-t.cases, -t.weight, t.term))[:top]
    growing = sorted(
        (t for t in every if t.cases >= MIN_CASES and t.rise >= MIN_RISE),
        key=lambda t: (-t.rise, -t.cases, t.term),
    )[:rising]
    return Ranked(
        scope_cases=len(now),
        previous_scope_cases=len(before),
        top=tuple(replace(t, rank=i) for i, t in enumerate(by_count, 1)),
        rising=tuple(replace(t, rising_rank=i) for i, t in enumerate(growing, 1)),
    )
