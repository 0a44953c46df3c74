"""fragment sets, trees and keywords in shared pieces; upload batches

Each instance's fragments move from `instance_blob` (one row per fragment, 10 M rows for 100
revisions of a 100,000-file package) into content-defined chunks shared by the instances that
hold them (`fragment_chunk`, `chunk_blob`, `instance_chunk`); `blob.batch` names the upload
batch whose key holds a fragment (NULL: `objs/OWNER/HASH`, where every existing one is).
Trees move from `instance.contents` (the whole tree, zlib) into content-defined pieces shared
between instances (`tree_piece`, `instance_piece`), and node names from `instance.keywords`
into shared `keyword_set` rows, so an instance that changes ten files writes a few pieces.
The downgrade rebuilds `instance_blob`, `instance.contents` and `instance.keywords`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
import hashlib
import re
import struct
import zlib

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, sqlite

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MY = ("mysql", "mariadb")
# Frozen copy of services.fragment_sets' format: the chunks written here must be the ones it writes.
RECORD = struct.Struct(">32sQ16s")
NO_BATCH = bytes(16)
CUT_EVERY = 64
MAX_CHUNK = 1024
# And of services.trees'.
TREE_CUT_AFTER = re.compile(rb'"hashes":\["[0-9a-f]{62}[048c]0"')


def hash_():
    return sa.String(64).with_variant(mysql.CHAR(64, charset="ascii", collation="ascii_bin"), *MY)


def big_id():
    return sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite")


def blob_bytes():
    return sa.LargeBinary().with_variant(mysql.LONGBLOB(), *MY)


def long_text():
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), *MY)


def create_table(table, *columns):
    op.create_table(table, *columns, mysql_engine="InnoDB", mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin")


def upgrade() -> None:
    with op.batch_alter_table("blob") as batch:
        batch.add_column(sa.Column("batch", sa.String(32), nullable=True))
    create_table(
        "fragment_chunk",
        sa.Column("id", big_id(), nullable=False),
        sa.Column("digest", hash_(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("records", blob_bytes(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fragment_chunk"),
        sa.UniqueConstraint("digest", name="uq_fragment_chunk_digest"),
    )
    create_table(
        "chunk_blob",
        sa.Column("chunk_id", big_id(), nullable=False),
        sa.Column("blob_id", big_id(), nullable=False),
        sa.ForeignKeyConstraint(["chunk_id"], ["fragment_chunk.id"], name="fk_chunk_blob_chunk_id_fragment_chunk",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["blob_id"], ["blob.id"], name="fk_chunk_blob_blob_id_blob"),
        sa.PrimaryKeyConstraint("chunk_id", "blob_id", name="pk_chunk_blob"),
    )
    op.create_index("ix_chunk_blob_blob_id", "chunk_blob", ["blob_id"])
    create_table(
        "instance_chunk",
        sa.Column("instance_id", big_id(), nullable=False),
        sa.Column("chunk_id", big_id(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"], name="fk_instance_chunk_instance_id_instance",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["chunk_id"], ["fragment_chunk.id"], name="fk_instance_chunk_chunk_id_fragment_chunk"),
        sa.PrimaryKeyConstraint("instance_id", "chunk_id", name="pk_instance_chunk"),
    )
    op.create_index("ix_instance_chunk_chunk_id", "instance_chunk", ["chunk_id"])
    _chunk_existing_instances(op.get_bind())
    op.drop_table("instance_blob")  # with its indexes (MySQL refuses to drop one a foreign key needs)
    create_table(
        "tree_piece",
        sa.Column("id", big_id(), nullable=False),
        sa.Column("digest", hash_(), nullable=False),
        sa.Column("data", blob_bytes(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tree_piece"),
        sa.UniqueConstraint("digest", name="uq_tree_piece_digest"),
    )
    create_table(
        "instance_piece",
        sa.Column("instance_id", big_id(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("piece_id", big_id(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"], name="fk_instance_piece_instance_id_instance",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["piece_id"], ["tree_piece.id"], name="fk_instance_piece_piece_id_tree_piece"),
        sa.PrimaryKeyConstraint("instance_id", "position", name="pk_instance_piece"),
    )
    op.create_index("ix_instance_piece_piece_id", "instance_piece", ["piece_id"])
    create_table(
        "keyword_set",
        sa.Column("id", big_id(), nullable=False),
        sa.Column("digest", hash_(), nullable=False),
        sa.Column("words", long_text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_keyword_set"),
        sa.UniqueConstraint("digest", name="uq_keyword_set_digest"),
    )
    with op.batch_alter_table("instance") as batch:
        batch.add_column(sa.Column("keyword_set_id", big_id(), nullable=True))
        batch.create_foreign_key("fk_instance_keyword_set_id_keyword_set", "keyword_set", ["keyword_set_id"], ["id"])
        batch.create_index("ix_instance_keyword_set_id", ["keyword_set_id"])
    _piece_existing_trees(op.get_bind())
    with op.batch_alter_table("instance") as batch:
        batch.drop_column("contents")
        batch.drop_column("keywords")


def _piece_existing_trees(bind) -> None:
    for instance_id, contents, keywords in bind.execute(sa.text("SELECT id, contents, keywords FROM instance")).all():
        tree_json = zlib.decompress(contents)
        cuts = [match.end() for match in TREE_CUT_AFTER.finditer(tree_json)]
        parts = [tree_json[a:b] for a, b in zip([0, *cuts], [*cuts, len(tree_json)]) if b > a]
        for position, part in enumerate(parts):
            piece = _shared_row(bind, "tree_piece", hashlib.sha256(part).hexdigest(), "data", zlib.compress(part, 1))
            bind.execute(sa.text("INSERT INTO instance_piece (instance_id, position, piece_id) VALUES (:i, :p, :c)"),
                         {"i": instance_id, "p": position, "c": piece})
        words = _shared_row(bind, "keyword_set", hashlib.sha256(keywords.encode()).hexdigest(), "words", keywords)
        bind.execute(sa.text("UPDATE instance SET keyword_set_id = :k WHERE id = :i"), {"k": words, "i": instance_id})


def _shared_row(bind, table: str, digest: str, column: str, value) -> int:
    found = bind.execute(sa.text(f"SELECT id FROM {table} WHERE digest = :d"), {"d": digest}).scalar()
    if found is None:
        bind.execute(sa.text(f"INSERT INTO {table} (digest, {column}) VALUES (:d, :v)"), {"d": digest, "v": value})
        found = bind.execute(sa.text(f"SELECT id FROM {table} WHERE digest = :d"), {"d": digest}).scalar()
    return found


def _chunk_existing_instances(bind) -> None:
    instances = bind.execute(sa.text("SELECT instance.id, package.owner FROM instance "
                                     "JOIN package ON package.id = instance.package_id ORDER BY instance.id")).all()
    for instance_id, owner in instances:
        rows = bind.execute(sa.text("SELECT blob.id, blob.hash, blob.size FROM instance_blob "
                                    "JOIN blob ON blob.id = instance_blob.blob_id "
                                    "WHERE instance_blob.instance_id = :i ORDER BY blob.hash"), {"i": instance_id}).all()
        chunk_ids = []
        for chunk in _cut(rows):
            records = b"".join(RECORD.pack(bytes.fromhex(h), size, NO_BATCH) for _, h, size in chunk)
            digest = hashlib.sha256(owner.encode() + b"\0" + records).hexdigest()
            found = bind.execute(sa.text("SELECT id FROM fragment_chunk WHERE digest = :d"), {"d": digest}).scalar()
            if found is None:
                bind.execute(sa.text("INSERT INTO fragment_chunk (digest, count, records) VALUES (:d, :c, :r)"),
                             {"d": digest, "c": len(chunk), "r": records})
                found = bind.execute(sa.text("SELECT id FROM fragment_chunk WHERE digest = :d"), {"d": digest}).scalar()
                bind.execute(sa.text("INSERT INTO chunk_blob (chunk_id, blob_id) VALUES (:c, :b)"),
                             [{"c": found, "b": blob_id} for blob_id, _, _ in chunk])
            chunk_ids.append(found)
        if chunk_ids:
            bind.execute(sa.text("INSERT INTO instance_chunk (instance_id, chunk_id) VALUES (:i, :c)"),
                         [{"i": instance_id, "c": c} for c in sorted(set(chunk_ids))])


def _cut(rows):
    chunk = []
    for row in rows:
        chunk.append(row)
        if int(row[1][-2:], 16) % CUT_EVERY == 0 or len(chunk) == MAX_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def downgrade() -> None:
    with op.batch_alter_table("instance") as batch:
        batch.add_column(sa.Column("contents", blob_bytes(), nullable=True))
        batch.add_column(sa.Column("keywords", long_text(), nullable=True))
    bind = op.get_bind()
    for (instance_id,) in bind.execute(sa.text("SELECT id FROM instance")).all():
        pieces = bind.execute(sa.text("SELECT tree_piece.data FROM instance_piece JOIN tree_piece ON "
                                      "tree_piece.id = instance_piece.piece_id WHERE instance_piece.instance_id = :i "
                                      "ORDER BY instance_piece.position"), {"i": instance_id}).scalars()
        words = bind.execute(sa.text("SELECT keyword_set.words FROM instance JOIN keyword_set ON keyword_set.id = "
                                     "instance.keyword_set_id WHERE instance.id = :i"), {"i": instance_id}).scalar()
        bind.execute(sa.text("UPDATE instance SET contents = :c, keywords = :k WHERE id = :i"), {
            "c": zlib.compress(b"".join(zlib.decompress(p) for p in pieces), 6), "k": words or "", "i": instance_id})
    with op.batch_alter_table("instance") as batch:
        batch.alter_column("contents", existing_type=blob_bytes(), nullable=False)
        batch.alter_column("keywords", existing_type=long_text(), nullable=False)
        batch.drop_constraint("fk_instance_keyword_set_id_keyword_set", type_="foreignkey")
        batch.drop_index("ix_instance_keyword_set_id")
        batch.drop_column("keyword_set_id")
    op.drop_table("instance_piece")
    op.drop_table("tree_piece")
    op.drop_table("keyword_set")
    create_table(
        "instance_blob",
        sa.Column("instance_id", big_id(), nullable=False),
        sa.Column("blob_id", big_id(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"], name="fk_instance_blob_instance_id_instance",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["blob_id"], ["blob.id"], name="fk_instance_blob_blob_id_blob"),
        sa.PrimaryKeyConstraint("instance_id", "blob_id", name="pk_instance_blob"),
    )
    op.create_index("ix_instance_blob_blob_id", "instance_blob", ["blob_id"])
    op.execute("INSERT INTO instance_blob (instance_id, blob_id) SELECT DISTINCT instance_chunk.instance_id, "
               "chunk_blob.blob_id FROM instance_chunk JOIN chunk_blob ON chunk_blob.chunk_id = instance_chunk.chunk_id")
    op.drop_table("instance_chunk")
    op.drop_table("chunk_blob")
    op.drop_table("fragment_chunk")
    with op.batch_alter_table("blob") as batch:
        batch.drop_column("batch")
