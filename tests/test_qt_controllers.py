"""Each of the window's controllers on its own (no MainWindow): the run, previews, saving, the display,
thumbnails and the weights flow, and that each one's handlers take exactly what its tasks declare.

The run and save tests use a stand-in model (nearest-neighbour x4, whose tiles can be held back), so they are
fast and a cancel lands at a known point; the preview test uses the real built-in Photo model, because what
it checks is that a preview equals the final result.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import collections.abc  # noqa: E402
import dataclasses  # noqa: E402
import functools  # noqa: E402
import inspect  # noqa: E402
import threading  # noqa: E402
import types  # noqa: E402
import typing  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QRect  # noqa: E402

from sinsr_gui.engine.models import ModelCache, ModelUnavailable  # noqa: E402
from sinsr_gui.engine.models.builtin import PHOTO  # noqa: E402
from sinsr_gui.engine.photo import PhotoCache, read_photo  # noqa: E402
from sinsr_gui.errors import Remedy  # noqa: E402
from sinsr_gui.qt.controllers.display import DisplayController  # noqa: E402
from sinsr_gui.qt.controllers.preview import PreviewController, fit_region  # noqa: E402
from sinsr_gui.qt.controllers.run import RunController  # noqa: E402
from sinsr_gui.qt.controllers.save import SaveController  # noqa: E402
from sinsr_gui.qt.controllers.thumbnails import ThumbnailController  # noqa: E402
from sinsr_gui.qt.controllers.weights import PAUSED, WeightsController, licences  # noqa: E402
from sinsr_gui.qt.first_run import FirstRunPanel  # noqa: E402
from sinsr_gui.qt.messages import GET_MODEL  # noqa: E402
from sinsr_gui.qt.model_status import ModelStatus  # noqa: E402
from sinsr_gui.qt.worker_slot import WorkerSlot  # noqa: E402
from sinsr_gui.queue import PhotoQueue  # noqa: E402
from sinsr_gui.settings import Settings  # noqa: E402
from tests.http_server import AUTOENCODER_FIXTURE, UNET_FIXTURE, make_registry  # noqa: E402
from tests.qt_support import qimage_array  # noqa: E402

TIMEOUT_MS = 60_000


# ----------------------------------------------------------------------------------------------- helpers
class FakeModel:
    """A tiler model: x4 nearest neighbour, with the Photo model's descriptor. With ``gate``, each batch of
    tiles waits for it to be set (a test decides when tiles finish)."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.descriptor = PHOTO
        self.device = torch.device("cpu")
        self.precision_label = "fp32"
        self.gate = gate
        self.batches = 0

    scale = property(lambda self: self.descriptor.scale)
    size_multiple = property(lambda self: self.descriptor.size_multiple)

    def noise_field(self, batch, height, width, generator):
        return None

    def run_tiles(self, tiles: torch.Tensor, noise) -> torch.Tensor:
        if self.gate is not None:
            assert self.gate.wait(TIMEOUT_MS / 1000)
        self.batches += 1
        return tiles.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)


class FakeModels:
    """A ModelCache stand-in: always the same model, or an error."""

    def __init__(self, model: FakeModel | None = None, error: BaseException | None = None) -> None:
        self.model, self.error = model or FakeModel(), error

    def get(self, request):
        if self.error is not None:
            raise self.error
        return self.model, None

    def release(self) -> None:
        pass


def photo_file(path: Path, width: int = 24, height: int = 20, seed: int = 0, fmt: str = "PNG") -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path, fmt)
    return path


class Recorder:
    """Collects a controller's signals as (name, *args), in order."""

    def __init__(self, obj, *names: str) -> None:
        self.events: list[tuple] = []
        for name in names:
            getattr(obj, name).connect(lambda *args, _n=name: self.events.append((_n, *args)))

    def of(self, name: str) -> list[tuple]:
        return [e[1:] for e in self.events if e[0] == name]


def make_run(tmp_path, paths, models=None, **settings):
    s = Settings(model="photo", device="cpu", precision="fp32", **settings)
    queue = PhotoQueue(tmp_path / "Pictures")
    queue.add(paths)
    status = ModelStatus(s)
    runner = RunController(queue, s, status, models or FakeModels(), PhotoCache())
    return runner, queue, s


