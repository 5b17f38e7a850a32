"""Deadline jobs: a deferred arq job at each pending deadline's end, and one at its reminder time.

The database holds every deadline; Redis only holds the nudges, and may lose them all (the
reconciler rebuilds them from SQL). A job's id names the deadline, its version and its purpose
(`deadline:17:v1:due`), so enqueueing it twice is a no-op and a job for a moved deadline (a newer
version) is stale and does nothing. Each job opens its own unit of work and hands the deadline's id
and version to `assistance.escalations.firing`, which locks the rows, compares the version, never
fires before the deadline's end, and records the firing under a unique constraint — a job that runs
twice, or alongside the reconciler's copy, changes nothing the second time.

Jobs are `async def job(ctx, deadline_id, version)`; `ctx["clock"]` (a callable returning an aware
datetime) replaces the wall clock in tests.

Queues: a job scheduled ahead of its time waits on the worker's queue. A due job the reconciler restores
for a deadline that has already ended goes on the backlog queue (`backlog_queue`) instead, served by its
own worker (scheduler.worker): arq starts jobs oldest score first, so on one queue a large backlog of
overdue deadlines (after downtime, or a freshly loaded data set) would hold up every job enqueued after
it, such as a campaign dispatch or a reminder that is due now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.worker import Retry, func
from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError

from assistance.escalations.enums import FiringPurpose
from assistance.escalations.firing import FiringOutcome, FiringPolicy
from assistance.escalations.missed import escalate_if_overdue
from assistance.escalations.reminders import remind_if_pending, reminder_at
from command_center.calendar import LegalCalendar
from command_center.db import as_utc, utcnow
from command_center.settings import Settings

log = logging.getLogger(__name__)

BACKLOG_QUEUE_SUFFIX = ":deadline-backlog"
DUE_FUNCTION = "deadline_due"
REMINDER_FUNCTION = "deadline_reminder"
# arq's own limit on one run; the job bounds itself by `Settings.deadline_job_timeout_seconds` first.
ARQ_TIMEOUT_SECONDS = 300
# Reference data (calendar, court directory) is reloaded this often, so a newly loaded holiday year
# reaches the worker without a restart.
POLICY_TTL_SECONDS = 300.0

# Enqueueing is two Lua scripts, each one round trip for a whole batch. `_MISSING` names the jobs that
# are neither queued nor running; `_ADD` adds those (checking again, atomically). Most sweeps find
# every job already queued and never build or send a payload.
#
# Unlike arq's `enqueue_job`, a result key does not block an id: deadline jobs keep no result, so a
# result is arq's record of a run that failed, expired or ran out of tries, and running the
# (idempotent) job again is what the deadline needs; the stale result is removed.
#
# For a job that is running, a positive lease caps arq's in-progress lock at that many ms: a deadline
# job cuts the lock to its own lease as it starts, so a lock still longer than that belongs to a job
# whose worker died between taking the lock and starting the job; it is released soon, not hours later.

# Batches travel as one string each (redis-py encodes every argument in Python, which would cost more
# than Redis's work): ids separated by newlines, and jobs packed with Redis Lua's `struct` library.

# ARGV: job key prefix, in-progress key prefix, lease ms, the job ids ("\n"-separated).
# Returns the 1-based positions of the missing ones.
_MISSING = """
local missing = {}
local lease = tonumber(ARGV[3])
local position = 0
for id in string.gmatch(ARGV[4], '[^\\n]+') do
  position = position + 1
  if redis.call('EXISTS', ARGV[1] .. id) == 0 then
    missing[#missing + 1] = position
  elseif lease > 0 then
    local lock = ARGV[2] .. id
    if redis.call('PTTL', lock) > lease then
      redis.call('PEXPIRE', lock, lease)
    end
  end
end
return missing
"""
# KEYS[1]: the queue; ARGV: job key prefix, result key prefix, now ms, key lifetime after the job's
# time in ms, the jobs: (id length >H, id, score ms >d, payload length >H, payload)*.
_ADD = """
local now = tonumber(ARGV[3])
local extra = tonumber(ARGV[4])
local jobs = ARGV[5]
local members = {}
local at = 1
while at <= #jobs do
  local id_length, score, payload_length, id, payload
  id_length, at = struct.unpack('>H', jobs, at)
  id = string.sub(jobs, at, at + id_length - 1)
  score, payload_length, at = struct.unpack('>dH', jobs, at + id_length)
  payload = string.sub(jobs, at, at + payload_length - 1)
  at = at + payload_length
  if redis.call('SET', ARGV[1] .. id, payload, 'PX', math.max(score - now, 0) + extra, 'NX') then
    redis.call('DEL', ARGV[2] .. id)
    members[#members + 1] = score
    members[#members + 1] = id
  end
end
-- One ZADD per 500 jobs rather than one per job (unpack's stack is limited).
for first = 1, #members, 1000 do
  redis.call('ZADD', KEYS[1], unpack(members, first, math.min(first + 999, #members)))
end
return #members / 2
"""
# A job's key outlives its start time by a day (arq's default), so a worker that was down for less
# than that still finds it; later than that, the reconciler enqueues a fresh one.
JOB_KEY_EXTRA_MS = 86_400_000
_HEAD = struct.Struct(">H")
_SCORE_AND_LENGTH = struct.Struct(">dH")


class DeadlineTimes(Protocol):
    """What scheduling needs from a deadline (a `Deadline` or a row of the same columns)."""

    id: Any
    version: int
    started_on: date
    due_on: date
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """One deferred arq job: which function, for which deadline and version, when."""

    job_id: str
    function: str
    deadline_id: int
    version: int
    run_at: datetime


def backlog_queue(queue_name: str) -> str:
    """The queue of the restored due jobs of deadlines that have already ended (module docstring)."""
    return queue_name + BACKLOG_QUEUE_SUFFIX


def job_id(deadline_id: int, version: int, purpose: FiringPurpose | str) -> str:
    """`deadline:{id}:v{version}:{purpose}`, e.g. `deadline:17:v1:due`."""
    return f"deadline:{deadline_id}:v{version}:{FiringPurpose(purpose).value}"


def due_job(deadline_id: int, version: int, ends_at: datetime) -> ScheduledJob:
    """The job that fires the deadline at its end."""
    # The id spelled out (job_id's format): the sweep builds thousands of these.
    return ScheduledJob(
        f"deadline:{deadline_id}:v{version}:due",
        DUE_FUNCTION,
        deadline_id,
        version,
        as_utc(ends_at),
    )


def deadline_jobs(
    deadline: DeadlineTimes, *, calendar: LegalCalendar, lead_working_days: int, now: datetime
) -> list[ScheduledJob]:
    """The due job of a pending deadline and, while it has not ended, its reminder job (if the period is
    long enough to have a reminder time)."""
    ends_at = as_utc(deadline.ends_at)
    jobs = [due_job(deadline.id, deadline.version, ends_at)]
    if now < ends_at:
        remind_at = reminder_at(
            calendar,
            started_on=deadline.started_on,
            due_on=deadline.due_on,
            lead_working_days=lead_working_days,
        )
        if remind_at is not None:
            jobs.append(
                ScheduledJob(
                    job_id(deadline.id, deadline.version, FiringPurpose.reminder),
                    REMINDER_FUNCTION,
                    deadline.id,
                    deadline.version,
                    remind_at,
                )
            )
    return jobs


async def missing_jobs(redis: Redis, job_ids: Sequence[str], *, lease_seconds: float = 0) -> list[int]:
    """The positions (0-based) of the ids that name no queued or running job; with `lease_seconds`,
    caps the in-progress lock of those running (see `_MISSING`). One round trip."""
    if not job_ids:
        return []
    args = [job_key_prefix, in_progress_key_prefix, int(lease_seconds * 1000), "\n".join(job_ids)]
    return [position - 1 for position in await redis.register_script(_MISSING)(args=args)]


async def add_jobs(redis: Redis, jobs: Sequence[ScheduledJob], *, queue_name: str) -> int:
    """Puts each job on the queue at its time unless a job with its id is queued or running (checked
    again, atomically); returns how many were added. One round trip."""
    if not jobs:
        return 0
    now_ms = int(time.time() * 1000)
    packed = bytearray()
    for job in jobs:
        job_id_bytes = job.job_id.encode()
        payload = serialize_job(job.function, (job.deadline_id, job.version), {}, None, now_ms)
        packed += _HEAD.pack(len(job_id_bytes))
        packed += job_id_bytes
        packed += _SCORE_AND_LENGTH.pack(int(job.run_at.timestamp() * 1000), len(payload))
        packed += payload
    args = [job_key_prefix, result_key_prefix, now_ms, JOB_KEY_EXTRA_MS, bytes(packed)]
    return int(await redis.register_script(_ADD)(keys=[queue_name], args=args))


async def enqueue_jobs(
    redis: Redis, jobs: Sequence[ScheduledJob], *, queue_name: str, lease_seconds: float = 0
) -> int:
    """Puts each job on the queue at its time unless a job with its id is queued or running; returns
    how many were added (`missing_jobs`, then `add_jobs` for those)."""
    positions = await missing_jobs(redis, [job.job_id for job in jobs], lease_seconds=lease_seconds)
    return await add_jobs(redis, [jobs[i] for i in positions], queue_name=queue_name)


async def schedule_deadlines(
    redis: Redis,
    deadlines: Iterable[DeadlineTimes],
    *,
    queue_name: str,
    calendar: LegalCalendar,
    lead_working_days: int = 1,
    now: datetime | None = None,
) -> int:
    """Enqueues the due and reminder jobs of each pending deadline (no-op for jobs already there);
    returns how many jobs were added. Call it after the unit of work that opened them committed."""
    now = as_utc(now or utcnow())
    jobs = [
        job
        for deadline in deadlines
        for job in deadline_jobs(deadline, calendar=calendar, lead_working_days=lead_working_days, now=now)
    ]
    return await enqueue_jobs(redis, jobs, queue_name=queue_name)


# --- the jobs ----------------------------------------------------------------------------------------


def clock(ctx: dict[str, Any]) -> datetime:
    """The job's `now`: `ctx["clock"]()` when a test set one, else the wall clock (UTC)."""
    source: Callable[[], datetime] = ctx.get("clock") or utcnow
    return as_utc(source())


async def firing_policy(ctx: dict[str, Any]) -> FiringPolicy:
    """The calendar, court directory and settings the jobs use: from `ctx` when a test put them there,
    else loaded from the database and cached in `ctx` for POLICY_TTL_SECONDS."""
    settings = ctx["settings"]
    if "calendar" in ctx and "directory" in ctx:
        calendar, directory = ctx["calendar"], ctx["directory"]
    else:
        cached = ctx.get("deadline_reference")
        if cached is None or time.monotonic() - cached[0] > POLICY_TTL_SECONDS:
            from command_center.calendar.service import load_calendar
            from command_center.courts.directory import load_directory

            async with ctx["db"].unit_of_work(read_only=True) as session:
                cached = (time.monotonic(), await load_calendar(session), await load_directory(session))
            ctx["deadline_reference"] = cached
        _, calendar, directory = cached
    return FiringPolicy(
        calendar=calendar,
        directory=directory,
        reminder_lead_working_days=settings.reminder_lead_working_days,
        supervision_order_working_days=settings.supervision_order_working_days,
    )


Act = Callable[..., Any]
_sqlite_writers: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


def writer_turn(ctx: dict[str, Any]) -> contextlib.AbstractAsyncContextManager[Any]:
    """On SQLite, the jobs of one worker write one at a time.

    SQLite has a single writer. Jobs waiting for it inside SQLite's busy handler sleep in growing steps
    (up to 100 ms each), so ten concurrent jobs turn a 10 ms write into seconds of waiting; queueing
    them on an asyncio lock instead hands the database over as soon as it is free. (Other processes,
    such as the web app, still queue in the busy handler.) PostgreSQL needs no turn.
    """
    if not ctx["settings"].is_sqlite:
        return contextlib.nullcontext()
    db = ctx["db"]
    lock = _sqlite_writers.get(db)
    if lock is None:
        lock = _sqlite_writers[db] = asyncio.Lock()
    return lock


def lease_seconds(job_timeout_seconds: float) -> float:
    """How long a deadline job's in-progress lock lasts: its timeout and a margin for arq's bookkeeping."""
    return job_timeout_seconds + 10


async def _run(ctx: dict[str, Any], act: Act, deadline_id: int, version: int) -> str:
    limit = ctx["settings"].deadline_job_timeout_seconds
    if "job_id" in ctx:
        # arq's lease on a running job lasts as long as its slowest job's timeout; a deadline job is
        # bounded by `limit`, so the lease is cut to match and a job abandoned by a killed worker is
        # taken up by another worker soon after, not minutes later.
        await ctx["redis"].pexpire(in_progress_key_prefix + ctx["job_id"], int(lease_seconds(limit) * 1000))
    try:
        async with asyncio.timeout(limit):
            policy = await firing_policy(ctx)
            now = clock(ctx)
            async with writer_turn(ctx), ctx["db"].unit_of_work() as session:
                outcome: FiringOutcome = await act(
                    session, deadline_id=deadline_id, version=version, now=now, policy=policy
                )
    except (DBAPIError, OSError, TimeoutError) as exc:
        if "job_try" not in ctx:
            raise
        # A lock wait, a dropped connection or a busy SQLite file: the unit of work rolled back and
        # nothing was written, so the same job simply runs again.
        delay = min(2 ** ctx["job_try"], 30)
        log.warning(
            "deadline %s v%s: %s; retrying in %ss", deadline_id, version, exc.__class__.__name__, delay
        )
        raise Retry(defer=delay) from exc
    if outcome is FiringOutcome.fired:
        log.info("deadline %s v%s: %s fired", deadline_id, version, act.__name__)
    return outcome.value


async def deadline_due(ctx: dict[str, Any], deadline_id: int, version: int) -> str:
    """At a deadline's end: marks it missed and opens its escalation (see `escalate_if_overdue`) unless
    it was met, moved or already fired; returns the outcome."""
    return await _run(ctx, escalate_if_overdue, deadline_id, version)


async def deadline_reminder(ctx: dict[str, Any], deadline_id: int, version: int) -> str:
    """At a deadline's reminder time: sends `deadline:reminder` to the court that must act, once, unless
    the deadline was met, moved or has ended; returns the outcome."""
    return await _run(ctx, remind_if_pending, deadline_id, version)


# keep_result=0: no result key, so the reconciler may enqueue the same id again once a run has ended.
FUNCTIONS = [
    func(deadline_due, name=DUE_FUNCTION, keep_result=0, timeout=ARQ_TIMEOUT_SECONDS),
    func(deadline_reminder, name=REMINDER_FUNCTION, keep_result=0, timeout=ARQ_TIMEOUT_SECONDS),
]


def register(options: dict[str, Any], settings: Settings) -> None:
    """Adds the deadline jobs to a worker's options (scheduler.worker.build_worker)."""
    options["functions"] = [*options.get("functions", []), *FUNCTIONS]
