"""Routing decisions per second, against bare dict lookups over the same inputs in the same run.

The directory is generated from the dataset in memory (no database): routing never queries one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from command_center.courts.dataset import generate_courts
from command_center.courts.directory import CourtDirectory
from command_center.courts.enums import CourtLevel
from command_center.courts.routing import route

DECISIONS = 200_000
ROUNDS = 5


def _inputs(directory: CourtDirectory, count: int) -> list[tuple[str, str]]:
    """Random (requesting court, location) pairs: basic courts asking for work at county locations."""
    rng = random.Random(2260)
    basic = [entry.code for entry in directory.by_level(CourtLevel.basic)]
    requesters = basic + [entry.code for entry in directory.by_level(CourtLevel.intermediate)]
    pairs = []
    while len(pairs) < count:
        requester, region = rng.choice(requesters), rng.choice(basic)
        if requester != region:
            pairs.append((requester, region))
    return pairs


def _best_rate(run: Callable[[], None], count: int) -> float:
    """The best of ROUNDS timings, as operations per second."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return count / best


def main() -> None:
    directory = CourtDirectory(generate_courts())
    pairs = _inputs(directory, DECISIONS)
    table = {entry.code: entry for entry in directory}

    def bare_lookups() -> None:
        get = table.get
        for requester, region in pairs:
            get(requester)
            get(region)

    def decisions() -> None:
        for requester, region in pairs:
            route(directory, from_court=requester, region_code=region)

    baseline = _best_rate(bare_lookups, len(pairs))
    routing = _best_rate(decisions, len(pairs))
    print(f"routing: {routing:,.0f} decisions/s; {routing / baseline:.2f}x of bare dict lookups")


if __name__ == "__main__":
    main()