@pytest.fixture
def wait(qtbot):
    def wait(condition, timeout: int = TIMEOUT_MS) -> None:
        qtbot.waitUntil(lambda: bool(condition()), timeout=timeout)

    return wait


# ---------------------------------------------------------------------------------------------------- run
def test_run_processes_the_queue_in_order_saves_a_batch_and_releases_it(qtbot, tmp_path, wait):
    paths = [photo_file(tmp_path / f"p{i}.png", seed=i) for i in range(3)]
    runner, queue, settings = make_run(tmp_path, paths, auto_save="batch", tile=16)
    rec = Recorder(runner, "progressChanged", "measured", "error", "busyChanged")
    runner.measured.connect(settings.record_throughput)  # the window connects the settings controller
    running: list[str] = []
    queue.subscribe(lambda e: [running.append(queue.get(i).path.name) for i in e.ids
                               if e.kind == "job" and queue.get(i).state == "running"])
    runner.start()
    wait(lambda: not runner.busy)
    assert running == ["p0.png", "p1.png", "p2.png"]  # one at a time, in queue order
    for job in queue:
        assert job.state == "done" and job.saved_path == tmp_path / f"{job.path.stem}_x4.png"
        assert job.saved_path.is_file() and job.result.rgb is None  # saved, then released
        assert job.result.meta.path == job.path and job.size == (24, 20)
    assert settings.seconds_per_megapixel("photo", "cpu") is not None  # measured by descriptor kind @ device
    assert len(rec.of("measured")) == 3 and not rec.of("error")
    texts = [t for t, _done, total in rec.of("progressChanged") if total]
    assert any("tile" in t and "elapsed" in t for t in texts) and any("2 more waiting" in t for t in texts)
    assert rec.of("busyChanged") == [(True,), (False,)]


@pytest.mark.parametrize(("auto_save", "count", "saved", "in_memory"), [
    ("batch", 1, False, True),  # a single photo stays in memory until the user saves it
    ("always", 1, True, True),  # saved, but not a batch: kept for Save as
    ("never", 2, False, True),
])
def test_run_auto_save_setting(qtbot, tmp_path, wait, auto_save, count, saved, in_memory):
    paths = [photo_file(tmp_path / f"q{i}.png", seed=i) for i in range(count)]
    runner, queue, _ = make_run(tmp_path, paths, auto_save=auto_save)
    runner.start()
    wait(lambda: not runner.busy)
    assert all((j.saved_path is not None) == saved and j.in_memory == in_memory for j in queue)


def test_result_is_final_before_the_worker_finishes(qtbot, tmp_path, wait):
    """The job is done (and its Save possible) when ``succeeded`` arrives, not when ``finished`` does."""
    runner, queue, _ = make_run(tmp_path, [photo_file(tmp_path / "a.png")])
    seen: list[tuple[str, bool]] = []
    queue.subscribe(lambda e: seen.extend((queue.get(i).state, runner.slot.busy) for i in e.ids))
    runner.start()
    wait(lambda: not runner.busy)
    assert ("done", True) in seen


def test_cancel_stops_within_a_tile_and_the_rest_waits(qtbot, tmp_path, wait):
    gate = threading.Event()
    model = FakeModel(gate)
    paths = [photo_file(tmp_path / "big.png", 64, 48), photo_file(tmp_path / "next.png")]
    runner, queue, _ = make_run(tmp_path, paths, models=FakeModels(model), tile=16)
    runner.start()
    wait(lambda: runner.tiles[1] > 0)  # the tiles are planned and the first one waits at the gate
    assert runner.cancel()
    gate.set()
    wait(lambda: not runner.busy)
    big, rest = queue
    assert big.state == "cancelled" and big.message == "Cancelled." and big.result is None
    assert model.batches < runner.tiles[1]  # stopped before the last tile
    assert rest.state == "waiting"  # the rest of the queue waits for the next Upscale


