"""The distillation trainer end to end with tiny models (official checkpoint layouts written here): files,
previews, the student loading into our SinSR pipeline, bit-for-bit resume, gradient accumulation, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sinsr_gui.engine import SinSRConfig
from sinsr_gui.engine.pipeline import SinSRPipeline
from sinsr_gui.training.distill import distillation_losses
from sinsr_gui.training.distill.__main__ import main
from sinsr_gui.training.distill.trainer import (
    CHECKPOINT_NAME,
    LOG_NAME,
    STUDENT_NAME,
    DistillConfig,
    DistillError,
    Distributed,
    Trainer,
    learning_rate,
    load_images,
    train,
)
from sinsr_gui.weights.checkpoint import read_state_dict
from tests.conftest import tiny_config


def write_tiny_models(folder: Path) -> dict[str, str]:
    """A tiny teacher (official DDP layout), its autoencoder (plain dict) and their config JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    config = tiny_config()
    pipe = SinSRPipeline.from_config(config, seed=3)
    teacher, ae, cfg_file = folder / "teacher.pth", folder / "ae.pth", folder / "config.json"
    torch.save({"state_dict": {"module." + k: v for k, v in pipe.unet.state_dict().items()}}, teacher)
    torch.save(pipe.autoencoder.state_dict(), ae)
    cfg_file.write_text(json.dumps(config.to_dict()))
    return {"teacher": str(teacher), "autoencoder": str(ae), "model_config": str(cfg_file)}


def write_images(folder: Path, count: int = 3, size: int = 80) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        img = np.stack([np.sin(6 * x + i), np.cos(5 * y), x * y], -1) * 0.4 + 0.5 + rng.normal(0, 0.05, (size, size, 3))
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return str(folder)


def tiny_run(tmp: Path, out: str, **overrides) -> DistillConfig:
    models = write_tiny_models(tmp / "models")
    data = write_images(tmp / "data")
    base = dict(data=[data], out=str(tmp / out), steps=3, batch=2, micro_batch=1, hr_size=64, warmup=2,
                lr=1e-3, degradation="real-world", device="cpu", threads=1, log_every=1, checkpoint_every=2,
                preview_every=2, preview_count=2, **models)
    base.update(overrides)
    return DistillConfig(**base)


def test_end_to_end_from_the_command_line(tmp_path):
    cfg = tiny_run(tmp_path, "run")
    args = ["--data", *cfg.data, "--out", cfg.out, "--teacher", cfg.teacher, "--autoencoder", cfg.autoencoder,
            "--model-config", cfg.model_config, "--steps", "3", "--batch", "2", "--micro-batch", "1",
            "--hr-size", "64", "--warmup", "2", "--lr", "1e-3", "--threads", "1", "--device", "cpu",
            "--log-every", "1", "--checkpoint-every", "2", "--preview-every", "2", "--preview-count", "2", "--quiet"]
    assert main(args) == 0
    out = Path(cfg.out)
    log = [json.loads(line) for line in (out / LOG_NAME).read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3]
    assert all(np.isfinite(entry["loss"]) and entry["loss"] > 0 and "eta_s" in entry for entry in log)
    previews = sorted(p.name for p in (out / "previews").iterdir())
    assert previews == ["step_000000.png", "step_000002.png"]
    with Image.open(out / "previews" / "step_000002.png") as im:
        assert im.size == (4 * 64, 2 * 64)  # bicubic | student | teacher | HR, one row per validation image
    # The official layout: {'state_dict': {'module.' + key}}, every buffer included.
    raw = torch.load(out / STUDENT_NAME, weights_only=True)
    assert set(raw) == {"state_dict"} and all(k.startswith("module.") for k in raw["state_dict"])
    student, teacher = read_state_dict(out / STUDENT_NAME), read_state_dict(cfg.teacher)
    assert student.keys() == teacher.keys()
    assert any(not torch.equal(student[k], teacher[k]) for k in teacher)  # it trained
    pipe = SinSRPipeline.from_checkpoints(SinSRConfig.from_json(cfg.model_config), unet=out / STUDENT_NAME,
                                          autoencoder=cfg.autoencoder)
    result = pipe.upscale(torch.rand(1, 3, 16, 16), generator=torch.Generator().manual_seed(0))
    assert result.shape == (1, 3, 64, 64) and torch.isfinite(result).all()
    # A second run into the same folder must not silently overwrite it.
    assert main(args) == 2


def _checkpoint(path: Path) -> dict:
    return torch.load(Path(path) / CHECKPOINT_NAME, weights_only=True)


def test_resume_continues_bit_for_bit(tmp_path):
    straight = tiny_run(tmp_path, "straight", steps=3, checkpoint_every=3, preview_every=0)
    train(straight, quiet=True)
    split = tiny_run(tmp_path, "split", steps=1, checkpoint_every=1, preview_every=0)
    train(split, quiet=True)
    split.steps = 3
    train(split, resume=True, quiet=True)
    a, b = _checkpoint(straight.out), _checkpoint(split.out)
    assert a["step"] == b["step"] == 3
    for part in ("student", "ema"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part} {k}"
    for sa, sb in zip(a["opt"]["state"].values(), b["opt"]["state"].values()):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"]) and torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"])
    log = [json.loads(line)["step"] for line in (Path(split.out) / LOG_NAME).read_text().splitlines()]
    assert log == [1, 2, 3]
    # A changed recipe is refused with the option that differs.
    split.lr = 2e-3
    with pytest.raises(DistillError, match="--lr"):
        train(split, resume=True, quiet=True)


