"""Court isolation under random court trees and routings: a court never reads, lists, downloads,
joins or receives anything about a request its court may not see — over HTTP, socket.io and video.

Hypothesis draws scenarios from the real court directory: a requesting basic court, a target region
anywhere in the country (so the supervising court is an intermediate court, a high court or the
Supreme People's Court), and observers of random roles at the courts on the request, above them, beside
them and anywhere else. The expected answer comes from an oracle written here from the rules in
`command_center.identity.visibility` (it walks the superior links itself): command staff see a request
when their court is or is above the requesting, target or supervising court; anyone else when their
court is one of those three. The request then lives through the API on a real node (submitted, filed,
a message, a document, a video consultation) while every observer is connected to `/live`.

`CC_ISOLATION_EXAMPLES` sets how many scenarios run (4 by default).
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import httpx
import hypothesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st

from assistance.cases.identities import make_case_number, make_credit_code, make_resident_id
from command_center.courts.directory import CourtDirectory
from command_center.courts.enums import CourtLevel
from realtime.client import LiveClient
from tests.realtime.conftest import Account, all_published, open_account
from tests.security.seeding import add_message_and_material

EXAMPLES = int(os.environ.get("CC_ISOLATION_EXAMPLES", "4"))
ROLES = ("command_staff", "clerk", "officer", "token")
VIEWS = ("incoming", "outgoing", "supervised")
_serial = itertools.count(1)


@dataclass(frozen=True)
class Scenario:
    requester: str
    target_region: str
    observers: tuple[tuple[str, str], ...]  # (court code, role)


def lineage(directory: CourtDirectory, code: str) -> list[str]:
    """The court and its superiors up to the Supreme People's Court, by the superior links."""
    chain = []
    entry = directory.get(code)
    while entry is not None:
        chain.append(entry.code)
        entry = directory.get(entry.superior_code) if entry.superior_code else None
    return chain


def may_see(directory: CourtDirectory, court: str, role: str, parties: set[str]) -> bool:
    if role == "command_staff":
        return any(court in lineage(directory, party) for party in parties)
    return court in parties


def scenarios(directory: CourtDirectory) -> st.SearchStrategy[Scenario]:
    basic = sorted(
        e.code
        for e in directory.by_level(CourtLevel.basic)
        if e.active and e.code == e.region_code and not e.code.endswith("00")
    )
    everyone = sorted(e.code for e in directory)

    @st.composite
    def build(draw: st.DrawFn) -> Scenario:
        requester = draw(st.sampled_from(basic))
        target = draw(st.sampled_from(basic).filter(lambda c: c != requester))
        near = sorted(set(lineage(directory, requester)) | set(lineage(directory, target)))
        superior = directory.get(requester).superior_code
        siblings = sorted(c.code for c in directory.children(superior)) if superior else everyone
        court = st.one_of(st.sampled_from(near), st.sampled_from(siblings), st.sampled_from(everyone))
        observers = draw(
            st.lists(st.tuples(court, st.sampled_from(ROLES)), min_size=3, max_size=5, unique=True)
        )
        return Scenario(requester, target, tuple(observers))

    return build()


def draw_scenarios(directory: CourtDirectory) -> list[Scenario]:
    found: list[Scenario] = []

    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(scenario=scenarios(directory))
    def collect(scenario: Scenario) -> None:
        found.append(scenario)

    collect()
    return found


def about(client: LiveClient, rid: int) -> list[Any]:
    """Everything the client received that concerns request `rid`."""
    durable = [
        e
        for events in client.log.values()
        for e in events
        if e.room == f"request:{rid}"
        or (isinstance(e.data, dict) and rid in (e.data.get("id"), e.data.get("request_id")))
    ]
    ephemeral = [
        (name, body)
        for name, body in client.ephemeral
        if isinstance(body, dict) and (body.get("request_id") == rid or body.get("room") == f"request:{rid}")
    ]
    return durable + ephemeral