def test_a_model_failure_stops_the_queue_a_bad_file_does_not(qtbot, tmp_path, wait):
    paths = [photo_file(tmp_path / f"m{i}.png") for i in range(2)]
    error = ModelUnavailable("The SinSR weights are not installed.", Remedy("get_weights", "sinsr_v1,vq_f4"))
    runner, queue, _ = make_run(tmp_path, paths, models=FakeModels(error=error))
    rec = Recorder(runner, "error", "message")
    runner.start()
    wait(lambda: not runner.busy)
    first, second = queue
    assert first.state == "failed" and second.state == "waiting"  # every other photo would fail the same way
    assert rec.of("error") == [(f"The SinSR weights are not installed. Download the model files with {GET_MODEL}", "Cannot upscale")]

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    runner, queue, _ = make_run(tmp_path, [bad, photo_file(tmp_path / "ok.png")])
    rec = Recorder(runner, "error", "message")
    runner.start()
    wait(lambda: not runner.busy)
    assert [j.state for j in queue] == ["failed", "done"] and not rec.of("error")
    assert 'Cannot read "bad.png"' in queue.get(queue.ids()[0]).message
    assert any("bad.png failed" in short and "bad.png" in detail for short, detail in rec.of("message"))


# ------------------------------------------------------------------------------------------------ preview
def test_preview_equals_the_final_result_and_uses_the_photo_it_is_given(qtbot, tmp_path, wait):
    src = photo_file(tmp_path / "p.png", 60, 44, seed=3)
    photos = PhotoCache()
    photo = photos.get(src)
    models = ModelCache()
    for scale in (4, 2):
        settings = Settings(model="photo", device="cpu", precision="fp32", tile=32, scale=scale)
        runner, queue, _ = make_run(tmp_path, [src], models=models, tile=32, scale=scale)
        runner.photos = photos
        runner.start()
        wait(lambda r=runner: not r.busy)
        final = next(iter(queue)).result.rgb
        previewer = PreviewController(settings, ModelStatus(settings), models)
        rec = Recorder(previewer, "ready", "busyChanged")
        # The view shows the photo at the run's scale; preview its part x 14..44, y 9..33 (LR pixels).
        assert previewer.start(7, photo, QRect(14 * scale, 9 * scale, 30 * scale, 24 * scale), float(scale))
        wait(lambda r=rec, p=previewer: r.of("ready") and not p.busy)
        (job_id, patch, rect), = rec.of("ready")
        assert job_id == 7 and (rect.x(), rect.y(), rect.width(), rect.height()) == (
            14 * scale, 9 * scale, 30 * scale, 24 * scale)
        part = (np.clip(final[rect.y():rect.y() + rect.height(), rect.x():rect.x() + rect.width()], 0, 1) * 255
                + 0.5).astype(np.uint8)
        view = patch.convertToFormat(patch.Format.Format_RGB888)
        pixels = np.frombuffer(view.constBits(), np.uint8).reshape(view.height(), view.bytesPerLine())
        assert np.array_equal(pixels[:, :view.width() * 3].reshape(view.height(), view.width(), 3), part)
        assert rec.of("busyChanged") == [(True,), (False,)]


def test_a_preview_of_a_photo_no_longer_shown_is_dropped(qtbot, tmp_path, wait):
    settings = Settings(model="photo", device="cpu")
    previewer = PreviewController(settings, ModelStatus(settings), FakeModels())
    rec = Recorder(previewer, "ready")
    previewer.start(1, read_photo(photo_file(tmp_path / "a.png")), QRect(0, 0, 96, 80), 4.0)
    previewer.invalidate()  # the user selected another photo
    wait(lambda: not previewer.busy)
    assert rec.of("ready") == []


def test_preview_region_budget_comes_from_the_expected_speed_or_the_model():
    """About PREVIEW_TARGET_S of work: at the measured speed, or the first estimate on a CPU; without any
    estimate (a GPU model's first run) from the model's memory per pixel, a proxy for its compute."""
    from sinsr_gui.engine.models import descriptor_for
    from sinsr_gui.qt.controllers.preview import MIN_REGION, PREVIEW_TARGET_S

    assert fit_region((0, 0, 100, 50), 10_000) == (0, 0, 100, 50, False)
    x0, y0, x1, y1, shrunk = fit_region((0, 0, 400, 400), 100 * 100)
    assert shrunk and (x1 - x0, y1 - y0) == (100, 100) and (x0, y0) == (150, 150)  # about the centre

    def budget(model: str, device: str = "cpu", **measured: float) -> int:
        s = Settings(model=model, device=device, sinsr_unet="u", sinsr_autoencoder="a", throughput=measured)
        return PreviewController(s, ModelStatus(s), FakeModels()).budget()

    assert budget("photo") == int(PREVIEW_TARGET_S / PHOTO.cpu_seconds_per_mp * 1e6)  # first estimate
    assert budget("sinsr") == MIN_REGION  # SinSR on a CPU: the smallest region, about one tile
    assert budget("photo", **{"photo@cpu": 6.0}) == 1_000_000  # 6 s target at 6 s/MP: one megapixel
    # No GPU here, so no speed for "cuda": the memory proxy, where a heavier model previews less.
    assert budget("sinsr", "cuda") < budget("photo", "cuda")
    assert 150**2 < budget("sinsr", "cuda") < 250**2
    assert descriptor_for("sinsr").tile_bytes[1] > PHOTO.tile_bytes[1]


