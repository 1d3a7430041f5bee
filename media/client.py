"""For aiortc *clients* of the SFU (tests, bridges): receive new tracks on recycled m-lines.

The SFU reuses the m-line of a closed consumer for a later one (new msid track id,
new SSRC, maybe another codec). Browsers fire `track` again for such a transceiver.
aiortc 1.16 does not: an RTCRtpReceiver starts once (its SSRC, codecs and decoder
thread are fixed by the first `receive()`, and an RTCP BYE stops its decoder for
good) and `track` is only emitted for a receiver without a track. So an aiortc
subscriber calls `recycle_receivers()` before `setRemoteDescription(offer)`: every
m-line that the offer sends with another track id than the one it had gets a fresh
receiver, and aiortc then emits `track` (id = the new consumer id) and starts it.
"""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc import sdp as aiortc_sdp
from aiortc.rtcrtpreceiver import RTCRtpReceiver


async def recycle_receivers(pc: RTCPeerConnection, offer_sdp: str) -> list[str]:
    """Give a fresh receiver to each m-line the offer reuses for a new track; returns their mids."""
    description = aiortc_sdp.SessionDescription.parse(offer_sdp)
    by_mid = {t.mid: t for t in pc.getTransceivers() if t.mid is not None and not t.stopped}
    recycled = []
    for media in description.media:
        if media.kind not in ("audio", "video") or media.direction not in ("sendonly", "sendrecv"):
            continue
        transceiver = by_mid.get(media.rtp.muxId)
        if transceiver is None or transceiver.receiver.track is None:
            continue
        track_id = description.webrtc_track_id(media)
        if track_id is None or track_id == transceiver.receiver.track.id:
            continue
        old = transceiver.receiver
        await old.stop()  # ends the old track (if the BYE has not already)
        receiver = RTCRtpReceiver(transceiver.kind, old.transport)
        receiver._set_rtcp_ssrc(transceiver.sender._ssrc)
        transceiver._RTCRtpTransceiver__receiver = receiver  # type: ignore[attr-defined]
        recycled.append(media.rtp.muxId)
    return recycled
