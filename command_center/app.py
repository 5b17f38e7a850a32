"""The ASGI app factory: the composition root of the hub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import socketio
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from assistance.campaigns.routes import router as campaigns_router
from assistance.cases.routes import router as cases_router
from assistance.escalations.routes import router as escalations_router
from assistance.requests.dashboard import router as dashboard_router
from assistance.requests.routes import router as assistance_requests_router
from assistance.requests.thread_routes import router as request_threads_router
from command_center import __name__ as _pkg
from command_center.api import Router
from command_center.audit import service as audit
from command_center.audit.routes import router as audit_router
from command_center.calendar.routes import router as periods_router
from command_center.courts.routes import router as courts_router
from command_center.errors import AppError, Forbidden, database_unavailable
from command_center.identity.admin_routes import router as user_admin_router
from command_center.identity.models import User
from command_center.identity.routes import router as identity_router
from command_center.identity.second_factor_routes import router as second_factor_router
from command_center.middleware import HttpMetrics, RequestContextMiddleware, SecurityHeadersMiddleware
from command_center.openapi import build_openapi
from command_center.ops import router as ops_router
from command_center.pages import page_routes
from command_center.services import Services
from command_center.settings import DEFAULT_SECRET, PROJECT_ROOT, Settings, get_settings
from realtime.server import build_socketio, start_realtime, stop_realtime
from realtime.video.routes import router as video_router

log = logging.getLogger(_pkg)
FRONTEND = PROJECT_ROOT / "frontend"
VERSION = "0.1.0"

ROUTERS: list[Router] = [
    ops_router,
    identity_router,
    second_factor_router,
    courts_router,
    periods_router,
    audit_router,
    user_admin_router,
    video_router,
    cases_router,
    assistance_requests_router,
    dashboard_router,
    request_threads_router,
    campaigns_router,
    escalations_router,
]


class UnsafeProductionConfig(RuntimeError):
    pass


async def check_production_safety(services: Services) -> None:
    """With CC_ENV=production, refuse a default secret or demo users."""
    if not services.settings.is_production:
        return
    if services.settings.secret_key == DEFAULT_SECRET or len(services.settings.secret_key) < 32:
        raise UnsafeProductionConfig("CC_SECRET_KEY must be set to a random value of 32+ characters.")
    async with services.db.unit_of_work() as session:
        demo_users = await session.scalar(select(func.count()).select_from(User).where(User.is_demo))
    if demo_users:
        raise UnsafeProductionConfig(
            f"{demo_users} demo users exist; remove them before running in production."
        )


def _error_response(request: Request, status: int, body: dict[str, Any], headers: dict | None = None):
    body["error"]["request_id"] = getattr(request.state, "request_id", None)
    return JSONResponse(body, status_code=status, headers=headers)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"Retry-After": str(exc.retry_after)} if hasattr(exc, "retry_after") else None
    if isinstance(exc, Forbidden):
        principal = getattr(request.state, "principal", None)
        await audit.record_in_own_transaction(
            request.app.state.services.db,
            action="access.denied",
            actor=principal,
            actor_label=None if principal else f"anonymous@{request.client.host if request.client else '?'}",
            subject_type="http",
            subject_id=f"{request.method} {request.url.path}",
            outcome="denied",
            details={"reason": exc.message, "code": exc.code},
        )
    return _error_response(request, exc.status, exc.envelope(), headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    messages = {404: "No such address in this API.", 405: "This method is not allowed here."}
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    body = {
        "error": {"code": code, "message": messages.get(exc.status_code, str(exc.detail)), "details": None}
    }
    return _error_response(request, exc.status_code, body, exc.headers)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database that cannot be reached is a 503 the client may retry; any other database error a 500."""
    unavailable = database_unavailable(exc)
    if unavailable is None:
        return await _unexpected_error(request, exc)
    log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc.__cause__ or exc)
    return await _app_error(request, unavailable)


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    """The client went away before its request body was read: nothing was done, nobody to answer."""
    log.info("client disconnected before its request was read on %s %s", request.method, request.url.path)
    body = {
        "error": {
            "code": "client_disconnected",
            "message": "The request was not received in full.",
            "details": None,
        }
    }
    return _error_response(request, 400, body)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = {
        "error": {
            "code": "internal_error",
            "message": "Something went wrong on our side. Quote the request id when you report it.",
            "details": None,
        }
    }
    return _error_response(request, 500, body)


async def _refresh_calendar(services: Services) -> None:
    """Picks up a holiday year an admin loaded through another node (the calendar is per process)."""
    while True:
        await asyncio.sleep(services.settings.calendar_refresh_seconds)
        try:
            await services.reload_calendar()
        except Exception:  # the database may be briefly away; the next round retries
            log.warning("could not refresh the legal calendar", exc_info=True)


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Any:
    """Builds one app node. Tests pass `services` to share a database; else the lifespan builds them."""
    settings = settings or get_settings()
    sio = build_socketio(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = app.state.services is None
        if own:
            app.state.services = await Services.start(settings)
        svc: Services = app.state.services
        await check_production_safety(svc)

        await start_realtime(sio, svc)
        refresher = asyncio.create_task(_refresh_calendar(svc), name="calendar-refresh")
        try:
            yield
        finally:
            refresher.cancel()
            await stop_realtime(sio, svc)
            if own:
                await svc.close()

    operations = [op for router in ROUTERS for op in router.operations]
    routes = [route for router in ROUTERS for route in router.starlette_routes()]
    routes += page_routes()
    routes.append(Mount("/static", StaticFiles(directory=FRONTEND / "static"), name="static"))
    metrics = HttpMetrics()
    starlette_app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            AppError: _app_error,
            HTTPException: _http_error,
            DBAPIError: _database_error,
            PoolTimeout: _database_error,
            OSError: _database_error,  # a connection refused or reset while connecting
            ClientDisconnect: _client_gone,
            Exception: _unexpected_error,
        },
    )
    # add_middleware puts each new one outermost: security headers wrap the request context.
    starlette_app.add_middleware(RequestContextMiddleware, metrics=metrics, router_app=starlette_app.router)
    starlette_app.add_middleware(SecurityHeadersMiddleware, hsts=settings.secure_cookies)
    starlette_app.state.services = services
    starlette_app.state.settings = settings
    starlette_app.state.sio = sio
    starlette_app.state.metrics = metrics
    starlette_app.state.templates = Jinja2Templates(directory=FRONTEND / "templates")
    starlette_app.state.openapi = build_openapi(
        operations, title="Enforcement Command Center API", version=VERSION
    )
    starlette_app.state.operations = operations
    return socketio.ASGIApp(sio, other_asgi_app=starlette_app, socketio_path="socket.io")
