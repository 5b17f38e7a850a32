"""Enforcement cases (执行案件) and their parties."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from assistance.enums import CaseCategory, CasePriority, CaseStatus, PartyKind, PartyRole
from command_center.db import UtcDateTime, enum_type, utcnow


class EnforcementCase(SQLModel, table=True):
    """A case being enforced by its filing court. Amounts are integer fen."""

    __tablename__ = "enforcement_case"
    __table_args__ = (
        sa.Index("ix_enforcement_case_court_filed", "court_code", "filed_on"),
        # The case list pages by (court scope, newest first).
        sa.Index("ix_enforcement_case_court_id", "court_code", "id"),
        sa.Index("ix_enforcement_case_category_filed", "category", "filed_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_number: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    court_code: str = Field(sa_column=sa.Column(sa.String(6), sa.ForeignKey("court.code"), nullable=False))
    category: CaseCategory = Field(
        sa_column=sa.Column(enum_type(CaseCategory, "case_category"), nullable=False)
    )
    status: CaseStatus = Field(
        default=CaseStatus.open, sa_column=sa.Column(enum_type(CaseStatus, "case_status"), nullable=False)
    )
    priority: CasePriority = Field(
        default=CasePriority.normal,
        sa_column=sa.Column(enum_type(CasePriority, "case_priority"), nullable=False),
    )
    amount_claimed: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    amount_recovered: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, default=0))
    officer_id: int | None = Field(
        default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("user.id"), nullable=True)
    )
    filed_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    created_by: str = Field(sa_column=sa.Column(sa.String(80), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UtcDateTime()))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UtcDateTime()))
    version: int = Field(default=1, sa_column=sa.Column(sa.Integer, nullable=False, default=1))


class CaseParty(SQLModel, table=True):
    """An applicant or respondent. The ID number is stored in full here and masked everywhere else."""

    __tablename__ = "case_party"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("enforcement_case.id"), nullable=False, index=True)
    )
    role: PartyRole = Field(sa_column=sa.Column(enum_type(PartyRole, "party_role"), nullable=False))
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    kind: PartyKind = Field(sa_column=sa.Column(enum_type(PartyKind, "party_kind"), nullable=False))
    # 18-digit resident ID (GB 11643) or unified social credit code (GB 32100).
    id_number: str = Field(sa_column=sa.Column(sa.String(18), nullable=False))
