"""The demo data set of enforcement cases and assistance requests (seeded, so it repeats itself).

Rows are bulk-inserted in batches with the shapes the services write: each request's deadlines follow
its history through the lifecycle (`lifecycle.TRANSITIONS`, `deadlines.implied_pending_kinds`), and every
case and every step of a request's history has its audit entry, appended to the hash chain in order.
Outbox events are not written: they announce live changes, and the demo history is not live.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.cases.identities import (
    make_case_number,
    random_credit_code,
    random_organization_name,
    random_person_name,
    random_resident_id,
)
from assistance.cases.models import CaseParty, EnforcementCase
from assistance.cases.service import CASE_CLOCK_MONTHS, CASE_CLOCK_RULE
from assistance.enums import (
    LIVELIHOOD_CATEGORIES,
    CaseCategory,
    CasePriority,
    CaseStatus,
    DeadlineKind,
    DeadlineState,
    MatterType,
    PartyKind,
    PartyRole,
    RejectReason,
    RequestStatus,
    Urgency,
)
from assistance.requests import deadlines as clocks
from assistance.requests.lifecycle import TRANSITIONS
from assistance.requests.materials import MATTERS
from assistance.requests.models import AssistanceRequest, Deadline
from command_center.audit import service as audit
from command_center.audit.models import AuditEntry
from command_center.calendar import LegalCalendar, add_months
from command_center.courts.directory import CourtDirectory
from command_center.courts.enums import CourtLevel
from command_center.courts.routing import route
from command_center.masking import jsonable, mask_data

SHANGHAI = ZoneInfo("Asia/Shanghai")
BATCH = 2000
S = RequestStatus
K = DeadlineKind

# The courts of the demo users, and the other Hangzhou district courts, get a large share of the data.
DEMO_COURTS = ("330106", "330105", "110105", "440106")
HANGZHOU_PREFIX = "3301"

# Share of each final state among the requests (every state is present even at a small scale).
STATE_WEIGHTS: dict[RequestStatus, int] = {
    S.routed: 14,
    S.filed: 14,
    S.in_progress: 20,
    S.awaiting_supplement: 8,
    S.completed: 28,
    S.rejected: 6,
    S.withdrawn: 10,
}
# About 35 % livelihood cases (涉民生案件).
CATEGORY_WEIGHTS: dict[CaseCategory, int] = {
    CaseCategory.wages: 15,
    CaseCategory.alimony_support: 6,
    CaseCategory.medical_malpractice: 4,
    CaseCategory.work_injury: 10,
    CaseCategory.commercial: 25,
    CaseCategory.loan: 30,
    CaseCategory.other: 10,
}
# Amounts in fen: (low, high) yuan per category.
AMOUNTS: dict[CaseCategory, tuple[int, int]] = {
    CaseCategory.wages: (3_000, 120_000),
    CaseCategory.alimony_support: (2_000, 60_000),
    CaseCategory.medical_malpractice: (20_000, 800_000),
    CaseCategory.work_injury: (30_000, 600_000),
    CaseCategory.commercial: (50_000, 20_000_000),
    CaseCategory.loan: (10_000, 5_000_000),
    CaseCategory.other: (5_000, 1_000_000),
}
ADDRESSES = ("人民路{n}号", "解放路{n}号", "建设大道{n}号", "中山路{n}号", "文化路{n}号", "工业园区{n}号厂房")


@dataclass
class DemoCasesResult:
    """What the demo generator wrote."""

    cases: int = 0
    requests: int = 0
    deadlines: int = 0
    audit_entries: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        states = ", ".join(f"{k} {v}" for k, v in sorted(self.by_status.items()))
        return (
            f"{self.cases} cases, {self.requests} assistance requests ({states}), {self.deadlines} deadlines, "
            f"{self.audit_entries} audit entries in {self.seconds:.1f} s"
        )


def _instant(day: date, rng: random.Random) -> datetime:
    """A working-hours instant on `day` (Shanghai), in UTC."""
    local = datetime.combine(
        day, dtime(8 + rng.randrange(10), rng.randrange(60), rng.randrange(60)), SHANGHAI
    )
    return local.astimezone(UTC)


def _weighted(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class _Audit:
    """Appends entries to the chain in memory and writes them in batches (same hashes as `audit.record`)."""

    def __init__(self, seq: int, head: str) -> None:
        self.seq, self.head, self.rows = seq, head, []
        self.written = 0

    def add(
        self,
        *,
        at: datetime,
        actor: str,
        court: str,
        action: str,
        subject_type: str,
        subject_id: int,
        details: dict[str, Any],
    ) -> None:
        self.seq += 1
        entry = AuditEntry(
            seq=self.seq,
            at=at,
            actor=actor,
            actor_court=court,
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            outcome="success",
            details=mask_data(jsonable(details)),
            prev_hash=self.head,
            hash="",
        )
        entry.hash = audit.chain_hash(entry)
        self.head = entry.hash
        self.rows.append(
            {
                c: getattr(entry, c)
                for c in (
                    "seq",
                    "at",
                    "actor",
                    "actor_court",
                    "action",
                    "subject_type",
                    "subject_id",
                    "outcome",
                    "details",
                    "prev_hash",
                    "hash",
                )
            }
        )

    async def flush(self, session: AsyncSession) -> None:
        # Chain order is seq order: batches go in the order they were hashed.
        for start in range(0, len(self.rows), BATCH):
            await session.execute(sa.insert(AuditEntry.__table__), self.rows[start : start + BATCH])
        self.written += len(self.rows)
        self.rows = []


async def _insert_returning_ids(
    session: AsyncSession, table: sa.Table, rows: list[dict[str, Any]]
) -> list[int]:
    ids: list[int] = []
    for start in range(0, len(rows), BATCH):
        result = await session.execute(
            sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows[start : start + BATCH]
        )
        ids += [row[0] for row in result]
    return ids


def _pick_courts(directory: CourtDirectory) -> tuple[list[str], list[str]]:
    basic = [c.code for c in directory.by_level(CourtLevel.basic) if c.active]
    hangzhou = [c for c in basic if c.startswith(HANGZHOU_PREFIX)]
    return basic, hangzhou


def _history(
    rng: random.Random, final: RequestStatus, routed_on: date, today: date
) -> list[tuple[str, date]]:
    """The actions (with their days) that take a routed request to `final`, none after `today`."""
    span = (today - routed_on).days

    def day(lo: int, hi: int, after: date) -> date:
        d = after + timedelta(days=rng.randint(lo, max(lo, hi)))
        return min(d, today)

    steps: list[tuple[str, date]] = []
    current = routed_on
    # A few requests went through a supplement round first.
    if final not in (S.routed, S.awaiting_supplement) and span > 20 and rng.random() < 0.12:
        asked = day(1, 5, current)
        steps += [("request_supplement", asked), ("supplement", day(2, 10, asked))]
        current = steps[-1][1]
    path: dict[RequestStatus, list[str]] = {
        S.routed: [],
        S.filed: ["file"],
        S.in_progress: ["file", "start"],
        S.completed: ["file", "start", "complete"],
        S.awaiting_supplement: rng.choice([[], ["file"], ["file", "start"]]) + ["request_supplement"],
        S.rejected: rng.choice([[], ["file"]]) + ["reject"],
        S.withdrawn: rng.choice([[], ["file"], ["file", "start"], ["reject"]]) + ["withdraw"],
    }
    gaps = {
        "file": (0, 6),
        "start": (1, 8),
        "complete": (3, 20),
        "request_supplement": (0, 5),
        "reject": (0, 5),
        "withdraw": (1, 10),
    }
    for action in path[final]:
        lo, hi = gaps[action]
        # Some are late: a file or start after its clock ran out.
        if action in ("file", "start") and rng.random() < 0.08:
            hi += 10
        current = day(lo, hi, current)
        steps.append((action, current))
    return steps


async def load_demo_cases(
    session: AsyncSession,
    *,
    directory: CourtDirectory,
    calendar: LegalCalendar,
    cases: int = 20_000,
    requests: int = 5_000,
    seed: int = 2026,
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoCasesResult:
    """Adds `cases` enforcement cases and `requests` assistance requests with their histories, deadlines and
    audit entries (flushes, never commits)."""
    started = time.perf_counter()
    rng = random.Random(seed)
    today = today or datetime.now(SHANGHAI).date()
    say = progress or (lambda _line: None)
    result = DemoCasesResult()
    basic, hangzhou = _pick_courts(directory)
    demo_focus = [c for c in DEMO_COURTS if c in directory] + hangzhou
    head_seq, head_hash = await audit._lock_head(session)
    chain = _Audit(head_seq, head_hash)

    # --- cases -------------------------------------------------------------------------------------------
    case_rows: list[dict[str, Any]] = []
    party_plan: list[list[dict[str, Any]]] = []
    serials: dict[tuple[str, int], int] = {}
    existing = set((await session.execute(sa.select(EnforcementCase.case_number))).scalars())
    for _ in range(cases):
        r = rng.random()
        if r < 0.18:
            court = rng.choice(DEMO_COURTS[:2])
        elif r < 0.28:
            court = rng.choice(demo_focus)
        else:
            court = rng.choice(basic)
        entry = directory.require(court)
        filed_on = today - timedelta(days=rng.randrange(548))
        key = (court, filed_on.year)
        while True:
            serials[key] = serials.get(key, 0) + 1 + rng.randrange(3)
            number = make_case_number(entry.case_prefix, filed_on.year, serials[key])
            if number not in existing:
                break
        category = _weighted(rng, CATEGORY_WEIGHTS)
        lo, hi = AMOUNTS[category]
        amount = rng.randint(lo, hi) * 100 + rng.choice((0, 0, 0, rng.randrange(100)))
        created = _instant(filed_on, rng)
        case_rows.append(
            {
                "case_number": number,
                "court_code": court,
                "category": category,
                # Most cases past their six-month clock are concluded; a few remain open and overdue.
                "status": CaseStatus.open
                if filed_on > today - timedelta(days=170) or rng.random() < 0.12
                else CaseStatus.concluded,
                "priority": CasePriority.high if category in LIVELIHOOD_CATEGORIES else CasePriority.normal,
                "amount_claimed": amount,
                "amount_recovered": 0,
                "officer_id": None,
                "filed_on": filed_on,
                "created_by": "system:demo",
                "created_at": created,
                "updated_at": created,
                "version": 1,
            }
        )
        region = court
        livelihood = category in LIVELIHOOD_CATEGORIES
        parties = [_party(rng, PartyRole.applicant, region, person=livelihood or rng.random() < 0.5)]
        # Livelihood cases: usually an employer (wages, work injury) or a person (support) as respondent.
        person_respondent = category in (CaseCategory.alimony_support,) or rng.random() < 0.45
        parties += [
            _party(rng, PartyRole.respondent, _elsewhere(rng, basic, court), person=person_respondent)
            for _ in range(1 + (rng.random() < 0.25))
        ]
        party_plan.append(parties)
    case_ids = await _insert_returning_ids(session, EnforcementCase.__table__, case_rows)
    say(f"  demo: {len(case_ids)} cases written")

    party_rows: list[dict[str, Any]] = []
    for case_id, parties in zip(case_ids, party_plan, strict=True):
        for p in parties:
            party_rows.append({**p, "case_id": case_id})
    party_ids = await _insert_returning_ids(session, CaseParty.__table__, party_rows)
    respondents_of: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for pid, row in zip(party_ids, party_rows, strict=True):
        if row["role"] == PartyRole.respondent:
            respondents_of.setdefault(row["case_id"], []).append((pid, row))

    deadline_rows: list[dict[str, Any]] = []
    for case_id, row in zip(case_ids, case_rows, strict=True):
        period = add_months(calendar, row["filed_on"], CASE_CLOCK_MONTHS)
        closed = row["status"] != CaseStatus.open
        deadline_rows.append(
            {
                "subject_type": "case",
                "subject_id": case_id,
                "kind": K.case,
                "started_on": row["filed_on"],
                "due_on": period.deadline,
                "ends_at": period.ends_at.astimezone(UTC),
                "provisional": period.provisional,
                "rule": f"{CASE_CLOCK_RULE}; {period.rule}",
                "state": (DeadlineState.met if closed else DeadlineState.pending),
                "version": 1,
                "created_at": row["created_at"],
                "closed_at": (row["created_at"] + timedelta(days=150) if closed else None),
            }
        )
        chain.add(
            at=row["created_at"],
            actor="system:demo",
            court=row["court_code"],
            action="case.created",
            subject_type="case",
            subject_id=case_id,
            details={
                "id": case_id,
                "case_number": row["case_number"],
                "court": row["court_code"],
                "category": row["category"].value,
                "livelihood": row["category"] in LIVELIHOOD_CATEGORIES,
                "amount_claimed": row["amount_claimed"],
                "filed_on": row["filed_on"],
                "respondents": len(respondents_of.get(case_id, [])),
            },
        )
    await chain.flush(session)
    say(f"  demo: {len(party_ids)} parties, case clocks and audit entries written")

    # --- requests ----------------------------------------------------------------------------------------
    open_cases = [
        (cid, row) for cid, row in zip(case_ids, case_rows, strict=True) if row["status"] == CaseStatus.open
    ]
    by_court: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for cid, row in open_cases:
        by_court.setdefault(row["court_code"], []).append((cid, row))
    focus_with_cases = [c for c in demo_focus if by_court.get(c)]
    zhejiang = [c for c in basic if c.startswith("33")]
    zhejiang_cases = [(cid, row) for cid, row in open_cases if row["court_code"].startswith("33")]
    states = list(STATE_WEIGHTS)
    plans: list[dict[str, Any]] = []
    for i in range(requests):
        final = states[i] if i < len(states) else _weighted(rng, STATE_WEIGHTS)
        r = rng.random()
        if r < 0.3 and focus_with_cases:
            # Outgoing from a demo court, often within its own province (the high court supervises).
            cid, case = rng.choice(by_court[rng.choice(focus_with_cases)])
            pool = zhejiang if case["court_code"].startswith("33") and rng.random() < 0.5 else basic
            region = _elsewhere(rng, pool, case["court_code"])
        elif r < 0.6:
            # Incoming to a demo court, often from a court of the same province.
            region = rng.choice(demo_focus)
            near = (
                [c for c in zhejiang_cases if c[1]["court_code"] != region] if region.startswith("33") else []
            )
            cid, case = rng.choice(near if near and rng.random() < 0.5 else open_cases)
        else:
            cid, case = rng.choice(open_cases)
            region = _elsewhere(rng, basic, case["court_code"])
        if region == case["court_code"]:
            region = _elsewhere(rng, basic, case["court_code"])
        decision = route(directory, from_court=case["court_code"], region_code=region)
        earliest = max(case["filed_on"], today - timedelta(days=240))
        # Open requests are recent (some beyond their clocks); closed ones spread over the months.
        if final in (S.routed, S.filed, S.in_progress, S.awaiting_supplement):
            # Most open requests are within their clocks; about one in six is overdue.
            window = (
                60 if rng.random() < 0.15 else {S.routed: 7, S.filed: 14, S.in_progress: 28}.get(final, 25)
            )
        else:
            window = 240
        routed_on = max(earliest, today - timedelta(days=rng.randrange(window)))
        matter = rng.choice(list(MatterType))
        subject_id, subject = rng.choice(respondents_of[cid])
        if subject["kind"] == PartyKind.organization and matter in (
            MatterType.locate_person,
            MatterType.control_person,
        ):
            matter = MatterType.freeze_deposits
        freeze_expires = (
            routed_on + timedelta(days=rng.randint(10, 200)) if MATTERS[matter].renews_freeze else None
        )
        urgent = rng.random() < 0.15 or (
            freeze_expires is not None and freeze_expires < routed_on + timedelta(days=31)
        )
        created = _instant(routed_on, rng)
        plans.append(
            {
                "final": final,
                "case_id": cid,
                "case": case,
                "subject": subject,
                "history": _history(rng, final, routed_on, today),
                "row": {
                    "case_id": cid,
                    "requesting_court": case["court_code"],
                    "target_court": decision.target.code,
                    "supervising_court": decision.supervisor.code,
                    "matter_type": matter,
                    "subject_id": subject_id,
                    "region_code": region,
                    "address": f"{directory.require(region).name.removesuffix('人民法院')}"
                    f"{rng.choice(ADDRESSES).format(n=rng.randint(1, 999))}",
                    "urgency": Urgency.urgent if urgent else Urgency.normal,
                    "description": f"请协助{MATTERS[matter].names.zh}：被执行人{subject['name']}，案号{case['case_number']}。",
                    "materials": list(MATTERS[matter].required),
                    "current_freeze_expires_on": freeze_expires,
                    "status": final,
                    "status_before_supplement": None,
                    "version": 1,
                    "created_by": "system:demo",
                    "created_at": created,
                    "updated_at": created,
                    "routed_on": routed_on,
                    "closed_at": None,
                },
            }
        )
    for plan in plans:
        _apply_history(rng, plan)
    request_ids = await _insert_returning_ids(session, AssistanceRequest.__table__, [p["row"] for p in plans])
    say(f"  demo: {len(request_ids)} assistance requests written")

    for rid, plan in zip(request_ids, plans, strict=True):
        deadline_rows += _deadlines_and_audit(calendar, chain, rid, plan)
        result.by_status[plan["final"].value] = result.by_status.get(plan["final"].value, 0) + 1
    for start in range(0, len(deadline_rows), BATCH):
        await session.execute(sa.insert(Deadline.__table__), deadline_rows[start : start + BATCH])
    await chain.flush(session)
    await session.execute(
        sa.update(audit._HEAD).where(audit._HEAD.c.id == audit.HEAD_ID).values(seq=chain.seq, hash=chain.head)
    )
    await session.flush()
    result.cases, result.requests = len(case_ids), len(request_ids)
    result.deadlines, result.audit_entries = len(deadline_rows), chain.written
    result.seconds = time.perf_counter() - started
    say(f"  demo: deadlines and history written ({result.summary()})")
    return result


def _party(rng: random.Random, role: PartyRole, region: str, *, person: bool) -> dict[str, Any]:
    if person:
        return {
            "role": role,
            "kind": PartyKind.person,
            "name": random_person_name(rng),
            "id_number": random_resident_id(rng, region=region),
        }
    return {
        "role": role,
        "kind": PartyKind.organization,
        "name": random_organization_name(
            rng,
            place=rng.choice(
                ("杭州", "北京", "广州", "深圳", "上海", "南京", "成都", "武汉", "宁波", "温州")
            ),
        ),
        "id_number": random_credit_code(rng, region=region),
    }


def _elsewhere(rng: random.Random, basic: Sequence[str], court: str) -> str:
    while True:
        code = rng.choice(basic)
        if code != court:
            return code


_ACTORS = {"target": "target_court", "requester": "requesting_court", "supervisor": "supervising_court"}


def _apply_history(rng: random.Random, plan: dict[str, Any]) -> None:
    """Sets the request's final fields (version, reasons, results) from its history."""
    row = plan["row"]
    status = S.routed
    for action, day in plan["history"]:
        t = TRANSITIONS[action]
        if action == "request_supplement":
            row["status_before_supplement"] = status
            row["supplement_missing"] = "请补充提交被执行人财产线索材料及送达地址确认书。"
        if action == "supplement":
            row["supplement_answer"] = "已补充提交财产线索材料。"
            status = row["status_before_supplement"] or S.routed
            row["status_before_supplement"] = None
        else:
            status = t.to  # type: ignore[assignment]
        if action == "reject":
            row["reject_reason"] = rng.choice(list(RejectReason))
            row["reject_note"] = "经审查，不符合协助执行条件。"
        if action == "withdraw":
            row["withdraw_reason"] = "申请执行人与被执行人已达成和解。"
        if action == "complete":
            row["result_text"] = rng.choice(
                (
                    "已冻结被执行人银行存款。",
                    "已查询被执行人名下财产并反馈。",
                    "已送达相关法律文书。",
                    "已查封被执行人名下不动产。",
                )
            )
            row["result_attachment_ids"] = []
        row["version"] += 1
        row["updated_at"] = _instant(day, rng)
        if status in (S.completed, S.withdrawn):
            row["closed_at"] = row["updated_at"]
    assert status == plan["final"], (status, plan["final"])
    row.setdefault("supplement_missing", None)
    row.setdefault("supplement_answer", None)
    row.setdefault("reject_reason", None)
    row.setdefault("reject_note", None)
    row.setdefault("withdraw_reason", None)
    row.setdefault("result_text", None)
    row.setdefault("result_attachment_ids", None)


