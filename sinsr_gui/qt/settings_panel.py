"""The settings dock's contents: model, device, precision, tiling, seed and output options. A view only.

What most people change is in plain view (model, colour fix, device, scale, format, where and when to save);
the technical options (precision, tile size and overlap, seed, file name pattern) wait under a collapsed
"Advanced" section. Options that mean nothing for the chosen model are hidden: the sampler and the seed show
only for the models that use them (``applies``, from the models' descriptors).

It shows a :class:`~sinsr_gui.settings.Settings` and emits ``settingsChanged`` with an edited copy whenever the
user changes something; the main window decides what that means (save it, release the loaded model, ...).
"""

from __future__ import annotations

import random

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sinsr_gui.settings import MAX_SEED, MAX_TILE, Settings, valid_name_pattern

PRECISION_CHOICES = (
    ("auto", "Automatic"),
    ("fp32", "Full (fp32)"),
    ("bf16", "Half, bf16"),
    ("fp16", "Half, fp16 (GPU only)"),
)
SAMPLER_CHOICES = (("stochastic", "Stochastic (official)"), ("deterministic", "Deterministic"))
DEBLOCK_CHOICES = (("auto", "Automatic"), ("on", "On"), ("off", "Off"))
COLOUR_FIX_CHOICES = (("auto", "Automatic"), ("off", "Off"), ("wavelet", "Wavelet (local)"),
                      ("adain", "AdaIN (overall)"))
FORMAT_CHOICES = (("AUTO", "Automatic", "JPEG for HEIC phone photos, PNG for everything else"),
                  ("PNG", "PNG (lossless)"), ("JPEG", "JPEG"), ("WEBP", "WebP"), ("TIFF", "TIFF (lossless)"))
SCALE_CHOICES = ((4, "4× (native)"), (3, "3×"), (2, "2×"))
BIT_DEPTH_CHOICES = ((0, "Like the photo"), (8, "8-bit"), (16, "16-bit"))
AUTO_SAVE_CHOICES = (
    ("batch", "When several photos run"),
    ("always", "Always"),
    ("never", "Never, I'll save myself"),
)


