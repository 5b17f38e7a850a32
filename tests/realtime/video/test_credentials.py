"""Join tokens: signed, bound to one user and session, short-lived."""

from __future__ import annotations

import time

import pytest

from command_center.errors import NotAuthenticated
from realtime.video.credentials import issue_join_token, read_join_token
from realtime.video.models import ParticipantRole


def test_a_join_token_round_trips_and_a_changed_one_is_refused(settings):
    token = issue_join_token(settings, session_id=7, user_id=3, role=ParticipantRole.participant)
    claim = read_join_token(settings, token)
    assert (claim.session_id, claim.user_id, claim.role) == (7, 3, ParticipantRole.participant)
    _, signature = token.split(".")
    forged = issue_join_token(settings, session_id=7, user_id=4, role=ParticipantRole.host).split(".")[0]
    with pytest.raises(NotAuthenticated):
        read_join_token(settings, f"{forged}.{signature}")
    other_key = settings.model_copy(update={"secret_key": "another-secret-" + "y" * 32})
    with pytest.raises(NotAuthenticated):
        read_join_token(other_key, token)


def test_an_expired_join_token_is_refused(settings):
    short = settings.model_copy(update={"video_join_token_seconds": -1})
    token = issue_join_token(short, session_id=1, user_id=1, role=ParticipantRole.host)
    assert int(time.time()) >= 0
    with pytest.raises(NotAuthenticated) as raised:
        read_join_token(settings, token)
    assert raised.value.code == "join_token_expired"
