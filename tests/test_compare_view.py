"""CompareView on its own: zoom maths, divider, flip, locked side-by-side views, resampling, regions, timing.

Colours are read back from real renders (viewport grabs) so the tests see what a user would see.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QWheelEvent
from PySide6.QtWidgets import QApplication

from sinsr_gui.qt.compare_view import CompareMode, CompareView

RED = (255, 0, 0)
BLUE = (0, 0, 255)
GREEN = (0, 255, 0)


def solid(w: int, h: int, rgb: tuple[int, int, int]) -> QImage:
    image = QImage(w, h, QImage.Format.Format_RGB32)
    image.fill(QColor(*rgb))
    return image


def from_array(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 RGB -> an owning QImage."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def grab(view: CompareView, index: int = 0) -> np.ndarray:
    """Render one graphics view's viewport; (H, W, 3) uint8 RGB in device-independent pixels."""
    viewport = view.views()[index].viewport()
    image = viewport.grab().toImage()
    if image.devicePixelRatio() != 1:  # sample in logical pixels on high-DPI test machines
        image = image.scaled(viewport.size(), Qt.AspectRatioMode.IgnoreAspectRatio,
                             Qt.TransformationMode.FastTransformation)
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, bpl = image.height(), image.width(), image.bytesPerLine()
    rows = np.frombuffer(image.constBits(), np.uint8, count=h * bpl).reshape(h, bpl)
    return rows[:, : 3 * w].reshape(h, w, 3).copy()  # copy: the QImage buffer dies with `image`


def at(pixels: np.ndarray, x: int, y: int) -> tuple[int, int, int]:
    return tuple(int(c) for c in pixels[y, x])


def wheel(view: CompareView, pos: QPointF, notches: int, index: int = 0) -> None:
    viewport = view.views()[index].viewport()
    event = QWheelEvent(QPointF(pos), QPointF(viewport.mapToGlobal(pos.toPoint())), QPoint(),
                        QPoint(0, 120 * notches), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, event)


def drag(qtbot, widget, start: QPoint, end: QPoint, button=Qt.MouseButton.LeftButton) -> None:
    qtbot.mousePress(widget, button, pos=start)
    mid = (start + end) / 2
    qtbot.mouseMove(widget, mid)
    qtbot.mouseMove(widget, end)
    qtbot.mouseRelease(widget, button, pos=end)


@pytest.fixture
def cv(qtbot) -> CompareView:
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    assert view.views()[0].viewport().size().toTuple() == (400, 300)
    return view


def load_1to1(cv: CompareView, after: QImage | None = None) -> None:
    """Red 100x75 input, blue 400x300 result: fits the 400x300 viewport at exactly 100 %."""
    cv.set_images(solid(100, 75, RED), solid(400, 300, BLUE) if after is None else after, 4.0)
    assert cv.zoom() == pytest.approx(1.0)


def load_half(cv: CompareView) -> None:
    """Red 200x150 input, blue 800x600 result: fits at exactly 50 %."""
    cv.set_images(solid(200, 150, RED), solid(800, 600, BLUE), 4.0)
    assert cv.zoom() == pytest.approx(0.5)


# --- zoom --------------------------------------------------------------------------------------------------------


def test_set_zoom_maps_known_points_and_round_trips(qtbot, cv):
    load_half(cv)
    with qtbot.waitSignal(cv.zoomChanged) as signal:
        cv.set_zoom(2.0)
    assert signal.args == [pytest.approx(2.0)]
    assert cv.zoom() == pytest.approx(2.0)
    # Zoom anchors on the view centre, which showed the image centre (400, 300); 50 px right is 100 view px.
    centre = cv.map_image_to_view(QPointF(400, 300))
    assert (centre.x(), centre.y()) == pytest.approx((200, 150), abs=0.5)
    right = cv.map_image_to_view(QPointF(450, 300))
    assert (right.x(), right.y()) == pytest.approx((300, 150), abs=0.5)
    for x, y in [(0, 0), (17.3, 250.8), (399.5, 299.5), (123, 45)]:
        back = cv.map_view_to_image(cv.map_image_to_view(QPointF(x, y)))
        assert abs(back.x() - x) < 0.5 and abs(back.y() - y) < 0.5
        again = cv.map_image_to_view(cv.map_view_to_image(QPointF(x, y)))
        assert abs(again.x() - x) < 0.5 and abs(again.y() - y) < 0.5


