"""The before/after compare view: one photo shown before and after a 4x upscale.

A view in the STYLE.md sense: it is handed QImages, keeps only display state (zoom, divider, mode) and emits
signals named for what the user did. It never imports the engine.

Coordinates: scene units are OUTPUT image pixels. The "before" input is stretched onto the output grid by its
item transform, so before and after line up pixel for pixel and view <-> image is one QGraphicsView transform.

Large images: every image is held as a `_TilePyramid`, pixmap tiles made lazily on first paint plus half-size
levels for zoomed-out drawing. A frame therefore costs about one viewport of pixels at any zoom, and a 48 MP
result costs nothing until it is looked at.

The divider is a clip rectangle on the after-side items (result and preview patches); moving it only repaints.

Images are kept by reference (QImage is implicitly shared); an image that wraps a foreign buffer (numpy, PIL)
must own its data, e.g. pass ``QImage(...).copy()``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QFont,
    QFontMetricsF,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QRubberBand,
    QStyleOptionGraphicsItem,
    QWidget,
)

__all__ = ["EMPTY_HINT", "ZOOM_MAX", "ZOOM_MIN", "CompareMode", "CompareView"]

ZOOM_MIN = 0.02
ZOOM_MAX = 32.0
NEAREST_FROM_ZOOM = 2.0  # from 200 % on, users inspect pixels: show them as crisp squares
WHEEL_STEP = 1.25  # zoom factor per wheel notch (angleDelta 120)
# Keyboard zoom snaps to friendly percentages instead of multiplying odd factors.
ZOOM_STEPS = (0.02, 0.03, 0.04, 0.05, 0.0625, 0.0833, 0.125, 0.167, 0.25, 0.333, 0.5, 0.667, 1.0, 1.5, 2.0,
              3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)
DEFAULT_TILE_SIZE = 1024
EMPTY_HINT = "Drop photos here or use File > Open"

_TILE_PAD = 1  # bilinear filtering reads one neighbour pixel; without it tile seams show when enlarged
_SMALLEST_LEVEL = 64  # stop halving when the longer side would drop below this
_DIVIDER_GRAB_PX = 6  # half-width of the area around the line that grabs the divider
_HANDLE_RADIUS = 14.0
_MIN_REGION_PX = 3  # a smaller drag is a click, not a selection


class CompareMode(enum.Enum):
    """How before and after are arranged."""

    SPLIT = "split"  # one view, "before" left of a draggable divider, "after" right of it
    SIDE_BY_SIDE = "side_by_side"  # two views, zoom and pan locked together


class _Drag(enum.Enum):
    NONE = enum.auto()
    PAN = enum.auto()
    DIVIDER = enum.auto()
    REGION = enum.auto()


# --- image storage -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tile:
    inner: QRectF  # the area this tile owns, in level-0 px of its pyramid
    padded: QRectF  # where `pixmap` (inner plus _TILE_PAD neighbours) lands, in level-0 px
    pixmap: QPixmap


class _TileLevel:
    """One resolution of a pyramid, cut into tiles that are turned into pixmaps on first use."""

    def __init__(self, image: QImage, full_size: QSize, tile_size: int) -> None:
        self.image = image  # kept to cut further tiles and to build the next level
        self._fx = full_size.width() / image.width()
        self._fy = full_size.height() / image.height()
        self._tile_size = tile_size
        self._cols = -(-image.width() // tile_size)
        self._rows = -(-image.height() // tile_size)
        self._tiles: dict[tuple[int, int], _Tile] = {}

    def tiles_in(self, area: QRectF) -> list[_Tile]:
        """Tiles overlapping `area` (level-0 px), cut on demand."""
        span_x, span_y = self._tile_size * self._fx, self._tile_size * self._fy
        c0 = max(0, int(area.left() // span_x))
        c1 = min(self._cols - 1, int(area.right() // span_x))
        r0 = max(0, int(area.top() // span_y))
        r1 = min(self._rows - 1, int(area.bottom() // span_y))
        return [self._tile(c, r) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]

    def _tile(self, col: int, row: int) -> _Tile:
        tile = self._tiles.get((col, row))
        if tile is None:
            ts = self._tile_size
            inner = QRect(col * ts, row * ts, ts, ts).intersected(self.image.rect())
            padded = inner.adjusted(-_TILE_PAD, -_TILE_PAD, _TILE_PAD, _TILE_PAD).intersected(self.image.rect())
            # fromImage converts once to the native paint format, so drawing never converts again.
            pixmap = QPixmap.fromImage(self.image.copy(padded))
            tile = _Tile(self._to_full(inner), self._to_full(padded), pixmap)
            self._tiles[(col, row)] = tile
        return tile

    def _to_full(self, rect: QRect) -> QRectF:
        return QRectF(rect.x() * self._fx, rect.y() * self._fy, rect.width() * self._fx, rect.height() * self._fy)


class _TilePyramid:
    """An image as lazily cut pixmap tiles, plus half-size levels (box-filtered) for zoomed-out drawing.

    Halved levels keep zoomed-out photos free of aliasing and keep a frame's cost near the viewport size.
    The pyramid is shared by the items of both views, so each tile exists once.
    """

    def __init__(self, image: QImage, tile_size: int) -> None:
        if image.isNull():
            raise ValueError("Cannot show an empty image.")
        self.size = image.size()
        self._tile_size = tile_size
        self._levels = [_TileLevel(image, self.size, tile_size)]
        longest = max(self.size.width(), self.size.height())
        self._max_level = 0
        while (longest >> (self._max_level + 1)) >= _SMALLEST_LEVEL:
            self._max_level += 1

    def level_for(self, device_scale: float) -> _TileLevel:
        """The coarsest level that still has at least one pixel per device pixel at `device_scale`."""
        wanted = 0 if device_scale >= 1.0 else int(math.floor(math.log2(1.0 / device_scale) + 1e-9))
        wanted = min(wanted, self._max_level)
        while len(self._levels) <= wanted:
            prev = self._levels[-1].image
            fast = (QImage.Format.Format_ARGB32_Premultiplied if prev.hasAlphaChannel()
                    else QImage.Format.Format_RGB32)
            if prev.format() != fast:
                # Qt's smooth scaler is ~10x slower on 24-bit images than converting first (48 MP: 0.6 s).
                prev = prev.convertToFormat(fast)
            half = prev.scaled(max(1, (prev.width() + 1) // 2), max(1, (prev.height() + 1) // 2),
                               Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation)
            self._levels.append(_TileLevel(half, self.size, self._tile_size))
        return self._levels[wanted]


class _TiledImageItem(QGraphicsItem):
    """Draws a `_TilePyramid` into a target rectangle of the scene, optionally clipped to a scene rectangle.

    One item instead of one QGraphicsPixmapItem per tile, because it picks the pyramid level per frame and
    draws only the tiles in the exposed area.
    """

    def __init__(self, pyramid: _TilePyramid, target: QRectF) -> None:
        super().__init__()
        self._pyramid = pyramid
        self._clip: QRectF | None = None
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # gives us exposedRect
        size = pyramid.size
        self.setPos(target.topLeft())
        self.setTransform(QTransform.fromScale(target.width() / size.width(), target.height() / size.height()))

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt override)
        return QRectF(0.0, 0.0, self._pyramid.size.width(), self._pyramid.size.height())

    def set_clip(self, clip: QRectF | None) -> None:
        """Show only the part inside `clip` (scene coordinates); None shows everything."""
        self._clip = None if clip is None else QRectF(clip)
        self.update()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        area = QRectF(option.exposedRect)
        clip = None
        if self._clip is not None:
            clip = self.mapRectFromScene(self._clip)
            area = area.intersected(clip)
        if area.isEmpty():
            return
        t = painter.worldTransform()
        device_scale = max(math.hypot(t.m11(), t.m12()), math.hypot(t.m21(), t.m22()))
        device_scale *= painter.device().devicePixelRatio()
        level = self._pyramid.level_for(device_scale)
        painter.save()
        if clip is not None:
            painter.setClipRect(clip, Qt.ClipOperation.IntersectClip)
        for tile in level.tiles_in(area):
            # Draw the padded tile but keep only its own area: neighbours then filter across the seam.
            painter.save()
            painter.setClipRect(tile.inner, Qt.ClipOperation.IntersectClip)
            painter.drawPixmap(tile.padded, tile.pixmap, QRectF(tile.pixmap.rect()))
            painter.restore()
        painter.restore()


class _CompareScene(QGraphicsScene):
    """One scene's items: the enlarged "before" at the bottom, the after side (result, previews) above it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)  # a handful of static items
        self._before: _TiledImageItem | None = None
        self._after: _TiledImageItem | None = None
        self._previews: list[_TiledImageItem] = []
        self._after_visible = False
        self._after_clip: QRectF | None = None

    def set_before(self, pyramid: _TilePyramid | None, target: QRectF) -> None:
        self._before = self._replace(self._before, pyramid, target, z=0.0)

    def set_after(self, pyramid: _TilePyramid | None, target: QRectF) -> None:
        self._after = self._replace(self._after, pyramid, target, z=1.0)

    def add_preview(self, pyramid: _TilePyramid, target: QRectF) -> None:
        item = self._replace(None, pyramid, target, z=2.0 + len(self._previews))
        assert item is not None
        self._previews.append(item)

    def remove_preview(self, index: int) -> None:
        self.removeItem(self._previews.pop(index))

    def clear_previews(self) -> None:
        for item in self._previews:
            self.removeItem(item)
        self._previews.clear()

    def set_after_side(self, *, visible: bool, clip: QRectF | None) -> None:
        self._after_visible, self._after_clip = visible, clip
        for item in self._after_items():
            self._style_after_item(item)

    def _after_items(self) -> list[_TiledImageItem]:
        return ([self._after] if self._after is not None else []) + self._previews

    def _style_after_item(self, item: _TiledImageItem) -> None:
        item.setVisible(self._after_visible)
        item.set_clip(self._after_clip)

    def _replace(self, old: _TiledImageItem | None, pyramid: _TilePyramid | None, target: QRectF,
                 z: float) -> _TiledImageItem | None:
        if old is not None:
            self.removeItem(old)
        if pyramid is None:
            return None
        item = _TiledImageItem(pyramid, target)
        item.setZValue(z)
        self.addItem(item)
        if z >= 1.0:
            self._style_after_item(item)
        return item


