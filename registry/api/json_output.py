"""JSON answers written without building them twice: byte for byte what `jsonify` (or
`json.dumps` with compact separators) writes, for the answers that can be big (an install's
urls and sizes, a dry run's 200,000 URLs, a long push log)."""

from __future__ import annotations

import json
from typing import Iterable, Iterator

import orjson
from flask import Response, stream_with_context

CHUNK_BYTES = 64 * 1024  # of a long list sent as it is read


def streamed_list(key: str, items: Iterable[dict | str]) -> Response:
    """The answer `{key: [...items]}`, sent as `items` are read (see list_body). The request's
    context, and so its database session, stays open until the last piece is sent; whatever
    `items` checks or reads first (permission, the first rows) has been done by the view."""
    return Response(stream_with_context(list_body(key, items)), mimetype="application/json")


def list_body(key: str, items: Iterable[dict | str]) -> Iterator[bytes]:
    """What `jsonify({key: list(items)})` writes, in pieces of about CHUNK_BYTES: `items` may be
    read from the database as the answer is sent, so that only a few are held at once."""
    pending, pending_bytes, separator = [b"{" + json.dumps(key).encode() + b":["], 0, b""
    for item in items:
        piece = separator + compact_json(item)
        pending.append(piece)
        pending_bytes += len(piece)
        separator = b","
        if pending_bytes >= CHUNK_BYTES:
            yield b"".join(pending)
            pending, pending_bytes = [], 0
    pending.append(b"]}\n")
    yield b"".join(pending)


def install_body(contents: bytes, rest: dict) -> bytes:
    """`{"contents": <the stored tree>, **rest}`: the stored tree goes out byte for byte, without
    being parsed and re-encoded, and the rest exactly as `json.dumps(rest, separators=(",", ":"))`
    writes it (what clients always received), its big maps (urls, sizes) much faster."""
    return b"".join([b'{"contents":', contents, *(b"," + _member(k, v) for k, v in rest.items()), b"}"])


def strings_json(mapping: dict) -> bytes:
    """`json.dumps(mapping, separators=(",", ":")).encode()`, byte for byte, for a mapping whose
    leaves are all strings (a push's answer; a dry run's holds 200,000 URLs): orjson writes the
    same bytes for strings whenever its output is ASCII without DEL (see compact_json), and
    leaves no type to check."""
    encoded = orjson.dumps(mapping)
    if encoded.isascii() and b"\x7f" not in encoded:
        return encoded
    return json.dumps(mapping, separators=(",", ":")).encode()


def _member(key: str, value) -> bytes:
    return json.dumps(key).encode() + b":" + compact_json(value)


_SCALARS = {str, int, bool}  # written alike by orjson and json.dumps


def _flat(value: dict) -> bool:
    return bool(value) and set(map(type, value.keys())) == {str} and set(map(type, value.values())) <= _SCALARS


def compact_json(value) -> bytes:
    """`json.dumps(value, separators=(",", ":")).encode()`, byte for byte. A string (a hash in a
    list), or a dict of strings to strings, ints or booleans, or to such dicts (a dry run's URLs,
    an owner's package), goes through orjson, which writes the same bytes for those whenever its
    output is ASCII without DEL (json.dumps writes every other character, and DEL too, as a
    six-character \\u escape, where orjson writes them raw); anything else (floats, which orjson
    formats differently past 1e16 and below 1e-4, ints beyond 64 bits, lone surrogates) is left
    to json.dumps."""
    if type(value) is str or _simple_dict(value):
        try:
            encoded = orjson.dumps(value)
        except TypeError:  # orjson.JSONEncodeError: an int beyond 64 bits, a lone surrogate
            pass
        else:
            if encoded.isascii() and b"\x7f" not in encoded:
                return encoded
    return json.dumps(value, separators=(",", ":")).encode()


def _simple_dict(value) -> bool:
    """A dict of strings to strings, ints or booleans, or to such dicts."""
    if type(value) is not dict or not value:
        return False
    nested = set(map(type, value.values())) == {dict} and set(map(type, value.keys())) == {str}
    return _flat(value) or (nested and all(map(_flat, value.values())))
