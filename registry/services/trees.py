"""Instance trees, stored so that a new instance costs what changed.

A tree is kept as the canonical JSON the registry answers installs with (the bytes as first
serialised, never re-serialised), cut into pieces after every fragment hash whose last byte is a
multiple of 64, about 64 files apart. The cuts depend only on the bytes around them, so an
instance that changes ten files of 100,000 shares all but about twenty pieces with the one
before, and writes only those (zlib-compressed) plus one small row per piece. (The keywords,
node names for search, are shared too: services.keywords.)

A push of changes passes its base's stored tree (`load_stored`) to `save`: the
new tree's bytes that equal the base's pieces at its start and end keep those pieces as they
are (neither cut, hashed, checked nor looked up again), so only the pieces around the changes
cost anything.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import re
import zlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import exact_json
from ..errors import PayloadTooLarge
from ..models import InstancePiece, TreePiece
from . import bulk

# After `"hashes":["<62 hex digits><one of 0,4,8,c>0"`: the hash's last byte is a multiple of 64.
_CUT_AFTER = re.compile(rb'"hashes":\["[0-9a-f]{62}[048c]0"')
COMPRESSION_LEVEL = 1  # six times faster than the default level on a tree, for a fifth more bytes


# The bytes that end a cut: `"hashes":["`, 64 hex digits and `"`.
_CUT_WINDOW = 76


@dataclasses.dataclass(frozen=True)
class StoredPiece:
    data: bytes  # the piece's JSON
    id: int
    stored_bytes: int  # compressed, as the database holds it


@dataclasses.dataclass(frozen=True)
class StoredTree:
    json: bytes
    pieces: list[StoredPiece]


def serialize(contents: dict, base: StoredTree | None = None) -> bytes:
    """The tree's JSON as json writes it (see exact_json), as `save` stores it."""
    if base is None:
        return exact_json.dumps_compact(contents)
    return b"".join(part.data if isinstance(part, StoredPiece) else part for part in _parts(contents, base))


def _parts(contents: dict, base: StoredTree | None) -> list[StoredPiece | bytes]:
    """The tree's JSON in pieces. With `base`, only the pieces that differ from the base's are
    checked for what orjson would word otherwise: the others are the base's own bytes, written
    exactly when it was stored."""
    if base is not None:
        encoded = exact_json.dumps_fast(contents)
        if encoded is not None:
            parts = split(encoded, base)
            if exact_json.written_as_json_does(b"".join(part for part in parts if isinstance(part, bytes))):
                return parts
    tree_json = exact_json.dumps_compact(contents)
    return split(tree_json, base) if base is not None else pieces(tree_json)


def pieces(tree_json: bytes) -> list[bytes]:
    cuts = [match.end() for match in _CUT_AFTER.finditer(tree_json)]
    return [tree_json[start:end] for start, end in zip([0, *cuts], [*cuts, len(tree_json)]) if end > start]


def split(tree_json: bytes, base: StoredTree) -> list[StoredPiece | bytes]:
    """`pieces(tree_json)`, with each piece that is one of `base`'s given as that stored piece.
    Walks both in step: a base piece that the JSON holds next is taken whole (one comparison,
    no search); elsewhere the JSON is cut up to its next cut, and the walk goes on after the
    base piece that ended the same way (the 76 bytes before a cut name a fragment). So a tree
    that changes ten files of 100,000 is searched for cuts around those ten only."""
    stored = base.pieces
    ending_at: dict[bytes, list[int]] = {}
    for index, piece in enumerate(stored[:-1]):  # the last piece ends the tree, not at a cut
        ending_at.setdefault(piece.data[-_CUT_WINDOW:], []).append(index)
    parts: list[StoredPiece | bytes] = []
    offset, index, size = 0, 0, len(tree_json)
    while offset < size:
        piece = stored[index] if index < len(stored) else None
        if piece is not None and tree_json.startswith(piece.data, offset) and (
                index < len(stored) - 1 or offset + len(piece.data) == size):
            parts.append(piece)
            offset += len(piece.data)
            index += 1
            continue
        cut = _CUT_AFTER.search(tree_json, offset)
        end = cut.end() if cut else size
        parts.append(tree_json[offset:end])
        offset = end
        same_end = ending_at.get(tree_json[end - _CUT_WINDOW:end], ()) if cut else ()
        later = bisect.bisect_left(same_end, index)  # many pieces may end alike (one hash in many files)
        if later < len(same_end):
            index = same_end[later] + 1
    return parts


