"""JSON request bodies, parsed strictly and within bounds.

`json.loads` on a hostile body can recurse until RecursionError (100,000 nested `[`), turn
100 MiB of `[1,1,...` into gigabytes of Python objects, and accept lone surrogates (`"\\ud800"`)
that crash any later UTF-8 encode. So before parsing, a cheap scan of the text's structure (in C,
through regular expressions and str methods) checks the nesting depth and the number of values;
after parsing, strings are checked for lone surrogates when the text could contain one.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import orjson

from ..errors import BadRequest, PayloadTooLarge
from ..exact_json import may_hold_long_integer

# orjson holds about a tenth more memory per value than json.loads: bodies near the value cap
# (3,000,000 by default) are parsed the lean way, so a worker's peak stays what the cap allows.
# A 100,000-file push holds about 1,700,000.
LEAN_PARSE_ABOVE = 2_000_000
# A push tree of tree.MAX_DEPTH (64) folders nests two levels per folder ({"children": {name: node}}),
# plus the body, the root and a file's metadata: 200 leaves room for 60-odd levels of metadata there.
MAX_DEPTH = 200

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_WHOLE_STRINGS = re.compile(r'(?:[^"]+|"[^"\\]*(?:\\.[^"\\]*)*")*', re.DOTALL)
WINDOW = 256 * 1024
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_ONE_BRACKET_KIND = bytes.maketrans(b"{}", b"[]")  # depth is the same whichever the kind
# json.loads turns an escaped surrogate pair into one code point; only lone halves stay surrogates.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_PUNCTUATION = bytes(c for c in range(256) if c not in b'[]{},:"')
_MISSING = object()


def parse_json(body: bytes | bytearray, *, max_values: int) -> Any:
    """The value of a UTF-8 JSON body; BadRequest when malformed or nested deeper than MAX_DEPTH,
    PayloadTooLarge when it holds more than `max_values` values, counted as the commas, colons
    and opening brackets outside strings (an upper bound on elements, keys and values)."""
    value = _fast_parse(body if isinstance(body, bytes) else bytes(body), max_values)
    if value is not _MISSING:
        return value
    try:
        text = body.decode("utf-8")  # strict: json.loads(bytes) would let encoded surrogates through
    except UnicodeDecodeError:
        raise BadRequest("The request body is not valid UTF-8") from None
    _check_structure(text, max_values)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest("The request body is not valid JSON") from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise BadRequest("The request body holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text")
    return value


def _fast_parse(body: bytes, max_values: int) -> Any:
    """The same bounds and the same value in a tenth of the time, or _MISSING where only the
    exact path can tell (it then also words the error). The structure is checked on the body's
    punctuation alone: with escaped quotes and backslashes removed, every quote delimits a
    string, and the strings that hold no punctuation are dropped in C. orjson then parses;
    it refuses what json.loads would refuse, and more (NaN, lone surrogates: the exact path
    decides), but reads integers beyond 64 bits as floats: bodies that may hold one go the
    exact way, as do bodies of more than LEAN_PARSE_ABOVE values."""
    if may_hold_long_integer(body):
        return _MISSING
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in body else body
    punctuation = unescaped.translate(None, _NOT_PUNCTUATION)
    del unescaped
    values = _check_structure(punctuation.replace(b'""', b"").decode("ascii"), max_values)
    del punctuation  # before the parse: the peak is the parse's
    if values > LEAN_PARSE_ABOVE:
        return _MISSING
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _MISSING


def _check_structure(text: str, max_values: int) -> int:
    """The number of values counted; raises when the text is beyond the bounds."""
    values = 0
    brackets = bytearray()
    for skeleton in _skeletons(text):
        values += sum(skeleton.count(c) for c in ",:[{")
        if values > max_values:
            raise PayloadTooLarge(f"The request body holds more than {max_values} JSON values")
        brackets += skeleton.encode().translate(_ONE_BRACKET_KIND, _NOT_BRACKETS)
    if _deeper_than_max(bytes(brackets)):
        raise BadRequest(f"The request body is nested deeper than {MAX_DEPTH} levels")
    return values


def _skeletons(text: str) -> Iterator[str]:
    """The text without its strings (commas and brackets in strings are not structure), in
    pieces of about WINDOW characters: re.sub keeps every piece between two matches alive until
    it joins them, so one sub over millions of short strings would cost gigabytes."""
    position = 0
    while position < len(text):
        # Whole strings and the text between them, up to the window's end: a safe place to cut.
        cut = _WHOLE_STRINGS.match(text, position, position + WINDOW).end()
        if cut == position:  # one string longer than the window, or one that never ends
            string = _STRING.match(text, position)
            if string is None:
                raise BadRequest("The request body is not valid JSON")
            cut = string.end()
        yield _STRING.sub("", text[position:cut])
        position = cut


def _deeper_than_max(brackets: bytes) -> bool:
    """Peel the innermost pairs off, one level per pass (bytes.replace runs in C): a pair left
    after MAX_DEPTH passes is deeper. Unbalanced brackets are left for json.loads to report."""
    if b"[" * (MAX_DEPTH + 1) in brackets:
        return True
    for _ in range(MAX_DEPTH):
        peeled = brackets.replace(b"[]", b"")
        if len(peeled) == len(brackets):
            return False
        brackets = peeled
    return b"[]" in brackets


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]  # the structure is bounded by _check_structure; no recursion
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            if not current.isascii() and _SURROGATE.search(current):
                return True
        elif isinstance(current, dict):
            stack.extend(current)
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return False
