"""The queue of photos: thumbnails, size and state, with add / remove / reorder / retry. A view only.

Items are identified by the queue's job ids (``sinsr_gui.queue``); the panel keeps only what it displays.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sinsr_gui.queue import STATES, Job

STATE_LABELS = {
    "waiting": "Waiting",
    "running": "Upscaling…",
    "done": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
UNREADABLE = "Unreadable"  # the label of a photo whose file cannot be read (state "failed")
_ID_ROLE = Qt.ItemDataRole.UserRole
_STATE_ROLE = Qt.ItemDataRole.UserRole + 1
THUMB = 56  # logical pixels; drawn at the screen's device pixel ratio


class QueuePanel(QWidget):
    """A list of queued photos. Signals carry item ids."""

    addRequested = Signal()
    removeRequested = Signal(list)
    retryRequested = Signal(list)
    currentItemChanged = Signal(int)  # -1 when nothing is selected
    orderChanged = Signal(list)  # all ids, in the new order

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._names: dict[int, str] = {}
        self._sizes: dict[int, str] = {}
        self._reasons: dict[int, str] = {}
        self._labels: dict[int, str] = {}
        self._paths: dict[int, str] = {}
        self._thumbs: dict[int, QIcon] = {}
        self._placeholder = self._placeholder_icon()
        self._reordering = False

        self.list = QListWidget(self)
        self.list.setObjectName("queueList")
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        # Internal moves only: files dragged in from outside fall through to the window's drop handler.
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.list.setUniformItemSizes(True)
        self.list.setWordWrap(False)
        self.list.setToolTip("Photos to upscale. Drag to change the order; hover a failed photo to see why.")
        self.list.setAccessibleName("Photo queue")
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.list.model().rowsMoved.connect(lambda *_: self.orderChanged.emit(self.item_ids()))

        self.add_button = self._button("Add…", QStyle.StandardPixmap.SP_FileDialogNewFolder,
                                       "Add photos or folders to the queue (Ctrl+O).", self.addRequested.emit)
        self.remove_button = self._button("Remove", QStyle.StandardPixmap.SP_DialogDiscardButton,
                                          "Take the selected photos out of the queue (Delete). "
                                          "The files themselves are not touched.",
                                          lambda: self.removeRequested.emit(self.selected_ids()))
        self.up_button = self._button("Up", QStyle.StandardPixmap.SP_ArrowUp,
                                      "Move the selected photos earlier in the queue (Alt+Up).",
                                      lambda: self.move_selected(-1))
        self.down_button = self._button("Down", QStyle.StandardPixmap.SP_ArrowDown,
                                        "Move the selected photos later in the queue (Alt+Down).",
                                        lambda: self.move_selected(1))
        self.retry_button = self._button("Retry", QStyle.StandardPixmap.SP_BrowserReload,
                                         "Upscale the selected photos again, e.g. after a failure, a cancel "
                                         "or a change of settings (Ctrl+Shift+R).",
                                         lambda: self.retryRequested.emit(self.selected_ids()))

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(2)
        for b in (self.add_button, self.remove_button, self.up_button, self.down_button, self.retry_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._update_buttons()

    def _button(self, text: str, icon: QStyle.StandardPixmap, tip: str, slot) -> QToolButton:
        b = QToolButton(self)
        b.setText(text)
        b.setIcon(self.style().standardIcon(icon))
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon if text == "Add…"
                             else Qt.ToolButtonStyle.ToolButtonIconOnly)
        b.setToolTip(tip)
        b.setAccessibleName(text)
        b.setAutoRaise(True)
        b.clicked.connect(slot)
        return b

    # ------------------------------------------------------------------------------------------- items
    def add_item(self, item_id: int, name: str, path: str = "") -> None:
        self._names[item_id] = name
        self._paths[item_id] = path
        item = QListWidgetItem(self._placeholder, "")
        item.setData(_ID_ROLE, item_id)
        item.setData(_STATE_ROLE, "waiting")
        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsDropEnabled)  # items are not drop targets
        self.list.addItem(item)
        self._refresh(item)
        if self.list.currentItem() is None:
            self.list.setCurrentItem(item)
        self._update_buttons()

    def remove_items(self, ids: list[int]) -> None:
        for item_id in ids:
            item = self._item(item_id)
            if item is not None:
                self.list.takeItem(self.list.row(item))
            for d in (self._names, self._sizes, self._reasons, self._labels, self._paths, self._thumbs):
                d.pop(item_id, None)
        self._update_buttons()

    def set_thumbnail(self, item_id: int, image: QImage) -> None:
        item = self._item(item_id)
        if item is None or image.isNull():
            return
        dpr = self.devicePixelRatioF()
        side = round(THUMB * dpr)
        scaled = image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                              Qt.TransformationMode.SmoothTransformation)
        pixmap = QPixmap.fromImage(scaled)
        pixmap.setDevicePixelRatio(dpr)
        self._thumbs[item_id] = QIcon(pixmap)
        self._refresh(item)

    def set_size_text(self, item_id: int, text: str) -> None:
        self._sizes[item_id] = text
        self._refresh(self._item(item_id))

    def set_state(self, item_id: int, state: str, reason: str = "", *, label: str = "") -> None:
        """Show ``state`` (``label``: other words for it, e.g. "Unreadable" for a failed read) and the
        ``reason`` in the tooltip."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        item = self._item(item_id)
        if item is None:
            return
        item.setData(_STATE_ROLE, state)
        self._reasons[item_id] = reason
        self._labels[item_id] = label or STATE_LABELS[state]
        self._refresh(item)
        self._update_buttons()

    def show_job(self, job: Job, *, label: str = "") -> None:
        """Show a queue job's state, reason and size."""
        if job.size is not None:
            self._sizes[job.id] = f"{job.size[0]} × {job.size[1]}"
        self.set_state(job.id, job.state, job.message, label=label)

    def state(self, item_id: int) -> str | None:
        item = self._item(item_id)
        return None if item is None else item.data(_STATE_ROLE)

    def tooltip(self, item_id: int) -> str:
        item = self._item(item_id)
        return "" if item is None else item.toolTip()

    def item_ids(self) -> list[int]:
        return [self.list.item(i).data(_ID_ROLE) for i in range(self.list.count())]

    def selected_ids(self) -> list[int]:
        rows = sorted(self.list.row(i) for i in self.list.selectedItems())
        return [self.list.item(r).data(_ID_ROLE) for r in rows]

    def current_id(self) -> int:
        item = self.list.currentItem()
        return -1 if item is None else item.data(_ID_ROLE)

    def set_current(self, item_id: int) -> None:
        """Make the item the current one, and the only one selected."""
        item = self._item(item_id)
        if item is not None:
            self.list.setCurrentItem(item, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def move_selected(self, delta: int) -> None:
        """Move the selected items one row up (-1) or down (+1), keeping them selected."""
        ids = self.selected_ids()
        if not ids:
            return
        rows = [self.list.row(self._item(i)) for i in ids]
        if (delta < 0 and rows[0] == 0) or (delta > 0 and rows[-1] == self.list.count() - 1):
            return
        current = self.current_id()
        order = self.item_ids()
        for item_id in (ids if delta < 0 else reversed(ids)):
            i = order.index(item_id)
            order[i], order[i + delta] = order[i + delta], order[i]
        self._apply_order(order)
        self.list.clearSelection()
        for item_id in ids:
            self._item(item_id).setSelected(True)
        del current
        self.orderChanged.emit(self.item_ids())

    # ----------------------------------------------------------------------------------------- internals
    def _apply_order(self, order: list[int]) -> None:
        """Rearrange rows to ``order`` without reporting the take/insert churn as selection changes."""
        current = self.current_id()
        self._reordering = True
        try:
            for target, item_id in enumerate(order):
                item = self._item(item_id)
                row = self.list.row(item)
                if row != target:
                    self.list.insertItem(target, self.list.takeItem(row))
            if current != -1:
                self.list.setCurrentItem(self._item(current))
        finally:
            self._reordering = False

    def _item(self, item_id: int) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(_ID_ROLE) == item_id:
                return item
        return None

    def _refresh(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        item_id = item.data(_ID_ROLE)
        state = item.data(_STATE_ROLE)
        size = self._sizes.get(item_id, "")
        label = self._labels.get(item_id, STATE_LABELS[state])
        details = " · ".join(p for p in (size, label) if p)
        item.setText(f"{self._names.get(item_id, '')}\n{details}")
        tip = self._paths.get(item_id) or self._names.get(item_id, "")
        reason = self._reasons.get(item_id, "")
        if reason:
            tip += f"\n{label}: {reason}"
        item.setToolTip(tip)
        if state == "failed":
            item.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
        else:
            item.setIcon(self._thumbs.get(item_id, self._placeholder))

    def _placeholder_icon(self) -> QIcon:
        """A neutral square in the palette's colours while the thumbnail loads."""
        dpr = self.devicePixelRatioF()
        pixmap = QPixmap(round(THUMB * dpr), round(THUMB * dpr))
        pixmap.setDevicePixelRatio(dpr)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self.palette().color(QPalette.ColorRole.Mid))
        painter.setBrush(self.palette().color(QPalette.ColorRole.AlternateBase))
        painter.drawRoundedRect(4, 4, THUMB - 8, THUMB - 8, 6, 6)
        painter.end()
        return QIcon(pixmap)

    def _on_current_changed(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if self._reordering:
            return
        self.currentItemChanged.emit(-1 if current is None else current.data(_ID_ROLE))

    def _update_buttons(self) -> None:
        selected = self.selected_ids()
        states = {self.state(i) for i in selected}
        self.remove_button.setEnabled(bool(selected))
        self.up_button.setEnabled(bool(selected))
        self.down_button.setEnabled(bool(selected))
        self.retry_button.setEnabled(bool(states & {"failed", "cancelled", "done"}))
