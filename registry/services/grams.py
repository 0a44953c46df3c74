"""The gram index of the texts search reads (node names, README previews): which short byte
sequences (grams) each text holds, so that a search reads only the texts that can hold a word.

A word is a substring of a text only if the text holds every gram of the word: its UTF-8 bytes
one, two or three at a time, never across whitespace (search words have none). A word of one or
two bytes is looked up as itself, a longer one by up to MAX_WORD_GRAMS of its three-byte grams;
the texts that hold them all are then read with LIKE, as every text was before. A text is
marked indexed when its grams are written; one that is not is read whatever the word: one with
more than MAX_TEXT_GRAMS grams (random characters), or one an older registry wrote.
"""

from __future__ import annotations

from sqlalchemy import Table, and_, or_, select
from sqlalchemy.orm import Session

from . import bulk

MAX_TEXT_GRAMS = 100_000  # names of 36 random letters and digits have 48,000; rows cost a push
MAX_WORD_GRAMS = 8  # a word of 200 letters needs no more to be told apart
_SPACE = 0x20
_BLANKS = bytes.maketrans(b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f", b" " * 9)  # what str.split() splits on, in ASCII


def text_grams(text: str) -> list[int] | None:
    """The codes of every gram of `text`, sorted; None when there are more than MAX_TEXT_GRAMS.
    Byte triples are collected in C (60 ms for 1 MB): each position of the text starts one,
    thanks to the padding, and its first one or two bytes are the shorter grams starting there."""
    data = text.encode().translate(_BLANKS) + b"  "
    triples = set(zip(data, data[1:], data[2:]))
    if len(triples) > 3 * MAX_TEXT_GRAMS:  # too many whatever the spaces: spare the loop below
        return None
    codes: set[int] = set()
    for first, second, third in triples:
        if first == _SPACE:
            continue
        codes.add(1 << 24 | first)
        if second == _SPACE:
            continue
        codes.add(2 << 24 | first << 8 | second)
        if third != _SPACE:
            codes.add(3 << 24 | first << 16 | second << 8 | third)
    return sorted(codes) if len(codes) <= MAX_TEXT_GRAMS else None


def word_grams(word: str) -> list[int]:
    """The codes a text must hold to hold `word` (without whitespace): the word itself up to two
    bytes, else up to MAX_WORD_GRAMS of its triples, spread from its start to its end."""
    data = word.encode()
    if len(data) < 3:
        return [_code(data)] if data else []
    starts = range(len(data) - 2)
    if len(starts) > MAX_WORD_GRAMS:
        starts = sorted({starts[i * (len(starts) - 1) // (MAX_WORD_GRAMS - 1)] for i in range(MAX_WORD_GRAMS)})
    return sorted({_code(data[start:start + 3]) for start in starts})


def _code(gram: bytes) -> int:
    return len(gram) << 24 | int.from_bytes(gram, "big")


def index(session: Session, table: Table, key: str, key_value: int, codes: list[int] | None) -> bool:
    """Writes the grams `codes` (text_grams' answer) of the text `key_value` into `table`, whose
    columns are `gram` and `key`, and answers whether the text is indexed (None: too many
    grams, none written). Two writers of the same rows may race: the second keeps the first's."""
    if codes:
        bulk.insert_columns(session, table, {"gram": codes, key: bulk.Same(key_value)}, unchanged="gram")
    return codes is not None


def text_holds(table: Table, key: str, key_column, indexed, text, word: str, pattern: str):
    """SQL: the text `text` of the row `key_column` holds `word` (LIKE `pattern`); read only
    where its grams in `table` hold every gram of the word, or where it is not `indexed` (a
    column of the joined row). `text` is a scalar subquery, read only when this is evaluated:
    were it a column of the joined row, MariaDB would fetch it (up to 1 MB) for every row it
    reads, before any condition."""
    grams, keys = table.c.gram, table.c[key]
    held = [key_column.in_(select(keys).where(grams == code)) for code in word_grams(word)]
    return and_(or_(indexed.is_(False), and_(*held)), text.like(pattern, escape="\\"))
