"""The `court` table and the court directory's read schemas."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import Field as SchemaField
from sqlmodel import Field, SQLModel

from command_center.api import PageQuery, Schema
from command_center.courts.enums import CourtLevel
from command_center.db import UtcDateTime, utcnow


class Court(SQLModel, table=True):
    """A people's court; its code is the GB/T 2260 code of the division it serves ("000000": the SPC)."""

    __tablename__ = "court"
    __table_args__ = (
        sa.CheckConstraint("level IN ('supreme', 'high', 'intermediate', 'basic')", name="level"),
    )

    code: str = Field(primary_key=True, max_length=6)
    name: str = Field(max_length=64)
    level: CourtLevel = Field(
        sa_type=sa.Enum(CourtLevel, native_enum=False, length=16, name="court_level"),
    )
    region_code: str = Field(max_length=6)
    superior_code: str | None = Field(default=None, foreign_key="court.code", max_length=6, index=True)
    case_prefix: str = Field(max_length=16, unique=True)
    province: str | None = Field(default=None, max_length=32)
    # Courts are never deleted (cases and requests point at them); a court whose division left the
    # dataset is marked inactive and no longer receives requests.
    active: bool = Field(default=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime())


class CourtRead(Schema):
    code: str = SchemaField(description="court code: the GB/T 2260 region code it serves; 000000 is the SPC")
    name: str = SchemaField(description="Chinese name, e.g. 杭州市西湖区人民法院")
    level: CourtLevel
    superior_code: str | None = SchemaField(description="the superior court; null only for the SPC")
    case_prefix: str = SchemaField(description="case-number court abbreviation, e.g. 浙0106")


class CourtListQuery(PageQuery):
    q: str | None = SchemaField(
        None,
        min_length=1,
        max_length=64,
        description="part of the Chinese name, or the start of a code or case prefix",
    )
    level: CourtLevel | None = None
    region: str | None = SchemaField(
        None, pattern=r"^[0-9]{2,6}$", description="region code prefix, e.g. 33 (浙江) or 3301 (杭州)"
    )


class RoutingPreviewQuery(Schema):
    from_court: str | None = SchemaField(
        None,
        alias="from",
        max_length=16,
        description="requesting court's code; default: the caller's court",
    )
    region: str = SchemaField(
        max_length=16, description="6-digit GB/T 2260 region code of the place where the work is to be done"
    )


class RoutingPreviewRead(Schema):
    target: CourtRead = SchemaField(description="the court with jurisdiction over the location")
    supervisor: CourtRead = SchemaField(
        description="the lowest court above the target that is the requester or one of its superiors"
    )
