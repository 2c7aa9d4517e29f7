"""The Settings dataclass: JSON round trip, corrupt and hostile files, reset, throughput estimates."""

from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from sinsr_gui import settings as settings_mod  # noqa: E402
from sinsr_gui.settings import Settings, load_settings, reset_to_defaults, save_settings, settings_path  # noqa: E402


def _edited() -> Settings:
    s = Settings()
    s.model, s.device, s.precision = "sinsr", "cpu", "fp32"
    s.tile, s.overlap, s.seed, s.scale = 256, 24, 777, 2
    s.fmt, s.quality, s.bit_depth = "JPEG", 88, 8
    s.output_dir, s.name_pattern, s.auto_save = "/tmp/out", "{stem}-big", "always"
    s.compare_mode = "side_by_side"
    s.window_geometry = "AAAA"
    s.record_throughput("sinsr", "cpu", seconds=12.0, megapixels=0.5)
    return s


def test_round_trip_in_the_config_folder(isolated_home):
    s = _edited()
    written = save_settings(s)
    assert written == settings_path()
    assert written.is_relative_to(isolated_home)  # inside the isolated config dir, not the real one
    assert load_settings() == s
    assert not list(written.parent.glob(f".{written.name}.*"))  # the atomic write leaves no temp file behind


def test_missing_file_gives_defaults():
    assert load_settings() == Settings()


def test_corrupt_json_gives_defaults():
    settings_path().write_text("{ this is not json", encoding="utf-8")
    assert load_settings() == Settings()
    settings_path().write_text("[1, 2, 3]", encoding="utf-8")  # valid JSON, wrong shape
    assert load_settings() == Settings()


def test_bad_fields_fall_back_one_by_one():
    data = _edited().to_dict()
    data.update({
        "seed": "not a number",  # wrong type
        "scale": 5,  # out of choices
        "quality": 0,  # out of range
        "tile": True,  # a bool is not an int here
        "device": "quantum:0",  # not a device
        "name_pattern": "{nope}",  # unusable pattern
        "throughput": {"sinsr@cpu": 24.0, "bad@cpu": "fast", "neg@cpu": -1},
        "from_the_future": 42,  # unknown field
    })
    settings_path().write_text(json.dumps(data), encoding="utf-8")
    loaded = load_settings()
    defaults = Settings()
    assert (loaded.seed, loaded.scale, loaded.quality, loaded.tile) == (
        defaults.seed, defaults.scale, defaults.quality, defaults.tile)
    assert loaded.device == defaults.device and loaded.name_pattern == defaults.name_pattern
    assert loaded.throughput == {"sinsr@cpu": 24.0}
    # ...while the valid fields of the same file are kept
    assert (loaded.model, loaded.fmt, loaded.output_dir, loaded.compare_mode) == ("sinsr", "JPEG", "/tmp/out",
                                                                                  "side_by_side")


def test_reset_keeps_layout_and_measurements():
    s = _edited()
    reset = reset_to_defaults(s)
    defaults = Settings()
    for name in settings_mod.USER_FIELDS:
        assert getattr(reset, name) == getattr(defaults, name), name
    assert reset.throughput == s.throughput and reset.window_geometry == "AAAA"
    assert s.model == "sinsr"  # the original is not modified


def test_measured_throughput_is_kept_per_model_and_device():
    """The records engine.speed starts from: seconds per input megapixel, smoothed, per model and device."""
    s = Settings()
    assert s.seconds_per_megapixel("sinsr", "cpu") is None and s.measured_speeds("cpu") == {}  # nothing measured
    s.record_throughput("sinsr", "cpu", seconds=10.0, megapixels=0.5)  # 20 s/MP
    assert s.seconds_per_megapixel("sinsr", "cpu") == 20.0
    s.record_throughput("sinsr", "cpu", seconds=5.0, megapixels=0.5)  # 10 s/MP, smoothed with the old 20
    assert s.seconds_per_megapixel("sinsr", "cpu") == 15.0
    s.record_throughput("photo", "cuda:1", seconds=1.0, megapixels=1.0)
    s.record_throughput("community:4x-foo", "cpu", seconds=3.0, megapixels=1.0)
    assert s.measured_speeds("cpu") == {"sinsr": 15.0, "community:4x-foo": 3.0}  # per device
    assert s.measured_speeds("cuda") == {} and s.measured_speeds("cuda:1") == {"photo": 1.0}
    s.record_throughput("sinsr", "cpu", seconds=float("nan"), megapixels=1.0)  # ignored
    assert s.seconds_per_megapixel("sinsr", "cpu") == 15.0
