"""an index of the grams of node names and README previews, for search

Search matched every word against the node names of every readable package's `latest` (up to
1 MB each) and its README preview (up to 640 KiB) with LIKE '%word%', so one query's cost grew
with all the text in the registry: one word found nowhere took 2 s over 128 packages of 1 MB
of names. `keyword_gram` and `readme_gram` hold, for each keyword set and each README, the 1 to
3-byte sequences (grams) of its text, and search reads the texts of only those that hold every
gram of a word (services.grams), or that are not marked `indexed` (too many grams, or written by
an older registry). Existing keyword sets and the READMEs of existing instances are indexed
here, one at a time.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Frozen copy of services.grams and services.readme: the codes written here must be theirs.
MAX_TEXT_GRAMS = 100_000
SPACE = 0x20
BLANKS = bytes.maketrans(b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f", b" " * 9)
SIMPLE_LOWER = str.maketrans({"Σ": "σ", "İ": "i"})
ROWS_PER_INSERT = 2000


def text_grams(text: str) -> list[int] | None:
    data = text.encode().translate(BLANKS) + b"  "
    triples = set(zip(data, data[1:], data[2:]))
    if len(triples) > 3 * MAX_TEXT_GRAMS:
        return None
    codes = set()
    for first, second, third in triples:
        if first == SPACE:
            continue
        codes.add(1 << 24 | first)
        if second == SPACE:
            continue
        codes.add(2 << 24 | first << 8 | second)
        if third != SPACE:
            codes.add(3 << 24 | first << 16 | second << 8 | third)
    return sorted(codes) if len(codes) <= MAX_TEXT_GRAMS else None


def readme_grams(text: str) -> list[int] | None:
    lowered = text_grams(text.lower())
    if lowered is None or not any(special in text for special in "Σİ"):
        return lowered
    simple = text_grams(text.translate(SIMPLE_LOWER).lower())
    return None if simple is None else sorted(set(lowered) | set(simple))


def big_id():
    return sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite")


def create_gram_table(table: str, key: str, parent: str) -> None:
    op.create_table(
        table,
        sa.Column("gram", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(key, big_id(), nullable=False),
        sa.ForeignKeyConstraint([key], [f"{parent}.id"], name=f"fk_{table}_{key}_{parent}", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("gram", key, name=f"pk_{table}"),
        mysql_engine="InnoDB", mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin",
    )
    op.create_index(f"ix_{table}_{key}", table, [key])


def upgrade() -> None:
    with op.batch_alter_table("keyword_set") as batch:
        batch.add_column(sa.Column("indexed", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("blob") as batch:
        batch.add_column(sa.Column("preview_indexed", sa.Boolean(), nullable=False, server_default=sa.false()))
    create_gram_table("keyword_gram", "keyword_set_id", "keyword_set")
    create_gram_table("readme_gram", "blob_id", "blob")
    bind = op.get_bind()
    sets = bind.execute(sa.text("SELECT id FROM keyword_set ORDER BY id")).scalars().all()
    _index(bind, "keyword_gram", "keyword_set_id", sets, "keyword_set", "words", "indexed", text_grams)
    # The READMEs that search can reach: those of instances (found through the blob key).
    blob = bind.dialect.identifier_preparer.quote("blob")  # a reserved word on MySQL
    readmes = bind.execute(sa.text(
        f"SELECT DISTINCT b.id FROM instance JOIN package ON package.id = instance.package_id "
        f"JOIN {blob} b ON b.hash = instance.readme_hash AND b.owner = package.owner "
        f"WHERE b.preview IS NOT NULL ORDER BY b.id")).scalars().all()
    _index(bind, "readme_gram", "blob_id", readmes, blob, "preview", "preview_indexed", readme_grams)


def _index(bind, table: str, key: str, ids: list[int], parent: str, text: str, flag: str, grams_of) -> None:
    insert = sa.text(f"INSERT INTO {table} (gram, {key}) VALUES (:gram, :key)")
    for key_value in ids:
        codes = grams_of(bind.execute(sa.text(f"SELECT {text} FROM {parent} WHERE id = :i"), {"i": key_value}).scalar())
        if codes is None:
            continue  # too many: left unindexed, read whatever the word
        for start in range(0, len(codes), ROWS_PER_INSERT):
            bind.execute(insert, [{"gram": code, "key": key_value} for code in codes[start:start + ROWS_PER_INSERT]])
        bind.execute(sa.text(f"UPDATE {parent} SET {flag} = :yes WHERE id = :i"), {"yes": True, "i": key_value})


def downgrade() -> None:
    op.drop_table("readme_gram")
    op.drop_table("keyword_gram")
    with op.batch_alter_table("blob") as batch:
        batch.drop_column("preview_indexed")
    with op.batch_alter_table("keyword_set") as batch:
        batch.drop_column("indexed")