# --------------------------------------------------------------------------------------------------- save
def finished_job(tmp_path, queue: PhotoQueue, name: str = "s.png"):
    src = photo_file(tmp_path / name, 10, 8)
    job = queue.add([src])[0][0]
    photo = read_photo(src)
    from sinsr_gui.engine.photo import ModelInfo, UpscaleResult

    rgb = np.random.default_rng(1).random((32, 40, 3), dtype=np.float32)
    info = ModelInfo("photo", "Photo (built-in)", "cpu", "CPU", "fp32", 1)
    queue.start(job.id)
    queue.finish(job.id, UpscaleResult(rgb, None, photo.meta, 4, (10, 8), 0.1, info))
    return job


def make_saver(tmp_path, **settings):
    queue = PhotoQueue(tmp_path / "Pictures")
    return SaveController(queue, Settings(**settings)), queue


def test_save_never_over_an_input_and_only_once(qtbot, tmp_path, wait):
    saver, queue = make_saver(tmp_path, name_pattern="{stem}")  # the output name is the input's own
    job = finished_job(tmp_path, queue)
    original = job.path.read_bytes()
    rec = Recorder(saver, "done", "message")
    changed = []
    queue.subscribe(changed.append)
    saver.save(job)
    wait(lambda: rec.of("done"))
    assert rec.of("done") == [(True,)] and job.saved_path == tmp_path / "s (1).png"
    assert job.path.read_bytes() == original and [(e.kind, e.ids) for e in changed] == [("job", (job.id,))]
    saver.save(job)
    assert "Already saved as s (1).png" in rec.of("message")[-1][0]

    saver.save_as(job, job.path, "PNG")  # "Save as" onto the input itself: refused, whatever the dialog said
    wait(lambda: len(rec.of("done")) == 2)
    assert rec.of("done")[-1] == (False,) and job.path.read_bytes() == original


def test_save_as_after_a_batch_released_the_pixels(qtbot, tmp_path, wait):
    saver, queue = make_saver(tmp_path)
    lossless, lossy = finished_job(tmp_path, queue, "a.png"), finished_job(tmp_path, queue, "b.png")
    from sinsr_gui.engine.photo import save_result

    for job, fmt in ((lossless, "PNG"), (lossy, "JPEG")):  # what a batch does: save, then drop the pixels
        job.saved_path = save_result(job.result, tmp_path / f"{job.path.stem}_x4.{fmt.lower()}",
                                     dataclasses.replace(Settings().to_options().output, fmt=fmt))
        job.result = dataclasses.replace(job.result, rgb=None)
    # From a lossless copy: read back and saved again.
    assert saver.save_as_problem(lossless) is None
    rec = Recorder(saver, "done", "upscaleAgainOffered", "failed")
    saver.save_as(lossless, tmp_path / "again.tif", "TIFF")
    wait(lambda: rec.of("done"))
    assert rec.of("done") == [(True,)] and lossless.saved_path == tmp_path / "again.tif"
    assert np.array_equal(read_photo(tmp_path / "again.tif").rgb, read_photo(tmp_path / "a_x4.png").rgb)
    # From a JPEG copy: not re-encoded; one sentence, and the offer to upscale again.
    problem = saver.save_as_problem(lossy)
    assert problem is not None and "b_x4.jpeg" in problem and "Retry" not in problem
    saver.save_as(lossy, tmp_path / "nope.png", "PNG")
    wait(lambda: len(rec.of("done")) == 2)
    assert rec.of("upscaleAgainOffered") == [(lossy.id, problem)] and not rec.of("failed")
    assert rec.of("done")[-1] == (False,) and not (tmp_path / "nope.png").exists()


