"""Requests for the real-time tests, made through the real HTTP API of a running node."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from assistance.cases.identities import make_case_number, make_credit_code, make_resident_id
from tests.realtime.conftest import Account

# 杭州市西湖区人民法院 asks 宁波市海曙区人民法院; the Zhejiang High Court supervises.
REQUESTER, TARGET, SUPERVISOR = "330106", "330203", "330000"


def api(node: Any, account: Account) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=node.url, headers={"Authorization": f"Bearer {account.token}"})


async def submit_request(node: Any, requester: Account, serial: int) -> dict[str, Any]:
    """Files a case of the requesting court and submits an investigate-property request on it."""
    async with api(node, requester) as http:
        body = await file_request(http, case_serial=9000 + serial, party_serial=serial)
    assert (body["target_court"]["code"], body["supervising_court"]["code"]) == (TARGET, SUPERVISOR)
    return body


async def file_request(http: httpx.AsyncClient, *, case_serial: int, party_serial: int) -> dict[str, Any]:
    """Files a case of the requesting court (numbered by `case_serial`, its parties' ID numbers by
    `party_serial`) and submits an investigate-property request on it to the target court; returns the
    request."""
    case = await http.post(
        "/api/v1/cases",
        json={
            "case_number": make_case_number("浙0106", 2026, case_serial),
            "category": "wages",
            "applicant": {
                "name": "李四",
                "kind": "person",
                "id_number": make_resident_id(REQUESTER, date(1980, 1, 1), party_serial % 1000),
            },
            "respondents": [
                {
                    "name": "宁波某建筑公司",
                    "kind": "organization",
                    "id_number": make_credit_code(TARGET, party_serial),
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
    return request.json()
