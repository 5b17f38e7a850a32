"""Records for the security tests, made through the real HTTP API of the app under test."""

from __future__ import annotations

from datetime import date
from itertools import count

import httpx

from assistance.cases.identities import make_case_number, make_credit_code, make_resident_id

REQUESTER, TARGET = "330106", "330203"  # 杭州市西湖区 asks 宁波市海曙区
# The smallest PDF the upload check accepts: startxref points at an object (a cross-reference stream).
PDF = b"%PDF-1.4\n1 0 obj\n<< >>\nendobj\nstartxref\n9\n%%EOF\n"
_serial = count(7001)


async def seed(http: httpx.AsyncClient) -> dict[str, str]:
    """A case, a request on it, a message and an attachment; returns real values per path parameter."""
    serial = next(_serial)
    case = await http.post(
        "/api/v1/cases",
        json={
            "case_number": make_case_number("浙0106", 2026, serial),
            "category": "wages",
            "applicant": {
                "name": "李四",
                "kind": "person",
                "id_number": make_resident_id(REQUESTER, date(1980, 1, 1), serial % 1000),
            },
            "respondents": [
                {
                    "name": "宁波某建筑公司",
                    "kind": "organization",
                    "id_number": make_credit_code(TARGET, serial),
                }
            ],
            "amount_claimed": 5_000_000,
            "filed_on": "2026-03-02",
        },
    )
    assert case.status_code == 201, case.text
    request = await http.post(
        "/api/v1/assistance-requests",
        json={
            "case_id": case.json()["id"],
            "matter_type": "investigate_property",
            "subject_id": case.json()["respondents"][0]["id"],
            "location": {"region_code": TARGET, "address": "宁波市海曙区某路1号"},
            "description": "查询被执行人名下存款",
            "materials": ["commission_letter", "judgment"],
        },
    )
    assert request.status_code == 201, request.text
    rid = request.json()["id"]
    message = await http.post(f"/api/v1/assistance-requests/{rid}/messages", json={"body": "请尽快办理"})
    assert message.status_code == 201, message.text
    attachment = await http.post(
        f"/api/v1/assistance-requests/{rid}/attachments",
        files={"file": ("委托函.pdf", PDF, "application/pdf")},
        data={"purpose": "material"},
    )
    assert attachment.status_code == 201, attachment.text
    return {
        "id": str(rid),
        "case_id": str(case.json()["id"]),
        "attachment_id": str(attachment.json()["id"]),
        "code": REQUESTER,
        "action": "approve",  # not an action: the catch-all route's 404
    }
