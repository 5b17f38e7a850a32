"""The session API: who may create, see, join and end a consultation; invitations, directives, recordings."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from command_center.audit.models import AuditEntry
from command_center.outbox.models import OutboxEvent
from realtime.video.credentials import read_join_token, turn_credentials
from tests.realtime.video.conftest import BASIC


async def _create(client: Any, **body: Any) -> Any:
    response = await client.post("/api/v1/video-sessions", json={"topic": "现场查封指导", **body})
    return response


async def test_command_staff_create_a_session_and_invitees_hear_of_it_live(
    video_app, login, people, services
):
    host = await login(people["host"])
    response = await _create(host, invitees=[people["officer"].id])
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["state"] == "scheduled"
    roles = {p["user_id"]: (p["role"], p["state"]) for p in created["participants"]}
    assert roles == {people["host"].id: ("host", "invited"), people["officer"].id: ("participant", "invited")}
    async with services.db.unit_of_work() as s:
        events = (
            (await s.execute(select(OutboxEvent).where(OutboxEvent.name == "video:invited"))).scalars().all()
        )
    assert [e.room for e in events] == [f"user:{people['officer'].id}"]
    assert events[0].payload["url"] == f"/video/{created['id']}"


async def test_officers_cannot_create_sessions(video_app, login, people):
    officer = await login(people["officer"])
    assert (await _create(officer)).status_code == 403


async def test_invitees_outside_the_hosts_reach_are_refused(video_app, login, people):
    host = await login(people["host"])
    response = await _create(host, invitees=[people["stranger"].id])
    assert response.status_code == 422


async def test_a_linked_request_must_be_visible_and_brings_its_courts_into_reach(
    video_app, login, people, linked_request
):
    basic_staff = await login(people["basic_staff"])  # the requesting court's command center
    response = await _create(basic_staff, request_id=linked_request.id, invitees=[people["stranger"].id])
    assert response.status_code == 201, response.text
    assert response.json()["case_id"] == linked_request.case_id
    host = await login(people["host"])  # Zhejiang high court: sees Xihu's request as a supervisor above it
    assert (await _create(host, request_id=linked_request.id)).status_code == 201
    far = await login(people["far_staff"])
    unrelated = await _create(far, case_id=linked_request.case_id)
    assert unrelated.status_code == 404


async def test_sessions_are_listed_for_hosts_invitees_and_command_scopes_only(video_app, login, people):
    host = await login(people["host"])
    session_id = (await _create(host, invitees=[people["officer"].id])).json()["id"]
    for who, visible in [("officer", True), ("officer2", True), ("stranger", False), ("far_staff", False)]:
        client = await login(people[who])
        listed = (await client.get("/api/v1/video-sessions")).json()
        assert (session_id in [s["id"] for s in listed["items"]]) is visible, who
        status = (await client.get(f"/api/v1/video-sessions/{session_id}")).status_code
        assert status == (200 if visible else 404), who
    scheduled = (await host.get("/api/v1/video-sessions", params={"state": "scheduled"})).json()
    assert session_id in [s["id"] for s in scheduled["items"]]
    assert (await host.get("/api/v1/video-sessions", params={"state": "ended"})).json()["total"] == 0


async def test_join_grants_a_short_lived_token_with_the_role_and_no_public_ice_server(
    video_app, login, people, settings
):
    host = await login(people["host"])
    session_id = (await _create(host, invitees=[people["officer"].id])).json()["id"]
    grant = (await host.post(f"/api/v1/video-sessions/{session_id}/join")).json()
    assert grant["role"] == "host" and grant["session"]["state"] == "live"
    assert grant["ice_servers"] == []
    claim = read_join_token(settings, grant["join_token"])
    assert (claim.session_id, claim.user_id) == (session_id, people["host"].id)
    officer = await login(people["officer"])
    assert (await officer.post(f"/api/v1/video-sessions/{session_id}/join")).json()["role"] == "participant"
    # Same court as the officer, not invited, not command staff.
    officer2 = await login(people["officer2"])
    assert (await officer2.post(f"/api/v1/video-sessions/{session_id}/join")).status_code == 403
    stranger = await login(people["stranger"])
    assert (await stranger.post(f"/api/v1/video-sessions/{session_id}/join")).status_code == 404


async def test_command_staff_above_a_participant_join_as_observers(video_app, login, people):
    host = await login(people["basic_staff"])
    session_id = (await _create(host, invitees=[people["officer"].id])).json()["id"]
    above = await login(people["host"])  # the high court above Xihu
    assert (await above.post(f"/api/v1/video-sessions/{session_id}/join")).json()["role"] == "observer"


async def test_turn_credentials_follow_the_turn_rest_scheme_and_expire_with_the_session(
    video_app, login, people, settings
):
    configured = settings.model_copy(
        update={
            "turn_urls": ["turn:turn.hub.example:3478"],
            "turn_secret": "s3cret",
            "stun_urls": ["stun:turn.hub.example:3478"],
        }
    )
    video_app.other_asgi_app.state.services.settings = configured
    try:
        host = await login(people["host"])
        session_id = (await _create(host)).json()["id"]
        grant = (await host.post(f"/api/v1/video-sessions/{session_id}/join")).json()
    finally:
        video_app.other_asgi_app.state.services.settings = settings
    stun, turn = grant["ice_servers"]
    assert stun == {"urls": ["stun:turn.hub.example:3478"], "username": None, "credential": None}
    expiry, user_id = turn["username"].split(":")
    assert int(user_id) == people["host"].id
    assert turn_credentials("s3cret", user_id=people["host"].id, expires=int(expiry)) == (
        turn["username"],
        turn["credential"],
    )
    started = grant["session"]["started_at"]
    from datetime import datetime

    cap = datetime.fromisoformat(started).timestamp() + configured.video_session_max_hours * 3600
    assert int(expiry) == int(cap)


async def test_only_the_host_ends_a_session_and_then_nobody_joins(video_app, login, people, services):
    host = await login(people["host"])
    session_id = (await _create(host, invitees=[people["officer"].id])).json()["id"]
    officer = await login(people["officer"])
    assert (await officer.post(f"/api/v1/video-sessions/{session_id}/end")).status_code == 403
    ended = await host.post(f"/api/v1/video-sessions/{session_id}/end")
    assert ended.json()["state"] == "ended"
    assert (await officer.post(f"/api/v1/video-sessions/{session_id}/join")).status_code == 409
    async with services.db.unit_of_work() as s:
        actions = (
            (
                await s.execute(
                    select(AuditEntry.action).where(
                        AuditEntry.subject_type == "video_session", AuditEntry.subject_id == str(session_id)
                    )
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["video.session_created", "video.session_ended"]


async def test_a_directive_becomes_a_task_on_the_linked_requests_timeline(
    video_app, login, people, linked_request, services
):
    host = await login(people["basic_staff"])
    session_id = (await _create(host, request_id=linked_request.id)).json()["id"]
    due = (date.today() + timedelta(days=3)).isoformat()
    response = await host.post(
        f"/api/v1/video-sessions/{session_id}/directives",
        json={"text": "今日内完成查封并拍照取证", "due_on": due},
    )
    assert response.status_code == 201, response.text
    assert response.json()["assignee_court"] == linked_request.target_court
    async with services.db.unit_of_work() as s:
        entry = (
            await s.execute(select(AuditEntry).where(AuditEntry.action == "video.directive_issued"))
        ).scalar_one()
        events = (
            (await s.execute(select(OutboxEvent).where(OutboxEvent.name == "video:directive_issued")))
            .scalars()
            .all()
        )
    assert (entry.subject_type, entry.subject_id) == ("assistance_request", str(linked_request.id))
    assert entry.details["due_on"] == due
    assert {e.room for e in events} == {
        f"request:{linked_request.id}",
        f"court:{linked_request.target_court}",
    }
    officer = await login(people["officer"])
    refused = await officer.post(
        f"/api/v1/video-sessions/{session_id}/directives", json={"text": "x", "due_on": due}
    )
    assert refused.status_code in (403, 404)


async def test_recordings_are_listed_only_for_courts_that_may_see_the_session(
    video_app, login, people, services
):
    from realtime.video import service

    host = await login(people["host"])
    session_id = (await _create(host, invitees=[people["officer"].id])).json()["id"]
    async with services.db.unit_of_work() as s:
        from command_center.db import utcnow

        await service.record_segment(
            s,
            session_id=session_id,
            seq=1,
            path=f"session-{session_id}/missing.mkv",
            size=10,
            sha256="0" * 64,
            started_at=utcnow(),
            ended_at=utcnow(),
            court_code=people["host"].court_code,
        )
    officer = await login(people["officer"])
    listed = (await officer.get(f"/api/v1/video-sessions/{session_id}/recordings")).json()
    assert [(r["seq"], r["sha256"]) for r in listed] == [(1, "0" * 64)]
    assert (
        await officer.get(f"/api/v1/video-sessions/{session_id}/recordings/1")
    ).status_code == 404  # no file
    stranger = await login(people["stranger"])
    assert (await stranger.get(f"/api/v1/video-sessions/{session_id}/recordings")).status_code == 404
    assert (await stranger.get(f"/api/v1/video-sessions/{session_id}/recordings/1")).status_code == 404


async def test_the_room_page_needs_a_signed_in_user(video_app, client, login, people):
    host = await login(people["host"])
    session_id = (await _create(host)).json()["id"]
    anonymous = await client.get(f"/video/{session_id}", follow_redirects=False)
    assert (
        anonymous.status_code == 303 and anonymous.headers["location"] == f"/sign-in?next=/video/{session_id}"
    )
    page = await host.get(f"/video/{session_id}")
    assert page.status_code == 200
    assert 'src="/static/video/room.js"' in page.text and "<script>" not in page.text
    assert BASIC  # the fixture courts are in the directory
