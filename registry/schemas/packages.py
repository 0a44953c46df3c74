from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates

from ..services.push import PushRequest
from ..tree import HASH_RE, is_hash

MAX_MESSAGE_LENGTH = 10_000
MAX_COMMENT_LENGTH = 10 * 1024


def _hash(**kwargs):
    return fields.String(validate=validate.Regexp(HASH_RE, error="must be a SHA-256 hex digest"), **kwargs)


class PushSchema(Schema):
    """The push body (protocol.md 9.2) plus our optional `message`."""

    class Meta:
        unknown = RAISE

    dry_run = fields.Boolean(load_default=False)
    is_public = fields.Boolean(load_default=None)
    is_team = fields.Boolean(load_default=False)
    public = fields.Boolean(load_default=None)  # deprecated alias of is_public
    description = fields.String(required=True)
    contents = fields.Dict(required=True)
    sizes = fields.Dict(keys=fields.String(), values=fields.Integer(strict=True, validate=validate.Range(min=0)),
                        required=True)
    message = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=MAX_MESSAGE_LENGTH))

    @validates("sizes")
    def _hash_keys(self, sizes, **_):
        bad = [key for key in sizes if not is_hash(key)]
        if bad:
            raise ValidationError(f"not SHA-256 hex digests: {bad[:5]}")

    @post_load
    def _request(self, data, **_):
        is_public = data["is_public"] if data["is_public"] is not None else bool(data["public"])
        return PushRequest(contents=data["contents"], sizes=data["sizes"], dry_run=data["dry_run"],
                           is_public=is_public, is_team=data["is_team"], message=data["message"])


class HashListSchema(Schema):
    """`POST /api/get_objects` takes a bare JSON array of hashes."""

    hashes = fields.List(_hash(), required=True, validate=validate.Length(max=100_000))


class TagSchema(Schema):
    """`{"hash"}`, plus our optional `expected_hash` (current target, or null for "not yet set")."""

    class Meta:
        unknown = RAISE

    hash = _hash(required=True)
    expected_hash = _hash(allow_none=True)


class VersionSchema(Schema):
    class Meta:
        unknown = RAISE

    hash = _hash(required=True)


class CommentSchema(Schema):
    class Meta:
        unknown = RAISE

    contents = fields.String(required=True, validate=validate.Length(min=1, max=MAX_COMMENT_LENGTH))


class SearchArgs(Schema):
    class Meta:
        unknown = RAISE

    q = fields.String(load_default="")
    limit = fields.Integer(load_default=1000)
    cursor = fields.String(load_default=None)
