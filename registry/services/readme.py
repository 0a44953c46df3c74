"""README text for previews and search, read from storage after the push commits.

The original read it inside the push transaction and failed the push when it could not
(protocol.md 14.7); here a failure only means "no preview yet", and the next push of a
package with that README tries again.
"""

from __future__ import annotations

import logging

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session, aliased

from ..models import Blob, ReadmeGram
from . import grams
from .context import Context

log = logging.getLogger(__name__)
PREVIEW_BYTES = 640 * 1024
# Search lower-cases a preview with the database's LOWER(): one code point for one, where
# Python's lower() writes "ς" for a final "Σ" and "i̇" for "İ". A text holding them is indexed
# both ways, so the grams never miss what LIKE would find.
_SIMPLE_LOWER = str.maketrans({"Σ": "σ", "İ": "i"})


def search_grams(text: str) -> list[int] | None:
    """The grams (services.grams) of the README preview `text`, as search lower-cases it."""
    lowered = grams.text_grams(text.lower())
    if lowered is None or not any(special in text for special in "Σİ"):
        return lowered
    simple = grams.text_grams(text.translate(_SIMPLE_LOWER).lower())
    return None if simple is None else sorted(set(lowered) | set(simple))


def preview_holds(word: str, pattern: str):
    """SQL: the joined Blob's README preview, lower-cased by the database, holds `word` as LIKE
    `pattern`; read only where its grams may (services.grams)."""
    previews = aliased(Blob)
    text = select(func.lower(previews.preview)).where(previews.id == Blob.id).scalar_subquery()
    return grams.text_holds(ReadmeGram.__table__, "blob_id", Blob.id, Blob.preview_indexed, text, word, pattern)


def index_after_commit(ctx: Context, owner: str, readme_hash: str) -> None:
    store, bind = ctx.store, ctx.session.get_bind()

    def index(_session):
        try:
            with Session(bind=bind) as session:
                unindexed = session.execute(select(Blob.id, Blob.batch).where(
                    Blob.owner == owner, Blob.hash == readme_hash, Blob.preview.is_(None))).first()
                if unindexed is None:
                    return
                text = store.read(owner, readme_hash, PREVIEW_BYTES, unindexed.batch).decode("utf-8", errors="ignore")
                indexed = grams.index(session, ReadmeGram.__table__, "blob_id", unindexed.id, search_grams(text))
                session.execute(update(Blob).where(Blob.id == unindexed.id, Blob.preview.is_(None))
                                .values(preview=text, preview_indexed=indexed))
                session.commit()
        except Exception:  # noqa: BLE001 - a preview is optional; never fail the request for it
            log.warning("could not read README %s/%s for its preview", owner, readme_hash, exc_info=True)

    event.listen(ctx.session, "after_commit", index, once=True)
