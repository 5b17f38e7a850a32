"""Operations endpoints: liveness, readiness, metrics, the OpenAPI document and its page."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from command_center.api import Router
from command_center.services import Services

router = Router(tags=["operations"])
CHECK_TIMEOUT_SECONDS = 2.0


async def _check_database(services: Services) -> str | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with services.db.unit_of_work(read_only=True) as session:
                await session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; the message says which
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


async def _check_redis(services: Services) -> str | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await services.redis.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


@router.get("/healthz", summary="Liveness: the process answers", auth=False)
async def healthz(call) -> Response:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="Readiness: the database and Redis answer (503 otherwise)", auth=False)
async def readyz(call) -> Response:
    db_error, redis_error = await asyncio.gather(_check_database(call.services), _check_redis(call.services))
    checks = {
        "database": {"ok": db_error is None, "error": db_error},
        "redis": {"ok": redis_error is None, "error": redis_error},
    }
    ready = db_error is None and redis_error is None
    return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", auth=False, raw_response=CONTENT_TYPE_LATEST)
async def metrics(call) -> Response:
    registry = call.request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.json", summary="This API's OpenAPI document", auth=False)
async def openapi(call) -> Response:
    return JSONResponse(call.request.app.state.openapi)


@router.get("/docs", summary="Interactive API documentation", auth=False, raw_response="text/html")
async def docs(call) -> Response:
    request: Request = call.request
    return request.app.state.templates.TemplateResponse(request, "docs.html", {})
