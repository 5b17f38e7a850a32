"""Users, their browser sessions, failed sign-ins and court systems' API tokens; and their read schemas."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import Field as SchemaField
from sqlmodel import Field, SQLModel

from command_center.api import PageQuery, Schema
from command_center.db import utcnow
from command_center.identity.principal import Role


def _timestamp(*, nullable: bool = False, index: bool = False) -> sa.Column:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)


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
    # Reserved for TOTP second factor; unused until MFA is enabled.
    totp_secret: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
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
