"""Hostile request bodies, built as streams so the test process never holds a bomb whole."""

from __future__ import annotations

import zlib
from typing import Iterable, Iterator

MIB = 1024 * 1024


def spaces_then_empty_list(total: int) -> Iterator[bytes]:
    """`total` bytes of JSON whitespace, then `[]`: valid JSON, once it has all arrived."""
    block = b" " * MIB
    for _ in range(total // MIB):
        yield block
    yield b" " * (total % MIB) + b"[]"


def gzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


def int_list(count: int) -> Iterator[bytes]:
    """`[1,1,...,1]` with `count` elements (two bytes each)."""
    yield b"["
    block = 1_000_000
    for start in range(0, count - 1, block):
        yield b"1," * min(block, count - 1 - start)
    yield b"1]"


def nested_lists(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_tree(levels: int) -> dict:
    """A ROOT with a chain of `levels` GROUPs."""
    root = node = {"type": "ROOT", "children": {}}
    for level in range(levels):
        child = {"type": "GROUP", "children": {}}
        node["children"][f"d{level}"] = child
        node = child
    return root


def nested_json_text(depth: int, leaf: str = "1") -> str:
    """`{"a":{"a":...leaf...}}`, `depth` objects deep, as text (json.dumps would recurse)."""
    return '{"a":' * depth + leaf + "}" * depth


class ChunkStream:
    """A file-like, unseekable body over chunks (so no Content-Length can be derived from it),
    counting what the server read."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buffer = b""
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        self.bytes_read += len(data)
        return data
