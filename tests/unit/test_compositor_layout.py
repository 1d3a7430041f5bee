"""Geometry of the compositor's layouts (grid, speaker, pip) and of the aspect-preserving fit."""

from __future__ import annotations

import itertools

import pytest

from media.compositor.layout import (
    Rect,
    compute,
    fit,
    grid,
    grid_shape,
    label_height,
    pip,
    speaker,
)

W, H = 1280, 720


def _keys(n: int) -> list[str]:
    return [f"p{i}" for i in range(n)]


def _inside(r: Rect, w: int = W, h: int = H) -> bool:
    return r.x >= 0 and r.y >= 0 and r.x + r.w <= w and r.y + r.h <= h


def _overlap(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def _even(r: Rect) -> bool:
    return r.x % 2 == 0 and r.y % 2 == 0 and r.w % 2 == 0 and r.h % 2 == 0


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 25])
def test_grid_cells_are_inside_disjoint_even_and_in_order(n: int) -> None:
    cells = grid(_keys(n), W, H)
    assert [c.key for c in cells] == _keys(n)
    rects = [c.video for c in cells] + [c.label for c in cells if c.label is not None]
    assert all(_inside(r) and _even(r) for r in rects)
    for a, b in itertools.combinations(rects, 2):
        assert not _overlap(a, b), (a, b)


@pytest.mark.parametrize("n,shape", [(1, (1, 1)), (2, (2, 1)), (3, (2, 2)), (4, (2, 2)),
                                     (5, (3, 2)), (6, (3, 2)), (9, (3, 3)), (12, (4, 3))])
def test_grid_shape_for_common_counts(n: int, shape: tuple[int, int]) -> None:
    assert grid_shape(n, W, H, label_height(H)) == shape


def test_grid_tiles_keep_four_by_three_and_share_one_size() -> None:
    for n in range(1, 17):
        cells = grid(_keys(n), W, H)
        sizes = {(c.video.w, c.video.h) for c in cells}
        assert len(sizes) == 1
        w, h = sizes.pop()
        assert abs(w / h - 4 / 3) < 0.05


def test_grid_label_band_is_right_under_each_tile() -> None:
    for cell in grid(_keys(4), W, H):
        assert cell.label is not None
        assert cell.label.y == cell.video.y + cell.video.h
        assert (cell.label.x, cell.label.w) == (cell.video.x, cell.video.w)


def test_grid_centres_an_incomplete_last_row() -> None:
    cells = grid(_keys(3), W, H)
    top, bottom = cells[:2], cells[2]
    left = min(c.video.x for c in top)
    right = max(c.video.x + c.video.w for c in top)
    assert abs(bottom.video.center[0] - (left + right) / 2) <= 4
    assert abs(bottom.video.center[0] - W / 2) <= 4


def test_grid_tiles_shrink_as_participants_join() -> None:
    areas = [grid(_keys(n), W, H)[0].video.w for n in (1, 2, 4, 9, 16)]
    assert areas == sorted(areas, reverse=True)


def test_speaker_layout_puts_the_active_speaker_large_and_others_in_a_strip() -> None:
    cells = speaker(_keys(5), "p3", W, H)
    main = cells[0]
    assert main.key == "p3" and main.role == "speaker"
    strip = cells[1:]
    assert [c.key for c in strip] == ["p0", "p1", "p2", "p4"]
    assert all(c.role == "strip" and c.video.y > main.video.y + main.video.h for c in strip)
    assert all(main.video.w * main.video.h > 8 * c.video.w * c.video.h for c in strip)
    rects = [c.video for c in cells]
    assert all(_inside(r) and _even(r) for r in rects)
    for a, b in itertools.combinations(rects, 2):
        assert not _overlap(a, b)


def test_speaker_layout_without_a_speaker_uses_the_first_tile() -> None:
    assert speaker(_keys(3), None, W, H)[0].key == "p0"
    assert speaker(_keys(3), "gone", W, H)[0].key == "p0"
    assert len(speaker(_keys(1), None, W, H)) == 1


def test_pip_has_the_screen_full_and_the_camera_in_the_bottom_right_corner() -> None:
    screen, camera = pip("s", "c", W, H)
    assert screen.video == Rect(0, 0, W, H) and screen.label is None
    assert camera.role == "corner" and camera.label is None
    assert camera.video.x > W / 2 and camera.video.y > H / 2
    assert camera.video.x + camera.video.w < W and camera.video.y + camera.video.h < H
    assert camera.video.w <= W // 4 + 2
    assert pip("s", None, W, H) == [screen]


def test_compute_pip_without_a_screen_falls_back_to_grid() -> None:
    assert compute("pip", _keys(4), W, H) == grid(_keys(4), W, H)
    assert compute("grid", _keys(2), W, H) == grid(_keys(2), W, H)
    with pytest.raises(ValueError):
        compute("mosaic", _keys(2), W, H)


def test_fit_preserves_aspect_and_centres() -> None:
    area = Rect(100, 50, 400, 300)
    wide = fit(1280, 720, area)
    assert wide.w == 400 and abs(wide.w / wide.h - 16 / 9) < 0.02
    assert wide.x == 100 and abs(wide.center[1] - area.center[1]) <= 2
    tall = fit(480, 640, area)
    assert tall.h == 300 and abs(tall.w / tall.h - 3 / 4) < 0.02
    assert abs(tall.center[0] - area.center[0]) <= 2
    assert _even(wide) and _even(tall)
    assert fit(0, 0, area) == area


def test_tiles_are_sized_for_wide_pictures_only_when_most_are_wide() -> None:
    from media.compositor.layout import TILE_ASPECT, WIDE_ASPECT, tile_aspect

    assert tile_aspect([]) == TILE_ASPECT
    assert tile_aspect([(1280, 720), (1280, 720), (640, 480)]) == WIDE_ASPECT
    assert tile_aspect([(1280, 720), (640, 480)]) == TILE_ASPECT  # no majority
    assert tile_aspect([(480, 640), (640, 480)]) == TILE_ASPECT  # portrait phones, 4:3