# ------------------------------------------------------------------------------------ display, thumbnails
def test_display_shows_the_cached_photo_and_the_newest_request_wins(qtbot, tmp_path, wait):
    photos = PhotoCache()
    queue = PhotoQueue(tmp_path)
    a, b = (queue.add([photo_file(tmp_path / f"{n}.png", 30, 20)])[0][0] for n in "ab")
    display = DisplayController(photos)
    rec = Recorder(display, "shown", "failed")
    display.show(a)
    display.show(b)  # before a was decoded
    wait(lambda: display.current is not None and not display.slot.busy)
    (shown,), = rec.of("shown")
    assert shown.job_id == b.id and display.current is shown
    assert shown.photo is photos.get(b.path)  # the cached object: run and previews use this very photo
    # "Before" is enlarged with bicubic onto the output grid (x4), so the sides compare pixel for pixel.
    assert (shown.before.width(), shown.before.height()) == (120, 80) and shown.after is None
    assert shown.before_label == "Before (bicubic ×4)"
    enlarged = qimage_array(shown.before)
    expected = np.asarray(Image.fromarray((np.clip(shown.photo.rgb, 0, 1) * 255 + 0.5).astype(np.uint8)).resize(
        (120, 80), Image.Resampling.BICUBIC))
    assert np.abs(enlarged.astype(int) - expected.astype(int)).max() <= 1

    original = DisplayController(photos, view=lambda: (4, "original"))
    rec2 = Recorder(original, "shown")
    original.show(b)
    wait(lambda: rec2.of("shown"))
    (raw,), = rec2.of("shown")
    assert (raw.before.width(), raw.before.height()) == (30, 20) and raw.before_label == "Before (original pixels)"

    broken = queue.add([tmp_path / "nothing.png"])[0]  # does not exist: not added
    assert broken == []
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    display.show(queue.add([bad])[0][0])
    wait(lambda: rec.of("failed"))
    assert 'Cannot read "bad.png"' in rec.of("failed")[0][1]


def test_thumbnails_and_unreadable_files_at_once(qtbot, tmp_path, wait):
    photos = PhotoCache()
    good = photo_file(tmp_path / "good.jpg", 300, 200, fmt="JPEG")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 broken")
    thumbs = ThumbnailController(photos)
    rec = Recorder(thumbs, "ready", "unreadable")
    thumbs.add([(1, good), (2, bad)])
    wait(lambda: rec.of("ready") and rec.of("unreadable"))
    (job_id, image, size), = rec.of("ready")
    assert job_id == 1 and size == (300, 200) and max(image.width(), image.height()) == 256
    (bad_id, message), = rec.of("unreadable")
    assert bad_id == 2 and 'Cannot read "bad.jpg"' in message
    assert photos.get(good) is photos.get(good)  # decoded once, kept for the display and the run


# ------------------------------------------------------------------------------------------------ weights
def test_weights_import_installs_sinsr_and_errors_are_in_the_apps_words(qtbot, tmp_path, wait, isolated_home):
    registry = make_registry("http://127.0.0.1:9")  # never contacted: importing needs no network
    panel = FirstRunPanel(licences(registry))
    settings = Settings()
    weights = WeightsController(panel, settings, registry)
    rec = Recorder(weights, "installed")
    assert not weights.sinsr_available()

    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    weights.import_files([str(junk)])
    wait(lambda: not weights.busy)
    text = panel.message_label.text()
    assert text and "sinsr-upscale" not in text and "--" not in text and not rec.of("installed")

    weights.import_files([str(UNET_FIXTURE), str(AUTOENCODER_FIXTURE)])
    wait(lambda: not weights.busy)
    assert weights.sinsr_available()
    (message,), = rec.of("installed")
    assert "ready" in message and "ready" in panel.message_label.text()


