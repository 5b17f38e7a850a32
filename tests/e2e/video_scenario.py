"""The video room scenario, run inside a loopback-only network namespace: `python -m tests.e2e.video_scenario REPORT`.

It starts a private Redis and the app (uvicorn, SQLite) in the namespace, then drives three headless
Chromium contexts with fake cameras and microphones: a host and two officers join one session through
the room page; the host admits both from the lobby; every page decodes the others' video and receives
their audio; the host mutes one officer, the other reloads and rejoins, the host removes the muted
officer and ends the session; the recording is checked with PyAV and against its hashes. What each
step saw is written to REPORT as JSON, for the test that started this script to judge.

The pages are in the room's two languages and sizes: the host's in Chinese on a desktop, officer 1's in
English on a desktop, officer 2's in Chinese on a phone; once everyone is in, each is saved to
docs/screenshots/video-room-*.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.e2e.browser import launch_chromium

PASSWORD = "correct-horse-battery"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Per person: the browser's language, the viewport, and the screenshot's name.
LOOKS = {
    "host": ("zh-CN", {"width": 1280, "height": 860}, "video-room-zh"),
    "officer1": ("en-US", {"width": 1280, "height": 860}, "video-room-en"),
    "officer2": ("zh-CN", {"width": 360, "height": 780}, "video-room-phone-zh"),
}
HIGH, BASIC = "330000", "330106"


async def wait_for(
    what: str, probe: Callable[[], Awaitable[Any]], *, timeout: float = 30.0, every: float = 0.5
) -> Any:
    """Polls `probe` until it returns something truthy; raises with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(every)
    raise TimeoutError(f"timed out waiting for {what}; last value: {last!r}")


async def prepare(settings: Any) -> dict[str, Any]:
    from command_center.courts.service import load_courts
    from command_center.db import Database
    from command_center.identity import second_factor
    from command_center.identity import service as identity
    from command_center.identity.principal import Role
    from command_center.migrate import upgrade

    db = Database.from_settings(settings)
    await upgrade(db.engine)
    people = {}
    async with db.unit_of_work() as session:
        await load_courts(session)
        for key, role, court, name in [
            ("host", Role.command_staff, HIGH, "指挥中心 Host"),
            ("officer1", Role.officer, BASIC, "执行员 One"),
            ("officer2", Role.officer, BASIC, "执行员 Two"),
        ]:
            user = await identity.create_user(
                session, username=key, password=PASSWORD, role=role, court_code=court, display_name=name
            )
            people[key] = user.id
            if second_factor.required_for(settings, role):  # command staff sign in with a TOTP code
                SECRETS[key], _ = await second_factor.enroll(session, user_id=user.id, settings=settings)
    await db.dispose()
    return people


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.serve_app", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