@dataclass
class Observer(Account):
    """A user signed in to a court (session cookie and CSRF token), or a court system's API token."""

    def http(self, node: Any) -> httpx.AsyncClient:
        if self.token:
            return httpx.AsyncClient(base_url=node.url, headers={"Authorization": f"Bearer {self.token}"})
        headers = {"Cookie": f"cc_session={self.cookie}", "X-CSRF-Token": self.csrf or ""}
        return httpx.AsyncClient(base_url=node.url, headers=headers)

    def live(self, node: Any) -> LiveClient:
        return LiveClient(node.url, cookie=self.cookie, token=self.token, reconnect=False)


async def open_observer(node: Any, role: str, court: str) -> Observer:
    account = await open_account(node.services.db, node.services.settings, role, court)
    return Observer(**asdict(account))


async def submit(node: Any, directory: CourtDirectory, scenario: Scenario) -> dict[str, Any]:
    """The request's life through the API: submitted, filed, a message, a document, a video session."""
    n = next(_serial)
    court = directory.get(scenario.requester)
    system = await open_observer(node, "token", scenario.requester)
    async with system.http(node) as http:
        case = await http.post(
            "/api/v1/cases",
            json={
                "case_number": make_case_number(court.case_prefix, 2026, 5000 + n),
                "category": "wages",
                "applicant": {
                    "name": "王五",
                    "kind": "person",
                    "id_number": make_resident_id(scenario.requester, date(1982, 5, 6), n),
                },
                "respondents": [
                    {
                        "name": "某建筑公司",
                        "kind": "organization",
                        "id_number": make_credit_code(scenario.target_region, n),
                    }
                ],
                "amount_claimed": 3_000_000,
                "filed_on": "2026-03-02",
            },
        )
        assert case.status_code == 201, case.text
        created = await http.post(
            "/api/v1/assistance-requests",
            json={
                "case_id": case.json()["id"],
                "matter_type": "investigate_property",
                "subject_id": case.json()["respondents"][0]["id"],
                "location": {"region_code": scenario.target_region, "address": "某路1号"},
                "description": "查询被执行人名下存款",
                "materials": ["commission_letter", "judgment"],
            },
        )
        assert created.status_code == 201, created.text
        request = created.json()
        rid = request["id"]
        attachment = await add_message_and_material(http, rid, "请协助查询")
    target_system = await open_observer(node, "token", request["target_court"]["code"])
    async with target_system.http(node) as http:
        filed = await http.post(
            f"/api/v1/assistance-requests/{rid}/file", json={"version": request["version"]}
        )
        assert filed.status_code == 200, filed.text
    host = await open_observer(node, "command_staff", scenario.requester)
    async with host.http(node) as http:
        video = await http.post("/api/v1/video-sessions", json={"topic": f"会商 {rid}", "request_id": rid})
        assert video.status_code == 201, video.text
    return {
        "id": rid,
        "case_number": case.json()["case_number"],
        "attachment": attachment["id"],
        "video": video.json()["id"],
        "video_courts": {scenario.requester},  # the host's; every court that joins is added
        "parties": {
            request["requesting_court"]["code"],
            request["target_court"]["code"],
            request["supervising_court"]["code"],
        },
    }