def test_weights_download_shows_progress_and_can_be_paused(qtbot, wait, monkeypatch, isolated_home):
    from sinsr_gui.weights import download as download_module

    def download(name, store, *, accept_license, progress, cancel):  # the real one is tested on its own
        assert accept_license  # the panel only offers Download once the licences are accepted
        progress(250_000, 1_000_000, 50_000.0, 15.0)
        assert cancel.wait(TIMEOUT_MS / 1000)
        raise download_module.DownloadCancelled()

    monkeypatch.setattr(download_module, "download", download)
    registry = make_registry("http://127.0.0.1:9")
    panel = FirstRunPanel(licences(registry))
    weights = WeightsController(panel, Settings(), registry)
    panel.consent_check.setChecked(True)
    panel.download_button.click()
    assert weights.busy and panel.is_downloading()
    wait(lambda: "250.0 KB of 1.0 MB" in panel.progress_label.text())
    panel.cancel_button.click()
    wait(lambda: not weights.busy)
    assert panel.message_label.text() == PAUSED and not panel.is_downloading()


def test_a_long_run_is_announced_before_it_starts(qtbot):
    """The 15-step teacher on a CPU: before anything has run here the estimate is the reference processor's
    (a first estimate), and the user is told before the run that it will take a while, with the built-in
    Photo model's time for the same photo. A measured speed of another model rescales it to this processor."""
    from sinsr_gui.engine.models.builtin import PHOTO
    from sinsr_gui.engine.pipeline import SINSR_DESCRIPTOR
    from sinsr_gui.engine.resshift import RESSHIFT_DESCRIPTOR

    s = Settings(model="resshift", device="cpu")
    status = ModelStatus(s)
    assert status.long_run_warning(None).startswith("This will take a while.")
    assert status.seconds_per_megapixel() == pytest.approx(RESSHIFT_DESCRIPTOR.cpu_seconds_per_mp)
    warning = status.long_run_warning(status.estimate_seconds([(1000, 1000)]))
    assert "about 1 h 04 min (first estimate)" in warning and "15 steps" in warning and "SinSR" in warning
    assert f"{PHOTO.display_name} would take about 8 s" in warning
    assert "(first estimate)" in status.describe_estimate(status.estimate_seconds([(1000, 1000)]))

    # SinSR ran here twice as fast as on the reference processor: the teacher, of its kind, is rescaled.
    s.record_throughput("sinsr", "cpu", seconds=SINSR_DESCRIPTOR.cpu_seconds_per_mp / 2, megapixels=1.0)
    assert status.seconds_per_megapixel() == pytest.approx(RESSHIFT_DESCRIPTOR.cpu_seconds_per_mp / 2)
    assert "about 32 min (first estimate)" in status.long_run_warning(status.estimate_seconds([(1000, 1000)]))

    s.model = "photo"  # a fast model, measured: a short estimate without the mark, nothing to warn about
    s.record_throughput("photo", "cpu", seconds=PHOTO.cpu_seconds_per_mp / 2, megapixels=1.0)
    assert status.long_run_warning(status.estimate_seconds([(1000, 1000)])) == ""
    assert status.describe_estimate(status.estimate_seconds([(1000, 1000)])) == "about 4 s"


def test_the_sinsr_offer_says_how_slow_it_is_without_a_graphics_card(qtbot, monkeypatch):
    """On a computer with no GPU, the first-run line and the "Get the SinSR model" panel say what SinSR would
    take here against Photo, before anyone downloads 700 MB for it; with a GPU they do not."""
    from sinsr_gui.engine import devices
    from sinsr_gui.qt.first_run import FirstRunPanel
    from sinsr_gui.qt.model_status import TYPICAL_PHOTO_LABEL, TYPICAL_PHOTO_MP

    s = Settings(device="cpu")
    status = ModelStatus(s)
    note = status.sinsr_speed_note()
    assert note.startswith("Without a graphics card SinSR runs on the processor")
    assert f"about 27 min (first estimate) for a {TYPICAL_PHOTO_LABEL} photo" in note
    assert "about 7 s with Photo" in note and TYPICAL_PHOTO_MP == 1200 * 800 / 1e6
    s.record_throughput("sinsr", "cpu", seconds=300.0, megapixels=1.0)  # measured here: no mark
    assert f"about 5 min for a {TYPICAL_PHOTO_LABEL} photo" in status.sinsr_speed_note()

    panel = FirstRunPanel([("SinSR", "non-commercial", "https://example.org")])
    qtbot.addWidget(panel)
    panel.set_speed_note(status.sinsr_speed_note())
    assert not panel.speed_note.isHidden() and "SinSR" in panel.speed_note.text()

    monkeypatch.setattr(devices, "resolve_device", lambda device="auto": devices.torch.device("cuda"))
    assert status.sinsr_speed_note() == ""
    panel.set_speed_note(status.sinsr_speed_note())
    assert panel.speed_note.isHidden()


