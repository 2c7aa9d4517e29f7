"""The Photo model's trainer (GAN fine-tune of the built-in model) and its export: tiny, real runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from sinsr_gui.training import photo
from sinsr_gui.training.discriminator import UNetDiscriminatorSN
from sinsr_gui.training.export import export_photo
from sinsr_gui.training.losses import (
    cell_pattern_l1,
    frequency_l1,
    gan_discriminator_loss,
    gan_generator_loss,
)

TINY = ["--batch", "2", "--lr-patch", "8", "--d-warmup", "2", "--quiet", "--threads", "1"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        y, x = np.mgrid[0:48, 0:56] / 48
        img = np.stack([np.sin(5 * x + i), np.cos(4 * y), x * y], -1) * 0.4 + 0.5
        img = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


def _train(data_dir: Path, out: Path, *extra: str) -> Path:
    assert photo.main(["--data", str(data_dir), "--out", str(out), *TINY, *extra]) == 0
    return out


def test_a_run_writes_the_ema_generator_config_log_and_checkpoint(data_dir, tmp_path):
    out = _train(data_dir, tmp_path / "run", "--steps", "6", "--checkpoint-every", "3")
    for name in ("photo_x4.safetensors", "config.json", "log.jsonl", "checkpoint.pt"):
        assert (out / name).is_file(), name
    meta = json.loads((out / "config.json").read_text())
    assert meta["step"] == 6 and meta["train"]["loss"]["adversarial"] > 0
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)  # readable without unpickling code
    assert {"model", "ema", "disc", "opt_g", "opt_d", "rng", "g_start"} <= set(ckpt)
    start = load_file(str(Path(photo.__file__).parents[2] / "resources/models/compact_x4.safetensors"))
    trained = load_file(str(out / "photo_x4.safetensors"))
    assert set(start) == set(trained)  # the same architecture as the Faithful model it starts from
    assert any(not torch.equal(start[k], trained[k]) for k in start)  # and it learned something


def test_same_seed_same_weights_and_resume_continues_exactly(data_dir, tmp_path):
    straight = _train(data_dir, tmp_path / "a", "--steps", "6", "--checkpoint-every", "6")
    again = _train(data_dir, tmp_path / "b", "--steps", "6", "--checkpoint-every", "6")
    wa, wb = load_file(str(straight / "photo_x4.safetensors")), load_file(str(again / "photo_x4.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # Stop at 4 (checkpointed), then resume to 6: the same weights as the uninterrupted run.
    _train(data_dir, tmp_path / "c", "--steps", "4", "--checkpoint-every", "2")
    resumed = _train(data_dir, tmp_path / "c", "--steps", "6", "--checkpoint-every", "2", "--resume")
    wc = load_file(str(resumed / "photo_x4.safetensors"))
    assert all(torch.equal(wa[k], wc[k]) for k in wa)


def test_resume_after_a_kill_between_checkpoints_logs_each_step_once(data_dir, tmp_path):
    run = _train(data_dir, tmp_path / "run", "--steps", "5", "--checkpoint-every", "4", "--log-every", "1")
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 5
    # As if killed at step 7 after the checkpoint at 5: steps 6 and 7 are in the log but not in the checkpoint.
    with (run / "log.jsonl").open("a") as log:
        log.write(json.dumps({"step": 6, "pixel": 9.0}) + "\n" + json.dumps({"step": 7, "pixel": 9.0}) + "\n")
    _train(data_dir, run, "--steps", "8", "--checkpoint-every", "4", "--log-every", "1", "--resume")
    entries = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in entries] == list(range(1, 9))
    assert all(e.get("pixel") != 9.0 for e in entries)  # the lost steps' lines are gone, the retrained ones kept


def test_resume_refuses_other_losses(data_dir, tmp_path):
    _train(data_dir, tmp_path / "run", "--steps", "2", "--checkpoint-every", "2")
    with pytest.raises(ValueError, match="checkpoint was trained with"):
        _train(data_dir, tmp_path / "run", "--steps", "4", "--resume", "--adversarial", "0.5")


def test_a_committed_generator_continues_at_its_step_on_a_fresh_machine(data_dir, tmp_path):
    first = _train(data_dir, tmp_path / "first", "--steps", "3", "--checkpoint-every", "3")
    fresh = tmp_path / "fresh"  # no checkpoint here: only the generator and its config travel
    _train(data_dir, fresh, "--steps", "5", "--resume", "--init", str(first / "photo_x4.safetensors"),
           "--start-step", "auto")
    assert json.loads((fresh / "config.json").read_text())["step"] == 5
    # It started at step 3 (where the generator was) and the new critic warmed up for 2 steps from there.
    assert torch.load(fresh / "checkpoint.pt", weights_only=True)["g_start"] == 3 + 2


def test_without_gan_there_is_no_discriminator_and_usm_can_be_off(data_dir, tmp_path):
    out = _train(data_dir, tmp_path / "g", "--steps", "2", "--adversarial", "0", "--no-usm", "--frequency", "0")
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert "disc" not in ckpt
    assert "--no-usm" in photo.training_command(photo.PhotoTrainConfig.from_dict(json.loads(
        (out / "config.json").read_text())["train"]))


def test_discriminator_gives_a_logit_per_pixel_and_losses_behave():
    disc = UNetDiscriminatorSN(num_feat=8)
    x = torch.rand(2, 3, 32, 48)
    assert disc(x).shape == (2, 1, 32, 48)
    real, fake = torch.full((2, 1, 4, 4), 5.0), torch.full((2, 1, 4, 4), -5.0)
    assert gan_discriminator_loss(real, fake) < 0.01 < gan_discriminator_loss(fake, real)
    assert gan_generator_loss(real) < 0.01 < gan_generator_loss(fake)
    a = torch.rand(1, 3, 16, 16)
    assert frequency_l1(a, a) == 0 and frequency_l1(a, a.flip(-1)) > 0


def test_cell_pattern_loss_sees_a_repeated_dot_and_not_random_error():
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(4, 3, 128, 128, generator=gen)
    dot = torch.zeros(4, 4)
    dot[1, 2] = 0.04  # one sub-pixel 10 levels too bright in every 4x4 cell
    dotted = target + dot.repeat(32, 32)
    noisy = target + 0.04 * torch.randn(target.shape, generator=gen)  # as large an error, at random places
    expected = (dot - dot.mean()).abs().mean()
    assert cell_pattern_l1(dotted, target) == pytest.approx(float(expected), rel=1e-4)
    # Random error ten times larger pixel by pixel averages out over the 4,096 cells.
    assert (noisy - target).abs().mean() > 10 * (dotted - target).abs().mean()
    assert cell_pattern_l1(noisy, target) < 0.2 * expected
    assert cell_pattern_l1(target + 0.1, target) == pytest.approx(0.0, abs=1e-6)  # a uniform offset is no pattern
    # Its gradient pushes the dot down and leaves nothing else to learn.
    pred = dotted.clone().requires_grad_(True)
    cell_pattern_l1(pred, target).backward()
    assert pred.grad[0, 0, 1, 2] > 0 and pred.grad[0, 0, 1, 2] > pred.grad[0, 0, 0, 0]


def test_export_writes_a_card_the_loader_accepts(data_dir, tmp_path, monkeypatch):
    run = _train(data_dir, tmp_path / "run", "--steps", "2", "--checkpoint-every", "2")
    resources = tmp_path / "resources"
    (resources / "models").mkdir(parents=True)
    root = Path(photo.__file__).parents[2] / "resources" / "models"
    for name in ("compact_x4.json", "compact_x4.safetensors"):
        (resources / "models" / name).write_bytes((root / name).read_bytes())
    card_path = export_photo(run, resources / "models")
    card = json.loads(card_path.read_text())
    assert card["display_name"] == "Photo (built-in)" and card["training"]["steps"] == 2
    assert card["training"]["previous_phase"] is None  # started from the built-in Faithful weights
    assert card["training"]["datasets"]  # provenance copied from the Faithful card
    assert {"pixel", "frequency", "adversarial", "pixel_target"} <= set(card["training"]["losses"])
    assert card["training"]["degradations"]["real_world"]["scheme"].startswith("Real-ESRGAN second-order")
    assert "non-commercial" in card["licence"]["weights"]

    from sinsr_gui import paths
    from sinsr_gui.weights import builtin

    monkeypatch.setattr(paths, "resource_path", lambda rel: resources / rel)
    model = builtin.load_builtin_model(name=builtin.PHOTO)  # size and SHA-256 checked against the card
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)


def test_a_two_phase_export_records_both_commands_and_the_active_losses(data_dir, tmp_path):
    first = _train(data_dir, tmp_path / "p1", "--steps", "2", "--adversarial", "0", "--frequency", "0", "--no-usm")
    second = _train(data_dir, tmp_path / "p2", "--steps", "2", "--init", str(first / "photo_x4.safetensors"),
                    "--frequency", "0", "--block-gradient", "1.0", "--no-usm")
    meta = json.loads((second / "config.json").read_text())
    meta["train"]["steps"] = 6000  # as if started with --steps 6000 and stopped at step 2 (flat lr: the same run)
    (second / "config.json").write_text(json.dumps(meta))
    dest = tmp_path / "models"
    card = json.loads(export_photo(second, dest).read_text())
    previous = card["training"]["previous_phase"]
    assert previous["steps"] == 2 and previous["initialised_from"] == "builtin"
    assert previous["command"].startswith("python -m sinsr_gui.training.photo") and "--adversarial 0" in previous["command"]
    assert f"--init {first / 'photo_x4.safetensors'}" in card["training"]["command"]
    assert "--steps 2 " in card["training"]["command"]
    assert "pixel, block-grid gradient and adversarial losses;" in card["description"]
    assert "frequency" not in card["description"]


def test_the_one_training_command_runs_both_phases_exports_and_resumes(tmp_path):
    """scripts/train_photo.sh, the README's one command, with tiny steps; a second run finds both phases done."""
    import os
    import subprocess
    import sys

    sets = tmp_path / "sets"
    rng = np.random.default_rng(1)
    for name in ("T91", "BSD200"):
        (sets / name).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 255, (40, 44, 3), dtype=np.uint8)).save(sets / name / "a.png")
    root = Path(photo.__file__).parents[2]
    env = os.environ | {"PYTHON": sys.executable, "SETS": str(sets), "RUNS": str(tmp_path / "runs"),
                        "MODELS": str(tmp_path / "models"), "P1_STEPS": "2", "P2_STEPS": "3", "NO_EVAL": "1",
                        "EXTRA": " ".join(TINY)}
    generators = []
    for _ in range(2):
        done = subprocess.run(["bash", str(root / "scripts" / "train_photo.sh")], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        generators.append([((tmp_path / "runs" / p / "checkpoint.pt").stat().st_mtime_ns,
                            (tmp_path / "runs" / p / "photo_x4.safetensors").read_bytes()) for p in ("photo_p1", "photo_p2")])
    assert generators[0] == generators[1]  # the second run found both phases finished: nothing rewritten
    card = json.loads((tmp_path / "models" / "photo_x4.json").read_text())
    assert card["training"]["steps"] == 3 and card["training"]["previous_phase"]["steps"] == 2
    assert card["training"]["losses"]["block_gradient"] == 1.0 and card["training"]["losses"]["adversarial"] == 0.0
    assert card["training"]["previous_phase"]["losses"]["adversarial"] == 0.0
    assert load_file(tmp_path / "models" / "photo_x4.safetensors").keys() == load_file(
        tmp_path / "runs" / "photo_p2" / "photo_x4.safetensors").keys()
