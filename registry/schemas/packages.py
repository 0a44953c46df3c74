from __future__ import annotations

import itertools

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from ..services.push import ChangeRequest, PushRequest
from ..tree import HASH_RE, are_hashes, is_hash

MAX_MESSAGE_LENGTH = 10_000
MAX_HASHES_PER_REQUEST = 100_000  # POST /api/get_objects
MAX_PUSH_FRAGMENTS = 1_000_000  # entries of a push's `sizes`
ERRORS_SHOWN = 5  # bad elements reported per field
MAX_COMMENT_LENGTH = 10 * 1024


def _hash(**kwargs):
    return fields.String(validate=validate.Regexp(HASH_RE, error="must be a SHA-256 hex digest"), **kwargs)


class StrictBoolean(fields.Boolean):
    """JSON true or false only: marshmallow's Boolean also takes "yes", "true", 1 and 0."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class HashList(fields.Field):
    """A list of SHA-256 digests. Its length is checked before its elements, and only the first
    few bad elements are reported, so a million-element body costs one pass and a small answer."""

    json_schema = {"type": "array", "maxItems": MAX_HASHES_PER_REQUEST,
                   "items": {"type": "string", "pattern": HASH_RE.pattern}}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise ValidationError("Not a valid list.")
        if len(value) > MAX_HASHES_PER_REQUEST:
            raise ValidationError(f"At most {MAX_HASHES_PER_REQUEST} hashes per request, not {len(value)}.")
        bad = list(itertools.islice((i for i, h in enumerate(value) if not is_hash(h)), ERRORS_SHOWN))
        if bad:
            raise ValidationError({i: ["must be a SHA-256 hex digest"] for i in bad})
        return value


class SizeMap(fields.Field):
    """`sizes`: SHA-256 digest -> size in bytes, checked like HashList (length first, first errors only)."""

    json_schema = {"type": "object", "maxProperties": MAX_PUSH_FRAGMENTS,
                   "propertyNames": {"pattern": HASH_RE.pattern},
                   "additionalProperties": {"type": "integer", "minimum": 0}}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("Not a valid mapping type.")
        if len(value) > MAX_PUSH_FRAGMENTS:
            raise ValidationError(f"At most {MAX_PUSH_FRAGMENTS} fragments per push, not {len(value)}.")
        bad_keys = [] if are_hashes(list(value)) else list(
            itertools.islice((k for k in value if not is_hash(k)), ERRORS_SHOWN))
        if bad_keys:
            raise ValidationError(f"not SHA-256 hex digests: {[k[:80] for k in bad_keys]}")
        bad_sizes = [] if _all_sizes(value.values()) else list(
            itertools.islice((k for k, v in value.items() if not _is_size(v)), ERRORS_SHOWN))
        if bad_sizes:
            raise ValidationError({k: ["must be a whole number of bytes, at least 0"] for k in bad_sizes})
        return value


def _all_sizes(values) -> bool:
    """`all(map(_is_size, values))` in C, for the 100,000 sizes of a push (a bool is not an int here)."""
    return set(map(type, values)) <= {int} and min(values, default=0) >= 0


def _is_size(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class PushSchema(Schema):
    """The push body (protocol.md 9.2) plus our optional `message`."""

    class Meta:
        unknown = RAISE

    dry_run = StrictBoolean(load_default=False)
    is_public = StrictBoolean(load_default=None)
    is_team = StrictBoolean(load_default=False)
    public = StrictBoolean(load_default=None)  # deprecated alias of is_public
    description = fields.String(required=True)
    contents = fields.Dict(required=True)
    sizes = SizeMap(required=True)
    message = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=MAX_MESSAGE_LENGTH))

    @post_load
    def _request(self, data, **_):
        is_public = data["is_public"] if data["is_public"] is not None else bool(data["public"])
        return PushRequest(contents=data["contents"], sizes=data["sizes"], dry_run=data["dry_run"],
                           is_public=is_public, is_team=data["is_team"], message=data["message"])


class ChangeMap(fields.Field):
    """`changes`: path below the root ("/"-joined child names) -> the node to put there, or null
    to remove what is there. Nodes are checked as trees when they are applied (tree.apply_changes)."""

    json_schema = {"type": "object", "maxProperties": MAX_PUSH_FRAGMENTS,
                   "additionalProperties": {"type": ["object", "null"]}}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("Not a valid mapping type.")
        if len(value) > MAX_PUSH_FRAGMENTS:
            raise ValidationError(f"At most {MAX_PUSH_FRAGMENTS} changes per push, not {len(value)}.")
        bad = list(itertools.islice((k for k, v in value.items() if v is not None and not isinstance(v, dict)),
                                    ERRORS_SHOWN))
        if bad:
            raise ValidationError({k[:80]: ["must be a node (an object) or null"] for k in bad})
        return value


class ChangeSchema(Schema):
    """A push as its changes to an instance of the package (PUT /api/v2/package/O/N/HASH)."""

    class Meta:
        unknown = RAISE

    base = _hash(required=True)
    changes = ChangeMap(required=True)
    sizes = SizeMap(required=True)
    is_public = StrictBoolean(load_default=False)
    is_team = StrictBoolean(load_default=False)
    message = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=MAX_MESSAGE_LENGTH))

    @post_load
    def _request(self, data, **_):
        return ChangeRequest(**data)


class HashListSchema(Schema):
    """`POST /api/get_objects` takes a bare JSON array of hashes."""

    hashes = HashList(required=True)

    @staticmethod
    def body_json_schema() -> dict:
        return HashList.json_schema


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


class InstallArgs(Schema):
    """The query of an install (read by services.packages.parse_subpath and parse_meta_only)."""

    subpath = fields.String(metadata={"description": "only this subtree: node names joined by `/`"})
    meta_only = fields.String(metadata={"description": "`true`: only the fragments of metadata nodes"})


class RecentArgs(Schema):
    # Any text: what is not a whole number means the default, as in the original.
    count = fields.String(metadata={"description": "how many, a whole number (default 10, at most 100)"})
