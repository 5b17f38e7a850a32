"""Supervision order jobs: a cron sweep that chases the open orders (督办) whose own deadline has passed.

Orders are few (one per missed start) and their deadline is a whole day (24:00 Asia/Shanghai), so a
sweep every `reconcile_interval_seconds` is precise enough and needs no job per order. Each order is
chased in its own unit of work by `assistance.escalations.supervision.chase_if_overdue`, which locks the
rows and sets `overdue_at` once: a sweep that overlaps another, or runs twice, changes nothing more.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from arq import cron
from arq.cron import CronJob

from assistance.escalations.supervision import chase_if_overdue, overdue_order_ids
from command_center.settings import Settings
from scheduler.deadlines import clock, firing_policy, writer_turn
from scheduler.reconciler import every

log = logging.getLogger(__name__)

# Orders chased per sweep; the next sweep takes the rest.
CHASE_BATCH_SIZE = 100


async def chase_supervision_orders(ctx: dict[str, Any]) -> dict[str, int]:
    """Chases each open supervision order whose deadline has passed (up to CHASE_BATCH_SIZE); returns
    how many ended in each outcome."""
    policy = await firing_policy(ctx)
    now = clock(ctx)
    async with ctx["db"].unit_of_work(read_only=True) as session:
        order_ids = await overdue_order_ids(session, now=now, limit=CHASE_BATCH_SIZE)
    outcomes: Counter[str] = Counter()
    for order_id in order_ids:
        async with writer_turn(ctx), ctx["db"].unit_of_work() as session:
            outcome = await chase_if_overdue(session, order_id=order_id, now=now, policy=policy)
        outcomes[outcome.value] += 1
    if order_ids:
        log.info("supervision orders chased: %s", dict(outcomes))
    return dict(outcomes)


def cron_jobs(settings: Settings) -> list[CronJob]:
    """The sweep, every `reconcile_interval_seconds` and once when a worker starts."""
    return [
        cron(
            chase_supervision_orders,
            name="chase_supervision_orders",
            run_at_startup=True,
            unique=True,
            timeout=120,
            **every(settings.reconcile_interval_seconds),
        )
    ]


def register(options: dict[str, Any], settings: Settings) -> None:
    """Adds the sweep to a worker's options (scheduler.worker.build_worker)."""
    options["cron_jobs"] = [*options.get("cron_jobs", []), *cron_jobs(settings)]
