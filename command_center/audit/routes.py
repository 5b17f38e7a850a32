"""`GET /api/v1/audit/verify`: an administrator checks that no audit entry was edited, removed or moved."""

from __future__ import annotations

from command_center.api import Call, Router
from command_center.audit import service
from command_center.audit.models import AuditVerifyRead, BrokenEntryRead
from command_center.errors import Forbidden
from command_center.identity.principal import Role

router = Router(prefix="/api/v1", tags=["audit"])


@router.get(
    "/audit/verify",
    summary="Verify the audit chain's hashes from the first entry to the head (administrators only)",
    response=AuditVerifyRead,
    auth=True,
)
async def verify_audit_chain(call: Call) -> AuditVerifyRead:
    if call.user.role != Role.admin:
        raise Forbidden("Only an administrator may verify the audit chain.")
    # Read-only: on SQLite the walk reads one WAL snapshot and never holds the write lock.
    async with call.services.db.unit_of_work(read_only=True) as session:
        result = await service.verify(session)
    broken = None
    if not result.ok:
        broken = BrokenEntryRead(
            seq=result.first_broken_seq, id=result.first_broken_id, reason=result.reason or ""
        )
    return AuditVerifyRead(ok=result.ok, checked=result.checked, first_broken=broken)
