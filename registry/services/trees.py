"""Instance trees and their keywords, stored so that a new instance costs what changed.

A tree is kept as the canonical JSON the registry answers installs with (the bytes as first
serialised, never re-serialised), cut into pieces after every fragment hash whose last byte is a
multiple of 64, about 64 files apart. The cuts depend only on the bytes around them, so an
instance that changes ten files of 100,000 shares all but about twenty pieces with the one
before, and writes only those (zlib-compressed) plus one small row per piece. The keywords
(node names, for search) are shared the same way: ten changed fragments change no name.
"""

from __future__ import annotations

import hashlib
import re
import zlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import exact_json
from ..errors import PayloadTooLarge
from ..models import InstancePiece, KeywordSet, TreePiece
from . import bulk

# After `"hashes":["<62 hex digits><one of 0,4,8,c>0"`: the hash's last byte is a multiple of 64.
_CUT_AFTER = re.compile(rb'"hashes":\["[0-9a-f]{62}[048c]0"')
COMPRESSION_LEVEL = 1  # six times faster than the default level on a tree, for a fifth more bytes


def serialize(contents: dict) -> bytes:
    return exact_json.dumps_compact(contents)


def pieces(tree_json: bytes) -> list[bytes]:
    cuts = [match.end() for match in _CUT_AFTER.finditer(tree_json)]
    return [tree_json[start:end] for start, end in zip([0, *cuts], [*cuts, len(tree_json)]) if end > start]


def save(session: Session, instance_id: int, tree_json: bytes, *, max_bytes: int) -> None:
    """Store the tree of a new instance; PayloadTooLarge when its pieces take more than
    `max_bytes` compressed (what the database would have to hold for it, counting shared ones)."""
    parts = pieces(tree_json)
    digests = [hashlib.sha256(part).hexdigest() for part in parts]
    ids = _ids(session, TreePiece, set(digests))
    new = {d: part for d, part in zip(digests, parts) if d not in ids}
    compressed = {d: zlib.compress(part, COMPRESSION_LEVEL) for d, part in new.items()}
    shared_bytes = _stored_sizes(session, ids.values())
    total = shared_bytes + sum(len(data) for data in compressed.values())
    if total > max_bytes:
        # A bound on what one instance may hold, whatever it shares with others.
        raise PayloadTooLarge(f"The package tree takes {total} bytes compressed; at most {max_bytes} are allowed")
    bulk.insert_new(session, TreePiece.__table__, [{"digest": d, "data": data} for d, data in compressed.items()],
                    unchanged="digest")
    ids.update(_ids(session, TreePiece, set(compressed)))
    bulk.insert_new(session, InstancePiece.__table__, [
        {"instance_id": instance_id, "position": position, "piece_id": ids[d]} for position, d in enumerate(digests)],
        unchanged="piece_id")


def load(session: Session, instance_id: int) -> bytes:
    """The tree's JSON, byte for byte as first stored."""
    rows = session.execute(select(TreePiece.data).join(InstancePiece, InstancePiece.piece_id == TreePiece.id)
                           .where(InstancePiece.instance_id == instance_id).order_by(InstancePiece.position))
    return b"".join(zlib.decompress(data) for data, in rows)


def load_tree(session: Session, instance_id: int) -> dict:
    return exact_json.loads(load(session, instance_id))


def keyword_set(session: Session, words: str) -> int:
    """The id of the shared row holding `words`, created if no instance has them yet."""
    digest = hashlib.sha256(words.encode()).hexdigest()
    found = _ids(session, KeywordSet, {digest})
    if not found:
        bulk.insert_new(session, KeywordSet.__table__, [{"digest": digest, "words": words}], unchanged="digest")
        found = _ids(session, KeywordSet, {digest})
    return found[digest]


def _ids(session: Session, model, digests: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in bulk.chunked(sorted(digests)):
        found.update(session.execute(select(model.digest, model.id).where(model.digest.in_(part))).all())
    return found


def _stored_sizes(session: Session, ids) -> int:
    total = 0
    for part in bulk.chunked(sorted(set(ids))):
        total += session.scalar(select(func.coalesce(func.sum(func.length(TreePiece.data)), 0))
                                .where(TreePiece.id.in_(part)))
    return int(total)