def _deadlines_and_audit(
    calendar: LegalCalendar, chain: _Audit, rid: int, plan: dict[str, Any]
) -> list[dict]:
    """Replays the history as `apply_status_change` would, returning the request's deadline rows."""
    row, rng = plan["row"], random.Random(rid)
    created = row["created_at"]
    pending: dict[DeadlineKind, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []

    def open_(kinds: Sequence[DeadlineKind], start: date, at: datetime) -> None:
        for kind in sorted(kinds):
            d = clocks.new_deadline(calendar, subject_id=rid, kind=kind, start=start)
            rec = {
                "subject_type": d.subject_type,
                "subject_id": rid,
                "kind": kind,
                "started_on": start,
                "due_on": d.due_on,
                "ends_at": d.ends_at,
                "provisional": d.provisional,
                "rule": d.rule,
                "state": DeadlineState.pending,
                "version": 1,
                "created_at": at,
                "closed_at": None,
            }
            pending[kind] = rec
            rows.append(rec)

    open_(clocks.implied_pending_kinds(S.routed), row["routed_on"], created)
    chain.add(
        at=created,
        actor="system:demo",
        court=row["requesting_court"],
        action="assistance.submitted",
        subject_type="assistance_request",
        subject_id=rid,
        details={
            "case_id": row["case_id"],
            "case_number": plan["case"]["case_number"],
            "matter_type": row["matter_type"],
            "urgency": row["urgency"],
            "auto_urgent": False,
            "region_code": row["region_code"],
            "routed": {
                "status": S.routed,
                "target_court": row["target_court"],
                "supervising_court": row["supervising_court"],
                "routed_on": row["routed_on"],
            },
        },
    )
    status, before, version = S.routed, None, 1
    for action, day in plan["history"]:
        t = TRANSITIONS[action]
        at = _instant(day, rng)
        if at < created:
            at = created + timedelta(minutes=5)
        if action == "request_supplement":
            before, new = status, S.awaiting_supplement
        elif action == "supplement":
            new, before = before or S.routed, None
        else:
            new = t.to  # type: ignore[assignment]
        implied = clocks.implied_pending_kinds(new)
        for kind in list(pending):
            if kind not in implied:
                rec = pending.pop(kind)
                # A clock that ran out before the act was marked missed by the deadline sweep.
                if rec["ends_at"] < at:
                    rec["state"] = DeadlineState.missed
                    rec["closed_at"] = rec["ends_at"] + timedelta(minutes=3)
                else:
                    rec["state"] = DeadlineState.met if kind in t.meets else DeadlineState.cancelled
                    rec["closed_at"] = at
                rec["version"] = 2
        if t.starts_clocks:
            open_([k for k in implied if k not in pending], day, at)
        version += 1
        status = new
        actor_court = row[_ACTORS[t.party.value]]
        chain.add(
            at=at,
            actor="system:demo",
            court=actor_court,
            action=f"assistance.{t.past_tense}",
            subject_type="assistance_request",
            subject_id=rid,
            details={
                "action": action,
                "status": status,
                "version": version,
            },
        )
    return rows


async def load_demo_cases_into(
    db: Any,
    *,
    cases: int = 20_000,
    requests: int = 5_000,
    seed: int = 2026,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Loads the demo cases and requests in one unit of work of `db`; returns the summary line."""
    from command_center.calendar.service import load_calendar
    from command_center.courts.directory import load_directory

    say = progress or (lambda _line: None)
    say(f"loading the demo data set ({cases} cases, {requests} assistance requests)…")
    async with db.unit_of_work() as session:
        directory = await load_directory(session)
        calendar = await load_calendar(session)
        result = await load_demo_cases(
            session,
            directory=directory,
            calendar=calendar,
            cases=cases,
            requests=requests,
            seed=seed,
            progress=say,
        )
    return f"demo data set loaded: {result.summary()}"
