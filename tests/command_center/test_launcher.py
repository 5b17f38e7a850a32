"""`make run`'s engine: `command-center up` on a fresh SQLite file and a private Redis."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from command_center.demo import DEMO_PASSWORD
from command_center.redis_server import free_port

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("CC_TEST_DATABASE_URL")), reason="`up` runs on SQLite; covered by the SQLite run"
)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _request(url: str, *, data: dict | None = None, cookie: str | None = None) -> tuple[int, dict, dict]:
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    request.add_header("Content-Type", "application/json")
    if cookie:
        request.add_header("Cookie", cookie)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), json.loads(response.read())


def test_up_starts_everything_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    env |= {
        "CC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
        "CC_VAR_DIR": str(tmp_path / "var"),
        "CC_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "command_center", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "is running at" in line:
                break
        else:
            pytest.fail("`up` ended before the app was ready:\n" + "".join(output))
        text = "".join(output)
        assert "xihu_clerk" in text and DEMO_PASSWORD in text
        redis_port = int(text.split("private Redis started at redis://127.0.0.1:")[1].split("/")[0])

        status, _, ready = _request(f"http://127.0.0.1:{port}/readyz")
        assert status == 200 and ready["status"] == "ready"
        status, headers, session = _request(
            f"http://127.0.0.1:{port}/api/v1/session", data={"username": "xihu_clerk", "password": DEMO_PASSWORD}
        )
        assert status == 200
        cookie = headers["set-cookie"].split(";")[0]
        status, _, me = _request(f"http://127.0.0.1:{port}/api/v1/me", cookie=cookie)
        assert me["username"] == "xihu_clerk" and me["court"]["code"] == "330106"
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, "".join(output) + rest
    deadline = time.monotonic() + 10
    while (_port_open(port) or _port_open(redis_port)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _port_open(port), "the web app is still listening after Ctrl-C"
    assert not _port_open(redis_port), "the private Redis is still running after Ctrl-C"
