"""registry.api.json_input, the bounded parser behind every /api JSON body (no database needed)."""

from __future__ import annotations

import json
import random

import pytest

from registry.api.json_input import MAX_DEPTH, WINDOW, parse_json
from registry.errors import BadRequest, PayloadTooLarge
from registry.exact_json import LONG_INTEGER_TOKEN, may_hold_long_integer


def parse(text: str, max_values: int = 1000):
    return parse_json(text.encode(), max_values=max_values)


def test_values_are_counted_outside_strings_only():
    # Two commas, one colon, three opening brackets.
    assert parse('[1, 2, {"a": [3]}]', max_values=6) == [1, 2, {"a": [3]}]
    with pytest.raises(PayloadTooLarge, match="more than 5 JSON values"):
        parse('[1, 2, {"a": [3]}]', max_values=5)
    assert parse('["a,b:c[d{e", "\\",[{"]', max_values=2) == ["a,b:c[d{e", '",[{']


def test_depth_is_exact_whichever_the_bracket_kind():
    at_limit = '{"a":[' * (MAX_DEPTH // 2) + "1" + "]}" * (MAX_DEPTH // 2)
    assert parse(at_limit, max_values=10**6) is not None
    for too_deep in ("[" + at_limit + "]", "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
                     "[" * 100_000 + "]" * 100_000):
        with pytest.raises(BadRequest, match=f"nested deeper than {MAX_DEPTH} levels"):
            parse(too_deep, max_values=10**6)
    # Many shallow siblings are not deep.
    assert len(parse("[" + ",".join(["[[]]"] * 10_000) + "]", max_values=10**6)) == 10_000


def test_strings_across_and_beyond_the_scan_window():
    # A string that straddles a window boundary, one longer than the window, commas inside both.
    straddling = [("x" * (WINDOW - 10)), "a,b,c,[,{," * 10, "y" * (3 * WINDOW) + ",[{"]
    text = json.dumps(straddling)
    assert parse(text, max_values=3) == straddling
    with pytest.raises(BadRequest, match="not valid JSON"):
        parse('["ok", "never ends' + "z" * (2 * WINDOW))


def test_malformed_bodies_are_bad_requests():
    for text in ("{nope", "[1,]", "1" * 5000, '"\\x"', "[1] [2]"):
        with pytest.raises(BadRequest, match="not valid JSON"):
            parse(text)
    with pytest.raises(BadRequest, match="not valid UTF-8"):
        parse_json(b'["\xed\xa0\x80"]', max_values=10)  # UTF-8 for a surrogate is not UTF-8


def test_lone_surrogates_are_refused_pairs_and_escaped_backslashes_are_not():
    for text in ('["\\ud800"]', '{"\\udfff": 1}', '["ok", {"a": ["x\\uDBFFy"]}]', '["\\ude00\\ud83d"]'):
        with pytest.raises(BadRequest, match="lone UTF-16 surrogate"):
            parse(text)
    assert parse('["\\ud83d\\ude00", "\\\\ud800"]') == ["\U0001F600", "\\ud800"]


@pytest.mark.parametrize("text", [
    '{"n": 123456789012345678901234567890, "m": -9223372036854775809}',  # beyond 64 bits
    '{"f": [0.1, 1e-05, 2.5e+300, -0.0, 1.0000000000000002], "s": "caf\\u00e9 \\ud83d\\ude00 \\u2028"}',
    '{"nan": NaN, "inf": -Infinity}',  # what json.loads reads, and the fast parser does not
    '{"a": 1, "a": 2}',
])
def test_every_body_parses_exactly_as_json_loads_reads_it(text):
    parsed = parse(text)
    expected = json.loads(text)
    assert json.dumps(parsed, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)
    assert [type(v) for v in parsed.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize("text", [
    "[1234567890123456789]", "[1,\n-1234567890123456789]", '{"a":\t99999999999999999999}',
    '{"a": 12345678901234567890123}', "[ 18446744073709551616]",
])
def test_long_integers_anywhere_go_the_exact_way(text):
    assert parse(text) == json.loads(text)
    assert type(parse(text)[0] if text.startswith("[") else parse(text)["a"]) is int


def test_the_quick_look_for_long_integers_misses_none_the_expression_finds():
    """exact_json.may_hold_long_integer stands for LONG_INTEGER_TOKEN.search: it may answer yes
    where the expression does not (a `|` before nineteen digits), never no where it does."""
    rng = random.Random(7)
    alphabet = b"0123456789" * 6 + b"[,: \t\n\r\x0b\x0c-|\"ab"
    for _ in range(20_000):
        body = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        found = LONG_INTEGER_TOKEN.search(body) is not None
        quick = may_hold_long_integer(body)
        assert quick == found or (quick and b"|" in body), body
