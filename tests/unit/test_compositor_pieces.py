"""The compositor's parts on PyAV-made media: mixer, sample placement, active speaker,
canvas, labels, encoders and the video input's pick-by-wallclock."""

from __future__ import annotations

import fractions
import itertools
import time

import av
import numpy as np
import pytest

from media.compositor.canvas import Canvas
from media.compositor.encode import AudioEncoder, VideoEncoder
from media.compositor.feed import FrameFeed
from media.compositor.labels import BACKGROUND_Y, LabelCache, has_cjk, render_label
from media.compositor.layout import Rect
from media.compositor.mixer import FRAME, ActiveSpeaker, Mixer, SampleBuffer, level_db
from media.compositor.video_input import VideoInput


def tone(amplitude: int, count: int = FRAME) -> np.ndarray:
    t = np.arange(count) / 48000
    mono = (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    return np.repeat(mono, 2).reshape(-1, 2)


def test_mix_sums_inputs_and_clips_instead_of_wrapping() -> None:
    mixer = Mixer()
    a = np.full((FRAME, 2), 1000, np.int16)
    b = np.full((FRAME, 2), -300, np.int16)
    assert (mixer.mix({"a": a, "b": b, "c": None}) == 700).all()
    loud = np.full((FRAME, 2), 30000, np.int16)
    out = mixer.mix({"a": loud, "b": loud})
    assert out.dtype == np.int16 and (out == 32767).all()
    assert (mixer.mix({"a": -loud, "b": -loud}) == -32768).all()


def test_levels_follow_loudness() -> None:
    assert level_db(np.zeros((FRAME, 2), np.int16)) == -90.0
    assert -10 < level_db(tone(30000)) < 0
    mixer = Mixer()
    for _ in range(20):
        mixer.mix({"loud": tone(20000), "soft": tone(200), "mute": None})
    assert mixer.levels["loud"] > mixer.levels["soft"] > mixer.levels["mute"]


def test_active_speaker_switches_only_after_the_other_leads_for_the_hold_time() -> None:
    speaker = ActiveSpeaker(hold_frames=10)
    assert speaker.update({"a": -20.0, "b": -60.0}) == "a"
    for _ in range(9):  # b clearly louder, but not long enough
        assert speaker.update({"a": -20.0, "b": -5.0}) == "a"
    assert speaker.update({"a": -20.0, "b": -5.0}) == "b"
    for _ in range(30):  # a slightly louder (within the margin): no flapping
        assert speaker.update({"a": -8.0, "b": -10.0}) == "b"
    assert speaker.update({"a": -20.0}) == "a"  # b left


def test_mixer_names_the_loud_input_active_speaker() -> None:
    mixer = Mixer(ActiveSpeaker(hold_frames=5))
    for _ in range(10):
        mixer.mix({"nurse": tone(200), "patient": tone(15000)})
    assert mixer.active_speaker == "patient"


def test_sample_buffer_places_chunks_by_position_and_snaps_small_gaps() -> None:
    buf = SampleBuffer()
    one = np.full((FRAME, 2), 1, np.int16)
    buf.write(FRAME * 10, one)
    buf.write(FRAME * 11 + 3, one * 2)  # 3 samples off: continues the stream
    assert buf.read(FRAME * 9) is None
    assert (buf.read(FRAME * 10) == 1).all()
    assert (buf.read(FRAME * 11) == 2).all()
    buf.write(FRAME * 20, one)
    half = buf.read(FRAME * 20 - FRAME // 2)
    assert half is not None
    assert (half[: FRAME // 2] == 0).all() and (half[FRAME // 2:] == 1).all()


def test_canvas_paste_places_planes_and_frame_views_the_buffer() -> None:
    canvas = Canvas(64, 48)
    y = np.full((8, 10), 200, np.uint8)
    u = np.full((4, 5), 50, np.uint8)
    v = np.full((4, 5), 60, np.uint8)
    canvas.paste(Rect(10, 6, 10, 8), (y, u, v))
    assert (canvas.y[6:14, 10:20] == 200).all() and canvas.y[5, 10] == 16
    assert (canvas.u[3:7, 5:10] == 50).all() and (canvas.v[3:7, 5:10] == 60).all()
    frame = canvas.frame()
    assert (frame.width, frame.height) == (64, 48)
    rgb = frame.to_ndarray(format="rgb24")
    assert rgb[10, 15].tolist() != rgb[0, 0].tolist()


def test_labels_render_text_once_and_detect_cjk() -> None:
    bitmap = render_label("Nurse Ana", 200, 24)
    assert bitmap.shape == (24, 200)
    assert bitmap.max() > 200 and (bitmap == BACKGROUND_Y).mean() > 0.5
    cache = LabelCache()
    first = cache.get("Dr. Who", 120, 20)
    assert cache.get("Dr. Who", 120, 20) is first and cache.rendered == 1
    assert render_label("a very long name that will not fit at all", 60, 20).shape == (20, 60)
    assert has_cjk("王医生") and not has_cjk("Ana")
    assert render_label("王医生", 100, 24).max() > 200  # glyphs or boxes, never a crash


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_video_encoder_makes_keyframes_on_request_and_every_two_seconds(codec: str) -> None:
    encoder = VideoEncoder(codec, 320, 240, 10, keyframe_interval=2.0)
    canvas = Canvas(320, 240)
    keys = []
    for tick in range(45):
        canvas.y[:, :] = 16 + (tick * 5) % 200
        for packet in encoder.encode(canvas.frame(), tick, keyframe=(tick == 7)):
            assert packet.time_base == fractions.Fraction(1, 90000)
            assert packet.pts == tick * 9000
            if packet.is_keyframe:
                keys.append(tick)
                if codec == "h264":  # Annex-B with parameter sets in band
                    assert bytes(packet)[:4] == b"\x00\x00\x00\x01"
    assert keys[:2] == [0, 7]
    assert all(b - a <= 20 for a, b in itertools.pairwise(keys))
    assert encoder.info.width == 320 and encoder.info.codec == codec


def test_audio_encoder_makes_one_opus_packet_per_20ms() -> None:
    encoder = AudioEncoder()
    packets = [p for i in range(10) for p in encoder.encode(tone(8000), i * FRAME)]
    assert len(packets) == 10
    assert [p.pts for p in packets][1] - packets[0].pts == FRAME
    assert encoder.info.rate == 48000 and encoder.info.channels == 2


def test_video_input_decodes_and_picks_the_newest_picture_not_after_the_time() -> None:
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 160, 120, "yuv420p"
    ctx.time_base = fractions.Fraction(1, 10)
    ctx.options = {"deadline": "realtime", "lag-in-frames": "0"}
    feed = FrameFeed("video/VP8")
    asked: list[int] = []
    video = VideoInput(feed, request_keyframe=lambda: asked.append(1))
    feed.add_tap(video)
    video.set_target(Rect(0, 0, 80, 60))
    base = time.time()
    for i in range(5):
        frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), i * 40, np.uint8),
                                           format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for packet in ctx.encode(frame):
            feed.push(bytes(packet), i * 9000, packet.is_keyframe, base + i * 0.1)
    assert video.process() == 5 and video.decoded == 5
    assert video.pick(base - 1) is None
    picked = video.pick(base + 0.25)
    assert picked is not None and picked.wallclock == pytest.approx(base + 0.2)
    assert picked.size == (80, 60) and picked.planes is not None
    assert picked.planes[0].shape == (60, 80)
    assert video.pick(base + 0.25) is picked  # still the one to show
    newest = video.pick(base + 10)
    assert newest is not None and newest.wallclock == pytest.approx(base + 0.4)


def test_video_input_waits_for_a_keyframe_and_asks_for_one() -> None:
    feed = FrameFeed("video/VP8")
    asked: list[int] = []
    video = VideoInput(feed, request_keyframe=lambda: asked.append(1))
    video.push_frame(b"\x01\x02\x03", 0, False, time.time())  # a delta frame first
    assert video.process() == 0 and asked
    video.push_frame(b"\x00garbage-keyframe", 3000, True, time.time())
    assert video.process() == 0 and video.decode_errors + video.decoded <= 1


def test_chinese_names_render_as_glyphs_not_boxes() -> None:
    # scripts/setup --system installs fonts-wqy-microhei for this
    from media.compositor.labels import cjk_font_available

    assert cjk_font_available()
    # boxes (missing glyphs) would make two three-character names identical
    assert (render_label("王医生", 120, 24) != render_label("李护士", 120, 24)).any()
