"""The HTTP contract of `/api/v1/assistance-requests`: submit, read, act, idempotent retries, and who
reads the subject's ID number in full."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from command_center.audit.models import AuditEntry
from tests.assistance.requests.conftest import ABOVE, REQUESTER, SUPERVISOR, TARGET, UNRELATED, request_body

BASE = "/api/v1/assistance-requests"


async def _token_client(client: Any, make_token: Any, court: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_token(court)}"}


async def test_court_system_submits_a_request_and_reads_it_routed(
    client: Any, make_token: Any, make_case: Any
) -> None:
    case = await make_case(REQUESTER, respondents=1)
    headers = await _token_client(client, make_token, REQUESTER)

    response = await client.post(BASE, json=request_body(case), headers=headers)

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{BASE}/{body['id']}"
    assert body["status"] == "routed"
    assert body["version"] == 1
    assert body["case_id"] == case.case.id
    assert body["case_number"] == case.case.case_number
    assert body["requesting_court"]["code"] == REQUESTER
    assert body["target_court"]["code"] == TARGET
    assert body["supervising_court"]["code"] == SUPERVISOR
    assert body["subject"]["id_number"] == case.respondents[0].id_number  # the filing court reads it in full
    assert body["location"]["region_code"] == TARGET
    assert [m["code"] for m in body["materials"]] == ["ruling", "assistance_notice"]
    assert body["materials"][0]["name"] == "执行裁定书"
    assert sorted(d["kind"] for d in body["deadlines"]) == ["file", "report", "start"]
    assert {d["state"] for d in body["deadlines"]} == {"pending"}
    assert body["allowed_actions"] == ["withdraw"]
    assert body["overdue"] is False


async def test_invalid_submission_is_a_422_naming_the_field(
    client: Any, make_token: Any, make_case: Any
) -> None:
    case = await make_case(REQUESTER)
    headers = await _token_client(client, make_token, REQUESTER)
    response = await client.post(BASE, json=request_body(case, materials=["ruling"]), headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "materials"

    response = await client.post(BASE, json=request_body(case, urgency="very"), headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "urgency"


async def test_retry_with_the_same_idempotency_key_returns_the_original_request(
    client: Any, make_token: Any, make_case: Any
) -> None:
    case = await make_case(REQUESTER)
    headers = {**await _token_client(client, make_token, REQUESTER), "Idempotency-Key": "req-2026-0001"}
    first = await client.post(BASE, json=request_body(case), headers=headers)
    # Key order and whitespace do not matter: the canonical body is what is compared.
    body = dict(reversed(list(request_body(case).items())))
    retry = await client.post(BASE, json=body, headers=headers)

    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers

    other = await client.post(BASE, json=request_body(case, description="另一个请求"), headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


async def test_idempotency_keys_are_scoped_to_the_caller(
    client: Any, make_token: Any, make_case: Any
) -> None:
    case = await make_case(REQUESTER)
    first = await client.post(
        BASE,
        json=request_body(case),
        headers={**await _token_client(client, make_token, REQUESTER), "Idempotency-Key": "shared-key"},
    )
    second = await client.post(
        BASE,
        json=request_body(case),
        headers={**await _token_client(client, make_token, REQUESTER), "Idempotency-Key": "shared-key"},
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


async def test_target_court_reads_the_subject_in_full_and_supervisors_read_it_masked(
    client: Any, make_token: Any, make_case: Any, make_user: Any, login: Any
) -> None:
    case = await make_case(REQUESTER)
    id_number = case.respondents[0].id_number
    created = await client.post(
        BASE, json=request_body(case), headers=await _token_client(client, make_token, REQUESTER)
    )
    url = f"{BASE}/{created.json()['id']}"

    target = await login(await make_user("officer", TARGET))
    seen = (await target.get(url)).json()
    assert seen["subject"]["id_number"] == id_number
    assert seen["allowed_actions"] == ["file", "request_supplement", "reject"]

    for court in (SUPERVISOR, ABOVE):
        staff = await login(await make_user("command_staff", court))
        seen = (await staff.get(url)).json()
        assert seen["subject"]["id_number"] == id_number[:4] + "*" * 10 + id_number[-4:]
        assert seen["allowed_actions"] == []


async def test_unrelated_court_gets_404_and_the_denial_is_audited(
    client: Any, make_token: Any, make_case: Any, make_user: Any, login: Any, session: Any
) -> None:
    case = await make_case(REQUESTER)
    created = await client.post(
        BASE, json=request_body(case), headers=await _token_client(client, make_token, REQUESTER)
    )
    request_id = created.json()["id"]
    outsider = await login(await make_user("command_staff", UNRELATED))

    hidden = await outsider.get(f"{BASE}/{request_id}")
    missing = await outsider.get(f"{BASE}/999999999")

    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"] == f"No assistance request with id {request_id}."
    denied = (
        (
            await session.execute(
                sa.select(AuditEntry).where(
                    AuditEntry.action == "access.denied", AuditEntry.subject_id == str(request_id)
                )
            )
        )
        .scalars()
        .all()
    )
    assert [(e.subject_type, e.outcome, e.actor_court) for e in denied] == [
        ("assistance_request", "denied", UNRELATED)
    ]


async def test_actions_over_http_take_the_version_and_return_the_request(
    client: Any, make_token: Any, make_case: Any
) -> None:
    case = await make_case(REQUESTER)
    created = (
        await client.post(
            BASE, json=request_body(case), headers=await _token_client(client, make_token, REQUESTER)
        )
    ).json()
    target = await _token_client(client, make_token, TARGET)
    url = f"{BASE}/{created['id']}"

    filed = await client.post(f"{url}/file", json={"version": 1}, headers=target)
    assert filed.status_code == 200, filed.text
    assert (filed.json()["status"], filed.json()["version"]) == ("filed", 2)
    assert [d["state"] for d in filed.json()["deadlines"] if d["kind"] == "file"] == ["met"]

    stale = await client.post(f"{url}/start", json={"version": 1}, headers=target)
    assert stale.status_code == 409
    assert stale.json()["error"]["details"]["version"] == 2

    illegal = await client.post(f"{url}/complete", json={"version": 2, "result_text": "完成"}, headers=target)
    assert illegal.status_code == 409
    assert illegal.json()["error"]["details"] == {
        "status": "filed",
        "allowed_actions": ["start", "request_supplement", "reject"],
        "actions_in_state": ["start", "request_supplement", "reject", "withdraw"],
    }

    missing_text = await client.post(f"{url}/request_supplement", json={"version": 2}, headers=target)
    assert missing_text.status_code == 422
    assert missing_text.json()["error"]["details"][0]["field"] == "missing"

    unknown = await client.post(f"{url}/approve", json={"version": 2}, headers=target)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["details"]["actions"][0] == "file"


def test_unknown_action_route_never_shadows_a_requests_sub_resources() -> None:
    import re

    from assistance.requests.routes import UnknownActionConvertor

    pattern = re.compile(f"^(?:{UnknownActionConvertor.regex})$")
    for name in ("messages", "attachments", "timeline", "file", "reroute"):
        assert not pattern.match(name)
    assert pattern.match("approve")
    assert pattern.match("messages2")


async def test_matter_table_is_published(client: Any, make_token: Any) -> None:
    response = await client.get(
        "/api/v1/assistance-matters", headers=await _token_client(client, make_token, REQUESTER)
    )
    assert response.status_code == 200
    matters = {m["matter_type"]: m for m in response.json()["matters"]}
    assert [m["code"] for m in matters["freeze_deposits"]["required_materials"]] == [
        "ruling",
        "assistance_notice",
    ]
    assert matters["renew_freeze"]["needs_freeze_expiry"] is True
    assert len(matters) == 11


async def test_openapi_documents_one_body_per_action(client: Any) -> None:
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    assert "/api/v1/assistance-requests/{id}/reroute" in paths
    assert "requestBody" in paths["/api/v1/assistance-requests/{id}/complete"]["post"]
