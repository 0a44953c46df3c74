"""Query parameters of `/api/audit/...`: bounded and filterable (protocol.md 14.3, 14.15)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, post_load, validate

from ..services.audit import DEFAULT_LIMIT, EVENT_TYPES, MAX_LIMIT, AuditFilter


# 9999-12-31: later timestamps do not fit a datetime.
MAX_EPOCH = 253_402_300_799


class AuditQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))
    since = fields.Float(load_default=None, validate=validate.Range(min=0, max=MAX_EPOCH))
    until = fields.Float(load_default=None, validate=validate.Range(min=0, max=MAX_EPOCH))
    type = fields.String(load_default=None, validate=validate.OneOf(EVENT_TYPES))

    @post_load
    def _filter(self, data, **_):
        return AuditFilter(**data)
