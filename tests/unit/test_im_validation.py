"""Wire checks for im:* payloads."""

from __future__ import annotations

import pytest

from im import validation as v
from im.errors import ImError


def test_a_text_send_keeps_emoji_and_chinese() -> None:
    req = v.send_request(
        {"conversation_id": "c-1", "client_msg_id": "u:1", "body": "血压 150/95 😟"},
        max_text_length=100,
    )
    assert (req.type, req.body, req.payload) == ("text", "血压 150/95 😟", {})


@pytest.mark.parametrize(
    "data, code",
    [
        (None, "bad_request"),
        ([], "bad_request"),
        ({"conversation_id": "c", "client_msg_id": "", "body": "x"}, "bad_request"),
        ({"conversation_id": "c", "client_msg_id": "x" * 65, "body": "x"}, "bad_request"),
        ({"conversation_id": "c/../d", "client_msg_id": "x", "body": "x"}, "bad_request"),
        ({"conversation_id": "c", "client_msg_id": "x", "body": "   "}, "bad_request"),
        ({"conversation_id": "c", "client_msg_id": "x", "body": "a\x00b"}, "bad_request"),
        ({"conversation_id": "c", "client_msg_id": "x", "body": 5}, "bad_request"),
        ({"conversation_id": "c", "client_msg_id": "x", "type": "sticker"}, "bad_request"),
        ({"conversation_id": "c", "client_msg_id": "x", "type": "system"}, "not_allowed"),
        (
            {"conversation_id": "c", "client_msg_id": "x", "type": "file", "payload": {}},
            "bad_request",
        ),
        (
            {
                "conversation_id": "c",
                "client_msg_id": "x",
                "type": "card",
                "payload": {"card_type": "document"},
            },
            "bad_request",
        ),
        (
            {
                "conversation_id": "c",
                "client_msg_id": "x",
                "type": "card",
                "payload": {"card_type": "link", "title": "t", "url": "//evil.example/x"},
            },
            "bad_request",
        ),
    ],
)
def test_bad_sends(data: object, code: str) -> None:
    with pytest.raises(ImError) as err:
        v.send_request(data, max_text_length=10)
    assert err.value.code == code


def test_cards_accept_https_and_same_origin_paths() -> None:
    for url in ("https://forms.example.org/phq9", "/api/v1/attachments/abc"):
        req = v.send_request(
            {
                "conversation_id": "c",
                "client_msg_id": "x",
                "type": "card",
                "payload": {"card_type": "document", "title": "Report", "url": url},
            },
            max_text_length=10,
        )
        assert req.payload["url"] == url


def test_seq_and_limit() -> None:
    assert v.seq({"s": "12"}, "s") == 12
    assert v.limit({}) == v.DEFAULT_LIMIT
    for bad in (-1, True, 1.5, "x", 2**63):
        with pytest.raises(ImError):
            v.seq({"s": bad}, "s")
    with pytest.raises(ImError):
        v.limit({"limit": 0})


def test_a_wrongly_typed_attachment_id_is_refused_even_on_text() -> None:
    with pytest.raises(ImError) as err:
        v.send_request(
            {"conversation_id": "c", "client_msg_id": "x", "body": "hi", "payload": {"attachment_id": True}},
            max_text_length=10,
        )
    assert err.value.code == "bad_request"
