"""What the window accepts as photos: file URLs dropped anywhere on it or on the clipboard, and dropped or
pasted bitmaps, which are kept as PNG files in the app's cache folder so they behave like any other file
(thumbnail, retry, save; their results go to the Pictures folder)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, QObject, QStandardPaths, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QWidget

from sinsr_gui import paths

IMAGE_FILTER = ("Images (*.png *.jpg *.jpeg *.jpe *.jfif *.webp *.tif *.tiff *.bmp *.dib *.gif *.avif *.heic "
                "*.heif);;All files (*)")


def local_files(mime: QMimeData | None) -> list[str]:
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime is not None and mime.hasUrls() else []


def keep_pasted(image: QImage) -> Path | None:
    """Save a pasted bitmap as "Pasted image <time>.png" in the cache folder; None if it cannot be written."""
    folder = paths.cache_dir() / "pasted"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H.%M.%S")
    target = folder / f"Pasted image {stamp}.png"
    n = 1
    while target.exists():
        target = folder / f"Pasted image {stamp} ({n}).png"
        n += 1
    return target if image.save(str(target), "PNG") else None


def pictures_folder() -> Path:
    """Where pasted images' results go: the user's Pictures folder (else home)."""
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return Path(pictures) if pictures else Path.home()


class PhotoIntake(QObject):
    """Drops on ``window`` (or any widget in it: Qt passes drag events up to the window) and pastes, as
    ``photosGiven(paths, pasted)``."""

    photosGiven = Signal(list, bool)  # paths, True for a kept pasted bitmap
    message = Signal(str, str)
    error = Signal(str)

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        window.setAcceptDrops(True)
        window.installEventFilter(self)

    def paste(self) -> None:
        """Clipboard files are added as they are; a bitmap is kept as a PNG in the cache folder first."""
        clipboard = QApplication.clipboard()
        files = local_files(clipboard.mimeData())
        if files:
            self.photosGiven.emit(files, False)
        else:
            self.add_image(clipboard.image())

    def add_image(self, image: QImage) -> None:
        if image.isNull():
            self.message.emit("The clipboard has no image: copy an image or image files first.", "")
            return
        target = keep_pasted(image)
        if target is None:
            self.error.emit("Could not keep the pasted image in the app's cache folder; check there is free disk space.")
            return
        self.photosGiven.emit([str(target)], True)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            mime = event.mimeData()
            if local_files(mime) or mime.hasImage():
                event.acceptProposedAction()
                return True
        elif kind == QEvent.Type.Drop:
            mime = event.mimeData()
            files = local_files(mime)
            if files or mime.hasImage():
                event.acceptProposedAction()
                if files:
                    self.photosGiven.emit(files, False)
                else:
                    self.add_image(QImage(mime.imageData()))
                return True
        return super().eventFilter(watched, event)
