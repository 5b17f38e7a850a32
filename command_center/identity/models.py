"""Users, their browser sessions, failed sign-ins and court systems' API tokens; and their read schemas."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import Field as SchemaField
from sqlmodel import Field, SQLModel

from command_center.api import PageQuery, Schema
from command_center.db import UtcDateTime, utcnow
from command_center.identity.principal import Role


def _timestamp(*, nullable: bool = False, index: bool = False) -> sa.Column:
    return sa.Column(UtcDateTime(), nullable=nullable, index=index)


class User(SQLModel, table=True):
    """A person who signs in: one court, one role."""

    __tablename__ = "user"

    id: int | None = Field(default=None, primary_key=True)
    # Stored lowercased, so the unique index makes usernames unique regardless of case.
    username: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    display_name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    role: Role = Field(
        sa_column=sa.Column(sa.Enum(Role, name="user_role", native_enum=False, length=20), nullable=False)
    )
    court_code: str = Field(
        sa_column=sa.Column(sa.String(6), sa.ForeignKey("court.code"), nullable=False, index=True)
    )
    password_hash: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    active: bool = Field(default=True, sa_column=sa.Column(sa.Boolean, nullable=False, default=True))
    # Demo users exist for trying the system out; production refuses to start while any exist.
    is_demo: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, default=False))
    # The TOTP secret (RFC 6238), encrypted with a key derived from CC_SECRET_KEY; set when enrollment
    # starts, in force once `totp_enabled_at` is set (the user confirmed it with a code).
    totp_secret: str | None = Field(default=None, sa_column=sa.Column(sa.String(255), nullable=True))
    totp_enabled_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # The last time step whose code was accepted: a code of that step or an earlier one is a replay.
    totp_last_step: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class LoginSession(SQLModel, table=True):
    """A browser session; the cookie holds a random token, the server only its SHA-256."""

    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("user.id"), nullable=False, index=True)
    )
    token_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    csrf_token: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    expires_at: datetime = Field(sa_column=_timestamp())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    revoked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    ip: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    user_agent: str | None = Field(default=None, sa_column=sa.Column(sa.String(400), nullable=True))
    # A user whose role requires a second factor but who has none gets a session that may only set one up.
    setup_only: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, default=False))


class RecoveryCode(SQLModel, table=True):
    """A one-time code that replaces a TOTP code once; only its keyed hash (HMAC-SHA-256) is stored."""

    __tablename__ = "recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("user.id"), nullable=False, index=True)
    )
    code_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    used_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class LoginFailure(SQLModel, table=True):
    """One failed sign-in; counted per account and per address to throttle guessing across app nodes."""

    __tablename__ = "login_failure"
    __table_args__ = (
        sa.Index("ix_login_failure_username_at", "username", "at"),
        sa.Index("ix_login_failure_ip_at", "ip", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    ip: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class ApiToken(SQLModel, table=True):
    """A court system's bearer token (`cct_<id>_<secret>`); only the secret's SHA-256 is stored."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    court_code: str = Field(
        sa_column=sa.Column(sa.String(6), sa.ForeignKey("court.code"), nullable=False, index=True)
    )
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    token_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    created_by: int | None = Field(
        default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("user.id"), nullable=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    last_used_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


# --- schemas -------------------------------------------------------------------------------------


class SignInBody(Schema):
    username: str = SchemaField(min_length=1, max_length=200)
    password: str = SchemaField(min_length=1, max_length=1024)


class CourtSummary(Schema):
    code: str
    name: str
    level: str


class MeRead(Schema):
    id: int = SchemaField(description="user id, or API token id for a court system")
    kind: str = SchemaField(description='"user" or "token"')
    username: str = SchemaField(description="username, or the token's name")
    display_name: str
    role: Role
    court: CourtSummary
    auth: str = SchemaField(description='"session" (browser cookie) or "token" (Authorization: Bearer)')


class SignedIn(Schema):
    user: MeRead
    csrf_token: str = SchemaField(
        description="send as the X-CSRF-Token header on every POST/PUT/PATCH/DELETE"
    )
    second_factor_setup_required: bool = SchemaField(
        False,
        description="true: the role requires two-factor sign-in and the user has none yet; this session may "
        "only set it up (/api/v1/second-factor/enrollment), every other operation answers 403",
    )


class SecondFactorChallenge(Schema):
    second_factor_required: bool = SchemaField(True, description="always true: send a code to finish")
    challenge: str = SchemaField(description="send with the code to POST /api/v1/session/second-factor")
    expires_in: int = SchemaField(description="seconds the challenge stays valid")
    methods: list[str] = SchemaField(description='"totp" (authenticator app) and "recovery_code"')


class SecondFactorBody(Schema):
    challenge: str = SchemaField(min_length=1, max_length=1000)
    code: str | None = SchemaField(
        None, max_length=20, description="the 6-digit code of the authenticator app"
    )
    recovery_code: str | None = SchemaField(None, max_length=40, description="one unused recovery code")


class SecondFactorStatus(Schema):
    enrolled: bool
    required: bool = SchemaField(description="whether the user's role requires two-factor sign-in")
    enrolled_at: datetime | None
    recovery_codes_left: int


class EnrollmentStarted(Schema):
    secret: str = SchemaField(description="base32 TOTP secret (30 s steps, 6 digits, SHA-1), to type in")
    otpauth_uri: str = SchemaField(description="otpauth:// URI for authenticator apps (also as a QR code)")
    qr_code_url: str = SchemaField(description="an SVG image of the QR code, for this session only")


class EnrollmentConfirm(Schema):
    code: str = SchemaField(min_length=1, max_length=20, description="the app's current 6-digit code")


class EnrollmentConfirmed(Schema):
    recovery_codes: list[str] = SchemaField(
        description="one-time codes for when the phone is lost; shown once"
    )


class ApiTokenCreate(Schema):
    name: str = SchemaField(min_length=1, max_length=100, description="which court system uses it")
    court_code: str | None = SchemaField(None, description="default: the caller's court")


class ApiTokenRead(Schema):
    id: int
    court_code: str
    name: str
    created_by: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreated(Schema):
    token: ApiTokenRead
    secret: str = SchemaField(description="the bearer token; shown once, store it now")


class ApiTokenQuery(PageQuery):
    court_code: str | None = SchemaField(None, description="default: the caller's court")