async def wait_http(url: str, timeout: float = 60.0) -> None:
    import httpx

    async def probe() -> bool:
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(url + "/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_for("the app to answer", probe, timeout=timeout)


CSRF: dict[int, str] = {}
SECRETS: dict[str, str] = {}  # username -> TOTP secret of the users who sign in with two factors


async def sign_in(context: Any, base: str, username: str) -> None:
    response = await context.request.post(
        f"{base}/api/v1/session", data={"username": username, "password": PASSWORD}
    )
    assert response.ok, await response.text()
    if response.status == 202:  # two-factor sign-in: the code of the current time step
        from command_center.db import utcnow
        from command_center.identity import totp

        code = totp.code_at(SECRETS[username], totp.time_step(utcnow()))
        response = await context.request.post(
            f"{base}/api/v1/session/second-factor",
            data={"challenge": (await response.json())["challenge"], "code": code},
        )
        assert response.ok, await response.text()
    CSRF[id(context)] = (await response.json())["csrf_token"]


async def inbound(page: Any) -> list[dict[str, Any]]:
    return await page.evaluate("window.ccVideo ? window.ccVideo.inbound() : []")


async def sees(page: Any, owners: list[int]) -> dict[str, Any] | None:
    """Per owner: video frames decoded and width, audio samples; None until every owner's media flows."""
    stats = await inbound(page)
    widths = await page.evaluate("window.ccVideo ? window.ccVideo.videoWidths() : {}")
    result: dict[str, Any] = {}
    for owner in owners:
        video = [s for s in stats if s["owner"] == owner and s["source"] == "camera"]
        audio = [s for s in stats if s["owner"] == owner and s["source"] == "mic"]
        frames = max((s["framesDecoded"] for s in video), default=0)
        width = max((s["frameWidth"] for s in video), default=0)
        samples = max((s["totalSamplesReceived"] for s in audio), default=0)
        element_width = widths.get(str(owner), 0)
        if frames <= 0 or width <= 0 or samples <= 0 or element_width <= 0:
            return None
        result[str(owner)] = {
            "framesDecoded": frames,
            "frameWidth": width,
            "videoWidth": element_width,
            "audioSamplesReceived": samples,
        }
    return result


async def audio_energy(page: Any, owner: int) -> float:
    return await page.evaluate(
        """async (owner) => {
            const report = await window.ccVideo.state.pc.getStats();
            let energy = 0;
            report.forEach((s) => {
                const info = window.ccVideo.state.media[s.mid];
                const mine = info && info.owner === owner && info.source === 'mic' && info.active;
                if (s.type === 'inbound-rtp' && mine)
                    energy += s.totalAudioEnergy || 0;
            });
            return energy;
        }""",
        owner,
    )


async def scenario(report: dict[str, Any], workdir: Path) -> None:
    from playwright.async_api import async_playwright

    from command_center.redis_server import PrivateRedis, free_port
    from command_center.settings import Settings

    redis = PrivateRedis(workdir / "redis")
    redis_url = redis.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CC_ENV": "test",
        "CC_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'e2e.db'}",
        "CC_REDIS_URL": redis_url,
        "CC_SECRET_KEY": "e2e-secret-" + "x" * 32,
        "CC_VAR_DIR": str(workdir / "var"),
        "CC_WEBRTC_HOST_ADDRESSES": '["127.0.0.1"]',
        "CC_VIDEO_SEGMENT_SECONDS": "6",
        # The scenario is about the room: its people sign in with a password only.
        "CC_SECOND_FACTOR_REQUIRED_ROLES": "[]",
        "CC_LOG_JSON": "false",
        "CC_LOG_LEVEL": "WARNING",
    }
    settings = Settings(
        database_url=env["CC_DATABASE_URL"],
        redis_url=redis_url,
        var_dir=workdir / "var",
        secret_key=env["CC_SECRET_KEY"],
    )
    people = await prepare(settings)
    report["people"] = people
    server = start_server(env, port, workdir / "server.log")
    try:
        await wait_http(base)
        async with async_playwright() as pw:
            browser = await launch_chromium(pw, media=True)
            contexts, pages = {}, {}
            for key in ("host", "officer1", "officer2"):
                locale, viewport, _ = LOOKS[key]
                contexts[key] = await browser.new_context(base_url=base, locale=locale, viewport=viewport)
                await sign_in(contexts[key], base, key)
            created = await contexts["host"].request.post(
                f"{base}/api/v1/video-sessions",
                data={"topic": "现场查封远程指导", "invitees": [people["officer1"], people["officer2"]]},
                headers={"X-CSRF-Token": await csrf(contexts["host"], base)},
            )
            assert created.status == 201, await created.text()
            session_id = (await created.json())["id"]
            report["session_id"] = session_id
            for key in ("host", "officer1", "officer2"):
                pages[key] = await contexts[key].new_page()
                pages[key].on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
                await pages[key].goto(f"{base}/video/{session_id}")

            host, o1, o2 = pages["host"], pages["officer1"], pages["officer2"]
            ids = {k: people[k] for k in ("host", "officer1", "officer2")}

            # Lobby: both officers wait until the host admits them.
            for key in ("officer1", "officer2"):
                await wait_for(
                    f"{key} in the lobby",
                    lambda k=key: pages[k].locator("#status[data-state=waiting]").count(),
                )
                button = host.locator(f"#lobby-list li[data-user-id='{ids[key]}'] button[data-action=admit]")
                await button.wait_for(timeout=20_000)
                report.setdefault("lobby", []).append({"user": key, "waited": True})
                await button.click()

            # Everyone decodes everyone else's video and receives their audio.
            started = time.monotonic()
            seen = {}
            for key, page in pages.items():
                others = [ids[k] for k in ids if k != key]
                seen[key] = await wait_for(
                    f"{key} to decode the others", lambda p=page, o=others: sees(p, o), timeout=60
                )
            report["media"] = {"seen": seen, "seconds": round(time.monotonic() - started, 1)}

            # Each page in its language, laid out for its screen (a phone has no sideways scrolling).
            report["looks"] = {}
            for key, page in pages.items():
                await wait_for(
                    f"{key}'s own connection quality",
                    lambda p=page: p.locator("#my-quality[data-quality]:not([hidden])").count(),
                    timeout=15,
                )
                report["looks"][key] = {
                    "own_quality": await page.locator("#my-quality").get_attribute("data-quality"),
                    "status": await page.locator("#status").text_content(),
                    "lobby_heading": await page.locator("#lobby-heading").text_content(),
                    "overflow": await page.evaluate(
                        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                    ),
                }
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            for key, page in pages.items():
                await page.screenshot(path=str(SCREENSHOTS / f"{LOOKS[key][2]}.png"), full_page=True)

            # The host mutes officer 1: the others receive silence from them; officer 1's page says so.
            mute = host.locator(f"#people-list li[data-user-id='{ids['officer1']}'] button[data-action=mute]")
            await mute.click()
            await wait_for(
                "officer1 told of the mute", lambda: o1.locator("#toggle-mic[data-muted=true]").count()
            )
            await asyncio.sleep(1.0)
            before = {k: await audio_energy(o2, ids[k]) for k in ("officer1", "host")}
            await asyncio.sleep(3.0)
            after = {k: await audio_energy(o2, ids[k]) for k in ("officer1", "host")}
            report["mute"] = {
                "muted_energy_gain": after["officer1"] - before["officer1"],
                "unmuted_energy_gain": after["host"] - before["host"],
                "page_says_muted": True,
            }

            # Officer 2 reloads: the page rejoins with a new peer connection, the others see it return.
            frames_before = (await sees(host, [ids["officer2"]]) or {}).get(str(ids["officer2"]), {})
            await o2.reload()
            await wait_for(
                "officer2 connected again",
                lambda: o2.locator("#status[data-state=connected]").count(),
                timeout=40,
            )
            back = await wait_for(
                "the host to decode officer2 again", lambda: sees(host, [ids["officer2"]]), timeout=40
            )
            o2_sees = await wait_for(
                "officer2 to decode the others again",
                lambda: sees(o2, [ids["host"], ids["officer1"]]),
                timeout=40,
            )
            report["reload"] = {
                "before": frames_before,
                "host_sees_after": back,
                "officer2_sees_after": o2_sees,
            }

            # The host removes officer 1.
            remove = host.locator(
                f"#people-list li[data-user-id='{ids['officer1']}'] button[data-action=remove]"
            )
            await remove.click()
            await wait_for("officer1 removed", lambda: o1.locator("#removed:not([hidden])").count())
            rejoin = await contexts["officer1"].request.post(
                f"{base}/api/v1/video-sessions/{session_id}/join",
                headers={"X-CSRF-Token": await csrf(contexts["officer1"], base)},
            )
            report["remove"] = {"page_says_removed": True, "rejoin_status": rejoin.status}

            # Let a segment rotate, read the quality the host sees, then end the session for all.
            await asyncio.sleep(4)
            quality = await contexts["host"].request.get(f"{base}/api/v1/video-sessions/{session_id}/quality")
            report["quality"] = (await quality.json())["participants"]
            report["quality_rows_on_host_page"] = await host.locator("#quality-rows tr").count()
            await host.click("#end")
            await wait_for(
                "officer2 told the session ended", lambda: o2.locator("#ended:not([hidden])").count()
            )
            report["ended"] = True
            await browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        redis.stop()
    await check_recording(report, settings, workdir)


