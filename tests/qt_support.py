"""Small helpers shared by the Qt tests."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def qimage_array(image: QImage) -> np.ndarray:
    """An (H, W, 3) uint8 RGB copy of ``image``."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    buf = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return buf[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()