@dataclasses.dataclass(frozen=True)
class PreparedTree:
    """A tree cut into pieces, its new pieces found and compressed (`prepare`), ready to `store`."""

    parts: list[StoredPiece | bytes]
    digests: dict[int, str]  # of each part that is not a StoredPiece, by position
    ids: dict[str, int]  # digest -> id of the pieces stored already
    compressed: dict[str, bytes]  # digest -> the stored bytes of each new piece


def prepare(session: Session, contents: dict, base: StoredTree | None = None) -> PreparedTree:
    """The CPU part of `save` (and one lookup): after it, storing the tree is a few statements.
    With `base`, the pieces it shares with the base are known without a look (see `split`)."""
    parts = _parts(contents, base)
    digests = {position: hashlib.sha256(part).hexdigest() for position, part in enumerate(parts)
               if isinstance(part, bytes)}
    ids = _ids(session, TreePiece, set(digests.values()))
    new = {d: parts[position] for position, d in digests.items() if d not in ids}
    return PreparedTree(parts, digests, ids, {d: zlib.compress(part, COMPRESSION_LEVEL) for d, part in new.items()})


def store(session: Session, instance_id: int, tree: PreparedTree, *, max_bytes: int) -> None:
    """Store the prepared tree of a new instance; PayloadTooLarge when its pieces take more than
    `max_bytes` compressed (what the database would have to hold for it, counting shared ones)."""
    kept = {part.id: part.stored_bytes for part in tree.parts if isinstance(part, StoredPiece)}
    shared_bytes = sum(kept.values()) + _stored_sizes(session, set(tree.ids.values()) - kept.keys())
    total = shared_bytes + sum(len(data) for data in tree.compressed.values())
    if total > max_bytes:
        # A bound on what one instance may hold, whatever it shares with others.
        raise PayloadTooLarge(f"The package tree takes {total} bytes compressed; at most {max_bytes} are allowed")
    bulk.insert_new(session, TreePiece.__table__, [{"digest": d, "data": data} for d, data in tree.compressed.items()],
                    unchanged="digest")
    ids = {**tree.ids, **_ids(session, TreePiece, set(tree.compressed))}
    bulk.insert_new(session, InstancePiece.__table__, [
        {"instance_id": instance_id, "position": position,
         "piece_id": part.id if isinstance(part, StoredPiece) else ids[tree.digests[position]]}
        for position, part in enumerate(tree.parts)], unchanged="piece_id")


def save(session: Session, instance_id: int, contents: dict, *, max_bytes: int,
         base: StoredTree | None = None) -> None:
    """Store the tree of a new instance (`prepare`, then `store`)."""
    store(session, instance_id, prepare(session, contents, base), max_bytes=max_bytes)


def load(session: Session, instance_id: int) -> bytes:
    """The tree's JSON, byte for byte as first stored."""
    rows = session.execute(select(TreePiece.data).join(InstancePiece, InstancePiece.piece_id == TreePiece.id)
                           .where(InstancePiece.instance_id == instance_id).order_by(InstancePiece.position))
    return b"".join(zlib.decompress(data) for data, in rows)


def load_stored(session: Session, instance_id: int) -> StoredTree:
    """The tree's JSON with the pieces it is stored in (for `save` of a tree changed from it)."""
    rows = session.execute(select(TreePiece.id, TreePiece.data)
                           .join(InstancePiece, InstancePiece.piece_id == TreePiece.id)
                           .where(InstancePiece.instance_id == instance_id).order_by(InstancePiece.position))
    stored = [StoredPiece(zlib.decompress(data), piece_id, len(data)) for piece_id, data in rows]
    return StoredTree(b"".join(piece.data for piece in stored), stored)


def load_tree(session: Session, instance_id: int) -> dict:
    return exact_json.loads(load(session, instance_id))


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
