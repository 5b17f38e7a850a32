"""`/api/v1/second-factor`: the signed-in user's two-factor status and enrollment (TOTP + recovery codes)."""

from __future__ import annotations

from starlette.responses import Response

from command_center.api import Call, Router, json_response
from command_center.errors import InvalidInput
from command_center.identity import second_factor, totp
from command_center.identity.models import (
    EnrollmentConfirm,
    EnrollmentConfirmed,
    EnrollmentStarted,
    SecondFactorStatus,
)
from command_center.identity.principal import Principal

router = Router(prefix="/api/v1", tags=["identity"])
QR_PATH = "/api/v1/second-factor/enrollment/qr.svg"
NOT_FOR_TOKENS = {422: "called with an API token: two-factor sign-in is for users' sessions"}


def _signed_in_user(call: Call) -> Principal:
    principal = call.user
    if principal.kind != "user" or principal.session_id is None:
        raise InvalidInput(
            "Two-factor sign-in belongs to users signed in with a browser session, not API tokens."
        )
    return principal


@router.get(
    "/second-factor",
    summary="Whether the signed-in user has two-factor sign-in, must have it, and recovery codes left",
    response=SecondFactorStatus,
    extra_responses=NOT_FOR_TOKENS,
)
async def get_status(call: Call) -> SecondFactorStatus:
    principal = _signed_in_user(call)
    async with call.services.db.unit_of_work(read_only=True) as session:
        state = await second_factor.status(session, user_id=principal.id, settings=call.services.settings)
    return SecondFactorStatus(
        enrolled=state.enrolled,
        required=state.required,
        enrolled_at=state.enrolled_at,
        recovery_codes_left=state.recovery_codes_left,
    )


@router.post(
    "/second-factor/enrollment",
    summary="Start setting up two-factor sign-in: a new TOTP secret for an authenticator app "
    "(replaces an unconfirmed one; 409 once set up)",
    response=EnrollmentStarted,
    status=201,
    extra_responses=NOT_FOR_TOKENS,
)
async def start_enrollment(call: Call) -> EnrollmentStarted:
    principal = _signed_in_user(call)
    async with call.services.db.unit_of_work() as session:
        secret, uri = await second_factor.start_enrollment(
            session, user_id=principal.id, settings=call.services.settings, actor=principal
        )
    return EnrollmentStarted(secret=secret, otpauth_uri=uri, qr_code_url=QR_PATH)


@router.get(
    "/second-factor/enrollment/qr.svg",
    summary="The QR code of the enrollment in progress, as SVG (404 when none is in progress)",
    raw_response="image/svg+xml",
    extra_responses={**NOT_FOR_TOKENS, 404: "no enrollment in progress"},
)
async def enrollment_qr(call: Call) -> Response:
    principal = _signed_in_user(call)
    async with call.services.db.unit_of_work(read_only=True) as session:
        uri = await second_factor.pending_uri(session, user_id=principal.id, settings=call.services.settings)
    return Response(
        totp.qr_svg(uri), media_type="image/svg+xml", headers={"Cache-Control": "no-store, private"}
    )


@router.post(
    "/second-factor/enrollment/confirm",
    summary="Finish the setup with the app's current code; returns the recovery codes, shown only here",
    body=EnrollmentConfirm,
    response=EnrollmentConfirmed,
)
async def confirm_enrollment(call: Call) -> Response:
    principal = _signed_in_user(call)
    body: EnrollmentConfirm = call.body
    async with call.services.db.unit_of_work() as session:
        codes = await second_factor.confirm_enrollment(
            session, user_id=principal.id, code=body.code, settings=call.services.settings, actor=principal
        )
    return json_response(EnrollmentConfirmed(recovery_codes=codes), headers={"Cache-Control": "no-store"})
