"""`/api/v1/campaigns` over HTTP, with a real arq worker (burst mode) running the dispatch job."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import sqlalchemy as sa

from assistance.campaigns import reports
from assistance.campaigns.models import CampaignTask
from command_center.audit.service import list_for_subject
from tests.assistance.campaigns.factories import TODAY, insert_cases

BODY = {
    "name": "春节前涉民生案件集中执行",
    "window_start": TODAY.isoformat(),
    "window_end": (TODAY + timedelta(days=20)).isoformat(),
    "criteria": {"livelihood": True, "min_amount": 100_000},
}


async def _cases(test_db, count: int, courts: list[str], **kw) -> list[int]:
    async with test_db.unit_of_work() as s:
        return await insert_cases(s, count=count, courts=courts, **kw)


async def _staff_client(make_user, login, court: str = "330100"):
    return await login(await make_user("command_staff", court))


async def test_command_staff_define_a_campaign_as_a_draft(make_user, login) -> None:
    client = await _staff_client(make_user, login)

    response = await client.post("/api/v1/campaigns", json=BODY)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "draft" and body["creator_court"] == "330100"
    assert body["creator_court_name"] == "杭州市中级人民法院"
    assert body["criteria"]["livelihood"] is True and body["criteria"]["min_amount"] == 100_000
    assert body["progress"] == {
        "campaign_id": body["id"],
        "status": "draft",
        "total": 0,
        "done": 0,
        "percent": 0.0,
        "job_id": None,
        "started_at": None,
        "finished_at": None,
    }


async def test_only_command_staff_may_define_a_campaign(make_user, login, make_token, client) -> None:
    clerk = await login(await make_user("clerk", "330100"))
    assert (await clerk.post("/api/v1/campaigns", json=BODY)).status_code == 403
    token = await make_token("330100")
    response = await client.post("/api/v1/campaigns", json=BODY, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403


async def test_a_court_outside_the_creators_subtree_is_refused_naming_the_field(make_user, login) -> None:
    client = await _staff_client(make_user, login)
    body = {**BODY, "criteria": {"livelihood": True, "court_codes": ["330106", "330203"]}}

    response = await client.post("/api/v1/campaigns", json=body)

    assert response.status_code == 403
    assert response.json()["error"]["details"][0]["field"] == "criteria.court_codes.1"


async def test_malformed_criteria_are_refused_naming_the_field(make_user, login) -> None:
    client = await _staff_client(make_user, login)
    for criteria, field in [
        ({"categories": ["gambling"]}, "criteria.categories.0"),
        ({"region_prefixes": ["3"]}, "criteria.region_prefixes.0"),
        ({"min_amount": -1}, "criteria.min_amount"),
    ]:
        response = await client.post("/api/v1/campaigns", json={**BODY, "criteria": criteria})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["field"] == field
    response = await client.post("/api/v1/campaigns", json={**BODY, "window_end": "2020-01-01"})
    assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == "window_end"


async def test_preview_counts_matching_open_cases_per_court(make_user, login, test_db) -> None:
    await _cases(test_db, 3, ["330106"], category="wages")
    await _cases(test_db, 2, ["330102"], category="medical_malpractice")
    await _cases(test_db, 2, ["330102"], category="wages", amount_claimed=50_000)  # below the minimum
    await _cases(test_db, 4, ["330102"], category="loan")
    client = await _staff_client(make_user, login)
    campaign = (await client.post("/api/v1/campaigns", json=BODY)).json()

    response = await client.get(f"/api/v1/campaigns/{campaign['id']}/preview")

    assert response.status_code == 200
    assert response.json() == {
        "campaign_id": campaign["id"],
        "total": 5,
        "courts": [
            {"court_code": "330102", "court_name": "杭州市上城区人民法院", "cases": 2},
            {"court_code": "330106", "court_name": "杭州市西湖区人民法院", "cases": 3},
        ],
    }


async def test_dispatch_answers_202_and_the_worker_creates_one_task_per_case(
    make_user, login, test_db, run_worker, services
) -> None:
    cases = await _cases(test_db, 12, ["330106", "330102"], category="alimony_support")
    client = await _staff_client(make_user, login)
    campaign = (await client.post("/api/v1/campaigns", json=BODY)).json()

    response = await client.post(f"/api/v1/campaigns/{campaign['id']}/dispatch")

    assert response.status_code == 202, response.text
    progress = response.json()
    assert progress["status"] == "dispatching" and (progress["done"], progress["total"]) == (0, 12)
    assert progress["job_id"] == f"campaign:{campaign['id']}:dispatch"
    retried = await client.post(f"/api/v1/campaigns/{campaign['id']}/dispatch")
    assert retried.status_code == 202 and retried.json()["job_id"] == progress["job_id"]

    assert await run_worker() == 1  # one job, although the request was sent twice

    body = (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert (
        body["status"] == "active" and body["progress"]["done"] == 12 and body["progress"]["percent"] == 100.0
    )
    async with test_db.unit_of_work() as s:
        tasks = (
            (
                await s.execute(
                    sa.select(CampaignTask.case_id).where(CampaignTask.campaign_id == campaign["id"])
                )
            )
            .scalars()
            .all()
        )
        actions = [
            e.action
            for e in await list_for_subject(s, subject_type="campaign", subject_id=str(campaign["id"]))
        ]
    assert sorted(tasks) == cases
    assert actions == ["campaign.created", "campaign.dispatched"]


async def test_cancel_stops_a_queued_dispatch(make_user, login, test_db, run_worker) -> None:
    await _cases(test_db, 5, ["330106"], category="wages")
    client = await _staff_client(make_user, login)
    campaign = (await client.post("/api/v1/campaigns", json=BODY)).json()
    await client.post(f"/api/v1/campaigns/{campaign['id']}/dispatch")

    response = await client.post(f"/api/v1/campaigns/{campaign['id']}/cancel")
    await run_worker()

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    body = (await client.get(f"/api/v1/campaigns/{campaign['id']}")).json()
    assert body["status"] == "cancelled" and body["progress"]["done"] == 0
    assert (await client.post(f"/api/v1/campaigns/{campaign['id']}/dispatch")).status_code == 409
    async with test_db.unit_of_work() as s:
        count = await s.scalar(sa.select(sa.func.count()).where(CampaignTask.campaign_id == campaign["id"]))
        actions = [
            e.action
            for e in await list_for_subject(s, subject_type="campaign", subject_id=str(campaign["id"]))
        ]
    assert count == 0 and actions[-1] == "campaign.cancelled"


async def test_campaigns_are_listed_for_the_creators_scope_and_the_courts_reached(
    make_user, login, test_db, run_worker
) -> None:
    await _cases(test_db, 2, ["330106"], category="wages")
    hangzhou = await _staff_client(make_user, login)
    campaign = (await hangzhou.post("/api/v1/campaigns", json=BODY)).json()
    xihu_clerk = await login(await make_user("clerk", "330106"))
    ningbo = await _staff_client(make_user, login, "330200")
    zhejiang = await _staff_client(make_user, login, "330000")

    def ids(response) -> list[int]:
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert campaign["id"] in ids(await zhejiang.get("/api/v1/campaigns?page_size=200"))
    assert campaign["id"] not in ids(await xihu_clerk.get("/api/v1/campaigns?page_size=200"))
    assert (await xihu_clerk.get(f"/api/v1/campaigns/{campaign['id']}")).status_code == 404

    await hangzhou.post(f"/api/v1/campaigns/{campaign['id']}/dispatch")
    await run_worker()

    assert campaign["id"] in ids(await xihu_clerk.get("/api/v1/campaigns?status=active&page_size=200"))
    assert campaign["id"] not in ids(await ningbo.get("/api/v1/campaigns?page_size=200"))
    assert (await ningbo.get(f"/api/v1/campaigns/{campaign['id']}")).status_code == 404
    assert (await xihu_clerk.get(f"/api/v1/campaigns/{campaign['id']}")).status_code == 200
    assert (await xihu_clerk.post(f"/api/v1/campaigns/{campaign['id']}/cancel")).status_code == 403


async def test_report_as_json_and_csv(make_user, login, test_db, run_worker) -> None:
    await _cases(test_db, 3, ["330106"], category="wages")
    await _cases(test_db, 2, ["330102"], category="work_injury")
    client = await _staff_client(make_user, login)
    campaign = (await client.post("/api/v1/campaigns", json=BODY)).json()
    await client.post(f"/api/v1/campaigns/{campaign['id']}/dispatch")
    await run_worker()

    live = await client.get(f"/api/v1/campaigns/{campaign['id']}/report")
    assert live.status_code == 200 and live.json()["live"] is True
    assert live.json()["totals"] == {"tasks": 5, "concluded": 0, "amount_recovered": 0, "overdue": 0}

    async with test_db.unit_of_work() as s:
        await reports.store_daily(s, campaign_id=campaign["id"], report_date=TODAY)
    stored = await client.get(f"/api/v1/campaigns/{campaign['id']}/report?date={TODAY.isoformat()}")
    assert stored.status_code == 200
    body = stored.json()
    assert body["live"] is False and body["report_date"] == TODAY.isoformat()
    assert [(r["court_code"], r["tasks"]) for r in body["courts"]] == [("330102", 2), ("330106", 3)]

    as_csv = await client.get(f"/api/v1/campaigns/{campaign['id']}/report?format=csv")
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[0][0] == "court_code" and [r[0] for r in rows[1:]] == ["330102", "330106", ""]

    missing = await client.get(f"/api/v1/campaigns/{campaign['id']}/report?date=2020-01-01")
    assert missing.status_code == 404

    # A court the campaign reached sees its own row only.
    clerk = await login(await make_user("clerk", "330106"))
    own = (await clerk.get(f"/api/v1/campaigns/{campaign['id']}/report")).json()
    assert [r["court_code"] for r in own["courts"]] == ["330106"] and own["totals"]["tasks"] == 3
