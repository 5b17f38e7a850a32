"""What a socket.io peer may not send: binary packets (signed in or not), packets that cannot be read,
messages over the size limit, and connections from a foreign web origin. Each is refused with a
reason the peer can read, nothing of it is kept, and the node goes on serving everyone else.

The raw cases speak engine.io's long-polling protocol (v4) directly over HTTP, as a hostile client
would; the signed-in cases use a real python-socketio client.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from realtime.server import BINARY_REFUSED, MALFORMED_PACKET

XIHU = "330106"
SEP = "\x1e"  # engine.io v4 separates the packets of one polling payload with a record separator


class Polling:
    """One engine.io long-polling session, spoken by hand."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.url = ""

    async def open(self) -> Polling:
        response = await self.http.get("/socket.io/?EIO=4&transport=polling")
        assert response.status_code == 200 and response.text.startswith("0"), response.text
        self.url = f"/socket.io/?EIO=4&transport=polling&sid={json.loads(response.text[1:])['sid']}"
        return self

    async def send(self, *packets: str) -> httpx.Response:
        return await self.http.post(self.url, content=SEP.join(packets))

    async def receive(self) -> list[str]:
        async with asyncio.timeout(10):
            response = await self.http.get(self.url)
        assert response.status_code == 200, response.text
        return response.text.split(SEP)

    async def gone(self) -> bool:
        async with asyncio.timeout(10):
            response = await self.http.get(self.url)
        return response.status_code == 400


def refusal(packets: list[str]) -> dict[str, Any]:
    """The socket.io answer in a polling payload that ends the session with engine.io's CLOSE ("1")."""
    assert packets[-1] == "1", packets
    [answer] = [p for p in packets[:-1] if p.startswith("4")]
    return json.loads(answer[answer.index(",") + 1 :] if answer.startswith(("44/", "42/")) else answer[2:])


async def test_a_foreign_web_origin_cannot_open_a_session_and_is_told_why(start_node: Any) -> None:
    node = await start_node("a")
    async with httpx.AsyncClient(base_url=node.url) as http:
        response = await http.get(
            "/socket.io/?EIO=4&transport=polling", headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 400
        assert "https://evil.example is not an accepted origin" in response.text
        assert node.sio.eio.sockets == {}
        same_site = await http.get("/socket.io/?EIO=4&transport=polling", headers={"Origin": node.url})
        assert same_site.status_code == 200


async def test_an_unauthenticated_binary_packet_is_refused_before_anything_is_buffered(
    start_node: Any,
) -> None:
    node = await start_node("a")
    async with httpx.AsyncClient(base_url=node.url) as http:
        raw = await Polling(http).open()
        # A binary event for /live announcing 3 attachments, never connected to /live, and one attachment.
        posted = await raw.send('453-/live,["join",{"_placeholder":true,"num":0}]', "bAAECAw==")
        assert posted.status_code == 200
        answer = refusal(await raw.receive())
        assert answer == {
            "message": "Binary packets are not accepted; send events as JSON.",
            "data": {"code": BINARY_REFUSED},
        }
        assert await raw.gone()
    assert node.sio._binary_packet == {}
    assert node.live.clients == {}


async def test_a_packet_that_cannot_be_read_is_refused_with_its_reason(
    start_node: Any, make_account: Any
) -> None:
    node = await start_node("a")
    clerk = await make_account("clerk", XIHU)
    async with httpx.AsyncClient(base_url=node.url, headers={"Cookie": f"cc_session={clerk.cookie}"}) as http:
        raw = await Polling(http).open()
        await raw.send("40/live,")
        connected = await raw.receive()
        assert any(p.startswith("40/live,{") for p in connected) and len(node.live.clients) == 1
        await raw.send('42/live,["join",{"room": ')  # cut off mid-JSON
        packets = await raw.receive()
        events = [json.loads(p[len("42/live,") :]) for p in packets if p.startswith("42/live,")]
        [body] = [body for name, body in events if name == "realtime:dropped"]
        assert body == {
            "reason": MALFORMED_PACKET,
            "message": "The packet could not be read (JSONDecodeError).",
        }
        assert "1" in packets  # engine.io's CLOSE
        assert await raw.gone()
    assert node.live.clients == {}  # it left /live at once


async def test_a_binary_event_from_a_signed_in_client_is_refused_and_others_carry_on(
    start_node: Any, make_account: Any, clients: list
) -> None:
    node = await start_node("a")
    clerk = await make_account("clerk", XIHU)
    sender, bystander = clerk.client(node.url, reconnect=False), clerk.client(node.url, reconnect=False)
    clients.extend([sender, bystander])
    await sender.connect()
    await bystander.connect()

    await sender._sio.emit("join", {"room": f"court:{XIHU}", "blob": b"\x00\x01\x02"}, namespace="/live")

    await sender.wait_for(lambda: not sender.connected, timeout=10)
    assert (
        "realtime:dropped",
        {"reason": BINARY_REFUSED, "message": "Binary packets are not accepted; send events as JSON."},
    ) in sender.ephemeral
    assert node.sio._binary_packet == {}
    assert len(node.live.clients) == 1
    assert (await bystander.call("ping"))["ok"] is True


async def test_an_oversize_polling_message_is_refused_with_413_at_once(start_node: Any) -> None:
    node = await start_node("a")
    limit = node.services.settings.realtime_max_message_bytes
    async with httpx.AsyncClient(base_url=node.url) as http:
        raw = await Polling(http).open()
        async with asyncio.timeout(10):  # no GET is pending: the refusal must not wait for one
            response = await raw.send("4" + "x" * (limit + 1))
        assert response.status_code == 413
        assert response.json()["error"] == {
            "code": "payload_too_large",
            "message": f"A socket.io message may be at most {limit} bytes; this connection is closed.",
            "details": {"max_message_bytes": limit},
        }
        assert await raw.gone()
    assert node.sio.eio.sockets == {}


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_an_oversize_event_is_refused_by_the_namespace_with_its_reason(
    start_node: Any, make_account: Any, clients: list, transport: str
) -> None:
    """Below the message limit but above the event limit: answered, and the connection stays."""
    node = await start_node("a")
    clerk = await make_account("clerk", XIHU)
    client = clerk.client(node.url, reconnect=False, transports=[transport])
    clients.append(client)
    await client.connect()
    limit = node.services.settings.realtime_max_event_bytes
    ack = await client.call("ping", {"pad": "x" * (limit + 1)})
    assert ack["ok"] is False and ack["error"] == "payload_too_large"
    assert (await client.call("ping"))["ok"] is True
