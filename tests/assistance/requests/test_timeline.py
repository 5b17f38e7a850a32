"""A request's timeline is its audit trail: every action, message and document, oldest first."""

from __future__ import annotations

from typing import Any

import pytest

from tests.assistance.requests.test_attachments import make_pdf
from tests.assistance.requests.test_messages import (
    ABOVE,
    REQUESTING,
    SUPERVISING,
    TARGET,
    Callers,
    open_request,
    resident_id,
)


@pytest.fixture
async def request_id(submit: Any) -> int:
    return await open_request(submit)


@pytest.fixture
def caller(make_user: Any, login: Any) -> Callers:
    return Callers(make_user, login)


@pytest.fixture(autouse=True)
def private_store(services: Any, tmp_path: Any) -> None:
    services.settings = services.settings.model_copy(update={"var_dir": tmp_path})


def timeline(request_id: int) -> str:
    return f"/api/v1/assistance-requests/{request_id}/timeline"


async def test_the_timeline_lists_actions_messages_and_documents_oldest_first(
    request_id: int, caller: Callers, act: Any
) -> None:
    requesting, target = await caller("requesting"), await caller("target")
    before = (await requesting.get(timeline(request_id))).json()
    assert [e["action"] for e in before] == ["assistance.submitted"]
    assert before[0]["court"] == REQUESTING and before[0]["outcome"] == "success"

    await act(request_id, "file")
    id_number = resident_id()
    posted = await target.post(
        f"/api/v1/assistance-requests/{request_id}/messages", json={"body": f"已立案，被执行人{id_number}"}
    )
    message_id = posted.json()["id"]
    await (await caller("supervising")).post(
        f"/api/v1/assistance-requests/{request_id}/messages/read", json={"last_message_id": message_id}
    )
    content = make_pdf()
    uploaded = await requesting.post(
        f"/api/v1/assistance-requests/{request_id}/attachments",
        files={"file": ("协助执行通知书.pdf", content)},
        data={"purpose": "supplement"},
    )
    assert uploaded.status_code == 201
    await act(request_id, "start")

    entries = (await (await caller("supervising")).get(timeline(request_id))).json()
    assert [e["action"] for e in entries] == [
        "assistance.submitted",
        "assistance.filed",
        "assistance.message_posted",
        "assistance.attachment_added",
        "assistance.started",
    ]  # read receipts are not history
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    assert all(set(e) == {"at", "actor", "court", "action", "outcome", "details"} for e in entries)
    assert [e["court"] for e in entries] == [REQUESTING, TARGET, TARGET, REQUESTING, TARGET]
    message, document = entries[2], entries[3]
    assert message["actor"].startswith("user:officer_")
    assert message["details"] == {"message_id": message_id, "length": len(f"已立案，被执行人{id_number}")}
    assert document["details"]["sha256"] == uploaded.json()["sha256"]
    assert document["details"]["size"] == len(content)
    assert document["details"]["content_type"] == "application/pdf"
    assert document["details"]["filename"] == "协助执行通知书.pdf"
    assert id_number not in str(entries)


async def test_every_court_that_may_see_the_request_reads_the_same_timeline(
    request_id: int, caller: Callers
) -> None:
    seen = []
    for who in ("requesting", "target", "supervising", "above"):
        response = await (await caller(who)).get(timeline(request_id))
        assert response.status_code == 200, (who, response.text)
        seen.append(response.json())
    assert all(s == seen[0] for s in seen)
    assert ABOVE not in {e["court"] for e in seen[0]} and SUPERVISING not in {e["court"] for e in seen[0]}


async def test_an_outsider_gets_404_and_the_attempt_is_audited_but_not_shown(
    request_id: int, caller: Callers, test_db: Any
) -> None:
    import sqlalchemy as sa

    from command_center.audit.models import AuditEntry

    for who in ("unrelated", "unrelated_staff"):
        assert (await (await caller(who)).get(timeline(request_id))).status_code == 404
    async with test_db.unit_of_work(read_only=True) as s:
        denied = (
            (
                await s.execute(
                    sa.select(AuditEntry).where(
                        AuditEntry.action == "access.denied", AuditEntry.subject_id == str(request_id)
                    )
                )
            )
            .scalars()
            .all()
        )
    assert len(denied) == 2 and {e.outcome for e in denied} == {"denied"}
    actions = [e["action"] for e in (await (await caller("target")).get(timeline(request_id))).json()]
    assert "access.denied" not in actions
