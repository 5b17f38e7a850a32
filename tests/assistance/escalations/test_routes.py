"""`/api/v1/escalations`: who sees which escalation, the requester's bundle, and resolving one."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from assistance.enums import AttachmentPurpose
from assistance.escalations import service
from assistance.escalations.models import Escalation, SupervisionOrder
from assistance.requests.models import Attachment
from command_center.errors import Forbidden, NotFound
from command_center.outbox.models import OutboxEvent
from tests.assistance.requests.conftest import ABOVE, REQUESTER, SUPERVISOR, TARGET, UNRELATED

UNRELATED_SUPERVISOR = "320100"  # 南京市中级人民法院


async def _missed_start(request_in_state_for, deadline_of, fire):
    request = await request_in_state_for("start")
    deadline = await deadline_of("start", request_id=request.id)
    await fire(deadline, now=deadline.ends_at)
    return request, deadline


async def _escalation_id(test_db, deadline_id: int) -> int:
    async with test_db.unit_of_work(read_only=True) as s:
        return (
            await s.execute(sa.select(Escalation.id).where(Escalation.deadline_id == deadline_id))
        ).scalar_one()


async def test_escalations_are_visible_to_the_courts_involved_and_their_command_centers(
    request_in_state_for, deadline_of, fire, test_db, court_directory, principal_of
):
    request, deadline = await _missed_start(request_in_state_for, deadline_of, fire)
    escalation_id = await _escalation_id(test_db, deadline.id)
    seen_by = {
        ("command_staff", SUPERVISOR): True,
        ("command_staff", ABOVE): True,
        ("command_staff", "000000"): True,
        ("clerk", TARGET): True,
        ("officer", REQUESTER): True,
        ("clerk", SUPERVISOR): True,
        ("command_staff", UNRELATED_SUPERVISOR): False,
        ("clerk", UNRELATED): False,
        ("clerk", ABOVE): False,  # outside command staff, a court sees only its own
    }
    async with test_db.unit_of_work(read_only=True) as s:
        for (role, court), visible in seen_by.items():
            principal = principal_of(court, role)
            found, total = await service.list_visible(
                s, principal=principal, directory=court_directory, request_id=request.id
            )
            assert [e.id for e in found] == ([escalation_id] if visible else []), (role, court)
            assert total == len(found)
            if visible:
                await service.get_visible(
                    s, principal=principal, directory=court_directory, escalation_id=escalation_id
                )
            else:
                with pytest.raises(NotFound):
                    await service.get_visible(
                        s, principal=principal, directory=court_directory, escalation_id=escalation_id
                    )


async def test_the_api_lists_and_hides_escalations_by_scope(
    request_in_state_for, deadline_of, fire, test_db, make_user, login
):
    request, deadline = await _missed_start(request_in_state_for, deadline_of, fire)
    escalation_id = await _escalation_id(test_db, deadline.id)
    for role, court, visible in (
        ("command_staff", ABOVE, True),
        ("command_staff", UNRELATED_SUPERVISOR, False),
    ):
        client = await login(await make_user(role, court))
        listed = await client.get("/api/v1/escalations", params={"request_id": request.id})
        assert listed.status_code == 200, listed.text
        assert [item["id"] for item in listed.json()["items"]] == ([escalation_id] if visible else [])
        assert (await client.get(f"/api/v1/escalations/{escalation_id}")).status_code == (
            200 if visible else 404
        )


async def test_the_list_filters_by_state_kind_and_court(
    request_in_state_for, deadline_of, fire, make_user, login
):
    await _missed_start(request_in_state_for, deadline_of, fire)
    client = await login(await make_user("command_staff", SUPERVISOR))
    for params, expect_some in (
        ({"kind": "start_overdue"}, True),
        ({"kind": "case_overdue"}, False),
        ({"state": "open"}, True),
        ({"state": "resolved"}, False),
        ({"court": TARGET}, True),
        ({"court": UNRELATED}, False),
    ):
        body = (await client.get("/api/v1/escalations", params=params)).json()
        assert (body["total"] > 0) is expect_some, params
        assert all(item["state"] == "open" for item in body["items"])
    bad = await client.get("/api/v1/escalations", params={"kind": "late"})
    assert bad.status_code == 422


async def test_a_missed_start_comes_with_the_bundle_for_the_superior_court(
    request_in_state_for, deadline_of, fire, test_db, make_user, login
):
    request, deadline = await _missed_start(request_in_state_for, deadline_of, fire)
    async with test_db.unit_of_work() as s:
        s.add(
            Attachment(
                request_id=request.id,
                purpose=AttachmentPurpose.material,
                filename="协助执行通知书.pdf",
                content_type="application/pdf",
                size=1234,
                sha256="a" * 64,
                uploaded_by="user:clerk",
                uploaded_court=REQUESTER,
            )
        )
    escalation_id = await _escalation_id(test_db, deadline.id)
    client = await login(await make_user("clerk", REQUESTER))
    body = (await client.get(f"/api/v1/escalations/{escalation_id}")).json()
    assert body["kind"] == "start_overdue"
    assert body["supervision_order"]["target_court"] == TARGET
    assert body["supervision_order"]["issuing_court"] == SUPERVISOR
    bundle = body["bundle"]
    assert bundle["request_id"] == request.id
    assert "240" in bundle["basis"]
    actions = [entry["action"] for entry in bundle["timeline"]]
    assert actions[0] == "assistance.submitted"
    assert "assistance.filed" in actions and actions[-1] == "deadline.missed"
    assert [a["filename"] for a in bundle["attachments"]] == ["协助执行通知书.pdf"]
    assert bundle["attachments"][0]["download_url"].startswith(f"/api/v1/assistance-requests/{request.id}/")


async def test_other_escalations_carry_no_bundle(submit, deadline_of, fire, test_db, make_user, login):
    request = await submit()
    deadline = await deadline_of("file", request_id=request.id)
    await fire(deadline, now=deadline.ends_at)
    client = await login(await make_user("command_staff", SUPERVISOR))
    body = (await client.get(f"/api/v1/escalations/{await _escalation_id(test_db, deadline.id)}")).json()
    assert body["kind"] == "file_overdue"
    assert body["bundle"] is None and body["supervision_order"] is None


async def test_command_staff_over_the_supervisor_resolve_an_escalation_once(
    request_in_state_for, deadline_of, fire, test_db, make_user, login, principal_of, court_directory
):
    _, deadline = await _missed_start(request_in_state_for, deadline_of, fire)
    escalation_id = await _escalation_id(test_db, deadline.id)
    url = f"/api/v1/escalations/{escalation_id}/resolve"
    note = {"note": "已电话督促上城区法院，当日立案并启动执行"}

    clerk = await login(await make_user("clerk", TARGET))
    assert (await clerk.post(url, json=note)).status_code == 403  # may see it, may not resolve it
    async with test_db.unit_of_work() as s:
        for role, court, error in (
            ("clerk", SUPERVISOR, Forbidden),
            ("command_staff", UNRELATED_SUPERVISOR, NotFound),
        ):
            with pytest.raises(error):
                await service.resolve(
                    s,
                    principal=principal_of(court, role),
                    directory=court_directory,
                    escalation_id=escalation_id,
                    note="x",
                )

    staff = await login(await make_user("command_staff", ABOVE))
    assert (await staff.post(url, json={"note": "  "})).status_code == 422
    resolved = await staff.post(url, json=note)
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["state"] == "resolved"
    assert body["resolution_note"] == note["note"]
    assert body["resolved_by"].startswith("user:command_staff_330000")
    assert body["supervision_order"]["state"] == "closed"
    again = await staff.post(url, json=note)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"

    async with test_db.unit_of_work(read_only=True) as s:
        order = (
            await s.execute(
                sa.select(SupervisionOrder).where(SupervisionOrder.escalation_id == escalation_id)
            )
        ).scalar_one()
        rooms = set(
            (
                await s.execute(
                    sa.select(OutboxEvent.room).where(
                        OutboxEvent.name == "escalation:resolved",
                        OutboxEvent.payload["id"].as_integer() == escalation_id,
                    )
                )
            ).scalars()
        )
    assert order.closed_at is not None
    assert {f"subtree:{SUPERVISOR}", f"court:{TARGET}"} <= rooms


async def test_escalations_need_a_signed_in_caller(client):
    assert (await client.get("/api/v1/escalations")).status_code == 401
