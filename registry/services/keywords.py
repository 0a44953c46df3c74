"""Search keywords: the node names of instance trees, in rows shared by the instances with the
same names (`keyword_set`), indexed by their grams (services.grams, `keyword_gram`) so that a
search reads the names of only the sets that can hold a word.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from .. import tree
from ..models import KeywordGram, KeywordSet
from . import bulk, grams

MAX_KEYWORDS_CHARS = 1_000_000


def words_of(contents: dict) -> str:
    """What search matches in a tree's node names: each once, lower-cased, sorted, space-separated."""
    return " ".join(sorted(tree.node_names(contents)))[:MAX_KEYWORDS_CHARS]


def keyword_set(session: Session, words: str) -> int:
    """The id of the shared row holding `words`, created (with its grams) if no instance has
    them yet. Two pushes may create it at once: both write the same rows, the first's are kept."""
    digest = hashlib.sha256(words.encode()).hexdigest()
    found = _find(session, digest)
    if found is None:
        codes = grams.text_grams(words)  # None: too many, so the set is not indexed
        row = {"digest": digest, "words": words, "indexed": codes is not None}
        bulk.insert_new(session, KeywordSet.__table__, [row], unchanged="digest")
        found = _find(session, digest)
        grams.index(session, KeywordGram.__table__, "keyword_set_id", found, codes)
    return found


def _find(session: Session, digest: str) -> int | None:
    return session.scalar(select(KeywordSet.id).where(KeywordSet.digest == digest))


def names_hold(word: str, pattern: str):
    """SQL: the names of the joined KeywordSet hold `word` (lower-cased, as the names are) as
    LIKE `pattern`; read only where its grams may."""
    names = aliased(KeywordSet)
    text = select(names.words).where(names.id == KeywordSet.id).scalar_subquery()
    return grams.text_holds(KeywordGram.__table__, "keyword_set_id", KeywordSet.id, KeywordSet.indexed, text, word,
                            pattern)