async def csrf(context: Any, base: str) -> str:
    return CSRF[id(context)]


async def check_recording(report: dict[str, Any], settings: Any, workdir: Path) -> None:
    import av

    from command_center.db import Database
    from realtime.video.recording import verify_session_recordings
    from realtime.video.routes import recording_root
    from realtime.video.service import list_segments

    db = Database.from_settings(settings)
    root = recording_root(settings)
    try:
        async with db.unit_of_work(read_only=True) as session:
            segments = await list_segments(session, session_id=report["session_id"])
        checks = await verify_session_recordings(db, session_id=report["session_id"], root=root)
    finally:
        await db.dispose()
    opened = []
    for segment in segments:
        info: dict[str, Any] = {"seq": segment.seq, "bytes": segment.bytes}
        try:
            with av.open(str(root / segment.path)) as container:
                info["video_streams"] = len(container.streams.video)
                info["audio_streams"] = len(container.streams.audio)
                frames = 0
                if container.streams.video:
                    for _ in container.decode(video=0):
                        frames += 1
                info["video_frames_decoded"] = frames
        except Exception as exc:  # noqa: BLE001 - reported, judged by the test
            info["error"] = repr(exc)
        opened.append(info)
    report["recording"] = {
        "segments": opened,
        "verify": [c.ok for c in checks],
        "problems": [c.problem for c in checks if not c.ok],
    }


def main() -> int:
    report_path = Path(sys.argv[1])
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cc-e2e-") as tmp:
        workdir = Path(tmp)
        try:
            asyncio.run(scenario(report, workdir))
        except Exception:  # noqa: BLE001 - reported, judged by the test
            report["error"] = traceback.format_exc()
        log = workdir / "server.log"
        if log.exists():
            report["server_log"] = log.read_text(errors="replace")[-8000:]
        report_path.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if "error" not in report else 1


if __name__ == "__main__":
    sys.exit(main())
