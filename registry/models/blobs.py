from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, deferred, mapped_column

from ..db import Base, BigId, Blob as BlobBytes, Hash, LongText, Name, Timestamp, utcnow


class Blob(Base):
    """A fragment of one owner, stored at `objs/OWNER/HASH` or, when `batch` is set, at the
    key of the upload batch it arrived in (see storage.base.fragment_key); shared by every
    package of that owner."""

    __tablename__ = "blob"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner: Mapped[str] = mapped_column(Name(64))
    hash: Mapped[str] = mapped_column(Hash())
    size: Mapped[int] = mapped_column(BigInteger)
    # The upload batch (32 hex digits) whose key holds the bytes, or None for `objs/OWNER/HASH`.
    batch: Mapped[str | None] = mapped_column(String(32))
    # The first 640 KiB of a README fragment as text, read after the push (search, previews).
    preview: Mapped[str | None] = mapped_column(LongText())
    # Whether readme_gram holds the grams of `preview` (services.readme, as keyword sets' `indexed`).
    preview_indexed: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    # Last time a push (dry run or real) named this fragment: garbage collection spares
    # fragments touched within its grace period, so a push in progress never loses one.
    touched_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    # Set by `registry blobs verify`: when, and what was wrong (missing, size, corrupt) or None.
    checked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())
    problem: Mapped[str | None] = mapped_column(String(16))

    # Hash first: `POST /api/get_objects` names hashes without their owner; every other lookup
    # names both (migration 0009).
    __table_args__ = (UniqueConstraint("hash", "owner"),)


class ReadmeGram(Base):
    """A gram (1 to 3 bytes, services.grams) of a README fragment's lower-cased preview: search
    reads the previews of only the READMEs that hold every gram of a word."""

    __tablename__ = "readme_gram"

    gram: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blob.id", ondelete="CASCADE"), primary_key=True, index=True)


class FragmentChunk(Base):
    """A piece of an instance's fragment set: the fragments whose hashes fall between two
    content-defined cut points (services.fragment_sets). Instances that share most fragments
    share most chunks, so a new instance that changes ten fragments of 100,000 writes a few
    chunks, not 100,000 link rows. `records` packs (hash, size, batch) per fragment, so an
    install reads a few hundred rows instead of one per fragment."""

    __tablename__ = "fragment_chunk"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    digest: Mapped[str] = mapped_column(Hash(), unique=True)  # of the owner and the records
    count: Mapped[int] = mapped_column(Integer)
    records: Mapped[bytes] = deferred(mapped_column(BlobBytes(), nullable=False))


class ChunkBlob(Base):
    """Which blobs a chunk holds: one row per fragment per distinct chunk (not per instance),
    so garbage collection and permission checks stay joins."""

    __tablename__ = "chunk_blob"

    chunk_id: Mapped[int] = mapped_column(ForeignKey("fragment_chunk.id", ondelete="CASCADE"), primary_key=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blob.id"), primary_key=True, index=True)


class InstanceChunk(Base):
    __tablename__ = "instance_chunk"

    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id", ondelete="CASCADE"), primary_key=True)
    chunk_id: Mapped[int] = mapped_column(ForeignKey("fragment_chunk.id"), primary_key=True, index=True)


class MultipartUpload(Base):
    """A multipart upload of one fragment by one pusher (Transfers v2, services.uploads): the
    store's upload id and the SHA-256 of every part, signed into the part URLs and checked again
    when the parts are joined. A client that crashed asks for it again and goes on."""

    __tablename__ = "multipart_upload"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)  # in URLs: not guessable, unlike `id`
    owner: Mapped[str] = mapped_column(Name(64))
    hash: Mapped[str] = mapped_column(Hash())
    pusher: Mapped[str] = mapped_column(Name(64))
    staged: Mapped[bool] = mapped_column(Boolean)  # at the pusher's staging key (pusher != owner)
    upload_id: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    part_size: Mapped[int] = mapped_column(BigInteger)
    checksums: Mapped[bytes] = deferred(mapped_column(BlobBytes(), nullable=False))  # 32 bytes per part, in order
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp(), default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp())

    __table_args__ = (UniqueConstraint("owner", "hash", "pusher"),)
