"""PEP 440 order as bytes: `sort_key(a) < sort_key(b)` exactly when `Version(a) < Version(b)`, so
the database can list a package's versions in that order one index step at a time, instead of
every list reading and sorting all of them in Python.

The key follows `packaging`'s own comparison, part by part: epoch, release (trailing zeros
dropped, so `1.0` and `1.0.0` get the same key and the list breaks the tie by name), pre-release,
post-release, dev-release, local label. Each number is written as its length in bytes, then its
bytes big-endian, so a longer number sorts after a shorter one; each sequence ends in a byte lower
than any of its items, so a prefix sorts first. A key of a version of at most 64 characters is at
most MAX_KEY_BYTES long.
"""

from __future__ import annotations

from packaging.version import Version

MAX_KEY_BYTES = 255  # the column's size; the longest versions of 64 characters need 110

_PRE_RANK = {"a": 1, "b": 2, "rc": 3}
_DEV_ONLY, _NO_PRE = 0, 4  # 1.0.dev1 before 1.0a1; 1.0 after 1.0rc1


def sort_key(version: str) -> bytes:
    """The key of a version (written in any PEP 440 spelling)."""
    parsed = Version(version)
    release = list(parsed.release)
    while release and release[-1] == 0:
        release.pop()
    key = bytearray(_number(parsed.epoch))
    for part in release:
        key += b"\x01" + _number(part)
    key += b"\x00"
    if parsed.pre is not None:
        key += bytes([_PRE_RANK[parsed.pre[0]]]) + _number(parsed.pre[1])
    else:
        key += bytes([_DEV_ONLY if parsed.post is None and parsed.dev is not None else _NO_PRE]) + _number(0)
    key += b"\x00" + _number(0) if parsed.post is None else b"\x01" + _number(parsed.post)
    key += b"\x01" + _number(0) if parsed.dev is None else b"\x00" + _number(parsed.dev)
    if parsed.local is None:
        return bytes(key + b"\x00")
    key += b"\x01"
    for segment in parsed.local.split("."):  # normalised: lower case, `.` between segments
        # A word sorts before any number (PEP 440); words by their letters, numbers by value.
        key += b"\x02" + _number(int(segment)) if segment.isdigit() else b"\x01" + segment.encode() + b"\x00"
    return bytes(key + b"\x00")


def _number(value: int) -> bytes:
    encoded = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes([len(encoded)]) + encoded
