"""Selection maths on HiDPI, fractional scaling and multi-monitor layouts."""

from __future__ import annotations

import pytest

from latexsnip.app.selection import (
    Rect,
    compose_region,
    match_shots_to_screens,
    region_to_image,
    split_combined,
    widget_to_image,
)
from latexsnip.region import parse_region


def test_drag_in_any_direction_normalises():
    assert Rect.from_points(50, 40, 10, 5) == Rect(10, 5, 40, 35)


def test_dpr1_maps_one_to_one():
    assert widget_to_image(Rect(10, 20, 30, 40), (1920, 1080), (1920, 1080)) == Rect(10, 20, 30, 40)


def test_hidpi_2x_doubles():
    # Logical 1440×900 window showing a 2880×1800 Retina screenshot.
    assert widget_to_image(Rect(100, 50, 200, 80), (1440, 900), (2880, 1800)) == Rect(200, 100, 400, 160)


def test_fractional_125_rounds_outwards():
    # 1.25 scaling: 1536×864 logical, 1920×1080 physical. 10.x → floor, right edge → ceil.
    box = widget_to_image(Rect(11, 11, 13, 13), (1536, 864), (1920, 1080))
    assert box == Rect(13, 13, 17, 17)  # 13.75 → 13, 30 → 30 exactly
    assert box.x <= 11 * 1.25 and box.right >= 24 * 1.25


def test_selection_is_clamped_to_the_image():
    assert widget_to_image(Rect(-10, -10, 50, 50), (100, 100), (200, 200)) == Rect(0, 0, 80, 80)
    assert widget_to_image(Rect(90, 90, 50, 50), (100, 100), (200, 200)) == Rect(180, 180, 20, 20)
    assert widget_to_image(Rect(200, 200, 5, 5), (100, 100), (200, 200)) is None


def test_degenerate_widget_size():
    assert widget_to_image(Rect(0, 0, 5, 5), (0, 100), (10, 10)) is None


# Two monitors: a 2× laptop panel (physical 2880×1800 at 0,0) and a 1× monitor to its right.
LAPTOP = (Rect(0, 0, 1440, 900), (2880, 1800))
EXTERNAL = (Rect(1440, 0, 1920, 1080), (1920, 1080))
# Left monitor with negative coordinates (secondary left of primary).
LEFT = (Rect(-1920, 0, 1920, 1080), (1920, 1080))


def test_region_on_secondary_monitor_uses_local_pixels():
    assert region_to_image(Rect(1500, 100, 200, 50), *EXTERNAL) == Rect(60, 100, 200, 50)


def test_region_on_hidpi_monitor_is_scaled():
    assert region_to_image(Rect(100, 100, 200, 50), *LAPTOP) == Rect(200, 200, 400, 100)


def test_region_negative_coordinates():
    assert region_to_image(Rect(-1900, 10, 100, 20), *LEFT) == Rect(20, 10, 100, 20)


def test_region_outside_returns_none():
    assert region_to_image(Rect(5000, 0, 10, 10), *LAPTOP) is None


def test_region_inside_one_screen_is_a_plain_crop():
    size, pieces = compose_region(Rect(100, 100, 200, 50), [LAPTOP, EXTERNAL])
    assert size == (400, 100)
    assert [(p.index, p.source, p.target) for p in pieces] == [(0, Rect(200, 200, 400, 100),
                                                                 Rect(0, 0, 400, 100))]


def test_region_straddling_is_stitched_at_the_finer_scale():
    # 100 logical px on the 2× laptop, 300 on the 1× external: 800×200 at 2×, the external part
    # enlarged into the right 600 px.
    size, pieces = compose_region(Rect(1340, 0, 400, 100), [LAPTOP, EXTERNAL])
    assert size == (800, 200)
    assert [(p.index, p.source, p.target) for p in pieces] == [
        (0, Rect(2680, 0, 200, 200), Rect(0, 0, 200, 200)),
        (1, Rect(0, 0, 300, 100), Rect(200, 0, 600, 200)),
    ]
    assert compose_region(Rect(9000, 0, 10, 10), [LAPTOP, EXTERNAL]) is None


def test_region_spanning_a_screen_left_of_the_primary():
    size, pieces = compose_region(Rect(-10, 5, 30, 10), [LEFT, (Rect(0, 0, 1920, 1080), (1920, 1080))])
    assert size == (30, 10)
    assert [(p.source, p.target) for p in pieces] == [(Rect(1910, 5, 10, 10), Rect(0, 0, 10, 10)),
                                                      (Rect(0, 5, 20, 10), Rect(10, 0, 20, 10))]


def test_region_partly_off_screen_is_clipped_to_the_screens():
    size, pieces = compose_region(Rect(1400, 1000, 100, 200), [LAPTOP, EXTERNAL])
    assert size == (60, 80)  # only the part on the external monitor
    assert pieces[0].index == 1


def test_match_exact_logical_geometry():
    shots = [Rect(1920, 0, 1920, 1080), Rect(0, 0, 1920, 1080)]
    screens = [(Rect(0, 0, 1920, 1080), 1.0), (Rect(1920, 0, 1920, 1080), 1.0)]
    assert match_shots_to_screens(shots, screens) == [1, 0]


def test_match_physical_geometry_on_hidpi():
    # Backend reports physical pixels (Windows-style), Qt logical ones with dpr 2.
    shots = [Rect(0, 0, 2880, 1800)]
    assert match_shots_to_screens(shots, [(Rect(0, 0, 1440, 900), 2.0)]) == [0]


def test_match_mixed_dpi_falls_back_to_reading_order():
    # Neither exact nor ×dpr matches for the external screen: order still pairs them right.
    shots = [Rect(2880, 0, 2560, 1440), Rect(0, 0, 2880, 1800)]
    screens = [(Rect(0, 0, 1440, 900), 2.0), (Rect(1440, 0, 1707, 960), 1.5)]
    assert match_shots_to_screens(shots, screens) == [1, 0]


def test_match_more_screens_than_shots():
    screens = [(Rect(0, 0, 800, 600), 1.0), (Rect(800, 0, 800, 600), 1.0)]
    assert match_shots_to_screens([Rect(0, 0, 800, 600)], screens) == [0, None]


def test_split_combined_desktop_image():
    # Wayland portal: one 2× image of two side-by-side 1280×800 logical screens.
    boxes = split_combined((5120, 1600), [Rect(0, 0, 1280, 800), Rect(1280, 0, 1280, 800)])
    assert boxes == [Rect(0, 0, 2560, 1600), Rect(2560, 0, 2560, 1600)]


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "0,0,0,5", "0,0,5,-1", ""])
def test_parse_region_rejects(text):
    with pytest.raises(ValueError):
        parse_region(text)


def test_parse_region_accepts_spaces_and_negatives():
    assert parse_region("-100, 20, 30,40") == (-100, 20, 30, 40)
