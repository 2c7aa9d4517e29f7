"""Render real screenshots of the app for the docs, on a real (virtual) X display.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots.py [INPUT.png]

INPUT (default: Set14 flowers.png from the shared datasets) is the full-resolution "truth"; the script
shrinks it 4x (Lanczos) to make the small photo a user would start from, then upscales that with the built-in
Photo model, or with the tiny case_a SinSR test model when the built-in one is not there (``--model``).

Writes into docs/screenshots/: empty.png, compare_100.png, compare_zoom.png, side_by_side.png, first_run.png
(the first-launch banner), first_run_panel.png (Model > Get the SinSR model…), where_to_save.png (the question
before the first automatic save), batch_summary.png (after a batch with an unreadable file), unreadable.png,
retry.png (upscaling again: the old result and the zoom stay), ab_compare.png (two results), settings.png,
settings_advanced.png, and with a real photo (``--real``, default RealSet65 cat1.jpeg) detail_offer.png (the Most
detail offer after Automatic's Photo result) and ab_photo_detail.png (Photo against Most detail, A/B). Everything
runs with a throw-away SINSR_GUI_HOME, so no real settings or weights are touched.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASE_A = ROOT / "tests" / "fixtures" / "case_a"
DEFAULT_INPUT = Path("/work/shared/datasets/Set14/flowers.png")
DEFAULT_REAL = Path("/work/shared/datasets/RealSet65/cat1.jpeg")  # a real web photo with heavy JPEG blocks
SIZE = (1400, 900)


def wait_until(condition, timeout_s: float = 300.0) -> None:
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the app did not get there in time")
        QApplication.processEvents()
        time.sleep(0.01)


def settle(seconds: float = 0.4) -> None:
    """Let layouts, repaints and the X server catch up before a grab."""
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def grab(widget, path: Path, *, wait: bool = True) -> None:
    """A screen grab of the widget's area (what the X server shows), falling back to a widget render."""
    from PySide6.QtWidgets import QApplication

    if not wait:  # a state that lasts moments: render the widget as it is now
        widget.grab().save(str(path))
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        return
    settle()
    screen = widget.screen() or QApplication.primaryScreen()
    top_left = widget.mapToGlobal(widget.rect().topLeft())
    pixmap = screen.grabWindow(0, top_left.x(), top_left.y(), widget.width(), widget.height())
    if pixmap.isNull() or QApplication.platformName() != "xcb":
        pixmap = widget.grab()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not pixmap.save(str(path)):
        raise OSError(f"cannot write {path}")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", nargs="?", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL,
                        help="a real low-quality photo for the Most detail offer and its A/B (skipped if missing)")
    parser.add_argument("--model", choices=("auto", "photo", "faithful", "case_a"), default="auto",
                        help="auto: the built-in Photo model if present, else the tiny case_a SinSR")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="sinsr-shots-"))
    os.environ["SINSR_GUI_HOME"] = str(home)  # before anything reads a user folder

    from PIL import Image
    from PySide6.QtCore import QPointF

    sys.path.insert(0, str(ROOT))
    from sinsr_gui.qt import dialogs
    from sinsr_gui.qt.app import create_application
    from sinsr_gui.qt.compare_view import CompareMode
    from sinsr_gui.qt.main_window import MainWindow
    from sinsr_gui.settings import Settings
    from sinsr_gui.weights.builtin import PHOTO, builtin_weights_path

    app = create_application([])
    if app.platformName() != "xcb":
        print(f"note: running on the {app.platformName()!r} platform, not a real X display", file=sys.stderr)

    model = args.model
    if model == "auto":
        model = "photo" if builtin_weights_path(PHOTO).is_file() else "case_a"
    if model != "case_a":
        settings = Settings(model=model, device="cpu", first_run_done=True)
        model_name = f"the built-in {model} model"
    else:
        settings = Settings(model="sinsr", device="cpu", precision="fp32",
                            sinsr_unet=str(CASE_A / "unet_ckpt.pth"),
                            sinsr_autoencoder=str(CASE_A / "autoencoder_ckpt.pth"),
                            sinsr_config=str(CASE_A / "config.json"))
        model_name = "the tiny random-weight case_a SinSR test model (not a trained model)"

    # The small photo a user would have: the reference image shrunk 4x.
    with Image.open(args.input) as img:
        img = img.convert("RGB")
        small = img.resize((img.width // 4, img.height // 4), Image.Resampling.LANCZOS)
    photo = home / "photos" / args.input.name
    photo.parent.mkdir(parents=True)
    small.save(photo)

    out = args.out
    # 1. First launch without SinSR: the one-line offer, then the panel from the banner (or the Model menu).
    first = MainWindow(Settings(), persist=False)
    first.resize(*SIZE)
    first.show()
    wait_until(first.isVisible)
    grab(first, out / "first_run.png")
    first.show_first_run()
    grab(first, out / "first_run_panel.png")
    first.close()

    # 2. The empty window (model chosen), then a photo before and after.
    window = MainWindow(settings, persist=False)
    window.resize(*SIZE)
    window.show()
    wait_until(window.isVisible)
    grab(window, out / "empty.png")

    window.add_paths([photo])
    wait_until(lambda: window.display.current is not None)
    grab(window.settings_dock, out / "settings.png")  # as a newcomer sees it: Advanced collapsed
    window.start_processing()
    wait_until(lambda: all(j.state in ("done", "failed") for j in window.queue) and not window.is_busy(), 600)
    job = next(iter(window.queue))
    if job.state != "done":
        print(f"upscaling failed: {job.message}", file=sys.stderr)
        return 1
    window.compare_view.setFocus()
    window.compare_view.zoom_actual()
    settle()
    grab(window, out / "compare_100.png")

    view = window.compare_view
    centre = view.map_image_to_view(QPointF(view.output_size().width() * 0.5, view.output_size().height() * 0.45))
    view.set_zoom(4.0, centre)
    grab(window, out / "compare_zoom.png")

    window.set_compare_mode(CompareMode.SIDE_BY_SIDE)
    view.set_zoom(2.0)
    grab(window, out / "side_by_side.png")
    window.set_compare_mode(CompareMode.SPLIT)

    # 3. Upscaling again with the other built-in model: the result and the zoom stay until the new one is
    # there; then the two results side by side of the divider (A/B).
    other = "faithful" if window.settings.model == "photo" else "photo"
    window.preferences.update({"model": other})
    view.set_zoom(3.0, centre)
    window.retry_jobs([job.id])
    grab(window, out / "retry.png", wait=False)
    wait_until(lambda: job.state == "done" and not window.is_busy(), 600)
    window.commands.compare_previous.trigger()
    grab(window, out / "ab_compare.png")
    window.commands.compare_previous.trigger()

    # 4. The settings panel with its technical options open.
    window.settings_panel.advanced_button.setChecked(True)
    grab(window.settings_dock, out / "settings_advanced.png")
    window.settings_panel.advanced_button.setChecked(False)
    window.shutdown()
    window.queue.remove(window.queue.ids())
    window.close()

    # 5. A batch with an unreadable file, saving next to the photos for the first time: the question, the
    # summary with its Open folder button, the reason an unreadable file gives in the view.
    batch = home / "batch"
    batch.mkdir()
    for i, box in enumerate(((0, 0), (small.width // 3, small.height // 3))):
        small.crop((*box, box[0] + small.width * 2 // 3, box[1] + small.height * 2 // 3)).save(batch / f"IMG_00{i + 1}.png")
    (batch / "IMG_003.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated download")
    window = MainWindow(dataclasses.replace(settings, auto_save_confirmed=False), persist=False)
    window.resize(*SIZE)
    window.show()
    wait_until(window.isVisible)
    window.add_paths([batch])
    wait_until(lambda: not window._adding)
    real_exec = dialogs.QMessageBox.exec

    def grab_question(box) -> int:
        box.show()
        grab(box, out / "where_to_save.png")
        box.defaultButton().click()
        return 0

    dialogs.QMessageBox.exec = grab_question
    try:
        window.start_processing()
    finally:
        dialogs.QMessageBox.exec = real_exec
    wait_until(lambda: window.banner.kind == "run" and not window.is_busy(), 600)
    grab(window, out / "batch_summary.png")
    bad = next(j for j in window.queue if j.path.suffix == ".jpg")
    window.queue_panel.set_current(bad.id)
    grab(window, out / "unreadable.png")

    print(f"Processed with {model_name}; input {args.input.name} shrunk 4x to {small.width}x{small.height}.")
    window.shutdown()
    window.queue.remove(window.queue.ids())  # nothing to ask about on close: these results are throw-away
    window.close()

    # 6. Automatic on the processor runs Photo; after its first result on a small real photo the app offers Most
    # detail once; trying it keeps Photo's result for A/B.
    if args.real.is_file() and builtin_weights_path(PHOTO).is_file():
        window = MainWindow(Settings(device="cpu", first_run_done=True), persist=False)
        window.resize(*SIZE)
        window.show()
        wait_until(window.isVisible)
        window.add_paths([args.real])
        wait_until(lambda: window.display.current is not None)
        window.start_processing()
        wait_until(lambda: window.banner.kind == "detail_offer" and not window.is_busy(), 600)
        window.compare_view.zoom_actual()
        grab(window, out / "detail_offer.png")
        window.banner.buttons()["Try Most detail"].click()
        job = next(iter(window.queue))
        wait_until(lambda: job.state == "done" and job.result.model.kind == "detail" and not window.is_busy(), 600)
        window.commands.compare_previous.trigger()
        window.compare_view.zoom_actual()
        grab(window, out / "ab_photo_detail.png")
        window.shutdown()
        window.queue.remove(window.queue.ids())
        window.close()
        print(f"Most detail offered and compared on {args.real.name}.")

    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
