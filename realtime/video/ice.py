"""Which addresses the media server offers as ICE host candidates.

aioice gathers host candidates from every interface but leaves out 127.0.0.1 and ::1, with no option
to keep them (`aioice.ice.get_host_addresses`, aioice 0.9–0.13). That is right on a real network, and it
leaves a loopback-only network namespace (where the browser tests run, DESIGN.md §5) with no candidate
at all. `use_host_addresses` replaces that one function, process-wide, so the server announces exactly
the configured addresses; with no configured address aioice's own discovery stays in place.
"""

from __future__ import annotations

import ipaddress

import aioice.ice

_ORIGINAL = aioice.ice.get_host_addresses


def use_host_addresses(addresses: list[str]) -> None:
    """Makes aioice gather host candidates on exactly `addresses` (empty: restore its own discovery)."""
    if not addresses:
        aioice.ice.get_host_addresses = _ORIGINAL
        return
    parsed = [ipaddress.ip_address(a) for a in addresses]

    def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [str(a) for a in parsed if (a.version == 4 and use_ipv4) or (a.version == 6 and use_ipv6)]

    aioice.ice.get_host_addresses = configured
