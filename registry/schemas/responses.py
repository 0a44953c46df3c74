"""What the API answers: one schema per response body. The API dumps service results through
these (registry.api.contract.dumped) and the OpenAPI document (registry.api.openapi) is built
from them, so what is documented is what is sent.

Field order is the wire order the quilt client has always received. Timestamps are float
epoch seconds unless a field says otherwise (a few are ISO strings, as in the original).

The bulk answers (an install's `urls`/`sizes`, a dry run's upload URLs, get_objects) are
written by registry.api.packages' encoder for speed (100,000 entries); their schemas here
describe them and the contract tests check those answers against the document.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from ..db import epoch
from ..tree import HASH_RE

HASH = {"type": "string", "pattern": HASH_RE.pattern.removesuffix(r"\Z") + "$"}


def _hash(**kwargs):
    return fields.String(metadata={"pattern": HASH["pattern"]}, **kwargs)


def _epoch(**kwargs):
    return fields.Float(allow_none=True, metadata={"description": "epoch seconds (UTC)"}, **kwargs)


class Epoch(fields.Field):
    """A datetime (naive UTC, as stored) as float epoch seconds, what the quilt client reads."""

    json_schema = {"type": ["number", "null"], "description": "epoch seconds (UTC)"}

    def _serialize(self, value, attr, obj, **kwargs):
        return epoch(value)


def _iso(**kwargs):
    return fields.String(allow_none=True, metadata={"format": "date-time"}, **kwargs)


class Empty(Schema):
    """`{}`: the action was done."""


class Stamped(Schema):
    """Who made an instance and when, and who last touched it (from an instance's datetimes)."""

    created_by = fields.String(allow_none=True)
    created_at = Epoch()
    updated_by = fields.String(allow_none=True)
    updated_at = Epoch()


class Instance(Stamped):
    """An instance as a tag or a version names it."""

    class Meta:
        fields = ("hash", "created_by", "created_at", "updated_by", "updated_at")

    hash = _hash(required=True)


class TaggedInstance(Instance):
    class Meta:
        fields = ("hash", "created_by", "created_at", "updated_by", "updated_at", "is_public", "is_team")

    is_public = fields.Boolean(required=True)
    is_team = fields.Boolean(required=True)


class TagEntry(Schema):
    tag = fields.String(required=True)
    hash = _hash(required=True)


class TagList(Schema):
    tags = fields.List(fields.Nested(TagEntry), required=True)


class VersionEntry(Schema):
    version = fields.String(required=True)
    hash = _hash(required=True)


class VersionList(Schema):
    versions = fields.List(fields.Nested(VersionEntry), required=True)


class Install(Stamped):
    """`GET /api/package/O/N/H`: the tree, and where each fragment of it can be downloaded."""

    class Meta:
        fields = ("contents", "urls", "sizes", "created_by", "created_at", "updated_by", "updated_at")

    contents = fields.Dict(required=True, metadata={"description": "the package tree (protocol.md 5)"})
    urls = fields.Dict(keys=fields.String(), values=fields.Url(), required=True,
                       metadata={"description": "fragment hash -> download URL, valid for a limited time"})
    sizes = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class UploadUrls(Schema):
    head = fields.Url(required=True)
    put = fields.Url(required=True)


class PushAnswer(Schema):
    """A dry run: where to check and upload each fragment (`upload_urls`). A push: the instance
    (`package_url`, `package_hash`)."""

    upload_urls = fields.Dict(keys=fields.String(), values=fields.Nested(UploadUrls))
    package_url = fields.Url()
    package_hash = _hash()


class InstanceHashes(Schema):
    hashes = fields.List(_hash(), required=True)


class OwnerPackage(Schema):
    name = fields.String(required=True)
    is_public = fields.Boolean(required=True)
    is_team = fields.Boolean(required=True)


class OwnerPackages(Schema):
    packages = fields.List(fields.Nested(OwnerPackage), required=True)


class Preview(Stamped):
    class Meta:
        fields = ("preview", "readme_url", "readme_preview", "created_by", "created_at", "updated_by",
                  "updated_at", "is_public", "is_team", "total_size_uncompressed", "file_types", "log_count")

    preview = fields.List(fields.Raw(), required=True, metadata={"description": "an outline of the tree"})
    readme_url = fields.Url(allow_none=True, required=True)
    readme_preview = fields.String(allow_none=True, required=True)
    is_public = fields.Boolean(required=True)
    is_team = fields.Boolean(required=True)
    total_size_uncompressed = fields.Integer(required=True)
    file_types = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    log_count = fields.Integer(required=True)


class ObjectUrls(Schema):
    urls = fields.Dict(keys=fields.String(), values=fields.Url(), required=True)
    sizes = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class LogEntry(Schema):
    hash = _hash(required=True)
    created = _epoch(required=True)
    author = fields.String(allow_none=True, required=True)
    message = fields.String(allow_none=True, required=True)
    tags = fields.List(fields.String(), allow_none=True, required=True)
    versions = fields.List(fields.String(), allow_none=True, required=True)


class Log(Schema):
    logs = fields.List(fields.Nested(LogEntry), required=True)


class Timeseries(Schema):
    startDate = fields.Integer(required=True)
    endDate = fields.Integer(required=True)
    frequency = fields.String(required=True)
    timeSeries = fields.List(fields.Integer(), required=True)
    total = fields.Integer(required=True)


class Comment(Schema):
    id = fields.String(required=True)
    author = fields.String(required=True)
    created = _epoch(required=True)
    contents = fields.String(required=True)


class CommentList(Schema):
    comments = fields.List(fields.Nested(Comment), required=True)


class CommentAdded(Schema):
    comment = fields.Nested(Comment, required=True)


class AccessList(Schema):
    users = fields.List(fields.String(), required=True)


class PackageSummary(Schema):
    owner = fields.String(required=True)
    name = fields.String(required=True)
    is_public = fields.Boolean(required=True)
    is_team = fields.Boolean(required=True)


class SearchHit(PackageSummary):
    readme_preview = fields.String(allow_none=True, required=True)
    rank = fields.Integer(required=True)


class SearchResults(Schema):
    packages = fields.List(fields.Nested(SearchHit), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class RecentPackage(Schema):
    owner = fields.String(required=True)
    name = fields.String(required=True)
    updated_at = _iso(required=True)


class RecentPackages(Schema):
    packages = fields.List(fields.Nested(RecentPackage), required=True)


class ProfilePackages(Schema):
    own = fields.List(fields.Nested(PackageSummary), required=True)
    shared = fields.List(fields.Nested(PackageSummary), required=True)


class Profile(Schema):
    packages = fields.Nested(ProfilePackages, required=True)
    plan = fields.Raw(allow_none=True, required=True,
                      metadata={"description": "always null (the quilt client reads it)"})
    have_credit_card = fields.Raw(allow_none=True, required=True, metadata={"description": "always null"})
    is_admin = fields.Boolean(required=True)


class TokenPair(Schema):
    refresh_token = fields.String(required=True)
    access_token = fields.String(required=True)
    expires_at = fields.Integer(required=True, metadata={"description": "epoch seconds"})


class AuditEvent(Schema):
    created = _epoch(required=True)
    user = fields.String(allow_none=True, required=True)
    type = fields.String(required=True)
    package_owner = fields.String(allow_none=True, required=True)
    package_name = fields.String(allow_none=True, required=True)
    package_hash = fields.String(allow_none=True, required=True)
    extra = fields.Raw(allow_none=True, required=True)


class AuditEvents(Schema):
    events = fields.List(fields.Nested(AuditEvent), required=True)


class EventCount(Schema):
    count = fields.Integer(required=True)
    latest = _epoch()


class EventCounts(Schema):
    installs = fields.Nested(EventCount, required=True)
    previews = fields.Nested(EventCount, required=True)
    pushes = fields.Nested(EventCount, required=True)
    deletes = fields.Nested(EventCount, required=True)


class AdminPackageSummary(Schema):
    packages = fields.Dict(keys=fields.String(), values=fields.Nested(EventCounts), required=True)


class UserEntry(Schema):
    username = fields.String(required=True)
    email = fields.String(required=True)
    date_joined = _iso(required=True)
    last_login = _iso(required=True)
    is_superuser = fields.Boolean(required=True)
    is_active = fields.Boolean(required=True)


class UserList(Schema):
    results = fields.List(fields.Nested(UserEntry), required=True)


class UserActivity(Schema):
    packages = fields.Integer(required=True)
    installs = fields.Integer(required=True)
    previews = fields.Integer(required=True)
    pushes = fields.Integer(required=True)
    deletes = fields.Integer(required=True)
    status = fields.String(required=True)
    last_seen = _iso(required=True)
    is_admin = fields.Boolean(required=True)


class UserListDetailed(Schema):
    users = fields.Dict(keys=fields.String(), values=fields.Nested(UserActivity), required=True)


class PasswordLink(Schema):
    password_url = fields.Url(required=True)


class SignedUrl(Schema):
    url = fields.Url(required=True)
    headers = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                          metadata={"description": "send these headers with the request, exactly"})
    expires_at = fields.Integer(required=True, metadata={"description": "epoch seconds"})


class PlannedFragment(Schema):
    action = fields.String(required=True, metadata={"enum": ["stored", "single", "multipart"]})
    url = fields.Url(metadata={"description": "single: where to PUT the fragment"})
    headers = fields.Dict(keys=fields.String(), values=fields.String())
    expires_at = fields.Integer()
    part_size = fields.Integer(metadata={"description": "multipart: bytes per part (the last may be shorter)"})
    parts = fields.Integer()


class PushPlan(Schema):
    fragments = fields.Dict(keys=fields.String(), values=fields.Nested(PlannedFragment), required=True)
    multipart_threshold = fields.Integer(required=True)


class PartUrl(SignedUrl):
    class Meta:
        fields = ("number", "url", "headers", "expires_at")

    number = fields.Integer(required=True)


class PartUrls(Schema):
    urls = fields.List(fields.Nested(PartUrl), required=True)


class MultipartUpload(Schema):
    """A multipart upload, or `{"stored": true}` when the fragment needs no upload."""

    stored = fields.Boolean()
    upload = fields.String()
    hash = _hash()
    size = fields.Integer()
    part_size = fields.Integer()
    parts = fields.Integer()
    done = fields.List(fields.Integer(), metadata={"description": "part numbers S3 holds in full"})
    completed = fields.Boolean()
    urls = fields.List(fields.Nested(PartUrl), metadata={"description": "URLs of the first parts still missing"})


class Completed(Schema):
    completed = fields.Boolean(required=True)


class Imported(Schema):
    hash = _hash(required=True)
    size = fields.Integer(required=True)


class Error(Schema):
    """The one error shape (protocol.md 3.4); `errors` details a validation failure."""

    message = fields.String(required=True)
    code = fields.String(required=True)
    status = fields.Integer(required=True)
    errors = fields.Raw(metadata={"description": "per field: what was wrong (validation errors only)"})


def _whole_numbers(name: str, *keys: str) -> type[Schema]:
    """A schema of required integers (the limits' groups: bytes, counts, seconds)."""
    schema = Schema.from_dict({key: fields.Integer(required=True) for key in keys}, name=name)
    schema.__module__ = __name__  # an answer, for the document's schema names
    return schema


BodyLimits = _whole_numbers("BodyLimits", "push_max_bytes", "push_max_values", "other_max_bytes",
                            "other_max_values", "page_form_max_bytes")
PushLimits = _whole_numbers("PushLimits", "max_fragments", "max_tree_bytes", "max_message_chars")
UploadLimits = _whole_numbers("UploadLimits", "max_fragment_bytes", "max_put_bytes", "multipart_threshold_bytes",
                              "min_part_bytes", "max_parts", "part_urls_per_request",
                              "max_open_multipart_uploads", "url_expiry_seconds")


class RateLimits(Schema):
    actions = fields.List(fields.String(), required=True)
    window_seconds = fields.Integer(required=True)
    per_account = fields.Integer(allow_none=True, required=True)
    per_address = fields.Integer(allow_none=True, required=True)


class Limits(Schema):
    """The limits a client must respect (bytes, seconds; null: no limit)."""

    request_body = fields.Nested(BodyLimits, required=True)
    push = fields.Nested(PushLimits, required=True)
    get_objects_max_hashes = fields.Integer(required=True)
    comment_max_chars = fields.Integer(required=True)
    uploads = fields.Nested(UploadLimits, required=True)
    rate_limits = fields.Nested(RateLimits, required=True)


class OpenApiDocument(Schema):
    """The OpenAPI 3.1 document of this API."""
