"""Bodies of the Transfers v2 endpoints (services.uploads)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from ..services.uploads import MAX_FRAGMENT_BYTES, MAX_PARTS
from .packages import SizeMap, _hash


class StrictInteger(fields.Integer):
    """A JSON integer only (marshmallow's Integer also takes "12", 12.0 and true)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class PlanSchema(Schema):
    class Meta:
        unknown = RAISE

    fragments = SizeMap(required=True)  # every fragment of the push: SHA-256 -> size


class StartMultipartSchema(Schema):
    class Meta:
        unknown = RAISE

    hash = _hash(required=True)
    size = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_FRAGMENT_BYTES))
    checksums = fields.List(fields.String(validate=validate.Length(max=64)), required=True,
                            validate=validate.Length(min=1, max=MAX_PARTS))


class PartNumbersSchema(Schema):
    class Meta:
        unknown = RAISE

    parts = fields.List(StrictInteger(validate=validate.Range(min=1, max=MAX_PARTS)), required=True,
                        validate=validate.Length(min=1, max=MAX_PARTS))


def part_numbers(body) -> list[int]:
    numbers = PartNumbersSchema().load(body)["parts"]
    if len(set(numbers)) != len(numbers):
        raise ValidationError({"parts": ["each part at most once"]})
    return numbers


class ImportSchema(Schema):
    class Meta:
        unknown = RAISE

    source = fields.String(required=True, validate=validate.Length(max=2100))  # s3://BUCKET/KEY[?versionId=V]
