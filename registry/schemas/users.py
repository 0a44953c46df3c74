"""Bodies of the `/api/users/*` admin endpoints: exactly the listed keys (protocol.md 9.13)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields


class UsernameSchema(Schema):
    """disable, enable, grant_admin, revoke_admin, reset_password, delete."""

    class Meta:
        unknown = RAISE

    username = fields.String(required=True)


class CreateUserSchema(UsernameSchema):
    # Only types here: the username and e-mail rules live in services.users, for the CLI too.
    email = fields.String(required=True)


class RefreshForm(Schema):
    """`POST /api/token`'s form: a login code or a refresh token, in `refresh_token`."""

    refresh_token = fields.String(required=True)
