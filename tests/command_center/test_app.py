"""The app's operational contract: health, readiness, OpenAPI, errors, headers, metrics, production guard."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from command_center.app import UnsafeProductionConfig, check_production_safety
from command_center.openapi import PATH_PARAM
from command_center.settings import DEFAULT_SECRET


async def test_healthz_answers_without_sign_in(client: Any) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_database_and_redis_ready(client: Any) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]


async def test_readyz_is_503_when_redis_is_down(client: Any, services: Any) -> None:
    healthy = services.redis
    services.redis = Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        response = await client.get("/readyz")
    finally:
        await services.redis.aclose()
        services.redis = healthy
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


async def test_every_route_is_in_the_openapi_document(client: Any, app: Any) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    starlette_app = app.other_asgi_app
    for op in starlette_app.state.operations:
        path = PATH_PARAM.sub(r"{\1}", op.path)
        assert op.method.lower() in document["paths"][path], f"{op.method} {op.path} missing"
    assert "/api/v1/courts" in document["paths"]
    assert "/api/v1/session" in document["paths"]
    assert "Error" in document["components"]["schemas"]


async def test_unknown_address_gets_the_error_envelope(client: Any) -> None:
    response = await client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]


async def test_api_requires_sign_in(client: Any) -> None:
    response = await client.get("/api/v1/courts")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


async def test_responses_carry_security_headers(client: Any) -> None:
    response = await client.get("/healthz")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_docs_page_uses_only_vendored_files(client: Any) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    html = response.text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "http://" not in html and "https://" not in html
    bundle = await client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000


async def test_metrics_count_requests_by_route_template(client: Any) -> None:
    await client.get("/api/v1/courts/330106")
    text = (await client.get("/metrics")).text
    assert 'cc_http_requests_total{method="GET",route="/api/v1/courts/{code}",status="401"}' in text


async def test_production_refuses_the_default_secret(services: Any) -> None:
    services.settings = services.settings.model_copy(
        update={"env": "production", "secret_key": DEFAULT_SECRET}
    )
    with pytest.raises(UnsafeProductionConfig, match="CC_SECRET_KEY"):
        await check_production_safety(services)


async def test_production_refuses_demo_users(services: Any, make_user: Any) -> None:
    await make_user("clerk", "330106", is_demo=True)
    services.settings = services.settings.model_copy(update={"env": "production", "secret_key": "s" * 40})
    with pytest.raises(UnsafeProductionConfig, match="demo users"):
        await check_production_safety(services)


async def test_multipart_upload_is_described_with_its_form_fields(client: Any) -> None:
    document = (await client.get("/openapi.json")).json()
    upload = document["paths"]["/api/v1/assistance-requests/{id}/attachments"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["file"]["format"] == "binary"
    assert "413" in upload["responses"]


async def test_a_client_gone_before_its_body_is_read_is_not_an_error(
    app: Any, make_token: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = await make_token("330106")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/cases",
        "raw_path": b"/api/v1/cases",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    with caplog.at_level("INFO"):
        await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert "client disconnected" in caplog.text
    assert "unhandled error" not in caplog.text
