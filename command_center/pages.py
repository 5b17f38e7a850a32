"""The browser pages: server-rendered Jinja2 templates in the visitor's language, behind the session cookie.

Pages are plain Starlette routes (not JSON API operations). Each one resolves the signed-in visitor from
the session cookie, picks the language (the `cc_lang` cookie, else Accept-Language, else Chinese), and
renders a template from `frontend/templates/` with the Babel catalog of that language installed.
Everything a page does after loading goes through the JSON API with the CSRF token rendered into it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from babel.support import Translations
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from command_center.audit import service as audit
from command_center.identity.models import LoginSession, User
from command_center.identity.principal import Principal, Role
from command_center.settings import PROJECT_ROOT

FRONTEND = PROJECT_ROOT / "frontend"
LOCALES: dict[str, str] = {"zh_Hans": "中文", "en": "English"}  # catalog name -> its own name
DEFAULT_LOCALE = "zh_Hans"
HTML_LANG = {"zh_Hans": "zh-CN", "en": "en"}
LANGUAGE_COOKIE = "cc_lang"
SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_NEXT_LENGTH = 2000

# Where each role starts after signing in.
HOME_PAGES: dict[Role, str] = {
    Role.admin: "/admin",
    Role.command_staff: "/dashboard",
    Role.officer: "/workspace",
    Role.clerk: "/workspace",
}
COMMAND_STAFF = frozenset({Role.command_staff})
COURT_STAFF = frozenset({Role.officer, Role.clerk})
EVERYONE = frozenset(Role)


def N_(message: str) -> str:
    """Marks a message for extraction (`frontend/i18n.sh`); translated where it is shown."""
    return message


ROLE_LABELS: dict[str, str] = {
    Role.admin: N_("Administrator"),
    Role.command_staff: N_("Command staff"),
    Role.officer: N_("Enforcement officer"),
    Role.clerk: N_("Clerk"),
}


# --- vocabulary ----------------------------------------------------------------------------------
# The page labels of the codes the API returns (request statuses, deadline kinds and states, reject
# reasons, case categories, urgency, timeline actions). Matter and material names come with both
# languages from the API (assistance/requests/materials.py); these have no Chinese name on the wire,
# so their Chinese lives in the catalog. Every page gets them as "<group>.<code>" client strings, and
# tests/frontend check that every enum member of the domain has one.

# Request statuses in their lifecycle order (also the list filters and the dashboard counters).
REQUEST_STATUSES: dict[str, str] = {
    "submitted": N_("Submitted"),
    "routed": N_("Routed"),
    "filed": N_("Filed"),
    "in_progress": N_("In progress"),
    "awaiting_supplement": N_("Awaiting supplement"),
    "completed": N_("Completed"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
}

# Case categories (the campaign criteria builder).
CASE_CATEGORIES: dict[str, str] = {
    "wages": N_("Unpaid wages"),
    "alimony_support": N_("Alimony and support"),
    "medical_malpractice": N_("Medical malpractice"),
    "work_injury": N_("Work injury"),
    "commercial": N_("Commercial"),
    "loan": N_("Loans"),
    "other": N_("Other"),
}

VOCABULARY: dict[str, dict[str, str]] = {
    "status": REQUEST_STATUSES,
    "category": CASE_CATEGORIES,
    "urgency": {"normal": N_("Normal"), "urgent": N_("Urgent")},
    "deadline": {
        "file": N_("File within 7 days"),
        "start": N_("Start within 15 days"),
        "report": N_("Report"),
        "supplement": N_("Supplement within 30 days"),
        "case": N_("Case clock"),
    },
    "state": {
        "pending": N_("Pending"),
        "met": N_("Met"),
        "missed": N_("Missed"),
        "cancelled": N_("Cancelled"),
    },
    "reject": {
        "wrong_jurisdiction": N_("Wrong jurisdiction"),
        "not_assistance_matter": N_("Not an assistance matter"),
        "materials_invalid": N_("Materials invalid"),
    },
    "cp.status": {
        "draft": N_("Draft"),
        "dispatching": N_("Dispatching"),
        "active": N_("Under way"),
        "cancelled": N_("Cancelled"),
        "completed": N_("Finished"),
    },
    "video.state": {"scheduled": N_("Waiting to start"), "live": N_("Live"), "ended": N_("Ended")},
    "purpose": {
        "material": N_("Material"),
        "supplement": N_("Supplement"),
        "result": N_("Result"),
        "other": N_("Other"),
    },
    # Audit actions as a request's timeline shows them.
    "audit": {
        "assistance.submitted": N_("Request submitted"),
        "assistance.routed": N_("Routed"),
        "assistance.filed": N_("Filed"),
        "assistance.started": N_("Handling started"),
        "assistance.completed": N_("Completed"),
        "assistance.supplement_requested": N_("Materials asked for"),
        "assistance.supplemented": N_("Materials supplied"),
        "assistance.rejected": N_("Rejected"),
        "assistance.withdrawn": N_("Withdrawn"),
        "assistance.rerouted": N_("Rerouted"),
        "assistance.message_posted": N_("Message posted"),
        "assistance.attachment_added": N_("Document uploaded"),
        "deadline.missed": N_("Deadline missed"),
        "escalation.resolved": N_("Escalation resolved"),
        "video.directive_issued": N_("Directive from a video consultation"),
    },
}


def vocabulary_strings(catalog: Translations) -> dict[str, str]:
    """Every vocabulary label as a client string ("status.routed": "已分派"), in `catalog`'s language."""
    return {
        f"{group}.{code}": catalog.gettext(label)
        for group, labels in VOCABULARY.items()
        for code, label in labels.items()
    }