class SettingsPanel(QWidget):
    """Edits a copy of the settings; ``settingsChanged(Settings)`` after every user change."""

    settingsChanged = Signal(object)
    resetRequested = Signal()

    def __init__(self, settings: Settings, models: list[tuple[str, str, str]], devices: list[tuple[str, str]],
                 parent: QWidget | None = None, *, applies: dict[str, frozenset[str]] | None = None) -> None:
        super().__init__(parent)
        self._settings = settings.copy()
        self._updating = False
        # Which optional settings ("sampler", "seed") each model choice uses; a choice not listed uses all.
        self._applies = dict(applies or {})

        self.model_combo = self._combo(models, "Which upscaler to use; hover a choice to see what it is for. "
                                       "SinSR gives the most natural detail; the built-in models are much "
                                       "faster and need no download.")
        self.device_combo = self._combo(devices, "Where the work runs. A graphics card (GPU) is many times "
                                        "faster than the processor (CPU). Automatic picks the fastest one.")
        self.sampler_combo = self._combo(list(SAMPLER_CHOICES), "ResShift only: stochastic (the official sampler) "
                                         "adds fresh randomness at each of its 15 steps; deterministic follows "
                                         "one fixed path, the one SinSR learned to jump in a single step.")
        self.colour_combo = self._combo(list(COLOUR_FIX_CHOICES), "Pulls the result's colours back to the "
                                        "photo's if a model shifted them. Wavelet fixes local tints too; "
                                        "AdaIN matches the overall colour balance. Off: as the model made it. "
                                        "Automatic: what the model needs (wavelet for Photo, off for the others).")
        self.deblock_combo = self._combo(list(DEBLOCK_CHOICES), "Smooths the 8x8 squares of a heavily "
                                         "compressed JPEG before upscaling, so they do not come out as large "
                                         "tiles. It only changes what the file leaves uncertain. Automatic: "
                                         "as much as a strongly compressed JPEG shows blocks, with the Photo "
                                         "model. On: fully, for every JPEG.")
        self.precision_combo = self._combo(list(PRECISION_CHOICES),
                                           "How precisely numbers are computed. Automatic is fast and looks the "
                                           "same as full precision; full precision is slower but exact.")
        self.tile_spin = QSpinBox()
        self.tile_spin.setRange(0, MAX_TILE)
        self.tile_spin.setSingleStep(64)
        self.tile_spin.setSpecialValueText("Automatic")
        self.tile_spin.setSuffix(" px")
        self.tile_spin.setToolTip("Photos are upscaled in square pieces (tiles) of this many pixels. Automatic "
                                  "picks the largest that fits in memory. Smaller tiles use less memory.")
        self.overlap_spin = QSpinBox()
        self.overlap_spin.setRange(0, 256)
        self.overlap_spin.setSingleStep(8)
        self.overlap_spin.setSpecialValueText("Automatic")
        self.overlap_spin.setSuffix(" px")
        self.overlap_spin.setToolTip("How much neighbouring tiles overlap, so no seams show. Automatic is fine "
                                     "for almost every photo.")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, MAX_SEED)
        self.seed_spin.setToolTip("SinSR adds a little randomness to invent fine detail. The same seed always "
                                   "gives the same result; another seed gives a slightly different one.")
        self.new_seed_button = QToolButton()
        self.new_seed_button.setText("New seed")
        self.new_seed_button.setToolTip("Pick a random seed, for a different take on the fine detail.")
        self.new_seed_button.clicked.connect(self._new_seed)

        self.scale_combo = self._combo(list(SCALE_CHOICES), "How much bigger the result is. 4× is what the "
                                       "model makes; 2× and 3× are a high-quality reduction of it.")
        self.format_combo = self._combo(list(FORMAT_CHOICES), "The file type of saved results. PNG and TIFF "
                                        "keep every detail; JPEG and WebP make much smaller files.")
        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setSuffix(" %")
        self.quality_spin.setToolTip("JPEG and WebP quality: higher looks better and makes bigger files. "
                                     "90–95 % is hard to tell from lossless.")
        self.bit_depth_combo = self._combo(list(BIT_DEPTH_CHOICES), "Colour depth of PNG and TIFF files. "
                                           "Like the photo keeps 16-bit photos 16-bit; 8-bit files are "
                                           "smaller and open everywhere.")
        self.output_edit = QLineEdit()
        self.output_edit.setReadOnly(True)
        self.output_edit.setPlaceholderText("Next to each photo")
        self.output_edit.setToolTip("The folder results are saved in. Empty: next to each original photo "
                                    "(originals are never overwritten).")
        self.output_button = QToolButton()
        self.output_button.setText("Choose…")
        self.output_button.setToolTip("Choose the folder results are saved in.")
        self.output_button.clicked.connect(self._choose_output)
        self.output_clear = QToolButton()
        self.output_clear.setText("Next to photo")
        self.output_clear.setToolTip("Save results next to each original photo.")
        self.output_clear.clicked.connect(lambda: self._set_output(""))
        self.pattern_edit = QLineEdit()
        self.pattern_edit.setToolTip("The name of saved results. {stem} is the photo's name without its "
                                     "extension and {scale} the scale, e.g. {stem}_x{scale} → photo_x4.png.")
        self.pattern_example = QLabel()
        self.pattern_example.setObjectName("hint")
        self.pattern_example.setWordWrap(True)
        self.auto_save_combo = self._combo(list(AUTO_SAVE_CHOICES), "When results are saved without asking. "
                                           "Results that are not saved yet stay in the app, and you are "
                                           "reminded before closing.")
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Put every setting back to how it was on first launch.")
        self.reset_button.clicked.connect(self.resetRequested.emit)

        model_box = QGroupBox("Model")
        self.model_form = form = _form(model_box)
        form.addRow("Model", self.model_combo)
        form.addRow("Sampler", self.sampler_combo)
        form.addRow("Colour fix", self.colour_combo)
        form.addRow("JPEG blocks", self.deblock_combo)
        form.addRow("Device", self.device_combo)

        output_box = QGroupBox("Output")
        form = _form(output_box)
        form.addRow("Scale", self.scale_combo)
        form.addRow("Format", self.format_combo)
        form.addRow("Quality", self.quality_spin)
        form.addRow("Colour depth", self.bit_depth_combo)
        folder_row = QVBoxLayout()
        folder_row.addWidget(self.output_edit)
        folder_buttons = QHBoxLayout()
        folder_buttons.addWidget(self.output_button)
        folder_buttons.addWidget(self.output_clear)
        folder_buttons.addStretch(1)
        folder_row.addLayout(folder_buttons)
        form.addRow("Save to", folder_row)
        form.addRow("Save automatically", self.auto_save_combo)

        # Technical options, collapsed until asked for.
        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.setToolTip("Precision, tiles, seed and the file name pattern: the defaults suit "
                                        "almost every photo.")
        self.advanced_box = QWidget()
        self.advanced_form = form = _form(self.advanced_box)
        form.addRow("Precision", self.precision_combo)
        form.addRow("Tile size", self.tile_spin)
        form.addRow("Tile overlap", self.overlap_spin)
        self._seed_row = seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.new_seed_button)
        form.addRow("Seed", seed_row)
        form.addRow("File name", self.pattern_edit)
        form.addRow("", self.pattern_example)
        self.advanced_box.setVisible(False)
        self.advanced_button.toggled.connect(self._show_advanced)

        content = QWidget()
        inner = QVBoxLayout(content)
        inner.addWidget(model_box)
        inner.addWidget(output_box)
        inner.addWidget(self.advanced_button, 0, Qt.AlignmentFlag.AlignLeft)
        inner.addWidget(self.advanced_box)
        inner.addWidget(self.reset_button, 0, Qt.AlignmentFlag.AlignLeft)
        inner.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        for combo in (self.model_combo, self.sampler_combo, self.colour_combo, self.deblock_combo, self.device_combo,
                      self.precision_combo, self.scale_combo, self.format_combo, self.bit_depth_combo,
                      self.auto_save_combo):
            combo.currentIndexChanged.connect(self._edited)
        for spin in (self.tile_spin, self.overlap_spin, self.seed_spin, self.quality_spin):
            spin.valueChanged.connect(self._edited)
        self.pattern_edit.textEdited.connect(self._edited)
        self.set_settings(settings)

    # --------------------------------------------------------------------------------------------- API
    def settings(self) -> Settings:
        return self._settings.copy()

    def set_settings(self, settings: Settings) -> None:
        """Show ``settings`` without emitting ``settingsChanged``."""
        self._settings = settings.copy()
        self._updating = True
        try:
            s = self._settings
            _select(self.model_combo, s.model)
            _select(self.sampler_combo, s.sampler)
            _select(self.colour_combo, s.colour_fix)
            _select(self.deblock_combo, s.deblock)
            if not _select(self.device_combo, s.device):
                _select(self.device_combo, "auto")
            _select(self.precision_combo, s.precision)
            self.tile_spin.setValue(s.tile)
            self.overlap_spin.setValue(s.overlap)
            self.seed_spin.setValue(s.seed)
            _select(self.scale_combo, s.scale)
            _select(self.format_combo, s.fmt)
            self.quality_spin.setValue(s.quality)
            _select(self.bit_depth_combo, s.bit_depth)
            self.output_edit.setText(s.output_dir)
            self.pattern_edit.setText(s.name_pattern)
            _select(self.auto_save_combo, s.auto_save)
        finally:
            self._updating = False
        self._update_enabled()

    def set_model_choices(self, models: list[tuple[str, str, str]],
                          applies: dict[str, frozenset[str]] | None = None) -> None:
        """Replace the model entries (value, label, tooltip), e.g. after SinSR was installed, keeping the
        selection; ``applies``: which optional settings each uses."""
        self._updating = True
        try:
            self.model_combo.clear()
            _add_items(self.model_combo, models)
            _select(self.model_combo, self._settings.model)
            if applies is not None:
                self._applies = dict(applies)
        finally:
            self._updating = False
        self._update_enabled()

    def applies(self, option: str) -> bool:
        """Whether ``option`` ("sampler", "seed") means something for the chosen model."""
        uses = self._applies.get(self.model_combo.currentData() or "auto")
        return uses is None or option in uses

    # ----------------------------------------------------------------------------------------- internals
    def _combo(self, choices: list[tuple], tip: str) -> QComboBox:
        combo = QComboBox()
        _add_items(combo, choices)
        combo.setToolTip(tip)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(12)
        return combo

    def _show_advanced(self, shown: bool) -> None:
        self.advanced_box.setVisible(shown)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _new_seed(self) -> None:
        self.seed_spin.setValue(random.randint(0, MAX_SEED))  # emits valueChanged -> _edited

    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save results in", self._settings.output_dir)
        if folder:
            self._set_output(folder)

    def _set_output(self, folder: str) -> None:
        self.output_edit.setText(folder)
        self._edited()

    def _edited(self, *_args: object) -> None:
        if self._updating:
            return
        s = self._settings
        s.model = self.model_combo.currentData() or "auto"
        s.sampler = self.sampler_combo.currentData() or "stochastic"
        s.colour_fix = self.colour_combo.currentData() or "auto"
        s.deblock = self.deblock_combo.currentData() or "auto"
        s.device = self.device_combo.currentData() or "auto"
        s.precision = self.precision_combo.currentData() or "auto"
        s.tile = self.tile_spin.value()
        s.overlap = self.overlap_spin.value()
        s.seed = self.seed_spin.value()
        s.scale = int(self.scale_combo.currentData() or 4)
        s.fmt = self.format_combo.currentData() or "AUTO"
        s.quality = self.quality_spin.value()
        s.bit_depth = int(self.bit_depth_combo.currentData() or 0)
        s.output_dir = self.output_edit.text()
        s.auto_save = self.auto_save_combo.currentData() or "batch"
        pattern = self.pattern_edit.text()
        if valid_name_pattern(pattern):
            s.name_pattern = pattern  # an invalid pattern keeps the last good one
        self._update_enabled()
        self.settingsChanged.emit(s.copy())

    def _update_enabled(self) -> None:
        fmt = self.format_combo.currentData()
        self.model_form.setRowVisible(self.sampler_combo, self.applies("sampler"))
        self.advanced_form.setRowVisible(self._seed_row, self.applies("seed"))
        self.quality_spin.setEnabled(fmt in ("JPEG", "WEBP", "AUTO"))
        self.bit_depth_combo.setEnabled(fmt in ("PNG", "TIFF", "AUTO"))
        # fp16 runs hundreds of times slower on a CPU (the engine refuses it there): offer it only with a GPU.
        device = self.device_combo.currentData() or "auto"
        has_gpu = any((self.device_combo.itemData(i) or "") != "cpu" and self.device_combo.itemData(i) != "auto"
                      for i in range(self.device_combo.count()))
        fp16_ok = device not in ("cpu",) and (device != "auto" or has_gpu)
        model = self.precision_combo.model()
        if isinstance(model, QStandardItemModel):
            index = self.precision_combo.findData("fp16")
            item = model.item(index) if index >= 0 else None
            if item is not None:
                item.setEnabled(fp16_ok)
        pattern = self.pattern_edit.text()
        if valid_name_pattern(pattern):
            from string import Formatter

            stem_used = any(field == "stem" for _, field, _, _ in Formatter().parse(pattern) if field)
            example = pattern.format(stem="photo", scale=self._settings.scale) + "." + {
                "PNG": "png", "JPEG": "jpg", "WEBP": "webp", "TIFF": "tif"}.get(fmt or "PNG", "png")
            self.pattern_example.setText(f"e.g. {example}" if stem_used else
                                         f"e.g. {example}. Tip: add {{stem}} so each photo gets its own name.")
        else:
            self.pattern_example.setText("This name cannot be used: write {stem} for the photo's name and "
                                         "{scale} for the scale, without / or \\.")


def _form(parent: QWidget) -> QFormLayout:
    form = QFormLayout(parent)
    # Fields take the width left by the labels (combo boxes too), and rows wrap before text is cut off.
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    return form


def _add_items(combo: QComboBox, choices: list[tuple]) -> None:
    """(value, label) or (value, label, tooltip) entries."""
    for value, label, *tip in choices:
        combo.addItem(label, value)
        if tip:
            combo.setItemData(combo.count() - 1, tip[0], Qt.ItemDataRole.ToolTipRole)


def _select(combo: QComboBox, value: object) -> bool:
    index = combo.findData(value)
    if index >= 0:
        combo.setCurrentIndex(index)
    return index >= 0
