"""Records for the security tests, made through the real HTTP API of the app under test."""

from __future__ import annotations

from itertools import count
from typing import Any

import httpx

from tests.realtime.factories import REQUESTER, file_request

# The smallest PDF the upload check accepts: startxref points at an object (a cross-reference stream).
PDF = b"%PDF-1.4\n1 0 obj\n<< >>\nendobj\nstartxref\n9\n%%EOF\n"
_serial = count(7001)


async def seed(http: httpx.AsyncClient) -> dict[str, str]:
    """A case, a request on it, a message and an attachment; returns real values per path parameter."""
    serial = next(_serial)
    request = await file_request(http, case_serial=serial, party_serial=serial)
    rid = request["id"]
    attachment = await add_message_and_material(http, rid, "请尽快办理")
    return {
        "id": str(rid),
        "case_id": str(request["case_id"]),
        "attachment_id": str(attachment["id"]),
        "code": REQUESTER,
        "action": "approve",  # not an action: the catch-all route's 404
    }


async def add_message_and_material(http: httpx.AsyncClient, rid: int, message: str) -> dict[str, Any]:
    """Posts `message` on request `rid` and uploads a PDF material to it; returns the attachment."""
    posted = await http.post(f"/api/v1/assistance-requests/{rid}/messages", json={"body": message})
    assert posted.status_code == 201, posted.text
    upload = await http.post(
        f"/api/v1/assistance-requests/{rid}/attachments",
        files={"file": ("委托函.pdf", PDF, "application/pdf")},
        data={"purpose": "material"},
    )
    assert upload.status_code == 201, upload.text
    return upload.json()