def test_micro_batches_accumulate_to_the_same_step(tmp_path):
    def one_step(micro: int) -> dict[str, torch.Tensor]:
        trainer = Trainer(tiny_run(tmp_path, f"m{micro}", micro_batch=micro), Distributed(), quiet=True)
        images = load_images([p for p in Path(trainer.cfg.data[0]).iterdir()], 64)
        losses = trainer.train_step(images)
        return losses, {k: p.grad.clone() for k, p in trainer.student.named_parameters()}

    (loss_a, a), (loss_b, b) = one_step(1), one_step(2)
    assert loss_a["loss"] == pytest.approx(loss_b["loss"], rel=1e-5)
    # Adam's first step is nearly sign(gradient), so compare the accumulated gradients themselves.
    ga, gb = torch.cat([g.flatten() for g in a.values()]), torch.cat([g.flatten() for g in b.values()])
    assert ga.norm() > 0 and ((ga - gb).norm() / ga.norm()).item() < 1e-4


def test_learning_rate_warms_up_linearly_then_stays_as_the_official_recipe_does():
    cfg = DistillConfig(lr=5e-5, warmup=5000)
    assert learning_rate(0, cfg) == pytest.approx(1e-8)
    assert learning_rate(2499, cfg) == pytest.approx(2.5e-5)
    assert learning_rate(4999, cfg) == learning_rate(10_000, cfg) == 5e-5
    # No decay: the official halving at its second milestone (500000) falls on its last iteration.
    assert learning_rate(499_999, cfg) == 5e-5
    assert DistillConfig().warmup == 5000  # configs/SinSR.yaml's first milestone
    d = DistillConfig()
    assert (d.lr, d.ema, d.weight_decay, d.hr_size, d.batch, d.seed) == (5e-5, 0.999, 0.0, 256, 64, 123456)


def test_loss_weights_scale_their_terms(tmp_path):
    trainer = Trainer(tiny_run(tmp_path, "w"), Distributed(), quiet=True)
    gen = torch.Generator().manual_seed(1)
    kw = dict(gt=torch.rand(1, 3, 64, 64, generator=gen), lq=torch.rand(1, 3, 16, 16, generator=gen),
              noise=torch.randn(1, 3, 16, 16, generator=gen))
    with torch.no_grad():
        t = distillation_losses(trainer.student, trainer.models.teacher, inverse_weight=0.25,
                                consistency_weight=3.0, **kw)
    torch.testing.assert_close(t["loss"], t["distill"] + 0.25 * t["inverse"] + 3.0 * t["consistency"])
    # The student starts as a copy of the teacher: the one-step error is real, not zero.
    assert t["distill"].item() > 0


def test_unknown_or_missing_weights_say_what_to_pass(tmp_path):
    cfg = tiny_run(tmp_path, "e", teacher="no_such_model")
    with pytest.raises(DistillError, match="--teacher no_such_model"):
        train(cfg, quiet=True)
    cfg = tiny_run(tmp_path, "e2", teacher="resshift_x4_s15", weights_dir=str(tmp_path / "empty"))
    with pytest.raises(DistillError, match="weights download resshift_x4_s15"):
        train(cfg, quiet=True)
    cfg = tiny_run(tmp_path, "e3", hr_size=128)
    with pytest.raises(DistillError, match="--hr-size"):
        train(cfg, quiet=True)


@pytest.mark.slow  # a fresh interpreter and a training step: about 8 s of CPU
def test_gpu_measurement_script_runs_tiny_on_the_cpu_with_only_its_allowed_imports(tmp_path):
    out = tmp_path / "step.json"
    script = Path(__file__).parents[1] / "scripts" / "gpu_distill_step.py"
    check = ("import sys; sys.argv = [sys.argv[0], '--tiny', '--device', 'cpu', '--batch', '2', "
             f"'--micro-batch', '1', '--warmup', '0', '--steps', '1', '--out', {str(out)!r}]; "
             f"sys.path.insert(0, {str(script.parent)!r}); import gpu_distill_step as g; g.main(sys.argv[1:]); "
             "bad = sorted({m.split('.')[0] for m in sys.modules} & {'platformdirs', 'spandrel', 'PySide6'}); "
             "assert not bad, bad")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["tiny"] and report["micro_batch"] == 1 and report["timed_steps"] == 1
    assert report["step_median_s"] > 0 and report["steps_per_hour"] == pytest.approx(3600 / report["step_median_s"], rel=1e-2)
    assert report["hours_for_3000_iterations_at_this_batch"] > 0 and np.isfinite(report["losses"]).all()


