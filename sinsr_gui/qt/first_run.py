"""The "Get the SinSR model" panel: how to get the SinSR model (download with consent, import), or which
built-in model to use instead. The window offers it once in a banner and then from the Model menu; the app
works with a built-in model meanwhile, so nothing here reads as a choice that must be made.

A view only: :class:`~sinsr_gui.qt.controllers.weights.WeightsController` runs the download/import and feeds
progress back through :meth:`FirstRunPanel.set_progress`; the built-in models come from their descriptors.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from sinsr_gui.qt.text import format_duration
from sinsr_gui.weights.store import format_size

WEIGHT_FILE_FILTER = "Model files (*.pth *.pt *.ckpt *.safetensors);;All files (*)"
# Which built-in model suits what, in one line (each button's tooltip has the model's own summary).
BUILTIN_HINT = ("Photo suits phone and web photos (the default); Faithful suits clean renders, scans and screenshots; "
                "Most detail gives photos the crispest look, and takes longest.")


class FirstRunPanel(QWidget):
    """Offers the ways to get a model; the app stays usable while it is shown.

    ``builtins``: (kind, display name, summary, installed) of each built-in model, the default first.
    """

    downloadRequested = Signal()
    cancelDownloadRequested = Signal()
    importRequested = Signal(list)  # file paths chosen by the user
    useBuiltinRequested = Signal(str)  # the kind of the built-in model chosen

    def __init__(self, licences: list[tuple[str, str, str]], builtins: list[tuple[str, str, str, bool]] = (), *,
                 download_size: str = "about 700 MB", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunPanel")
        title = QLabel("Get the SinSR model")
        title.setObjectName("panelTitle")
        title.setWordWrap(True)
        intro = QLabel("The app works now with its built-in models. SinSR gives the most natural, detailed "
                       f"results; its model files are not included with the app: they are {download_size} and "
                       "may be used for non-commercial purposes only. You can keep using the app while they "
                       "download.")
        intro.setWordWrap(True)
        # What SinSR costs on this computer when it has no graphics card (set_speed_note); hidden otherwise.
        self.speed_note = QLabel()
        self.speed_note.setObjectName("speedNote")
        self.speed_note.setWordWrap(True)
        self.speed_note.setVisible(False)

        # 1. Download, with explicit consent to the non-commercial licences.
        download_box = QGroupBox("Download SinSR")
        size_label = QLabel(f"<b>{html.escape(download_size)}, non-commercial licence</b>")
        licence_label = QLabel("<br><br>".join(
            f"<b>{html.escape(name)}</b><br>{html.escape(text)} <a href=\"{html.escape(url, quote=True)}\">"
            "Full licence</a>" for name, text, url in licences))
        licence_label.setWordWrap(True)
        licence_label.setTextFormat(Qt.TextFormat.RichText)
        licence_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        licence_label.setOpenExternalLinks(True)
        self.consent_check = QCheckBox("I accept these licences (non-commercial use only)")
        self.consent_check.setToolTip("The SinSR model may only be used for non-commercial purposes. "
                                      "Tick this to confirm that you accept its licences.")
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download the SinSR model files. An interrupted download resumes "
                                        "where it stopped.")
        self.download_button.setEnabled(False)
        self.cancel_button = QPushButton("Pause")
        self.cancel_button.setToolTip("Stop the download for now; it resumes where it stopped next time.")
        self.cancel_button.setVisible(False)
        self.progress_bar = QProgressBar()
        self.progress_bar.setVisible(False)
        self.progress_bar.setTextVisible(True)
        self.progress_label = QLabel()
        self.progress_label.setObjectName("hint")
        self.progress_label.setWordWrap(True)
        self.progress_label.setVisible(False)
        self.consent_check.toggled.connect(self._update_buttons)
        self.download_button.clicked.connect(self.downloadRequested.emit)
        self.cancel_button.clicked.connect(self.cancelDownloadRequested.emit)
        row = QHBoxLayout()
        row.addWidget(self.download_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        box = QVBoxLayout(download_box)
        box.addWidget(size_label)
        box.addWidget(licence_label)
        box.addWidget(self.consent_check)
        box.addLayout(row)
        box.addWidget(self.progress_bar)
        box.addWidget(self.progress_label)

        # 2. Import files the user already has.
        self.import_button = QPushButton("Import a file I already have…")
        self.import_button.setToolTip("Choose SinSR_v1.pth and/or autoencoder_vq_f4.pth on your computer. "
                                      "They are checked and copied into the app's model folder.")
        self.import_button.clicked.connect(self._choose_import)
        # 3. Carry on with a built-in model.
        builtin_box = QGroupBox("Or use a built-in model for now")
        box = QVBoxLayout(builtin_box)
        hint = QLabel(BUILTIN_HINT)  # advice to read, in the normal text colour (grey reads as disabled)
        hint.setWordWrap(True)
        box.addWidget(hint)
        self.builtin_buttons: dict[str, QPushButton] = {}
        for kind, name, summary, installed in builtins:
            button = QPushButton(f"Use {name}")
            button.setEnabled(installed)
            button.setToolTip(f"{summary} Works offline; SinSR can be downloaded later from the Model menu."
                              if installed else f"{name} is not part of this build.")
            button.clicked.connect(lambda _checked=False, k=kind: self.useBuiltinRequested.emit(k))
            box.addWidget(button)
            self.builtin_buttons[kind] = button

        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setVisible(False)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self.speed_note)
        layout.addWidget(download_box)
        layout.addWidget(self.import_button)
        layout.addWidget(builtin_box)
        layout.addWidget(self.message_label)
        layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # text wraps instead
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self._downloading = False

    # --------------------------------------------------------------------------------------------- API
    def set_speed_note(self, text: str) -> None:
        """A sentence on how slow SinSR is here (on a computer without a graphics card); "" hides it."""
        self.speed_note.setText(text)
        self.speed_note.setVisible(bool(text))

    def set_downloading(self, downloading: bool, *, resumable: bool = False) -> None:
        self._downloading = downloading
        self.cancel_button.setVisible(downloading)
        self.progress_bar.setVisible(downloading or resumable)
        self.progress_label.setVisible(downloading or resumable)
        self.download_button.setText("Resume download" if resumable and not downloading else "Download")
        self._update_buttons()

    def set_progress(self, label: str, done: int, total: int | None, rate: float, eta: float | None) -> None:
        """Show bytes done of total, the rate and the time left for the file ``label``."""
        if total:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(round(1000 * done / total))
            amount = f"{format_size(done)} of {format_size(total)}"
        else:
            self.progress_bar.setRange(0, 0)  # size unknown: busy indicator
            amount = format_size(done)
        left = f" · {format_duration(eta)} left" if eta is not None else ""
        self.progress_label.setText(f"{label}: {amount} · {format_size(round(rate))}/s{left}")

    def set_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def is_downloading(self) -> bool:
        return self._downloading

    # ----------------------------------------------------------------------------------------- internals
    def _update_buttons(self) -> None:
        self.download_button.setEnabled(self.consent_check.isChecked() and not self._downloading)
        self.import_button.setEnabled(not self._downloading)

    def _choose_import(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Import SinSR model files", "", WEIGHT_FILE_FILTER)
        if files:
            self.importRequested.emit(files)