def test_the_first_run_line_says_what_each_choice_takes_here(qtbot, monkeypatch):
    """On the first launch on a processor the line names the model in use and what it, Most detail and SinSR
    take for a typical photo here (first estimates until measured), so the choice is informed; with a graphics
    card Automatic runs Most detail and the line carries no times."""
    from sinsr_gui.engine import devices
    from sinsr_gui.engine.models.builtin import DETAIL
    from sinsr_gui.qt.model_status import TYPICAL_PHOTO_LABEL

    s = Settings(device="cpu")
    status = ModelStatus(s)
    text = status.first_run_text()
    assert text.startswith("You are using Photo (built-in): it comes with the app and works offline.")
    # The reference processor's figures: Photo about 7 s, x4plus 99.5 s per LR megapixel (about 2 min), SinSR 27 min.
    assert (f"For a {TYPICAL_PHOTO_LABEL} photo on this computer it takes about 7 s, and Most detail (built-in), "
            "which is crisper, about 2 min (first estimates).") in text
    assert text.endswith("without a graphics card it takes about 27 min here (first estimate).")
    assert status.offers_most_detail()
    s.record_throughput("photo", "cpu", seconds=PHOTO.cpu_seconds_per_mp, megapixels=1.0)
    s.record_throughput(DETAIL.kind, "cpu", seconds=60.0, megapixels=1.0)  # measured here: 58 s, no marks
    assert "it takes about 7 s, and Most detail (built-in), which is crisper, about 1 min." in status.first_run_text()

    monkeypatch.setattr(devices, "resolve_device", lambda device="auto": devices.torch.device("cuda"))
    gpu = ModelStatus(Settings())
    gpu.expected = lambda: (DETAIL, "cuda:0")  # Automatic on a graphics card (no CUDA in this test)
    text = gpu.first_run_text()
    assert text.startswith("You are using Most detail (built-in)") and not gpu.offers_most_detail()
    assert " takes " not in text and "get SinSR" in text


def test_a_community_model_file_is_imported_only_after_the_user_confirms(qtbot, tmp_path, wait):
    """Model > Import a model file…: the file is read and recognised, the user is shown what it is and asked
    (its licence is unknown to the app); a no stores nothing, a yes stores it and offers it as a choice."""
    from sinsr_gui.qt.controllers.community import CommunityController
    from sinsr_gui.weights.community import installed_models
    from sinsr_gui.weights.registry import APP_REGISTRY
    from sinsr_gui.weights.spandrel_support import import_spandrel

    import_spandrel()
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    path = tmp_path / "4x-Tiny.pth"
    torch.save(Compact(num_feat=8, num_conv=2, upscale=4).state_dict(), path)
    settings = Settings(weights_dir=str(tmp_path / "weights"))
    questions: list[tuple[str, str]] = []
    answer = {"yes": False}

    def confirm(title: str, text: str, yes: str) -> bool:
        questions.append((title, text))
        return answer["yes"]

    controller = CommunityController(settings, APP_REGISTRY, confirm)
    rec = Recorder(controller, "installed", "imported", "message", "error", "busyChanged")
    controller.import_file(path)
    wait(lambda: questions and not controller.busy)
    assert "4x-Tiny.pth" in questions[0][1] and "licence is unknown" in questions[0][1]
    assert installed_models(controller.store()) == [] and not rec.of("installed")  # declined: nothing stored

    answer["yes"] = True
    controller.import_file(path)
    wait(lambda: rec.of("installed") and not controller.busy)
    (choice, text), = rec.of("installed")
    assert choice == "community:4x-tiny" and "Settings > Model" in text
    assert [m.name for m in installed_models(controller.store())] == ["4x-tiny"]
    assert not rec.of("error")

    bad = tmp_path / "notes.pth"
    bad.write_bytes(b"not a model at all")
    controller.import_file(bad)
    wait(lambda: rec.of("error") and not controller.busy)
    assert "notes.pth" in rec.of("error")[0][0]


