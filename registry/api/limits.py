"""`GET /api/limits`: the limits a client must respect, as this registry enforces them.

Every value is read from where it is enforced (the running app's Settings, or the constant the
check uses), so the answer cannot drift from the checks. Sizes are bytes, times seconds; null
means no limit.
"""

from __future__ import annotations

from flask import Blueprint

from ..config import Settings
from ..schemas import packages as package_schemas
from ..schemas import responses
from ..services import uploads
from ..services.throttle import CODE, LOGIN, SIGNUP, TOKEN
from ..state import state
from ..storage import LocalBlobStore
from .contract import dumped, operation

bp = Blueprint("limits", __name__, url_prefix="/api")

S3_MAX_PUT_BYTES = 5 * 1024 ** 3  # S3's own cap on one PUT (the registry does not see those bytes)


@bp.get("/limits")
@operation("Meta", "The limits a client must respect", responses.Limits)
def limits():
    registry = state()
    return dumped(responses.Limits,
                  client_limits(registry.settings, local_store=isinstance(registry.store, LocalBlobStore)))


def client_limits(settings: Settings, *, local_store: bool) -> dict:
    """The answer of /api/limits for an app built with `settings`."""

    def limit(value: int) -> int | None:
        return value if value > 0 else None  # the throttle's 0 is "no limit"

    return {
        "request_body": {  # registry.api.bodies: decoded bytes, and JSON values counted before parsing
            "push_max_bytes": settings.max_request_bytes,
            "push_max_values": settings.max_request_values,
            "other_max_bytes": settings.max_small_request_bytes,
            "other_max_values": settings.max_small_request_values,
            "page_form_max_bytes": settings.max_page_request_bytes,
        },
        "push": {
            "max_fragments": package_schemas.MAX_PUSH_FRAGMENTS,
            "max_tree_bytes": settings.max_contents_bytes,  # the compressed tree of one instance
            "max_message_chars": package_schemas.MAX_MESSAGE_LENGTH,
        },
        "get_objects_max_hashes": package_schemas.MAX_HASHES_PER_REQUEST,
        "comment_max_chars": package_schemas.MAX_COMMENT_LENGTH,
        "uploads": {  # registry.services.uploads (transfers v2) and the store's signed URLs
            "max_fragment_bytes": uploads.MAX_FRAGMENT_BYTES,
            # One PUT of a whole fragment (a v1 URL or a single upload): the local store checks it.
            "max_put_bytes": settings.max_fragment_bytes if local_store else S3_MAX_PUT_BYTES,
            "multipart_threshold_bytes": settings.multipart_threshold_bytes,
            "min_part_bytes": settings.upload_part_bytes,  # larger where MAX_PARTS would not hold a fragment
            "max_parts": uploads.MAX_PARTS,
            "part_urls_per_request": settings.part_urls_per_request,
            "max_open_multipart_uploads": uploads.MAX_OPEN_UPLOADS,  # per pusher
            "url_expiry_seconds": settings.url_expiry_seconds,
        },
        "rate_limits": {  # registry.services.throttle: tries per window, per account and per address
            "actions": [LOGIN, TOKEN, SIGNUP, CODE],
            "window_seconds": settings.throttle_window_seconds,
            "per_account": limit(settings.throttle_account_limit),
            "per_address": limit(settings.throttle_address_limit),
        },
    }