# --- language ------------------------------------------------------------------------------------


def _accepted_languages(header: str | None) -> list[str]:
    """The Accept-Language tags by preference (q descending, then order); q=0 and `*` are dropped."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate_locale(cookie: str | None, accept_language: str | None) -> str:
    """The switch's cookie wins; else the browser's first Chinese or English preference; else Chinese."""
    if cookie in LOCALES:
        return cookie
    for tag in _accepted_languages(accept_language):
        primary = tag.split("-", 1)[0]
        if primary == "zh":
            return "zh_Hans"
        if primary == "en":
            return "en"
    return DEFAULT_LOCALE


def request_locale(request: Request) -> str:
    return negotiate_locale(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


# --- formatting filters --------------------------------------------------------------------------


def yuan(fen: int | None) -> str:
    """An amount in integer fen as yuan: ¥1,234,567.89 (exact: no floating point)."""
    if fen is None:
        return "—"
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{'-' if fen < 0 else ''}¥{whole:,}.{cents:02d}"


def shanghai_time(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A timestamp shown in Asia/Shanghai (naive values are UTC, as SQLite returns them)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI).strftime(fmt)


# --- templates -----------------------------------------------------------------------------------


class PageRenderer:
    """One Jinja2 environment per language, each with its Babel catalog installed (newstyle gettext)."""

    def __init__(self, templates: Path, translations: Path) -> None:
        self._templates: dict[str, Jinja2Templates] = {}
        for locale in LOCALES:
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(templates),
                autoescape=True,
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            # Without a compiled catalog this is a NullTranslations: the msgids (English) show.
            catalog = Translations.load(str(translations), [locale], domain="messages")
            env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
            env.filters["yuan"] = yuan
            env.filters["shanghai_time"] = shanghai_time
            env.globals["role_label"] = lambda role, _catalog=catalog: _catalog.gettext(
                ROLE_LABELS.get(str(role), str(role))
            )
            env.globals["LOCALES"] = LOCALES
            env.globals["vocabulary"] = vocabulary_strings(catalog)
            self._templates[locale] = Jinja2Templates(env=env)

    def for_locale(self, locale: str) -> Jinja2Templates:
        return self._templates[locale]


@lru_cache(maxsize=1)
def renderer() -> PageRenderer:
    return PageRenderer(FRONTEND / "templates", FRONTEND / "translations")


# --- the signed-in visitor -----------------------------------------------------------------------


@dataclass(frozen=True)
class PageUser:
    id: int
    username: str
    display_name: str
    role: Role
    court_code: str
    court_name: str
    is_spc: bool  # of the Supreme People's Court: administers every court

    @property
    def home(self) -> str:
        return HOME_PAGES[self.role]


@dataclass(frozen=True)
class Visitor:
    principal: Principal
    user: PageUser
    csrf_token: str  # the session's; rendered into <meta name="csrf-token"> for api.js


async def current_visitor(request: Request) -> Visitor | None:
    """The user signed in with the session cookie, or None (no cookie, expired, revoked, disabled)."""
    services = request.app.state.services
    principal = await services.authenticator.authenticate(request, csrf_required=False)
    if principal is None or principal.kind != "user" or principal.session_id is None:
        return None
    async with services.db.unit_of_work(read_only=True) as session:
        login_session = await session.get(LoginSession, principal.session_id)
        user = await session.get(User, principal.id)
    if login_session is None or user is None:
        return None
    directory = services.directory
    court = directory.get(user.court_code)
    page_user = PageUser(
        id=principal.id,
        username=user.username,
        display_name=user.display_name,
        role=principal.role,
        court_code=user.court_code,
        court_name=court.name if court else user.court_code,
        is_spc=user.court_code == directory.supreme.code,
    )
    return Visitor(principal=principal, user=page_user, csrf_token=login_session.csrf_token)


def safe_next(value: str | None) -> str | None:
    """`value` when it is a path on this site (so a sign-in link cannot send anyone elsewhere), else None."""
    if not value or len(value) > MAX_NEXT_LENGTH or not value.startswith("/"):
        return None
    if value.startswith(("//", "/\\")) or any(ord(c) < 32 or c == "\\" for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def enrollment_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/account/two-factor" if target == "/" else f"/account/two-factor?next={quote(target, safe='/')}"


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/sign-in" if target == "/" else f"/sign-in?next={quote(target, safe='/')}"


def render(
    request: Request,
    template: str,
    *,
    visitor: Visitor | None = None,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """Renders a page in the request's language; `visitor` fills the header, navigation and CSRF meta."""
    locale = request_locale(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    page_context = {
        "locale": locale,
        "html_lang": HTML_LANG[locale],
        "user": visitor.user if visitor else None,
        "csrf_token": visitor.csrf_token if visitor else "",
        "current_path": request.url.path,
        "here": quote(here, safe="/"),  # the language switch's ?next=
        **(context or {}),
    }
    headers = {
        "Cache-Control": "no-store",
        "Content-Language": HTML_LANG[locale],
        "Vary": "Cookie, Accept-Language",
    }
    return (
        renderer()
        .for_locale(locale)
        .TemplateResponse(request, template, page_context, status_code=status, headers=headers)
    )


PageHandler = Callable[[Request, Visitor], Awaitable[Response]]


def page(
    roles: Iterable[Role] = EVERYONE,
) -> Callable[[PageHandler], Callable[[Request], Awaitable[Response]]]:
    """A page for signed-in users of `roles`: others are sent to sign in, or shown a 403 page (audited)."""
    allowed = frozenset(roles)

    def decorate(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            visitor = await current_visitor(request)
            if visitor is None:
                return RedirectResponse(sign_in_url(request), status_code=303)
            if visitor.principal.setup_only:  # must set up two-factor sign-in before anything else
                return RedirectResponse(enrollment_url(request), status_code=303)
            if visitor.user.role not in allowed:
                await audit.record_in_own_transaction(
                    request.app.state.services.db,
                    action="access.denied",
                    actor=visitor.principal,
                    subject_type="page",
                    subject_id=f"GET {request.url.path}",
                    outcome="denied",
                    details={"reason": "role", "role": str(visitor.user.role)},
                )
                return render(request, "forbidden.html", visitor=visitor, status=403)
            return await handler(request, visitor)

        return endpoint

    return decorate


# --- routes --------------------------------------------------------------------------------------


async def home(request: Request) -> Response:
    visitor = await current_visitor(request)
    return RedirectResponse(visitor.user.home if visitor else "/sign-in", status_code=303)


async def sign_in_page(request: Request) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    visitor = await current_visitor(request)
    if visitor is not None:
        return RedirectResponse(next_url or visitor.user.home, status_code=303)
    reason = request.query_params.get("reason")
    return render(
        request,
        "sign_in.html",
        context={
            "next_url": next_url or "",
            "reason": reason if reason in ("expired", "signed_out") else None,
        },
    )


async def switch_language(request: Request) -> Response:
    """Remembers the chosen language in a cookie and goes back to the page the switch was on."""
    code = request.path_params["code"]
    target = safe_next(request.query_params.get("next")) or "/"
    response = RedirectResponse(target, status_code=303)
    if code in LOCALES:
        settings = request.app.state.services.settings
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=365 * 24 * 3600,
            path="/",
            secure=settings.secure_cookies,
            httponly=True,
            samesite="lax",
        )
    return response


@page(roles={Role.admin})
async def admin_page(request: Request, visitor: Visitor) -> Response:
    from command_center.calendar.schedule import PACKAGE_VERSION

    return render(
        request,
        "admin.html",
        visitor=visitor,
        context={"roles": [(role.value, role) for role in Role], "package_version": PACKAGE_VERSION},
    )


def _status_choices(request: Request) -> list[tuple[str, str]]:
    catalog = _catalog(request_locale(request))
    return [(code, catalog.gettext(label)) for code, label in REQUEST_STATUSES.items()]


@lru_cache(maxsize=len(LOCALES))
def _catalog(locale: str) -> Translations:
    return Translations.load(str(FRONTEND / "translations"), [locale], domain="messages")


@page(roles=COURT_STAFF)
async def workspace_page(request: Request, visitor: Visitor) -> Response:
    return render(request, "workspace.html", visitor=visitor, context={"statuses": _status_choices(request)})


@page(roles=COURT_STAFF | COMMAND_STAFF)
async def request_page(request: Request, visitor: Visitor) -> Response:
    """One assistance request; the page loads it over the API (which checks who may see it)."""
    return render(request, "request.html", visitor=visitor, context={"request_id": request.path_params["id"]})


@page(roles=COMMAND_STAFF)
async def dashboard_page(request: Request, visitor: Visitor) -> Response:
    return render(request, "dashboard.html", visitor=visitor, context={"statuses": _status_choices(request)})


@page(roles=COMMAND_STAFF)
async def campaigns_page(request: Request, visitor: Visitor) -> Response:
    catalog = _catalog(request_locale(request))
    categories = [(code, catalog.gettext(label)) for code, label in CASE_CATEGORIES.items()]
    return render(request, "campaigns.html", visitor=visitor, context={"categories": categories})


@page(roles=EVERYONE)
async def video_list_page(request: Request, visitor: Visitor) -> Response:
    can_host = visitor.user.role == Role.command_staff
    return render(request, "video_list.html", visitor=visitor, context={"can_host": can_host})


def page_routes() -> list[Route]:
    """Every page route; `app.py` mounts them next to the API routes."""
    from command_center.identity.enrollment_page import enrollment_page

    return [
        Route("/", home, methods=["GET"]),
        Route("/sign-in", sign_in_page, methods=["GET"]),
        Route("/language/{code}", switch_language, methods=["GET"]),
        Route("/admin", admin_page, methods=["GET"]),
        Route("/dashboard", dashboard_page, methods=["GET"]),
        Route("/workspace", workspace_page, methods=["GET"]),
        Route("/requests/{id:int}", request_page, methods=["GET"]),
        Route("/campaigns", campaigns_page, methods=["GET"]),
        Route("/video", video_list_page, methods=["GET"]),
        Route("/account/two-factor", enrollment_page, methods=["GET"]),
    ]
