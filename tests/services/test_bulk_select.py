"""bulk.select_in writes lower-case hex digests into its IN lists as they are and binds anything
else: a value that is not plain hex must never reach the SQL text, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.orm import Session

from registry.db import make_engine
from registry.services import bulk
from registry.services.bulk import select_in, sorted_unique
from registry.tree import is_lower_hex


@pytest.mark.parametrize("text, expected", [
    ("", True), ("0123456789abcdef", True), ("ABCDEF", False), ("abcg", False), ("ab'", False),
    ("ab cd", False), ("ab\ncd", False), ("ab\x00", False), ("ａｂ", False), ("é", False), ("abc😀", False),
])
def test_only_lower_case_hex_digits_count_as_hex(text, expected):
    assert is_lower_hex(text) is expected


def test_sorted_unique_keeps_a_sorted_list_and_sorts_anything_else():
    ordered = ["a", "b", "c"]
    assert sorted_unique(ordered) is ordered, "a list sorted already is not sorted again"
    assert sorted_unique(["b", "a", "c", "a"]) == ["a", "b", "c"]
    assert sorted_unique(["a", "b", "b", "c"]) == ["a", "b", "c"], "sorted with a repeat: not strictly"
    assert sorted_unique({"c", "a"}) == ["a", "c"]
    assert sorted_unique({"c": 1, "a": 2}) == ["a", "c"]
    assert sorted_unique([]) == []


def test_hex_and_hostile_values_find_exactly_their_rows(clean_database, monkeypatch):
    monkeypatch.setattr(bulk, "CHUNK", 3)  # several statements, some all hex and some mixed
    engine = make_engine(clean_database)
    metadata = MetaData()
    table = Table("select_probe", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
                  Column("value", String(100)))
    metadata.create_all(engine)
    stored = ["00ff", "0a", "1b", "2c", "3d", "4e", "it's", "x') OR ('1'='1", "50%", "ÄB"]
    try:
        with Session(engine) as session:
            session.execute(table.insert(), [{"id": i, "value": v} for i, v in enumerate(stored)])
            # In order, three at a time: "' OR 1=1 --", 0a, 1b | 2c, 3d, 4e (all hex) | 50%, ffff, it's | ...
            wanted = ["4e", "0a", "0a", "3d", "1b", "2c", "ffff", "it's", "50%", "ÄB", "x') OR ('1'='1", "' OR 1=1 --"]
            found = [value for _, value in select_in(session, select(table.c.id, table.c.value),
                                                      table.c.value, wanted)]
            assert sorted(found) == sorted(["0a", "1b", "2c", "3d", "4e", "it's", "50%", "ÄB", "x') OR ('1'='1"])
            ordered = sorted(set(wanted))
            assert sorted(value for _, value in select_in(session, select(table.c.id, table.c.value),
                                                          table.c.value, ordered)) == sorted(found)
    finally:
        metadata.drop_all(engine)
        engine.dispose()
