"""Measure startup: process start -> usable window, and "Upscale" -> first tile done (cold model load).

    QT_QPA_PLATFORM=offscreen python scripts/startup_time.py [--model photo|sinsr] [IMAGE]

Each number is measured in a fresh process (this script re-runs itself), so imports are cold; prints JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parent.parent


def child(model: str, image: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QTimer

    from sinsr_gui.qt.app import create_application
    from sinsr_gui.qt.main_window import MainWindow
    from sinsr_gui.settings import Settings

    app = create_application([])
    settings = Settings()
    settings.model = model
    window = MainWindow(settings)
    window.show()
    app.processEvents()
    window_ready = time.perf_counter() - T0
    window.add_paths([image])
    marks: dict[str, float] = {}

    def on_progress(_text: str, done: int, total: int) -> None:
        if done >= 1 and "first_tile" not in marks:
            marks["first_tile"] = time.perf_counter() - marks["run"]
            window.cancel()
            QTimer.singleShot(0, app.quit)

    window.runner.progressChanged.connect(on_progress)  # what the status bar shows: tiles done
    marks["run"] = time.perf_counter()
    window.start_processing()
    QTimer.singleShot(120_000, app.quit)
    app.exec()
    window.shutdown()
    return {"model": model, "launch_to_window_s": round(window_ready, 3),
            "run_to_first_tile_s": round(marks.get("first_tile", float("nan")), 3)}


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    model = "sinsr" if "--model=sinsr" in sys.argv or ("--model" in sys.argv and "sinsr" in sys.argv) else "photo"
    image = Path(args[0]) if args else ROOT / "resources" / "samples" / "sample.png"
    if os.environ.get("SINSR_STARTUP_CHILD"):
        print(json.dumps(child(model, image)))
        return
    runs = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as home:  # a fresh user folder each time: a first launch
            env = dict(os.environ, SINSR_STARTUP_CHILD="1", SINSR_GUI_HOME=home,
                       QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
            out = subprocess.run([sys.executable, __file__, *sys.argv[1:]], env=env, capture_output=True,
                                 text=True, check=True, timeout=300)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(json.dumps({"runs": runs}, indent=1))


if __name__ == "__main__":
    main()
