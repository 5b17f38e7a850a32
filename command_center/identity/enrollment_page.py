"""The page `/account/two-factor`: set up two-factor sign-in (TOTP) or see that it is set up."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from command_center.identity import second_factor
from command_center.pages import current_visitor, render, safe_next, sign_in_url


async def enrollment_page(request: Request) -> Response:
    """For any signed-in user; the only page a setup-only session (see identity/auth.py) may open."""
    visitor = await current_visitor(request)
    if visitor is None:
        return RedirectResponse(sign_in_url(request), status_code=303)
    services = request.app.state.services
    async with services.db.unit_of_work(read_only=True) as session:
        state = await second_factor.status(session, user_id=visitor.user.id, settings=services.settings)
    return render(
        request,
        "two_factor.html",
        visitor=visitor,
        context={
            "state": state,
            "setup_only": visitor.principal.setup_only,
            "next_url": safe_next(request.query_params.get("next")) or visitor.user.home,
        },
    )