def test_a_full_size_student_is_saved_as_the_weights_manager_expects_sinsr_v1():
    from sinsr_gui.engine.resshift import ResShiftPipeline
    from sinsr_gui.training.distill.trainer import official_state
    from sinsr_gui.weights.checkpoint import strip_wrapper_prefixes, unwrap_state_dict
    from sinsr_gui.weights.registry import DEFAULT_REGISTRY
    from sinsr_gui.weights.store import check_shapes

    unet, _ = ResShiftPipeline.build_modules(SinSRConfig.sinsr_v1())
    saved = official_state(unet)
    state = strip_wrapper_prefixes(unwrap_state_dict(saved))
    # The keys and shapes the import ("weights import FILE --as sinsr_v1", the app's import) checks.
    check_shapes({k: tuple(v.shape) for k, v in state.items()}, DEFAULT_REGISTRY.get("sinsr_v1"), DEFAULT_REGISTRY,
                 label="student")
    reference = unet.state_dict()
    assert all(state[k].dtype == (torch.float32 if v.is_floating_point() else v.dtype) for k, v in reference.items())


def test_a_trained_student_is_imported_like_the_app_does_and_runs_through_the_engine(tmp_path, home):
    """The issue's "done when": the trainer's command line on a folder of images (the case A teacher, two steps),
    then its student file through the weights manager's import (the safe loader, identification and the store, as
    `weights import PATH` and the app's "Import a file I already have"), then a photo through the engine's use
    case as the app runs it: 4x the size, and not what the teacher's own weights give in that one step."""
    from sinsr_gui.engine.models import ModelCache
    from sinsr_gui.engine.photo import PhotoOptions, load_and_run, run_to_result
    from sinsr_gui.engine.types import ModelRequest
    from sinsr_gui.training.distill.synthetic import write_synthetic_photos
    from sinsr_gui.weights.importer import ImportResult, import_weights
    from sinsr_gui.weights.store import WeightStore
    from tests.conftest import CASE_A
    from tests.http_server import make_registry

    teacher, autoencoder, config = CASE_A / "unet_ckpt.pth", CASE_A / "autoencoder_ckpt.pth", CASE_A / "config.json"
    data = tmp_path / "photos"
    write_synthetic_photos(data, count=2, size=256)
    out = tmp_path / "run"
    # --ema 0: after two steps an EMA at 0.999 is still 99.8 % the teacher; here the file must hold what trained.
    args = ["--data", str(data), "--out", str(out), "--teacher", str(teacher), "--autoencoder", str(autoencoder),
            "--model-config", str(config), "--steps", "2", "--batch", "1", "--micro-batch", "1", "--hr-size", "256",
            "--warmup", "1", "--lr", "1e-3", "--ema", "0", "--threads", "1", "--device", "cpu",
            "--checkpoint-every", "1", "--preview-every", "0", "--quiet"]
    assert main(args) == 0
    student_file = out / STUDENT_NAME

    # The weights manager's store, its registry checking the case A layouts (they stand in for the full size).
    store = WeightStore(registry=make_registry("http://127.0.0.1:9"))
    result = import_weights(student_file, store)  # no --as: recognised by its layout, told apart by its name
    assert isinstance(result, ImportResult) and result.name == "sinsr_v1", result
    assert "file name" in result.note  # the teacher shares the layout; "sinsr" in the name decides
    assert import_weights(autoencoder, store).name == "vq_f4"  # the user's autoencoder (the teacher's)
    assert store.resolve("sinsr_v1").suffix == ".safetensors"  # converted: loaded without unpickling from now on

    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(photo)
    models = ModelCache()

    def upscale(request: ModelRequest) -> np.ndarray:
        run = run_to_result(load_and_run(models, request, photo, PhotoOptions(model=request)))
        assert run.result.model.kind == "sinsr"
        return run.result.rgb

    common = dict(model="sinsr", device="cpu", dtype="fp32", config=config)
    imported = upscale(ModelRequest(weights_dir=store.root, **common))  # the installed (imported) student
    with_teacher = upscale(ModelRequest(unet=teacher, autoencoder=autoencoder, **common))
    assert imported.shape == with_teacher.shape == (96, 160, 3) and np.isfinite(imported).all()
    assert np.abs(imported - with_teacher).max() > 1e-3  # the trained weights, not the teacher's


def test_the_distillation_demo_report_is_rebuilt_from_its_numbers(tmp_path):
    """docs/distill_demo.md is what scripts/distill_demo.py writes from docs/distill_demo.json (and the ablation's
    JSON): no number in the report was edited by hand."""
    import shutil

    docs = Path(__file__).parents[1] / "docs"
    sys.path.insert(0, str(docs.parent / "scripts"))
    try:
        import distill_demo
    finally:
        sys.path.remove(str(docs.parent / "scripts"))
    for name in (distill_demo.NAME, distill_demo.ABLATION):
        shutil.copy(docs / f"{name}.json", tmp_path)
    assert distill_demo.main(["--report-only", "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / f"{distill_demo.NAME}.md").read_text() == (docs / f"{distill_demo.NAME}.md").read_text()
    with Image.open(tmp_path / f"{distill_demo.NAME}.png") as im:
        assert im.size == (720, 420)