def test_wheel_zoom_keeps_image_point_under_cursor(qtbot, cv):
    load_half(cv)
    cursor = QPointF(120, 90)
    point = cv.map_view_to_image(cursor)
    with qtbot.waitSignal(cv.zoomChanged) as signal:
        wheel(cv, cursor, 1)
    assert signal.args == [pytest.approx(0.5 * 1.25)]
    for _ in range(5):  # repeated notches must not drift
        wheel(cv, cursor, 1)
    assert cv.zoom() == pytest.approx(0.5 * 1.25**6)
    still = cv.map_image_to_view(point)
    assert abs(still.x() - cursor.x()) <= 0.5 and abs(still.y() - cursor.y()) <= 0.5
    wheel(cv, cursor, -2)
    assert cv.zoom() == pytest.approx(0.5 * 1.25**4)
    still = cv.map_image_to_view(point)
    assert abs(still.x() - cursor.x()) <= 0.5 and abs(still.y() - cursor.y()) <= 0.5


def test_fit_actual_and_zoom_keys(qtbot, cv):
    load_half(cv)
    full = QRect(0, 0, 800, 600)
    assert cv.visible_image_rect() == full
    cv.set_zoom(3.0)
    assert cv.visible_image_rect().width() < 800
    cv.zoom_to_fit()
    assert cv.visible_image_rect() == full
    with qtbot.waitSignal(cv.zoomChanged) as signal:
        cv.zoom_actual()
    assert signal.args == [1.0] and cv.zoom() == 1.0
    assert cv.visible_image_rect().size().toTuple() == (400, 300)

    view = cv.views()[0]
    qtbot.keyClick(view, Qt.Key.Key_0)
    assert cv.zoom() == pytest.approx(0.5)
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    assert cv.zoom() == pytest.approx(0.667)
    qtbot.keyClick(view, Qt.Key.Key_Minus)
    assert cv.zoom() == pytest.approx(0.5)
    qtbot.keyClick(view, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert cv.zoom() == pytest.approx(0.667)
    qtbot.keyClick(view, Qt.Key.Key_1)
    assert cv.zoom() == 1.0
    cv.zoom_to_fit()
    cv.resize(200, 150)  # fit mode follows the window
    assert cv.zoom() == pytest.approx(0.25)
    assert cv.visible_image_rect() == full


def test_drag_pans_with_left_and_middle_button(qtbot, cv):
    load_half(cv)
    cv.set_zoom(2.0)
    viewport = cv.views()[0].viewport()
    for button in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
        grabbed = cv.map_view_to_image(QPointF(300, 250))
        drag(qtbot, viewport, QPoint(300, 250), QPoint(250, 200), button)
        moved = cv.map_image_to_view(grabbed)
        assert (moved.x(), moved.y()) == pytest.approx((250, 200), abs=0.5)


def test_cursor_pixel_reports_output_pixels(qtbot, cv):
    load_half(cv)
    cv.set_zoom(2.0)  # view centre (200, 150) shows image (400, 300); one image pixel is 2x2 view pixels
    viewport = cv.views()[0].viewport()
    with qtbot.waitSignal(cv.cursorPixelChanged) as signal:
        qtbot.mouseMove(viewport, QPoint(101, 51))
    assert signal.args == [350, 250]
    with qtbot.waitSignal(cv.cursorPixelChanged) as signal:
        QApplication.sendEvent(viewport, QEvent(QEvent.Type.Leave))
    assert signal.args == [-1, -1]


# --- divider and flip --------------------------------------------------------------------------------------------


def test_divider_shows_before_left_and_after_right(qtbot, cv):
    load_1to1(cv)
    with qtbot.assertNotEmitted(cv.dividerMoved):  # only user drags count as "moved"
        cv.set_divider_position(0.25)
    assert cv.divider_position() == 0.25
    pixels = grab(cv)
    for x in (5, 60, 94):
        assert at(pixels, x, 250) == RED
    for x in (106, 140, 300, 395):
        assert at(pixels, x, 250) == BLUE


def test_dragging_the_handle_moves_the_divider(qtbot, cv):
    load_1to1(cv)
    viewport = cv.views()[0].viewport()
    qtbot.mouseMove(viewport, QPoint(202, 150))  # hover over the handle
    assert viewport.cursor().shape() == Qt.CursorShape.SplitHCursor
    qtbot.mouseMove(viewport, QPoint(60, 250))
    assert viewport.cursor().shape() != Qt.CursorShape.SplitHCursor

    moves: list[float] = []
    cv.dividerMoved.connect(moves.append)
    drag(qtbot, viewport, QPoint(200, 150), QPoint(300, 150))
    assert moves and moves[-1] == pytest.approx(0.75, abs=0.003)
    assert cv.divider_position() == pytest.approx(0.75, abs=0.003)
    assert at(grab(cv), 250, 250) == RED  # what was after is now before

    drag(qtbot, viewport, QPoint(300, 80), QPoint(100, 80))  # the line itself grabs too, not just the handle
    assert moves[-1] == pytest.approx(0.25, abs=0.003)


def test_flip_key_shows_before_while_held(qtbot, cv):
    load_1to1(cv)
    view = cv.views()[0]
    cv.set_divider_position(0.25)
    with qtbot.waitSignal(cv.flipChanged) as signal:
        qtbot.keyPress(view, Qt.Key.Key_Space)
    assert signal.args == [True]
    assert at(grab(cv), 300, 250) == RED
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    assert at(grab(cv), 300, 250) == BLUE

    cv.set_flip_key(Qt.Key.Key_B)
    qtbot.keyPress(view, Qt.Key.Key_Space)
    assert at(grab(cv), 300, 250) == BLUE
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    qtbot.keyPress(view, Qt.Key.Key_B)
    assert at(grab(cv), 300, 250) == RED
    qtbot.keyRelease(view, Qt.Key.Key_B)


# --- side by side ------------------------------------------------------------------------------------------------


def test_side_by_side_views_zoom_and_pan_together(qtbot, cv):
    left, right = cv.views()
    cv.set_mode(CompareMode.SIDE_BY_SIDE)
    assert cv.mode() is CompareMode.SIDE_BY_SIDE
    assert not right.isVisible()  # the empty-state hint gets the whole widget
    cv.set_images(solid(200, 150, RED), solid(800, 600, BLUE), 4.0)
    assert right.isVisible() and left.viewport().size() == right.viewport().size()
    assert cv.zoom() == pytest.approx(left.viewport().width() / 800)  # fitted to the half-width views at once
    assert cv.visible_image_rect() == QRect(0, 0, 800, 600)
    assert at(grab(cv, 0), 100, 200) == RED and at(grab(cv, 1), 100, 200) == BLUE

    cv.set_zoom(2.0)
    assert left.transform() == right.transform()
    left.horizontalScrollBar().setValue(100)
    assert right.horizontalScrollBar().value() == 100
    right.verticalScrollBar().setValue(50)
    assert left.verticalScrollBar().value() == 50

    wheel(cv, QPointF(40, 60), 2, index=1)  # zoom in the right view...
    assert cv.zoom() == pytest.approx(2.0 * 1.25**2)
    assert left.transform() == right.transform()  # ...and the left one follows
    assert left.horizontalScrollBar().value() == right.horizontalScrollBar().value()
    assert left.verticalScrollBar().value() == right.verticalScrollBar().value()

    drag(qtbot, right.viewport(), QPoint(150, 150), QPoint(100, 120))
    assert left.horizontalScrollBar().value() == right.horizontalScrollBar().value()
    assert left.verticalScrollBar().value() == right.verticalScrollBar().value()
    point = QPointF(60, 70)
    assert left.mapToScene(point.toPoint()) == right.mapToScene(point.toPoint())


# --- resampling ----------------------------------------------------------------------------------------------------


def test_nearest_neighbour_from_200_percent_and_smooth_below(qtbot, cv):
    yy, xx = np.mgrid[0:300, 0:400]
    board = np.where(((xx + yy) % 2 == 0)[..., None], 255, 0).repeat(3, axis=2)
    load_1to1(cv, after=from_array(board))
    cv.set_divider_position(0.0)
    view = cv.views()[0]

    cv.set_zoom(8.0)
    assert cv.transformation_mode() == Qt.TransformationMode.FastTransformation
    assert not view.renderHints() & QPainter.RenderHint.SmoothPixmapTransform
    row = grab(cv)[200, :, 0]
    assert set(np.unique(row)) <= {0, 255}  # hard edges: no blended greys
    assert 45 <= np.count_nonzero(np.diff(row.astype(int))) <= 55  # one edge per 8 px image pixel

    cv.set_zoom(1.5)  # the same board smoothed does blend: proves the check above can fail
    row = grab(cv)[200, :, 0]
    assert np.count_nonzero((row > 20) & (row < 235)) > 100

    cv.set_zoom(0.5)
    assert cv.transformation_mode() == Qt.TransformationMode.SmoothTransformation
    assert view.renderHints() & QPainter.RenderHint.SmoothPixmapTransform


def test_tiles_render_without_seams(qtbot):
    """Small tiles must render exactly like one big tile, enlarged (before) and pyramid-reduced (after)."""
    rng = np.random.default_rng(0)
    before = from_array(rng.integers(0, 256, (75, 100, 3)))
    after = from_array(rng.integers(0, 256, (300, 400, 3)))
    renders = []
    for tile_size in (32, 4096):
        view = CompareView(tile_size=tile_size)
        qtbot.addWidget(view)
        view.resize(400, 300)
        view.show()
        view.set_images(before, after, 4.0)
        frames = []
        for zoom in (1.37, 0.3):
            view.set_zoom(zoom)
            frames.append(grab(view).astype(int))
        renders.append(frames)
    for tiled, whole in zip(*renders):
        assert np.abs(tiled - whole).max() <= 2


# --- regions and previews ------------------------------------------------------------------------------------------


def test_region_selection_emits_output_rectangle(qtbot, cv):
    load_half(cv)
    viewport = cv.views()[0].viewport()
    cv.start_region_selection()
    assert cv.is_selecting_region() and viewport.cursor().shape() == Qt.CursorShape.CrossCursor
    with qtbot.waitSignal(cv.regionSelected) as signal:
        drag(qtbot, viewport, QPoint(100, 100), QPoint(200, 150))
    assert signal.args == [QRect(200, 200, 200, 100)]  # 50 % zoom: view px * 2
    assert not cv.is_selecting_region()

    with qtbot.assertNotEmitted(cv.regionSelected):  # selection is one-shot: this drag pans
        drag(qtbot, viewport, QPoint(100, 100), QPoint(200, 150))

    cv.start_region_selection()
    with qtbot.waitSignal(cv.regionSelectionCanceled):
        qtbot.keyClick(cv.views()[0], Qt.Key.Key_Escape)
    with qtbot.assertNotEmitted(cv.regionSelected):
        drag(qtbot, viewport, QPoint(100, 100), QPoint(200, 150))


def test_preview_patch_shows_only_inside_its_rect_until_the_result_arrives(qtbot, cv):
    cv.set_images(solid(100, 75, RED), None, 4.0)
    cv.set_divider_position(0.0)  # the whole image is the after side
    cv.set_after_region(solid(50, 25, GREEN), QRect(200, 100, 100, 50))  # half-resolution patch, stretched
    pixels = grab(cv)
    assert at(pixels, 205, 105) == GREEN and at(pixels, 295, 145) == GREEN
    for x, y in [(195, 125), (305, 125), (250, 95), (250, 155), (100, 250)]:
        assert at(pixels, x, y) == RED

    cv.clear_preview()
    assert at(grab(cv), 250, 125) == RED
    cv.set_after_region(solid(100, 50, GREEN), QRect(200, 100, 100, 50))
    cv.set_after(solid(400, 300, BLUE))  # the real result replaces the preview
    assert at(grab(cv), 250, 125) == BLUE


def test_without_after_only_before_is_shown(qtbot, cv):
    cv.set_images(solid(100, 75, RED), None, 4.0)
    assert cv.output_size().toTuple() == (400, 300)
    pixels = grab(cv)
    assert (pixels == RED).all()  # no divider, handle or captions


def test_clear_draws_the_hint_in_palette_colours(qtbot, cv):
    load_half(cv)
    cv.clear()
    palette = cv.palette()
    background = QColor(10, 200, 30)
    palette.setColor(QPalette.ColorRole.Window, background)
    palette.setColor(QPalette.ColorRole.WindowText, QColor(200, 20, 220))
    cv.setPalette(palette)
    pixels = grab(cv)
    assert at(pixels, 2, 2) == (10, 200, 30) and at(pixels, 397, 297) == (10, 200, 30)
    centre = pixels[120:180, 100:300].astype(int)
    text_like = np.abs(centre - np.array([200, 20, 220])).sum(axis=2) < 60
    assert text_like.sum() > 50  # the hint text is drawn, in the palette's text colour
    assert cv.visible_image_rect().isNull()
    cv.zoom_in()  # harmless in the empty state
    cv.zoom_to_fit()

    cv.set_images(solid(50, 50, RED), None, 4.0)  # 200x200 output letterboxed in 400x300
    pixels = grab(cv)
    assert at(pixels, 10, 150) == (10, 200, 30) and at(pixels, 200, 150) == RED


# --- large images ------------------------------------------------------------------------------------------------


def test_large_images_stay_fluid(qtbot, cv):
    before = QImage(2000, 1500, QImage.Format.Format_RGB888)
    before.fill(QColor(200, 120, 40))
    after = QImage(8000, 6000, QImage.Format.Format_RGB888)  # 48 MP, as a decoder would hand it over
    after.fill(QColor(40, 120, 200))
    timings: dict[str, float] = {}

    def timed(name: str, action) -> None:
        start = time.perf_counter()
        action()
        cv.views()[0].viewport().grab()
        timings[name] = time.perf_counter() - start

    timed("set_images + first fit frame", lambda: cv.set_images(before, after, 4.0))
    timed("100 %", cv.zoom_actual)
    timed("pan", lambda: cv.views()[0].horizontalScrollBar().setValue(3000))
    timed("800 %", lambda: cv.set_zoom(8.0))
    timed("divider", lambda: cv.set_divider_position(0.3))
    timed("30 %", lambda: cv.set_zoom(0.3))
    timed("fit again", cv.zoom_to_fit)
    print("\nCompareView 8000x6000 timings: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items()))
    assert sum(timings.values()) < 5.0
    pixels = grab(cv)
    assert at(pixels, 20, 150) == (200, 120, 40) and at(pixels, 380, 150) == (40, 120, 200)
