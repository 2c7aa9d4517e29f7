"""Photo v3 training (sinsr_gui/training/photo_distill.py, teacher.py): the colour-anchored target, the exact
deepening of the start model, the per-sample data stream, resume bit for bit, and the exported card.

The teacher here is a tiny random RRDB network in the official layout (2 blocks, 8 features), so the tests run in
seconds; the real teacher's conversion is tested in tests/test_ncnn_import.py.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from sinsr_gui.nn.compact import CompactSRNet
from sinsr_gui.training import photo_distill as pd
from sinsr_gui.training.teacher import Teacher
from sinsr_gui.weights import spandrel_support


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory) -> Path:
    spandrel_support.import_spandrel()
    from spandrel.architectures.ESRGAN.__arch.RRDB import RRDBNet

    torch.manual_seed(0)
    net = RRDBNet(num_filters=8, num_blocks=2, scale=4)
    path = tmp_path_factory.mktemp("teacher") / "tiny_rrdb.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hr")
    rng = np.random.default_rng(0)
    for i in range(3):
        base = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
        Image.fromarray(base).resize((96, 80), Image.Resampling.BICUBIC).save(folder / f"img{i}.png")
    return folder


def _cfg(tmp_path: Path, teacher: Path, hr_folder: Path, **kw) -> pd.DistillConfig:
    variants = {"plain": pd.StudentLosses(), "gan": pd.StudentLosses(perceptual=0.5, adversarial=0.05)}
    base = dict(data=[str(hr_folder)], out=str(tmp_path / "run"), teacher=str(teacher), variants=variants,
                steps=4, batch=2, lr_patch=16, warmup=2, d_warmup=1, num_conv=2, checkpoint_every=2, log_every=1)
    return pd.DistillConfig(**(base | kw))


def test_colour_anchor_keeps_teacher_detail_and_takes_ground_truth_colour():
    torch.manual_seed(1)
    hr = torch.rand(1, 3, 64, 64) * 0.5 + 0.25
    texture = 0.05 * torch.sign(torch.randn(1, 3, 64, 64))  # fine detail the ground truth lacks
    teacher = (hr * 0.9 + texture).clamp(0, 1)  # darker by 10 %, plus texture
    target = pd.colour_anchored(teacher, hr, sigma=4.0)
    # The teacher's darkening is gone: the mean colour is the ground truth's, not the teacher's.
    assert (target.mean((2, 3)) - hr.mean((2, 3))).abs().max() < 2e-3
    assert (teacher.mean((2, 3)) - hr.mean((2, 3))).abs().max() > 0.03
    # The detail is the teacher's: the high band of the target is the high band of the teacher.
    high = target - pd.gaussian_blur(target, 4.0)
    teacher_high = teacher - pd.gaussian_blur(teacher, 4.0)
    assert torch.corrcoef(torch.stack([high.flatten(), teacher_high.flatten()]))[0, 1] > 0.95


def test_deepen_computes_exactly_what_the_start_model_does():
    torch.manual_seed(2)
    start = CompactSRNet(num_feat=8, num_conv=2)
    for p in start.parameters():
        p.data.normal_(0, 0.2)
    deep = pd.deepen(start, 5)
    assert deep.config.num_conv == 5 and len(list(deep.body)) == 2 * (5 + 1)
    x = torch.rand(1, 3, 9, 7)
    torch.testing.assert_close(deep(x), start(x), rtol=0, atol=1e-6)
    with pytest.raises(ValueError):
        pd.deepen(start, 1)


def test_every_sample_comes_from_its_own_seed(hr_folder):
    from sinsr_gui.training.common import list_images, load_images

    cfg = pd.DistillConfig(data=[str(hr_folder)], out="", teacher="", lr_patch=16)
    pairs = pd.TrainingPairs(load_images(list_images(cfg.data), 64), cfg)
    lr5, hr5 = pairs[5]
    assert lr5.shape == (3, 16, 16) and hr5.shape == (3, 64, 64)
    pairs[3]  # drawing another sample first changes nothing
    torch.testing.assert_close(pairs[5][0], lr5, rtol=0, atol=0)
    assert not torch.equal(pairs[6][1], hr5)


def test_teacher_features_and_output_contract(tiny_teacher):
    teacher = Teacher.load(tiny_teacher)
    out = teacher(torch.rand(2, 3, 8, 6))
    assert out.shape == (2, 3, 32, 24) and out.min() >= 0 and out.max() <= 1
    feats = teacher.features(torch.rand(1, 3, 16, 16))
    assert [f.shape for f in feats] == [(1, 8, 16, 16)]
    assert not any(p.requires_grad for p in teacher.parameters())


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_resume_continues_bit_for_bit_and_export_writes_a_loadable_card(tmp_path, tiny_teacher, hr_folder):
    straight = _cfg(tmp_path / "a", tiny_teacher, hr_folder)
    pd.train(straight, device_name="cpu", threads=1, quiet=True)

    halves = _cfg(tmp_path / "b", tiny_teacher, hr_folder)
    pd.train(replace(halves, steps=2), device_name="cpu", threads=1, quiet=True)
    pd.train(halves, resume=True, device_name="cpu", threads=1, quiet=True)

    for name in ("plain", "gan"):
        a = load_file(str(Path(straight.out) / name / pd.WEIGHTS_NAME))
        b = load_file(str(Path(halves.out) / name / pd.WEIGHTS_NAME))
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}/{key} differs after resume"
    # Resuming a finished run rewrites nothing.
    before = {f: f.stat().st_mtime_ns for f in Path(halves.out).rglob("*") if f.is_file()}
    pd.train(halves, resume=True, device_name="cpu", threads=1, quiet=True)
    assert {f: f.stat().st_mtime_ns for f in Path(halves.out).rglob("*") if f.is_file()} == before
    log = [json.loads(line) for line in (Path(halves.out) / pd.LOG_NAME).read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3, 4]
    assert {"gan/adversarial", "gan/perceptual", "gan/disc", "plain/block_gradient"} <= log[-1].keys()

    # A second phase from a variant's weights records the first phase in its card.
    phase2 = _cfg(tmp_path / "c", tiny_teacher, hr_folder, steps=1,
                  init=str(Path(halves.out) / "gan" / pd.WEIGHTS_NAME), num_conv=3)
    pd.train(phase2, device_name="cpu", threads=1, quiet=True)
    models = tmp_path / "models"
    card = json.loads(pd.export_photo_distilled(Path(phase2.out) / "plain", models).read_text())
    assert card["name"] == "photo_x4" and "Real-ESRGAN x4plus" in card["training"]["teacher"]["name"]
    assert "BSD-3-Clause" in card["training"]["teacher"]["licence"]
    phases = card["training"]["phases"]
    assert [p["steps"] for p in phases] == [4, 1] and phases[0]["variant"] == "gan"
    assert "--variant gan:" in phases[0]["command"] and "--steps 4" in phases[0]["command"]
    weights = models / "photo_x4.safetensors"
    assert card["file"]["bytes"] == weights.stat().st_size
    model = CompactSRNet(**card["architecture"]["config"])
    model.load_state_dict(load_file(str(weights)))
    assert model(torch.rand(1, 3, 5, 5)).shape == (1, 3, 20, 20)


def test_training_command_repeats_the_configuration(tmp_path, tiny_teacher, hr_folder):
    cfg = _cfg(tmp_path, tiny_teacher, hr_folder, steps=7, lr=3e-4)
    argv = pd.training_command(cfg, "gan").split()[3:]  # drop "python -m MODULE"
    args = pd._parser().parse_args(argv)
    assert args.steps == 7 and args.lr == pytest.approx(3e-4) and args.batch == 2 and args.lr_patch == 16
    assert pd._parse_variants(args.variant) == {"gan": cfg.variants["gan"]}
