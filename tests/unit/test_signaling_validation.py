"""Request payload validation at the signaling edge, from tables."""

from __future__ import annotations

from typing import Any

import pytest

from signaling import validation
from signaling.validation import BadRequest

SDP = "v=0\r\n"

VALID = [
    (validation.room_join, {"room_id": "ward-7"}, "ward-7"),
    (validation.room_join, {"room_id": "A_b-9", "extra": 1}, "A_b-9"),
    (validation.room_join, {"room_id": "x" * 64}, "x" * 64),
    (validation.empty, {}, None),
    (validation.empty, None, None),
    (validation.empty, {"ignored": True}, None),
    (validation.media_publish, {"sdp": SDP, "sources": {"0": "camera", "1": "microphone"}},
     (SDP, {"0": "camera", "1": "microphone"})),
    (validation.media_publish, {"sdp": SDP, "sources": {}}, (SDP, {})),
    (validation.media_answer, {"sdp": SDP}, SDP),
    (validation.media_mute, {"source": "camera"}, "camera"),
    (validation.media_mute, {"source": "microphone"}, "microphone"),
]

INVALID = [
    (validation.room_join, None),
    (validation.room_join, []),
    (validation.room_join, "ward-7"),
    (validation.room_join, {}),
    (validation.room_join, {"room_id": None}),
    (validation.room_join, {"room_id": 7}),
    (validation.room_join, {"room_id": ""}),
    (validation.room_join, {"room_id": "x" * 65}),
    (validation.room_join, {"room_id": "ward 7"}),
    (validation.room_join, {"room_id": "ward/7"}),
    (validation.room_join, {"room_id": "ward-7\n"}),
    (validation.room_join, {"room_id": "wärd"}),
    (validation.empty, "x"),
    (validation.empty, [1]),
    (validation.media_publish, {"sdp": SDP}),
    (validation.media_publish, {"sources": {"0": "camera"}}),
    (validation.media_publish, {"sdp": SDP, "sources": ["camera"]}),
    (validation.media_publish, {"sdp": SDP, "sources": {"0": "webcam"}}),
    (validation.media_publish, {"sdp": SDP, "sources": {"0": None}}),
    (validation.media_publish, {"sdp": SDP, "sources": {"": "camera"}}),
    (validation.media_publish, {"sdp": SDP, "sources": {"a b": "camera"}}),
    (validation.media_publish, {"sdp": SDP, "sources": {str(i): "camera" for i in range(17)}}),
    (validation.media_publish, {"sdp": "  ", "sources": {}}),
    (validation.media_publish, {"sdp": "v" * (validation.MAX_SDP_LENGTH + 1), "sources": {}}),
    (validation.media_answer, {}),
    (validation.media_answer, {"sdp": 5}),
    (validation.media_answer, {"sdp": ""}),
    (validation.media_mute, {}),
    (validation.media_mute, {"source": "screen"}),
    (validation.media_mute, {"source": ["camera"]}),
    (validation.media_mute, None),
]


@pytest.mark.parametrize(("check", "payload", "expected"), VALID)
def test_valid_payloads_are_accepted(check: Any, payload: Any, expected: Any) -> None:
    assert check(payload) == expected


@pytest.mark.parametrize(("check", "payload"), INVALID)
def test_invalid_payloads_are_bad_requests(check: Any, payload: Any) -> None:
    with pytest.raises(BadRequest) as err:
        check(payload)
    assert err.value.message
