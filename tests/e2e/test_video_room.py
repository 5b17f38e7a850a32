"""Video consultations in a real browser, inside a loopback-only network namespace (DESIGN.md §5)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.e2e.browser import run_in_loopback_namespace

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def room_report(browser_tools, sqlite_run, tmp_path_factory) -> dict:
    """Runs tests/e2e/video_scenario.py once in its own namespace and returns what it saw."""
    report_path = tmp_path_factory.mktemp("video-e2e") / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    env["PYTHONPATH"] = str(PROJECT)
    result = run_in_loopback_namespace(
        [sys.executable, "-m", "tests.e2e.video_scenario", str(report_path)], env=env, timeout=420
    )
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    print(json.dumps(report, ensure_ascii=False, indent=2)[:6000])
    assert "error" not in report, (
        f"{report.get('error')}\n--- server log ---\n{report.get('server_log', '')}\n--- stderr ---\n{result.stderr[-4000:]}"
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return report


def test_each_page_decodes_the_others_video_and_receives_their_audio(room_report):
    seen = room_report["media"]["seen"]
    people = room_report["people"]
    for viewer, owners in seen.items():
        assert set(owners) == {str(people[k]) for k in people if k != viewer}
        for stats in owners.values():
            assert stats["framesDecoded"] > 0 and stats["frameWidth"] > 0 and stats["videoWidth"] > 0
            assert stats["audioSamplesReceived"] > 0


def test_the_host_admits_from_the_lobby(room_report):
    assert [entry["user"] for entry in room_report["lobby"]] == ["officer1", "officer2"]


def test_a_muted_participant_is_heard_as_silence(room_report):
    mute = room_report["mute"]
    assert mute["page_says_muted"]
    assert mute["muted_energy_gain"] == pytest.approx(0, abs=1e-6)
    assert mute["unmuted_energy_gain"] > 0


def test_a_reloaded_page_rejoins_and_the_others_see_it_return(room_report):
    people = room_report["people"]
    assert room_report["reload"]["host_sees_after"][str(people["officer2"])]["framesDecoded"] > 0
    assert set(room_report["reload"]["officer2_sees_after"]) == {str(people["host"]), str(people["officer1"])}


def test_a_removed_participant_cannot_join_again(room_report):
    assert room_report["remove"] == {"page_says_removed": True, "rejoin_status": 403}


def test_the_host_sees_quality_figures(room_report):
    assert room_report["quality"], "no quality sample"
    assert any(q["bitrate_kbps"] > 0 and q["frames_per_second"] > 0 for q in room_report["quality"])
    assert room_report["quality_rows_on_host_page"] > 0


def test_the_recording_opens_and_its_hashes_verify(room_report):
    recording = room_report["recording"]
    assert recording["segments"], "no recording segment"
    assert all("error" not in s for s in recording["segments"]), recording["segments"]
    assert any(s["video_frames_decoded"] > 0 for s in recording["segments"])
    assert recording["verify"] and all(recording["verify"]), recording["problems"]


def test_the_room_speaks_each_pages_language_and_fits_a_phone(room_report):
    looks = room_report["looks"]
    assert looks["host"]["status"].strip() == "已连接" and looks["host"]["lobby_heading"].startswith("等候室")
    assert looks["officer1"]["status"].strip() == "Connected"
    assert looks["officer2"]["status"].strip() == "已连接"
    assert all(look["overflow"] <= 0 for look in looks.values()), looks
    # Each page measures and shows its own connection's quality.
    assert all(look["own_quality"] in {"good", "fair", "poor"} for look in looks.values()), looks
