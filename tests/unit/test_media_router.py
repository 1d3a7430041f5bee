"""Router configuration, process totals and error codes."""

from __future__ import annotations


def test_totals_and_media_error_codes() -> None:
    import pytest

    from media import MediaError, totals

    assert set(totals()) >= {"packets_forwarded", "bytes_forwarded", "keyframe_requests",
                             "nacks_received", "retransmissions"}
    assert MediaError("bad_sdp", "x").code == "bad_sdp"
    with pytest.raises(ValueError):
        MediaError("nope")


def test_router_keeps_only_stun_urls_of_the_ice_servers_it_is_given() -> None:
    from aiortc import RTCIceServer

    from media.router import _ice_server

    turn_only = {"urls": ["turn:turn.example:3478?transport=udp"], "username": "u", "credential": "p"}
    assert _ice_server(turn_only) is None
    mixed = _ice_server({"urls": ["stun:stun.example:3478", "turns:turn.example:5349"]})
    assert mixed is not None and mixed.urls == ["stun:stun.example:3478"]
    assert _ice_server(RTCIceServer(urls="stun:a.example")).urls == ["stun:a.example"]