# ------------------------------------------------------------------------------------ the typed channel
def _members(annotation: object) -> frozenset:
    """A union's members, or the one type."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return frozenset(typing.get_args(annotation))
    return frozenset([annotation])


def _hints(fn) -> dict[str, object]:
    """Evaluated annotations, with the names the controllers import only for type checking (they load torch)."""
    from sinsr_gui.engine.photo import Models
    from sinsr_gui.weights.community import CommunityCandidate, CommunityInfo
    from sinsr_gui.weights.registry import Registry, WeightSpec
    from sinsr_gui.weights.store import WeightStore

    names = {"Models": Models, "PhotoCache": PhotoCache, "CommunityCandidate": CommunityCandidate,
             "CommunityInfo": CommunityInfo, "Registry": Registry, "WeightSpec": WeightSpec,
             "WeightStore": WeightStore}
    return typing.get_type_hints(fn, localns=names)


def declared(task) -> tuple[frozenset, frozenset]:
    """What a task declares it yields besides its progress, and what it returns."""
    from sinsr_gui.engine.types import Progress

    fn = task.func if isinstance(task, functools.partial) else task
    hints = _hints(fn)
    returns = hints["return"]
    if typing.get_origin(returns) is collections.abc.Generator:
        yields, _send, returns = typing.get_args(returns)
        return _members(yields) - {Progress}, _members(returns)
    control = hints[next(iter(inspect.signature(fn).parameters))]  # TaskControl[Y]
    return _members(typing.get_args(control)[0]), _members(returns)


def takes(handler) -> frozenset | None:
    """The type a callback's one argument is annotated with (None: a lambda, not annotated)."""
    name = next(iter(inspect.signature(handler).parameters))
    hint = _hints(handler).get(name)
    return None if hint is None else _members(hint)


def test_each_controller_handles_exactly_what_its_task_declares(qtbot, tmp_path, monkeypatch, isolated_home):
    """The worker channel carries ``object`` through Qt; the types live at the task and the handler. Every
    task a controller starts declares what it yields and returns, and the controller's ``on_yielded`` and
    ``on_succeeded`` are annotated with exactly those types (so none sorts values by their type), and a task
    that yields values always has someone receiving them."""
    from sinsr_gui.qt.controllers.community import CommunityController
    from sinsr_gui.weights.registry import APP_REGISTRY

    started: list[tuple[str, object, dict]] = []

    def record(slot, task, **callbacks):
        started.append((slot.name, task, callbacks))
        return True  # nothing runs: only the wiring is looked at

    monkeypatch.setattr(WorkerSlot, "start", record)
    src = photo_file(tmp_path / "p.png", 24, 20)
    runner, queue, settings = make_run(tmp_path, [src])
    runner.start()
    status = ModelStatus(settings)
    PreviewController(settings, status, FakeModels()).start(1, read_photo(src), QRect(0, 0, 40, 40), 4.0)
    ThumbnailController(PhotoCache()).add([(1, src)])
    DisplayController(PhotoCache()).show(queue.get(queue.ids()[0]))
    saver, save_queue = make_saver(tmp_path)
    saver.save(finished_job(tmp_path, save_queue))
    registry = make_registry("http://127.0.0.1:9")
    weights = WeightsController(FirstRunPanel(licences(registry)), Settings(), registry)
    weights.start_download()
    weights.import_files([str(src)])
    community = CommunityController(Settings(weights_dir=str(tmp_path / "w")), APP_REGISTRY, lambda *a: True)
    community.import_file(src)
    community.download(community.downloads()[0].name)

    names = [name for name, _, _ in started]
    assert names == ["upscale", "preview", "thumbnails", "display", "save", "weights", "weights", "community",
                     "community"]
    for name, task, callbacks in started:
        yields, returns = declared(task)
        on_yielded, on_succeeded = callbacks.get("on_yielded"), callbacks.get("on_succeeded")
        if yields == {typing.NoReturn}:
            assert on_yielded is None, f"{name}: a handler for values its task never yields"
        else:
            assert on_yielded is not None, f"{name}: its task yields {set(yields)}, and nobody receives them"
            assert takes(on_yielded) == yields, f"{name}: {on_yielded.__name__} is not typed with what it gets"
        if on_succeeded is not None and takes(on_succeeded) is not None:
            assert takes(on_succeeded) == returns, f"{name}: {on_succeeded.__name__} does not take the result"