# --- views -----------------------------------------------------------------------------------------------------


class _ImageView(QGraphicsView):
    """A bare QGraphicsView that hands input and overlay painting to its CompareView."""

    def __init__(self, owner: CompareView, scene: QGraphicsScene) -> None:
        super().__init__(scene, owner)
        self._owner = owner
        self.setFrameShape(QFrame.Shape.NoFrame)
        # Scroll bars would double up side by side and eat space; panning is by dragging.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # CompareView anchors zoom itself
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        # QGraphicsView accepts drops for its scene by default and would swallow files dropped on the photo;
        # refusing them lets the drop reach the window that hosts this view.
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        # The overlay (divider, captions) lives in viewport coordinates, so a scroll cannot be a pixel blit;
        # a full repaint is cheap because the tiles draw about one viewport of pixels.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)  # the background is a flat fill
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontSavePainterState
                                  | QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewport().setMouseTracking(True)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        # QGraphicsView's own hint grows with the scene (up to 3/4 of the screen); the window must not jump.
        return QSize(320, 240)

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 (Qt override)
        # Read at paint time so light/dark palette switches apply without bookkeeping.
        painter.fillRect(rect, self.palette().color(QPalette.ColorRole.Window))

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 (Qt override)
        self._owner._paint_overlay(self, painter)

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Leave:
            self._owner._cursor_left()
        return super().viewportEvent(event)

    def event(self, event: QEvent) -> bool:
        # Let our keys beat window shortcuts while we have focus (e.g. a Space shortcut elsewhere).
        if event.type() == QEvent.Type.ShortcutOverride and self._owner._claims_key(event):
            event.accept()
            return True
        return super().event(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if not self._owner._mouse_press(self, event):
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self._owner._mouse_move(self, event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if not self._owner._mouse_release(self, event):
            super().mouseReleaseEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt override)
        if not self._owner._wheel(self, event):
            super().wheelEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if not self._owner._key_press(event):
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if not self._owner._key_release(event):
            super().keyReleaseEvent(event)

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802 (Qt override)
        self._owner._set_flipped(False)  # a release we never see must not leave "before" stuck on screen
        super().focusOutEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._owner._view_resized(self)


class CompareView(QWidget):
    """Before/after comparison of one photo: split with a divider, or side by side with locked views.

    Zoom 1.0 shows one output-image pixel per device-independent pixel. All image coordinates are OUTPUT pixels.
    """

    zoomChanged = Signal(float)  # new zoom, 1.0 == 100 %
    cursorPixelChanged = Signal(int, int)  # output pixel under the mouse; (-1, -1) outside the image
    dividerMoved = Signal(float)  # the user dragged the divider to this position (0..1 across the image)
    regionSelected = Signal(QRect)  # the rectangle dragged after start_region_selection(), output px
    regionSelectionCanceled = Signal()  # Esc (or clear()) ended region selection without a rectangle
    flipChanged = Signal(bool)  # True while the flip key shows "before" everywhere

    def __init__(self, parent: QWidget | None = None, *, mode: CompareMode = CompareMode.SPLIT,
                 divider_position: float = 0.5, flip_key: Qt.Key = Qt.Key.Key_Space,
                 tile_size: int = DEFAULT_TILE_SIZE) -> None:
        super().__init__(parent)
        if tile_size < 16:
            raise ValueError(f"tile_size must be at least 16 pixels, got {tile_size}.")
        self._mode = mode
        self._divider = min(1.0, max(0.0, float(divider_position)))
        self._flip_key = flip_key
        self._tile_size = tile_size

        self._before: _TilePyramid | None = None
        self._after: _TilePyramid | None = None
        self._previews: list[tuple[_TilePyramid, QRect]] = []
        self._labels = ("Before", "After")  # what each side shows, e.g. "Before (bicubic x4)", "B: SinSR v1"
        self._out_size = QSize()  # output image size; empty means the empty state
        self._problem: tuple[str, str] | None = None  # (title, reason) shown instead of the drop hint
        self._zoom = 1.0
        self._fit_mode = False  # re-fit on resize until the user picks a zoom
        self._flipped = False
        self._selecting_region = False
        self._drag = _Drag.NONE
        self._drag_view: _ImageView | None = None
        self._drag_origin = QPoint()
        self._last_pos = QPointF()
        self._cursor_pixel = (-1, -1)
        self._wheel_anchor: tuple[QPointF, QPointF] | None = None  # (view pos, scene pos) of the last wheel zoom
        self._syncing = False

        self._scene_pair = (_CompareScene(self), _CompareScene(self))
        self._primary = _ImageView(self, self._scene_pair[0])
        self._secondary = _ImageView(self, self._scene_pair[1])
        self._rubber_band: QRubberBand | None = None  # made on the view the drag starts in
        for src, dst in ((self._primary, self._secondary), (self._secondary, self._primary)):
            src.horizontalScrollBar().valueChanged.connect(
                lambda value, d=dst: self._sync_scroll(d.horizontalScrollBar(), value))
            src.verticalScrollBar().valueChanged.connect(
                lambda value, d=dst: self._sync_scroll(d.verticalScrollBar(), value))

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self._primary, 1)
        layout.addWidget(self._secondary, 1)
        self.setFocusProxy(self._primary)
        self._secondary.hide()
        self._update_smoothing()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(640, 480)

    # --- content ---------------------------------------------------------------------------------------------

    def set_images(self, before: QImage, after: QImage | None, scale: float) -> None:
        """Show a new photo: `before` is the original input, shown enlarged onto the output grid.

        The output size is `after`'s size, or round(scale * input size) while `after` is None. The view
        zooms to fit; mode, divider position and flip key are kept.
        """
        if before.isNull():
            raise ValueError("The photo to compare is empty.")
        if after is not None and not after.isNull():
            out = after.size()
        else:
            if not scale > 0:
                raise ValueError(f"scale must be positive, got {scale}.")
            after = None
            out = QSize(max(1, round(scale * before.width())), max(1, round(scale * before.height())))
        self._cancel_region_selection()
        self._problem = None
        self._before = _TilePyramid(before, self._tile_size)
        self._after = _TilePyramid(after, self._tile_size) if after is not None else None
        self._previews.clear()
        for scene in self._scenes():
            scene.clear_previews()
        self._set_output_size(out)
        self._refresh()
        self.zoom_to_fit()

    def set_labels(self, before: str, after: str) -> None:
        """Name the two sides (the captions in the view): what "before" is and which result "after" is."""
        self._labels = (before, after)
        for view in self._views():
            view.viewport().update()

    def labels(self) -> tuple[str, str]:
        return self._labels

    def set_after(self, after: QImage | None) -> None:
        """Show (or with None, drop) the processed result; removes any preview patches.

        A result whose size differs from the current output size becomes the new output size, and "before"
        is stretched to match so the two still line up. Ignored in the empty state.
        """
        if self._before is None:
            return
        self.clear_preview()
        if after is not None and after.isNull():
            after = None
        self._after = _TilePyramid(after, self._tile_size) if after is not None else None
        if after is not None and after.size() != self._out_size:
            self._set_output_size(after.size())  # re-places before and after on the new grid
            if self._fit_mode:
                self.zoom_to_fit()
        else:
            for scene in self._scenes():
                scene.set_after(self._after, self._image_rect())
        self._refresh()

    def set_after_region(self, patch: QImage, rect: QRect) -> None:
        """Show a preview result `patch` covering `rect` (output px) on the after side, over what is there.

        Patches accumulate (later ones on top, fully covered ones are dropped) until set_after() or
        clear_preview(). Ignored in the empty state or for an empty patch or rectangle.
        """
        if self._before is None or patch.isNull() or rect.isEmpty():
            return
        rect = QRect(rect)
        # Older patches hidden completely by the new one would only cost memory.
        for index in reversed(range(len(self._previews))):
            if rect.contains(self._previews[index][1]):
                del self._previews[index]
                for scene in self._scenes():
                    scene.remove_preview(index)
        pyramid = _TilePyramid(patch, self._tile_size)
        self._previews.append((pyramid, rect))
        for scene in self._scenes():
            scene.add_preview(pyramid, QRectF(rect))
        self._refresh()

    def clear_preview(self) -> None:
        """Remove all preview patches."""
        if not self._previews:
            return
        self._previews.clear()
        for scene in self._scenes():
            scene.clear_previews()
        self._refresh()

    def clear(self) -> None:
        """Go to the empty state, which shows a hint to drop or open photos."""
        self._problem = None
        self._cancel_region_selection()
        self._set_flipped(False)
        self._before = self._after = None
        self._previews.clear()
        for scene in self._scenes():
            scene.clear_previews()
        self._set_output_size(QSize())
        self._fit_mode = False
        self._refresh()
        self._emit_cursor_pixel((-1, -1))

    def show_problem(self, title: str, reason: str) -> None:
        """Go to the empty state and say why there is nothing to show (e.g. a file that cannot be read), in
        the view itself, where the photo would be."""
        self.clear()
        self._problem = (title, reason)
        for view in self._views():
            view.viewport().update()

    def problem(self) -> tuple[str, str] | None:
        """(title, reason) shown in place of a photo, or None."""
        return self._problem

    def view_state(self) -> tuple[float, bool, QPointF]:
        """(zoom, fit mode, the output pixel at the centre of the view), for :meth:`restore_view_state`."""
        inverse, _ = self._primary.viewportTransform().inverted()
        return self._zoom, self._fit_mode, inverse.map(QRectF(self._primary.viewport().rect()).center())

    def restore_view_state(self, state: tuple[float, bool, QPointF]) -> None:
        """Zoom and pan back to a :meth:`view_state` (after set_images, which fits the new photo)."""
        zoom, fit, centre = state
        if fit:
            self.zoom_to_fit()
            return
        self._fit_mode = False
        self._apply_zoom(zoom, self._primary, QRectF(self._primary.viewport().rect()).center(), centre)

    def output_size(self) -> QSize:
        """Size of the output image in pixels; empty in the empty state."""
        return QSize(self._out_size)

    def has_after(self) -> bool:
        """Whether a processed result is shown (previews do not count)."""
        return self._after is not None

    # --- mode, divider, flip ---------------------------------------------------------------------------------

    def mode(self) -> CompareMode:
        return self._mode

    def set_mode(self, mode: CompareMode) -> None:
        """Switch between the split view and two locked views side by side; zoom and centre are kept."""
        if mode == self._mode:
            return
        self._mode = mode
        self._cancel_region_selection()
        self._refresh()
        if mode is CompareMode.SIDE_BY_SIDE:
            self._copy_scroll(self._primary, self._secondary)

    def divider_position(self) -> float:
        return self._divider

    def set_divider_position(self, pos: float) -> None:
        """Put the divider at `pos` (0 = left edge, 1 = right edge). Does not emit dividerMoved."""
        pos = min(1.0, max(0.0, float(pos)))
        if pos != self._divider:
            self._divider = pos
            self._refresh()

    def set_flip_key(self, key: Qt.Key = Qt.Key.Key_Space) -> None:
        """The key that, while held, shows "before" everywhere."""
        self._set_flipped(False)
        self._flip_key = key

    def flip_key(self) -> Qt.Key:
        return self._flip_key

    def is_flipped(self) -> bool:
        return self._flipped

    def hold_flip(self, held: bool) -> None:
        """The flip key went down (True) or up, wherever the focus is (the window routes it here)."""
        self._set_flipped(held)

    # --- zoom ------------------------------------------------------------------------------------------------

    def zoom(self) -> float:
        return self._zoom

    def set_zoom(self, factor: float, anchor_view_pos: QPointF | None = None) -> None:
        """Zoom to `factor` (clamped to ZOOM_MIN..ZOOM_MAX) keeping the image point at `anchor_view_pos`
        (primary view coordinates; default the view centre) where it is."""
        self._fit_mode = False
        self._apply_zoom(factor, self._primary, anchor_view_pos)

    def zoom_in(self) -> None:
        """Next larger step of ZOOM_STEPS, around the view centre."""
        bigger = [z for z in ZOOM_STEPS if z > self._zoom * 1.001]
        self.set_zoom(bigger[0] if bigger else ZOOM_MAX)

    def zoom_out(self) -> None:
        """Next smaller step of ZOOM_STEPS (or the fit zoom, if smaller still), around the view centre."""
        smaller = [z for z in ZOOM_STEPS if z < self._zoom / 1.001]
        self.set_zoom(smaller[-1] if smaller else self._min_zoom())

    def zoom_to_fit(self) -> None:
        """Show the whole image, and keep doing so when the widget is resized until the user zooms."""
        if self._out_size.isEmpty():
            return
        self._fit_mode = True
        self._apply_zoom(self._fit_zoom(), self._primary, None)

    def zoom_actual(self) -> None:
        """100 %: one output pixel per device-independent pixel."""
        self.set_zoom(1.0)

    def is_fit(self) -> bool:
        """Whether the view is in fit-to-window mode."""
        return self._fit_mode

    def transformation_mode(self) -> Qt.TransformationMode:
        """How images are resampled at the current zoom: smooth below 200 %, nearest from there on."""
        if self._zoom < NEAREST_FROM_ZOOM:
            return Qt.TransformationMode.SmoothTransformation
        return Qt.TransformationMode.FastTransformation

    # --- geometry ----------------------------------------------------------------------------------------------

    def views(self) -> tuple[QGraphicsView, QGraphicsView]:
        """(primary, secondary) graphics views; the secondary is shown only side by side, as "after"."""
        return self._primary, self._secondary

    def map_view_to_image(self, pos: QPointF) -> QPointF:
        """Primary view widget coordinates to output-image pixels (sub-pixel exact)."""
        inverse, _ = self._primary.viewportTransform().inverted()
        return inverse.map(QPointF(pos))

    def map_image_to_view(self, pos: QPointF) -> QPointF:
        """Output-image pixels to primary view widget coordinates."""
        return self._primary.viewportTransform().map(QPointF(pos))

    def visible_image_rect(self) -> QRect:
        """Output pixels at least partly in view, clipped to the image; empty in the empty state."""
        if self._out_size.isEmpty():
            return QRect()
        inverse, _ = self._primary.viewportTransform().inverted()
        seen = inverse.mapRect(QRectF(self._primary.viewport().rect()))
        return seen.intersected(self._image_rect()).toAlignedRect().intersected(QRect(QPoint(0, 0), self._out_size))

    # --- region selection ----------------------------------------------------------------------------------

    def start_region_selection(self) -> None:
        """The next left drag draws a rubber band and emits regionSelected; Esc cancels."""
        if self._out_size.isEmpty():
            return
        self._selecting_region = True
        for view in self._views():
            view.viewport().setCursor(Qt.CursorShape.CrossCursor)

    def is_selecting_region(self) -> bool:
        return self._selecting_region

    # --- internals: state ----------------------------------------------------------------------------------

    def _scenes(self) -> tuple[_CompareScene, _CompareScene]:
        return self._scene_pair

    def _views(self) -> tuple[_ImageView, _ImageView]:
        return self._primary, self._secondary

    def _image_rect(self) -> QRectF:
        return QRectF(0.0, 0.0, self._out_size.width(), self._out_size.height())

    def _set_output_size(self, out: QSize) -> None:
        self._out_size = QSize(out)
        target = self._image_rect()
        # A 1x1 scene rect in the empty state: a null rect would make the view grow it from items.
        scene_rect = target if not out.isEmpty() else QRectF(0, 0, 1, 1)
        for scene, view in zip(self._scenes(), self._views()):
            scene.set_before(self._before, target)
            scene.set_after(self._after, target)
            scene.setSceneRect(scene_rect)
            view.setSceneRect(scene_rect)

    def _has_after_side(self) -> bool:
        return self._after is not None or bool(self._previews)

    def _divider_shown(self) -> bool:
        return (self._mode is CompareMode.SPLIT and not self._out_size.isEmpty() and self._has_after_side()
                and not self._flipped)

    def _refresh(self) -> None:
        """Apply mode, flip and divider to the after-side items and repaint."""
        primary, secondary = self._scenes()
        empty = self._out_size.isEmpty()
        show_secondary = self._mode is CompareMode.SIDE_BY_SIDE and not empty
        if self._secondary.isHidden() == show_secondary:
            self._secondary.setVisible(show_secondary)
            self.layout().activate()  # resize the views now, so zoom and fit maths see final sizes
        image = self._image_rect()
        if empty or self._flipped:
            primary.set_after_side(visible=False, clip=None)
            secondary.set_after_side(visible=False, clip=None)
        elif self._mode is CompareMode.SPLIT:
            x = self._divider * image.width()
            primary.set_after_side(visible=True, clip=QRectF(x, 0.0, image.width() - x, image.height()))
            secondary.set_after_side(visible=False, clip=None)
        else:
            primary.set_after_side(visible=False, clip=None)
            secondary.set_after_side(visible=True, clip=image)  # previews must not spill past the image
        for view in self._views():
            view.viewport().update()

    def _set_flipped(self, flipped: bool) -> None:
        if flipped == self._flipped or (flipped and self._out_size.isEmpty()):
            return
        self._flipped = flipped
        self._refresh()
        self.flipChanged.emit(flipped)

    # --- internals: zoom and scrolling -----------------------------------------------------------------------

    def _fit_zoom(self) -> float:
        size = self._primary.viewport().size()
        if self._out_size.isEmpty() or size.isEmpty():
            return 1.0
        return min(size.width() / self._out_size.width(), size.height() / self._out_size.height())

    def _min_zoom(self) -> float:
        # A huge image in a small window may need less than ZOOM_MIN to fit; fit must always be reachable.
        return min(ZOOM_MIN, self._fit_zoom())

    def _apply_zoom(self, factor: float, source: _ImageView, anchor: QPointF | None,
                    scene_anchor: QPointF | None = None) -> None:
        """Set the zoom on both views, keeping `scene_anchor` (default: the point under `anchor`) at `anchor`."""
        if self._out_size.isEmpty():
            return
        factor = min(ZOOM_MAX, max(self._min_zoom(), float(factor)))
        if anchor is None:
            anchor = QRectF(source.viewport().rect()).center()
        if scene_anchor is None:
            inverse, _ = source.viewportTransform().inverted()
            scene_anchor = inverse.map(anchor)
        for view in self._views():
            view.setTransform(QTransform.fromScale(factor, factor))
        # Scroll bars are integers, so the anchor stays put to within half a view pixel.
        offset = source.viewportTransform().map(scene_anchor) - anchor
        h, v = source.horizontalScrollBar(), source.verticalScrollBar()
        h.setValue(h.value() + round(offset.x()))
        v.setValue(v.value() + round(offset.y()))
        if self._mode is CompareMode.SIDE_BY_SIDE:
            other = self._secondary if source is self._primary else self._primary
            self._copy_scroll(source, other)
        changed = factor != self._zoom
        self._zoom = factor
        self._update_smoothing()
        for view in self._views():
            self._update_hover_cursor(view, None)
            view.viewport().update()
        if changed:
            self.zoomChanged.emit(factor)

    def _update_smoothing(self) -> None:
        smooth = self.transformation_mode() == Qt.TransformationMode.SmoothTransformation
        for view in self._views():
            view.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)

    def _sync_scroll(self, target, value: int) -> None:
        """Mirror a scroll of one view onto the other while side by side (pan lock)."""
        if self._syncing or self._mode is not CompareMode.SIDE_BY_SIDE:
            return
        self._syncing = True
        try:
            target.setValue(value)
        finally:
            self._syncing = False

    def _copy_scroll(self, src: _ImageView, dst: _ImageView) -> None:
        dst.setTransform(src.transform())
        self._syncing = True
        try:
            dst.horizontalScrollBar().setValue(src.horizontalScrollBar().value())
            dst.verticalScrollBar().setValue(src.verticalScrollBar().value())
        finally:
            self._syncing = False

    def _view_resized(self, view: _ImageView) -> None:
        if self._out_size.isEmpty():
            return
        if self._fit_mode:
            self._apply_zoom(self._fit_zoom(), self._primary, None)
        elif self._mode is CompareMode.SIDE_BY_SIDE and view is self._secondary:
            self._copy_scroll(self._primary, self._secondary)

    def _pan(self, view: _ImageView, delta: QPointF) -> None:
        h, v = view.horizontalScrollBar(), view.verticalScrollBar()
        h.setValue(h.value() - round(delta.x()))
        v.setValue(v.value() - round(delta.y()))

    # --- internals: divider geometry (primary view coordinates) --------------------------------------------

    def _image_view_rect(self, view: QGraphicsView) -> QRectF:
        return view.viewportTransform().mapRect(self._image_rect())

    def _divider_line(self) -> tuple[float, float, float]:
        """(x, top, bottom) of the divider's visible part in primary view coordinates."""
        rect = self._image_view_rect(self._primary)
        height = self._primary.viewport().height()
        x = rect.left() + self._divider * rect.width()
        return x, max(rect.top(), 0.0), min(rect.bottom(), float(height))

    def _handle_centre(self) -> QPointF:
        x, top, bottom = self._divider_line()
        return QPointF(x, (top + bottom) / 2.0)  # middle of the visible line: reachable at any zoom

    def _on_divider(self, view: QGraphicsView, pos: QPointF) -> bool:
        if view is not self._primary or not self._divider_shown():
            return False
        x, top, bottom = self._divider_line()
        on_line = abs(pos.x() - x) <= _DIVIDER_GRAB_PX and top <= pos.y() <= bottom
        centre = self._handle_centre()
        on_handle = math.hypot(pos.x() - centre.x(), pos.y() - centre.y()) <= _HANDLE_RADIUS + 2
        return on_line or on_handle

    def _move_divider_to(self, pos: QPointF) -> None:
        rect = self._image_view_rect(self._primary)
        new = min(1.0, max(0.0, (pos.x() - rect.left()) / rect.width())) if rect.width() > 0 else self._divider
        if new != self._divider:
            self._divider = new
            self._refresh()
            self.dividerMoved.emit(new)

    # --- internals: input --------------------------------------------------------------------------------------

    def _mouse_press(self, view: _ImageView, event: QMouseEvent) -> bool:
        if self._out_size.isEmpty():
            return False
        pos = event.position()
        button = event.button()
        if button == Qt.MouseButton.LeftButton and self._selecting_region:
            self._drag = _Drag.REGION
            self._drag_origin = pos.toPoint()
            self._hide_rubber_band()
            self._rubber_band = QRubberBand(QRubberBand.Shape.Rectangle, view.viewport())
            self._rubber_band.setGeometry(QRect(self._drag_origin, QSize()))
            self._rubber_band.show()
        elif button == Qt.MouseButton.LeftButton and self._on_divider(view, pos):
            self._drag = _Drag.DIVIDER
            self._move_divider_to(pos)
        elif button in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._drag = _Drag.PAN
            view.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        else:
            return False
        self._drag_view = view
        self._last_pos = QPointF(pos)
        event.accept()
        return True

    def _mouse_move(self, view: _ImageView, event: QMouseEvent) -> None:
        pos = event.position()
        if self._wheel_anchor is not None and self._wheel_anchor[0] != pos:
            self._wheel_anchor = None
        self._report_cursor_pixel(view, pos)
        if self._drag is _Drag.DIVIDER:
            self._move_divider_to(pos)
        elif self._drag is _Drag.PAN and self._drag_view is view:
            delta = pos - self._last_pos
            step = QPointF(round(delta.x()), round(delta.y()))
            self._pan(view, step)
            self._last_pos += step  # keep the rounding remainder for the next move
        elif self._drag is _Drag.REGION and self._rubber_band is not None:
            self._rubber_band.setGeometry(QRect(self._drag_origin, pos.toPoint()).normalized())
        else:
            self._update_hover_cursor(view, pos)
        event.accept()

    def _mouse_release(self, view: _ImageView, event: QMouseEvent) -> bool:
        if self._drag is _Drag.NONE:
            return False
        drag, self._drag, self._drag_view = self._drag, _Drag.NONE, None
        pos = event.position()
        if drag is _Drag.REGION:
            self._hide_rubber_band()
            band = QRectF(QPointF(self._drag_origin), pos).normalized()  # QRect corners would add 1 px
            if band.width() >= _MIN_REGION_PX and band.height() >= _MIN_REGION_PX:
                region = self._view_rect_to_image(view, band)
                if not region.isEmpty():
                    self._end_region_selection()
                    self.regionSelected.emit(region)
        self._update_hover_cursor(view, pos)
        event.accept()
        return True

    def _view_rect_to_image(self, view: QGraphicsView, rect: QRectF) -> QRect:
        inverse, _ = view.viewportTransform().inverted()
        a, b = inverse.map(rect.topLeft()), inverse.map(rect.bottomRight())
        # Any pixel the band touches is in: a preview of the region must cover everything the user framed.
        image_rect = QRectF(a, b).normalized().intersected(self._image_rect())
        return image_rect.toAlignedRect() if not image_rect.isEmpty() else QRect()

    def _hide_rubber_band(self) -> None:
        if self._rubber_band is not None:
            self._rubber_band.hide()
            self._rubber_band.deleteLater()
            self._rubber_band = None

    def _end_region_selection(self) -> None:
        self._selecting_region = False
        for view in self._views():
            self._update_hover_cursor(view, None)

    def _cancel_region_selection(self) -> None:
        if not self._selecting_region:
            return
        self._hide_rubber_band()
        if self._drag is _Drag.REGION:
            self._drag = _Drag.NONE
        self._end_region_selection()
        self.regionSelectionCanceled.emit()

    def _wheel(self, view: _ImageView, event: QWheelEvent) -> bool:
        steps = event.angleDelta().y() / 120.0
        if steps == 0 or self._out_size.isEmpty():
            return False
        pos = event.position()
        # Reuse the exact scene point while the mouse rests, so integer scrolling cannot make it drift.
        if self._wheel_anchor is not None and self._wheel_anchor[0] == pos:
            scene_anchor = self._wheel_anchor[1]
        else:
            inverse, _ = view.viewportTransform().inverted()
            scene_anchor = inverse.map(pos)
        self._fit_mode = False
        self._apply_zoom(self._zoom * WHEEL_STEP ** steps, view, pos, scene_anchor)
        self._wheel_anchor = (QPointF(pos), scene_anchor)
        event.accept()
        return True

    def _claims_key(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key == Qt.Key.Key_Escape:
            return self._selecting_region
        return key == self._flip_key and event.modifiers() == Qt.KeyboardModifier.NoModifier

    def _key_press(self, event: QKeyEvent) -> bool:
        key = event.key()
        if key == self._flip_key:
            if not event.isAutoRepeat():
                self._set_flipped(True)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_in()
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom_out()
        elif key == Qt.Key.Key_0:
            self.zoom_to_fit()
        elif key == Qt.Key.Key_1:
            self.zoom_actual()
        elif key == Qt.Key.Key_Escape and self._selecting_region:
            self._cancel_region_selection()
        else:
            return False
        event.accept()
        return True

    def _key_release(self, event: QKeyEvent) -> bool:
        if event.key() != self._flip_key:
            return False
        if not event.isAutoRepeat():
            self._set_flipped(False)
        event.accept()
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if not self._key_press(event):
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if not self._key_release(event):
            super().keyReleaseEvent(event)

    def _report_cursor_pixel(self, view: QGraphicsView, pos: QPointF) -> None:
        if self._out_size.isEmpty():
            self._emit_cursor_pixel((-1, -1))
            return
        inverse, _ = view.viewportTransform().inverted()
        p = inverse.map(pos)
        x, y = math.floor(p.x()), math.floor(p.y())
        inside = 0 <= x < self._out_size.width() and 0 <= y < self._out_size.height()
        self._emit_cursor_pixel((x, y) if inside else (-1, -1))

    def _emit_cursor_pixel(self, pixel: tuple[int, int]) -> None:
        if pixel != self._cursor_pixel:
            self._cursor_pixel = pixel
            self.cursorPixelChanged.emit(*pixel)

    def _cursor_left(self) -> None:
        if self._drag is _Drag.NONE:
            self._emit_cursor_pixel((-1, -1))

    def _update_hover_cursor(self, view: _ImageView, pos: QPointF | None) -> None:
        if self._drag is not _Drag.NONE:
            return
        if self._selecting_region:
            shape = Qt.CursorShape.CrossCursor
        elif pos is not None and self._on_divider(view, pos):
            shape = Qt.CursorShape.SplitHCursor
        elif view.horizontalScrollBar().maximum() > 0 or view.verticalScrollBar().maximum() > 0:
            shape = Qt.CursorShape.OpenHandCursor  # there is something to drag into view
        else:
            shape = Qt.CursorShape.ArrowCursor
        view.viewport().setCursor(shape)

    # --- internals: overlay painting (viewport coordinates, so it keeps its size at any zoom) ----------------

    def _paint_overlay(self, view: _ImageView, painter: QPainter) -> None:
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        area = QRectF(view.viewport().rect())
        if self._out_size.isEmpty():
            if view is self._primary:
                self._paint_empty_hint(painter, area, view)
        else:
            image = self._image_view_rect(view).intersected(area)
            before_label = self._labels[0]
            after_label = self._labels[1] if self._after is not None else "Preview"
            if view is self._secondary:
                if self._flipped:
                    label = before_label
                elif self._has_after_side():
                    label = after_label
                else:
                    label = "Not processed yet"
                self._paint_caption(painter, view, label, image, right=False)
            elif self._flipped or self._mode is CompareMode.SIDE_BY_SIDE:
                self._paint_caption(painter, view, before_label, image, right=False)
            elif self._divider_shown():
                x, _, _ = self._divider_line()
                left = QRectF(image.left(), image.top(), min(x, image.right()) - image.left(), image.height())
                right = QRectF(max(x, image.left()), image.top(), image.right() - max(x, image.left()),
                               image.height())
                self._paint_caption(painter, view, before_label, left, right=False)
                self._paint_caption(painter, view, after_label, right, right=True)
                self._paint_divider(painter)
        painter.restore()

    def _paint_caption(self, painter: QPainter, view: QWidget, text: str, room: QRectF, *, right: bool) -> None:
        """A small dark pill with light text in a top corner of `room`; skipped when it does not fit."""
        font = QFont(view.font())
        metrics = QFontMetricsF(font)
        margin, pad_x, pad_y = 8.0, 8.0, 3.0
        width = metrics.horizontalAdvance(text) + 2 * pad_x
        height = metrics.height() + 2 * pad_y
        if room.width() < width + 2 * margin or room.height() < height + 2 * margin:
            return
        x = room.right() - margin - width if right else room.left() + margin
        pill = QRectF(x, room.top() + margin, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))  # readable over any photo, light or dark
        painter.drawRoundedRect(pill, height / 2, height / 2)
        painter.setFont(font)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_divider(self, painter: QPainter) -> None:
        x, top, bottom = self._divider_line()
        width = self._primary.viewport().width()
        if not -_HANDLE_RADIUS <= x <= width + _HANDLE_RADIUS or bottom <= top:
            return
        x = round(x)  # a 2 px line centred on a pixel edge stays crisp
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0, 90), 4))  # dark halo keeps the white line visible on white photos
        painter.drawLine(QPointF(x, top), QPointF(x, bottom))
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.drawLine(QPointF(x, top), QPointF(x, bottom))
        centre = QPointF(x, self._handle_centre().y())
        painter.setPen(QPen(QColor(0, 0, 0, 90), 2))
        painter.setBrush(QColor(255, 255, 255))
        painter.drawEllipse(centre, _HANDLE_RADIUS, _HANDLE_RADIUS)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(70, 70, 70))
        r = _HANDLE_RADIUS
        for sign in (-1.0, 1.0):  # two arrows: "drag me sideways"
            tip = centre + QPointF(sign * r * 0.6, 0.0)
            base = centre + QPointF(sign * r * 0.15, 0.0)
            painter.drawPolygon(QPolygonF([tip, base + QPointF(0.0, -r * 0.35), base + QPointF(0.0, r * 0.35)]))

    def _paint_empty_hint(self, painter: QPainter, area: QRectF, view: QWidget) -> None:
        palette = view.palette()
        box = QRectF(0.0, 0.0, min(area.width() - 40.0, 460.0), min(area.height() - 40.0, 180.0))
        box.moveCenter(area.center())
        if box.width() > 60 and box.height() > 40:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(palette.color(QPalette.ColorRole.PlaceholderText), 2, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(box, 14, 14)
        font = QFont(view.font())
        if font.pointSizeF() > 0:
            font.setPointSizeF(font.pointSizeF() * 1.3)
        else:
            font.setPixelSize(round(font.pixelSize() * 1.3))
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.WindowText))
        text_box = box.adjusted(12, 12, -12, -12) if box.width() > 60 else area
        if self._problem is None:
            painter.drawText(text_box, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, EMPTY_HINT)
            return
        title, reason = self._problem  # the title large, the reason in the normal size under it
        metrics = QFontMetricsF(font)
        title_box = QRectF(text_box.left(), text_box.top(), text_box.width(), metrics.height() * 1.6)
        painter.drawText(title_box, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, title)
        painter.setFont(QFont(view.font()))
        painter.drawText(text_box.adjusted(0, title_box.height(), 0, 0),
                         Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                         reason)
