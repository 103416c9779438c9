"""Terms (热点词) out of case texts, with jieba's TF-IDF and TextRank (`jieba.analyse`).

A case's text is its title and content, with every phone number and resident ID masked first
(`casehub.masking.mask_free_text`). A term is a word of two to sixteen Chinese characters or
Latin letters — never a digit, so no number, masked or not, can become one — of a part of
speech that names a thing, a place or an action (`PARTS_OF_SPEECH`: not a person's name, which
jieba tags `nr`), and not a stop word (`schemas/reference/hotspots/stopwords.txt`). jieba cuts
with its own dictionary and the user dictionary of place and domain words
(`schemas/reference/hotspots/userdict.txt`).

- `Extractor.case_terms` — the terms a case names: its `CASE_TERMS` strongest by TF-IDF (the
  word's count in the case times its inverse document frequency in jieba's corpus), so words
  every text has fall away.
- `Extractor.weights` — how strongly a set of cases speaks of each term: TF-IDF over their
  texts together, scaled to 1.0 for the strongest, and TextRank (PageRank over the words'
  co-occurrence in a window of five), which jieba scales the same way.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from casehub.hotspots.dictionary import STOPWORDS, USERDICT, words
from casehub.masking import mask_free_text

CASE_TERMS = 8
"""The strongest TF-IDF terms of one case that count as the terms it names."""
PERIOD_TERMS = 200
"""Terms a period's TF-IDF and TextRank weigh (the rest weigh 0)."""
PARTS_OF_SPEECH = ("n", "ns", "nz", "nt", "nw", "vn", "v", "an", "l")
"""jieba's tags a term may carry: nouns, place and organisation names, other proper nouns,
verbal and adjectival nouns, verbs, idioms. Not `nr` (a person's name), `m` (numerals), `x`."""
_TERM = re.compile(r"[\u4e00-\u9fffA-Za-z]{2,16}")


def is_term(word: str) -> bool:
    """Two to sixteen Chinese characters or Latin letters, and nothing else."""
    return _TERM.fullmatch(word) is not None


def case_text(title: str | None, content: str | None) -> str:
    """What a case says, masked: title and content, one sentence apart, on one line."""
    return mask_free_text("。".join(part for part in (title, content) if part)).replace("\n", " ")


class _Remembered:
    """jieba's part-of-speech tagger, remembering what it cut: a period's texts are weighed
    joined by line breaks, and each line is a case text already cut for its own terms — cutting
    is nearly all the cost, so each text is cut once. Hands out what the tagger would."""

    def __init__(self, tagger: Any) -> None:
        self.tagger = tagger
        self.cuts: dict[str, list[Any]] = {}
        self.remember = True

    def cut(self, sentence: str) -> Iterator[Any]:
        from jieba.posseg import pair

        for n, line in enumerate(sentence.split("\n")):
            if n:
                yield pair("\n", "x")
            found = self.cuts.get(line)
            if found is None:
                found = list(self.tagger.cut(line))
                if self.remember:
                    self.cuts[line] = found
            yield from found


@dataclass(frozen=True)
class Weight:
    tfidf: float
    textrank: float

    @property
    def combined(self) -> float:
        """The mean of the two weights: what orders terms named by as many cases."""
        return (self.tfidf + self.textrank) / 2


class Extractor:
    """jieba with the hub's dictionaries: a tokenizer of its own (jieba's global one is left
    alone), TF-IDF and TextRank over it, and the stop words."""

    def __init__(self, userdict: Path = USERDICT, stopwords: Path = STOPWORDS, cache_dir: Path | None = None):
        import jieba
        import jieba.posseg

        jieba.setLogLevel(logging.WARNING)
        with warnings.catch_warnings():
            # jieba reads its IDF table with a file it leaves to the garbage collector to close.
            warnings.simplefilter("ignore", ResourceWarning)
            import jieba.analyse

            self._tfidf: Any = jieba.analyse.TFIDF()
        tokenizer = jieba.Tokenizer()
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            tokenizer.tmp_dir = str(cache_dir)
        tokenizer.initialize()
        with userdict.open("rb") as handle:
            tokenizer.load_userdict(handle)
        self._tagger = tagger = _Remembered(jieba.posseg.POSTokenizer(tokenizer))
        self._tfidf.tokenizer, self._tfidf.postokenizer = tokenizer, tagger
        self._textrank: Any = jieba.analyse.TextRank()
        self._textrank.tokenizer = self._textrank.postokenizer = tagger
        self.stop_words = frozenset(words(stopwords))
        for extractor in (self._tfidf, self._textrank):
            extractor.stop_words = set(extractor.stop_words) | self.stop_words

    def _kept(self, found: Iterable[Any]) -> list[tuple[str, float]]:
        kept = []
        for word, weight in found:
            if is_term(word) and word.lower() not in self.stop_words:
                kept.append((str(word), float(weight)))
        return kept

    def remembering(self, remember: bool) -> None:
        """Whether the texts cut from now on are kept for `weights` (until `forget`)."""
        self._tagger.remember = remember

    def forget(self) -> None:
        self._tagger.cuts.clear()

    def case_terms(self, text: str) -> tuple[str, ...]:
        """The terms one (masked) case text names, strongest first."""
        found = self._tfidf.extract_tags(text, topK=CASE_TERMS * 2, withWeight=True, allowPOS=PARTS_OF_SPEECH)
        return tuple(word for word, _ in self._kept(found)[:CASE_TERMS])

    def weights(self, texts: Sequence[str]) -> dict[str, Weight]:
        """Each term's TF-IDF and TextRank weight over the (masked) texts together, 0 to 1."""
        joined = "\n".join(texts)
        if not joined.strip():
            return {}
        tfidf = self._kept(
            self._tfidf.extract_tags(joined, topK=PERIOD_TERMS, withWeight=True, allowPOS=PARTS_OF_SPEECH)
        )
        textrank = self._kept(
            self._textrank.textrank(joined, topK=PERIOD_TERMS, withWeight=True, allowPOS=PARTS_OF_SPEECH)
        )
        strongest = max((w for _, w in tfidf), default=0.0) or 1.0
        scaled = {word: w / strongest for word, w in tfidf}
        ranked = dict(textrank)
        return {
            word: Weight(tfidf=round(scaled.get(word, 0.0), 6), textrank=round(ranked.get(word, 0.0), 6))
            for word in scaled.keys() | ranked.keys()
        }


@cache
def extractor() -> Extractor:
    """The process's extractor with the contract dictionaries (building one takes a second or
    two; jieba keeps its parsed dictionary under `var/cache/` for the next process)."""
    from casehub.paths import var_dir

    return Extractor(cache_dir=var_dir() / "cache")