async def http_findings(
    node: Any, account: Observer, request: dict[str, Any], visible: bool, sees_video: bool
) -> list[str]:
    """What the account could learn of the request over HTTP, against what it may."""
    rid, wrong = request["id"], []
    base = f"/api/v1/assistance-requests/{rid}"
    async with account.http(node) as http:
        for path in (base, base + "/messages", base + "/timeline", base + "/attachments"):
            status = (await http.get(path)).status_code
            if status != (200 if visible else 404):
                wrong.append(f"GET {path} -> {status}")
        download = await http.get(f"{base}/attachments/{request['attachment']}")
        if (download.status_code == 200) != visible or (not visible and download.status_code != 404):
            wrong.append(f"download -> {download.status_code}")
        listed, exported = set(), set()
        for view in VIEWS:
            page = await http.get(
                "/api/v1/assistance-requests", params={"view": view, "q": request["case_number"]}
            )
            assert page.status_code == 200, page.text
            listed |= {item["id"] for item in page.json()["items"]}
            export = await http.get(
                "/api/v1/assistance-requests/export.csv", params={"view": view, "q": request["case_number"]}
            )
            assert export.status_code == 200, export.text
            rows = csv.DictReader(io.StringIO(export.text.lstrip("\ufeff")))
            exported |= {int(row["id"]) for row in rows}
        if (rid in listed) != visible:
            wrong.append(f"listed: {rid in listed}")
        if (rid in exported) != visible:
            wrong.append(f"exported: {rid in exported}")
        session = f"/api/v1/video-sessions/{request['video']}"
        shown, joined = await http.get(session), await http.post(session + "/join")
        if account.kind == "token":
            # Court systems do not take part in consultations: refused, whether the session is visible or not.
            refused = {shown.status_code, joined.status_code} <= {403, 404}
            if not refused or f"会商 {rid}" in shown.text + joined.text:
                wrong.append(f"video for a court system -> {shown.status_code}/{joined.status_code}")
        elif sees_video:
            if shown.status_code != 200:
                wrong.append(f"GET video -> {shown.status_code}")
            if joined.status_code != (200 if account.role == "command_staff" else 403):
                wrong.append(f"join video -> {joined.status_code}")
            if joined.status_code == 200:
                request["video_courts"].add(account.court)
        elif shown.status_code != 404 or joined.status_code != 404:
            wrong.append(f"video -> {shown.status_code}/{joined.status_code} (expected 404)")
    return wrong


async def test_no_court_learns_of_a_request_it_may_not_see(
    start_node: Any, commit_events: Any, live_db: Any, clients: list
) -> None:
    node = await start_node("a")
    directory = node.services.directory
    drawn = draw_scenarios(directory)
    assert len(drawn) == EXAMPLES
    findings: list[str] = []
    checked = {True: 0, False: 0}
    for scenario in drawn:
        accounts = [
            (court, role, await open_observer(node, role, court)) for court, role in scenario.observers
        ]
        watchers = []
        for _, _, account in accounts:
            client = account.live(node)
            clients.append(client)
            await client.connect()
            watchers.append(client)

        request = await submit(node, directory, scenario)
        rid = request["id"]
        # A sentinel behind everything in each watcher's court room: once it is there, so is all before it.
        await commit_events(
            sorted({f"court:{court}" for court, _ in scenario.observers}), 1, name="test:sentinel"
        )
        await all_published(live_db)
        for client in watchers:
            await client.wait_for(
                lambda c=client: any(e.name == "test:sentinel" for es in c.log.values() for e in es)
            )

        for (court, role, account), client in zip(accounts, watchers, strict=True):
            visible = may_see(directory, court, account.role, request["parties"])
            # A consultation has its own rule: the scopes holding its host's or a participant's court.
            sees_video = may_see(directory, court, account.role, request["video_courts"])
            checked[visible] += 1
            label = f"{role}@{court} on request {rid} {sorted(request['parties'])} (may see: {visible})"
            findings += [
                f"{label}: {w}" for w in await http_findings(node, account, request, visible, sees_video)
            ]
            joined = await client.join(f"request:{rid}")
            if joined["ok"] != visible:
                findings.append(f"{label}: join request room -> {joined}")
            if not visible:
                heard = about(client, rid)
                if heard:
                    findings.append(f"{label}: received {heard[:3]}")
                if (await client.join(f"subtree:{court}"))["ok"] and role != "command_staff":
                    findings.append(f"{label}: joined subtree:{court}")
        for client in watchers:
            await client.close()

    assert not findings, "\n".join(findings)
    assert checked[True] and checked[False], checked  # both sides of the rule were exercised
