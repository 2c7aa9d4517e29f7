"""Community models through spandrel: import (safe reading, confirmation, refusals), the store, the descriptor,
the tiler, the command line, and the Real-ESRGAN downloads against the local HTTP server.

Every model here is a spandrel architecture with random weights in a small configuration, built in the test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from sinsr_gui.cli.weights import main as weights_main
from sinsr_gui.engine.models import (
    ModelRequest,
    ModelUnavailable,
    descriptor_for,
    load_model,
    model_choices,
    normalise_choice,
)
from sinsr_gui.engine.models import community as engine_community
from sinsr_gui.engine.tiling import TilingOptions, _ramp, iter_upscale, plan_tiles, run_to_completion
from sinsr_gui.weights import community, spandrel_support
from sinsr_gui.weights.consent import ConsentBook
from sinsr_gui.weights.download import download
from sinsr_gui.weights.importer import ImportResult, import_weights
from sinsr_gui.weights.registry import (
    APP_REGISTRY,
    COMMUNITY_REGISTRY,
    REALESR_GENERAL_X4V3_SPEC,
    REALESRGAN_X4PLUS_SPEC,
    Registry,
)
from sinsr_gui.weights.store import WeightStore
from tests.http_server import AUTOENCODER_FIXTURE, FileServer, make_registry, write_evil_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def _arch(module: str, cls: str):
    spandrel_support.import_spandrel()
    return getattr(importlib.import_module(f"spandrel.architectures.{module}"), cls)


def _net(kind: str) -> torch.nn.Module:
    """Random-weight networks of a few architectures, small enough for a 2-core CPU."""
    torch.manual_seed({"esrgan": 1, "compact": 2, "compact_x2": 3, "swinir": 4, "grey": 5, "x16": 6, "compact_x1": 7,
                       "compact_x8": 8}[kind])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "esrgan":  # RRDB, old-style keys (model.N...), x4
            return _arch("ESRGAN", "ESRGAN")(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=4)
        if kind == "compact":  # SRVGG compact, x4: receptive radius num_conv + 2 = 6 LR px
            return _arch("Compact", "Compact")(num_feat=8, num_conv=4, upscale=4)
        if kind in ("compact_x1", "compact_x2", "compact_x8"):
            return _arch("Compact", "Compact")(num_feat=8, num_conv=2, upscale=int(kind[-1]))
        if kind == "swinir":  # a window-attention transformer (min size 16, no fp16)
            return _arch("SwinIR", "SwinIR")(img_size=16, embed_dim=12, depths=[1], num_heads=[2], window_size=4,
                                             mlp_ratio=2, upscale=4, upsampler="pixelshuffledirect")
        if kind == "grey":
            return _arch("Compact", "Compact")(num_in_ch=1, num_out_ch=1, num_feat=8, num_conv=2, upscale=4)
        if kind == "x16":
            return _arch("Compact", "Compact")(num_feat=8, num_conv=1, upscale=16)
    raise AssertionError(kind)


def _save(state: dict[str, torch.Tensor], path: Path, wrapper: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in state.items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({wrapper: state} if wrapper else state, path)
    return path


def _model_file(tmp_path: Path, kind: str, name: str, wrapper: str | None = None) -> Path:
    return _save(_net(kind).state_dict(), tmp_path / "user" / name, wrapper)


@pytest.fixture
def store(home: Path) -> WeightStore:
    return WeightStore(registry=APP_REGISTRY)


def _import(path: Path, store: WeightStore, **kw) -> community.CommunityInfo:
    return community.import_community(path, store, accept=True, **kw)


def _files(store: WeightStore) -> list[str]:
    folder = store.root / "community"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth image with some detail, float32 in [0, 1]."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    base = np.stack([np.sin(xx / 5 + c) * np.cos(yy / 7 - c) for c in range(3)], axis=2) * 0.4 + 0.5
    return np.clip(base + rng.normal(0, 0.03, base.shape), 0, 1).astype(np.float32)


def _upscale(model, img: np.ndarray, tile: int, overlap: int) -> np.ndarray:
    return run_to_completion(iter_upscale(model, img, TilingOptions(tile=tile, overlap=overlap)))


# --------------------------------------------------------------------------------------- spandrel & torchvision
def test_spandrel_imports_without_leaving_a_fake_torchvision():
    """In a fresh interpreter: spandrel imports; the stand-in is gone from sys.modules afterwards."""
    code = (
        "import sys\n"
        "from sinsr_gui.weights import spandrel_support as s\n"
        "m = s.import_spandrel()\n"
        "print(m.__version__, s.uses_torchvision_standin(), sorted(k for k in sys.modules if k.startswith('torchvision')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    version, standin, names = out.stdout.split(maxsplit=2)
    assert version == spandrel_support.SPANDREL_VERSION
    if standin == "True":  # no working torchvision here (the project's machines): nothing fake is left behind
        assert names.strip() == "[]"
    spandrel_support.import_spandrel()  # in this process too (the only way in: `import spandrel` alone may fail)
    lama = importlib.import_module("spandrel.architectures.LaMa.__arch.LaMa")  # with the stand-in or the real one

    if spandrel_support.uses_torchvision_standin():
        with pytest.raises(spandrel_support.TorchvisionMissing, match="does not ship torchvision"):
            lama.rotate(torch.zeros(1))


def test_a_working_torchvision_is_used_as_it_is(tmp_path):
    """Where torchvision.transforms.functional imports (a user with a matched build), no stand-in is used."""
    fake = tmp_path / "site" / "torchvision" / "transforms"
    fake.mkdir(parents=True)
    (fake.parent / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "functional.py").write_text("import enum\nclass InterpolationMode(enum.Enum):\n    BILINEAR = 'b'\n"
                                        "def rotate(*a, **k): return 'real rotate'\n"
                                        "def normalize(*a, **k): return 'real normalize'\n")
    code = (
        "import sys\n"
        "from sinsr_gui.weights import spandrel_support as s\n"
        "s.import_spandrel()\n"
        "import spandrel.architectures.LaMa.__arch.LaMa as lama\n"
        "print(s.uses_torchvision_standin(), lama.rotate(), sys.modules['torchvision'].__file__ is not None)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}:{ROOT}"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "real", "rotate", "True"]


def test_a_missing_spandrel_is_one_clear_error(monkeypatch, tmp_path, store, capsys):
    path = _model_file(tmp_path, "compact", "model.pth")
    real = spandrel_support.importlib.util.find_spec
    monkeypatch.setattr(spandrel_support, "_module", None)
    monkeypatch.setattr(spandrel_support.importlib.util, "find_spec",
                        lambda name, *a: None if name == "spandrel" else real(name, *a))
    with pytest.raises(spandrel_support.SpandrelMissing, match=r"pip install --no-deps spandrel"):
        community.inspect_file(path)
    assert weights_main(["import", str(path), "--accept-license"], store=store) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not one of SinSR's files" in err and "pip install --no-deps spandrel" in err


@pytest.mark.parametrize("arch, keys", [
    ("LaMa", {"model.model.1.bn_l.running_mean": (8,), "model.model.1.ffc.convl2l.weight": (4, 4, 3, 3)}),
    ("RestoreFormer", {k: (4, 3, 3, 3) for k in ("quantize.embedding.weight", "encoder.conv_in.weight",
                                                 "quant_conv.weight", "encoder.down.0.block.0.norm1.weight",
                                                 "encoder.conv_out.weight", "decoder.conv_out.weight")}),
])
def test_lama_and_restoreformer_are_refused_before_they_are_built(tmp_path, store, arch, keys):
    """Refused on detection, before spandrel builds them: so a partial state dict that spandrel detects as the
    architecture is enough to test it (and nothing reaches torchvision)."""
    path = _save({k: torch.zeros(s) for k, s in keys.items()}, tmp_path / "user" / f"{arch.lower()}.pth")
    with pytest.raises(community.CommunityModelError) as err:
        community.inspect_file(path)
    assert f"is a {arch} model" in str(err.value)
    assert "need torchvision, which this app does not ship; they are not super-resolution models anyway" in str(err.value)
    assert _files(store) == []


# --------------------------------------------------------------------------------------- import & refusals
def test_import_needs_confirmation_and_stores_the_facts(tmp_path, store):
    path = _model_file(tmp_path, "compact", "4x-Tiny Compact.pth", wrapper="params_ema")
    with pytest.raises(community.ConfirmationRequired, match="licence is unknown"):
        community.import_community(path, store)
    asked = []
    with pytest.raises(community.ImportDeclined):
        community.import_community(path, store, confirm=lambda c: asked.append(c) or False)
    assert _files(store) == [] and community.installed_models(store) == []

    text = asked[0].confirmation_text()
    assert "4x-Tiny Compact.pth" in text and "RealESRGAN Compact" in text and "x4" in text
    assert "M parameters" in text and "licence is unknown" in text and "community:4x-tiny_compact" in text

    info = community.import_community(path, store, confirm=lambda c: True)
    assert info.name == "4x-tiny_compact" and info.choice == "community:4x-tiny_compact"
    assert info.path == store.root / "community" / "4x-tiny_compact.safetensors" and info.path.is_file()
    f = info.facts
    params = sum(p.numel() for p in _net("compact").parameters())
    assert (f.arch_id, f.scale, f.size_multiple, f.input_channels, f.output_channels) == ("Compact", 4, 1, 3, 3)
    assert f.supports_half and f.supports_bfloat16 and f.parameters == params
    assert info.licence == community.UNKNOWN_LICENCE and info.confirmed_at and info.source_name == path.name
    entry = json.loads((store.root / "installed.json").read_text())["entries"]["community:4x-tiny_compact"]
    assert entry["sha256"] == info.sha256 and entry["community"]["source_sha256"] == info.source_sha256
    assert entry["community"]["facts"]["parameters"] == params
    # The same file again is a no-op; another file under that name needs --replace.
    assert community.import_community(path, store, accept=True).sha256 == info.sha256
    other = _model_file(tmp_path, "esrgan", "4x-Tiny Compact.safetensors")
    with pytest.raises(community.CommunityNameError, match="already installed"):
        _import(other, store)
    assert _import(other, store, replace=True).facts.arch_id == "ESRGAN"


@pytest.mark.parametrize("kind, name, wrapper, arch, scale, minimum, half, overlap", [
    ("esrgan", "rrdb.pth", None, "ESRGAN", 4, 2, True, 16),
    ("compact", "compact.pth", "params", "Compact", 4, 0, True, 16),
    ("compact", "compact_ema.pth", "params_ema", "Compact", 4, 0, True, 16),
    ("swinir", "swinir.safetensors", None, "SwinIR", 4, 16, False, 32),
    ("compact_x2", "compact_x2.pth", None, "Compact", 2, 0, True, 16),
])
def test_descriptor_facts(tmp_path, store, kind, name, wrapper, arch, scale, minimum, half, overlap):
    info = _import(_model_file(tmp_path, kind, name, wrapper), store)
    assert (info.facts.arch_id, info.facts.scale, info.facts.min_size) == (arch, scale, minimum)
    d = descriptor_for(info.choice)
    assert d.kind == info.choice and d.display_name == f"{info.name} ({info.facts.architecture} x{scale})"
    assert d.scale == scale and d.size_multiple == 1 and not d.needs_noise and d.passes == 1
    assert d.licence == "unknown: confirmed by the user on import"
    assert d.overlap == overlap and ("fp16" in d.dtypes) == half and {"auto", "fp32", "bf16"} <= set(d.dtypes)
    a, b = d.tile_bytes
    assert a > 1e8 and b > 2_000 and d.max_cpu_tile and d.max_cpu_tile >= 128
    if arch == "SwinIR":  # a transformer with discouraged tiling: more overlap on large tiles
        assert d.overlap_fraction == 0.25 and d.default_overlap(256) == 64
    assert (d, True) in model_choices(ModelRequest())


# (arch id, scale, hyperparameters, measured bytes per LR pixel) from scripts/community_memory.py (module docstring)
MEASURED = [("Compact", 4, {"num_conv": 16}, 534), ("Compact", 4, {"num_conv": 32}, 549), ("ESRGAN", 4, {}, 12_056),
            ("ESRGAN", 2, {}, 706), ("SPAN", 4, {}, 4_349), ("SwinIR", 4, {"window_size": 8}, 5_564),
            ("SwinIR", 4, {"window_size": 8}, 10_449), ("HAT", 4, {"window_size": 16}, 37_431)]


def test_the_memory_rule_covers_the_measurements_and_transformers_need_more():
    base = community.CommunityFacts(architecture="X", arch_id="ESRGAN", purpose="SR", scale=4, size_multiple=1,
                                    min_size=0, square=False, input_channels=3, output_channels=3,
                                    supports_half=True, supports_bfloat16=True, parameters=12_000_000,
                                    tiling="supported")
    for arch, scale, hyper, measured in MEASURED:
        facts = dataclasses.replace(base, arch_id=arch, scale=scale, hyperparameters=hyper)
        assert measured < engine_community.tile_bytes_for(facts)[1] < 6 * max(measured, 3_000), arch
    hat = dataclasses.replace(base, arch_id="HAT", hyperparameters={"window_size": 16})
    assert engine_community.tile_bytes_for(hat)[1] > 2 * engine_community.tile_bytes_for(base)[1]
    assert engine_community.overlap_for(hat)[0] == 32 and engine_community.overlap_for(base)[0] == 16
    assert engine_community.tile_bytes_for(base)[0] == 0.1e9 + 8 * 12_000_000


@pytest.mark.parametrize("kind, message", [
    ("grey", r"greyscale model \(1 input and 1 output channels\); this app runs RGB models only"),
    ("x16", "enlarges 16x; this app runs models of scale 1, 2, 3, 4, 8"),
])
def test_unusable_models_are_refused(tmp_path, store, kind, message):
    with pytest.raises(community.CommunityModelError, match=message):
        _import(_model_file(tmp_path, kind, f"{kind}.pth"), store)
    assert _files(store) == []


def test_a_malicious_pickle_never_runs(tmp_path, store, capsys):
    marker = tmp_path / "MARKER"
    evil = tmp_path / "user" / "4x-Evil.pth"
    evil.parent.mkdir()
    write_evil_checkpoint(evil, marker)
    with pytest.raises(community.CommunityModelError, match="refused"):
        _import(evil, store)
    assert weights_main(["import", str(evil), "--accept-license"], store=store) == 1
    assert "refused" in capsys.readouterr().err
    assert not marker.exists() and _files(store) == []


def test_non_model_files_are_refused_clearly(tmp_path, store, capsys):
    photo = tmp_path / "user" / "photo.pth"
    photo.parent.mkdir()
    Image.new("RGB", (8, 8), "red").save(photo, format="JPEG")
    with pytest.raises(community.CommunityModelError, match="not a readable PyTorch checkpoint"):
        _import(photo, store)
    unknown = _save({"encoder.weight": torch.zeros(3, 3)}, tmp_path / "user" / "unknown.safetensors")
    with pytest.raises(community.CommunityModelError, match="not a model this app or spandrel recognises"):
        _import(unknown, store)
    assert weights_main(["import", str(unknown), "--accept-license"], store=store) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "spandrel recognises" in err
    assert _files(store) == []


def test_sinsr_files_still_import_as_before(tmp_path, home):
    """import_weights sends SinSR's files to the old importer (here: the small autoencoder fixture)."""
    ae = tmp_path / "ae.pth"
    ae.write_bytes(AUTOENCODER_FIXTURE.read_bytes())
    registry = Registry([*make_registry("http://127.0.0.1:9").specs(), *COMMUNITY_REGISTRY.specs()])
    result = import_weights(ae, WeightStore(registry=registry))
    assert isinstance(result, ImportResult) and result.name == "vq_f4"


# --------------------------------------------------------------------------------------- running
def _request(info: community.CommunityInfo, **kw) -> ModelRequest:
    return ModelRequest(model=info.choice, device="cpu", **kw)


def test_choices_normalise_and_unknown_ones_fail_on_load(store):
    assert normalise_choice(" Community:Foo ") == "community:foo"
    with pytest.raises(ModelUnavailable, match="cannot be a model name"):
        normalise_choice("community:")
    with pytest.raises(ModelUnavailable, match="not installed"):
        load_model(ModelRequest(model="community:nothing"))
    with pytest.raises(ModelUnavailable, match="not installed"):
        descriptor_for("community:nothing")


@pytest.mark.parametrize("kind", ["esrgan", "compact", "swinir"])
def test_runs_through_the_tiler(tmp_path, store, kind):
    info = _import(_model_file(tmp_path, kind, f"{kind}.pth"), store)
    model, notice = load_model(_request(info, dtype="fp32"))
    assert notice is None and model.precision_label == "fp32" and model.noise_field(1, 8, 8, None) is None
    img = _image(40, 52)
    out = _upscale(model, img, tile=32, overlap=model.descriptor.overlap)
    assert out.shape == (160, 208, 3) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    # A tile smaller than the model's minimum size (SwinIR: 16) is padded and cropped: any size works.
    small = _upscale(model, img[:7, :9], tile=64, overlap=8)
    assert small.shape == (28, 36, 3)
    # The same as spandrel's own call on the whole image.
    spandrel_model = model.model
    with torch.inference_mode():
        direct = spandrel_model(torch.from_numpy(img).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    untiled = _upscale(model, img, tile=512, overlap=16)
    assert np.abs(untiled - direct).max() < 1e-5


def test_tiled_matches_untiled_within_the_seam_bound(tmp_path, store):
    """A convolutional model with a finite receptive radius r (SRVGG compact: num_conv + 2 = 6 LR px) and an
    overlap of at least 2r (16 here): a single tile differs from the untiled result only within r LR px of its
    inner edges, where its blend weight is at most ramp(overlap·scale)[r·scale] and the neighbour is exact. So the
    tiled result differs from the untiled one by at most that weight times the worst single-tile edge error (the
    argument of tests/test_tiling.py), plus float rounding."""
    info = _import(_model_file(tmp_path, "compact", "compact.pth"), store)
    model, _ = load_model(_request(info, dtype="fp32"))
    radius, scale = model.receptive_radius, model.scale
    overlap = model.descriptor.overlap
    assert radius == 6 and overlap >= 2 * radius
    img = _image(70, 90)
    full = _upscale(model, img, tile=512, overlap=overlap)
    worst = 0.0
    for t in plan_tiles(70, 90, 32, overlap, model.size_multiple):
        crop = torch.from_numpy(img[t.y0:t.y0 + t.height, t.x0:t.x0 + t.width]).permute(2, 0, 1)[None]
        with torch.inference_mode():
            one = model.run_tiles(crop, None)[0].permute(1, 2, 0).numpy()
        ref = full[t.y0 * scale:(t.y0 + t.height) * scale, t.x0 * scale:(t.x0 + t.width) * scale]
        worst = max(worst, float(np.abs(one - ref).max()))
    tiled = _upscale(model, img, tile=32, overlap=overlap)
    bound = worst * float(_ramp(overlap * scale)[radius * scale]) + 1e-5
    assert worst > 1e-3  # single tiles really are wrong at their edges
    assert np.abs(tiled - full).max() <= bound


@pytest.mark.parametrize("native", [1, 2, 8])
def test_other_native_scales_reach_every_output_scale_through_the_resampler(tmp_path, store, native):
    """photo.py resamples whenever the output scale differs from the model's: a 1x (spandrel: Restoration), 2x or
    8x model gives x2, x3 and x4, equal to our Lanczos resampling of its native result, and a preview region
    equals the whole-photo result there."""
    from sinsr_gui.engine import imageio
    from sinsr_gui.engine.options import RunOptions
    from sinsr_gui.engine.photo import read_photo, run_to_result, tiling_for, upscale_photo, upscale_region

    info = _import(_model_file(tmp_path, f"compact_x{native}", f"{native}x.pth"), store)
    assert info.facts.scale == native and info.facts.purpose == ("Restoration" if native == 1 else "SR")
    model, _ = load_model(_request(info))
    src = tmp_path / "photo.png"
    Image.fromarray((_image(30, 44) * 255).astype(np.uint8)).save(src)
    photo = read_photo(src)
    for scale in (2, 3, 4):
        run = RunOptions(scale=scale, tile=16, overlap=8)
        raw = run_to_completion(iter_upscale(model, photo.rgb, tiling_for(model, run)))
        assert raw.shape == (30 * native, 44 * native, 3)
        result = run_to_result(upscale_photo(model, photo, run))
        assert result.rgb.shape == (30 * scale, 44 * scale, 3) and result.model.kind == info.choice
        expected = raw if scale == native else imageio.resize_rgb(raw, (44 * scale, 30 * scale))
        assert np.abs(result.rgb - expected).max() < 1e-6
        region = run_to_result(upscale_region(model, photo, (9, 5, 30, 21), run))
        x, y, w, h = region.rect
        assert np.abs(result.rgb[y:y + h, x:x + w] - region.rgb).max() < 1e-5


def test_precision_choices(tmp_path, store, monkeypatch):
    from sinsr_gui.engine.devices import DeviceError

    swin = _import(_model_file(tmp_path, "swinir", "swin.pth"), store)
    with pytest.raises(DeviceError, match="fp16"):
        engine_community.choose_precision(swin.facts, torch.device("cuda"), "fp16")
    facts = swin.facts
    monkeypatch.setattr(engine_community, "cpu_has_fast_bf16", lambda: True)
    assert engine_community.choose_precision(facts, torch.device("cpu"), "auto") == torch.bfloat16
    assert engine_community.choose_precision(facts, torch.device("cuda"), "auto") == torch.float32  # no fp16
    half = dataclasses.replace(facts, supports_half=True)
    assert engine_community.choose_precision(half, torch.device("cuda"), "auto") == torch.float16
    monkeypatch.setattr(engine_community, "cpu_has_fast_bf16", lambda: False)
    assert engine_community.choose_precision(facts, torch.device("cpu"), "auto") == torch.float32
    model, _ = load_model(_request(swin, dtype="bf16"))  # bf16 autocast on the CPU runs and stays in range
    out = _upscale(model, _image(20, 20), tile=64, overlap=8)
    assert model.precision_label == "bf16" and out.shape == (80, 80, 3) and out.min() >= 0 and out.max() <= 1


# --------------------------------------------------------------------------------------- command line
def test_cli_import_list_run_verify_remove(tmp_path, store, capsys, monkeypatch):
    from sinsr_gui.cli import main as cli_main

    path = _model_file(tmp_path, "compact", "4x_Tiny.pth", wrapper="params_ema")
    assert weights_main(["import", str(path)], store=store, interactive=False) == 1
    err = capsys.readouterr().err
    assert "licence is unknown" in err and "--accept-license" in err and _files(store) == []

    monkeypatch.setattr("builtins.input", lambda question: "n")
    assert weights_main(["import", str(path)], store=store, interactive=True) == 1
    assert "RealESRGAN Compact" in capsys.readouterr().err and _files(store) == []  # shown, then declined
    monkeypatch.setattr("builtins.input", lambda question: "y")
    assert weights_main(["import", str(path)], store=store, interactive=True) == 0
    out = capsys.readouterr().out
    assert "as the community model 4x_tiny" in out and "--model community:4x_tiny" in out

    assert weights_main(["list"], store=store) == 0
    out = capsys.readouterr().out
    assert "realesrgan_x4plus" in out and "BSD-3-Clause" in out  # the downloads are listed
    row = next(line for line in out.splitlines() if line.startswith("4x_tiny "))
    assert "RealESRGAN Compact" in row and "x4" in row and "installed" in row and "unknown" in row

    src = tmp_path / "in" / "photo.png"
    src.parent.mkdir()
    Image.fromarray((_image(20, 24) * 255).astype(np.uint8)).save(src)
    code = cli_main([str(src), "-o", str(tmp_path / "out"), "--model", "community:4x_tiny", "--weights-dir",
                     str(store.root), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Model: 4x_tiny (RealESRGAN Compact x4)" in err
    with Image.open(tmp_path / "out" / "photo_x4.png") as result:
        assert result.size == (96, 80)

    assert weights_main(["verify"], store=store) == 0
    assert "community:4x_tiny: installed" in capsys.readouterr().out
    info = community.community_info(store, "4x_tiny")
    data = bytearray(info.path.read_bytes())
    data[-8:] = bytes(b ^ 0xFF for b in data[-8:])
    info.path.write_bytes(bytes(data))
    assert weights_main(["verify", "community:4x_tiny"], store=store) == 1
    assert "corrupt" in capsys.readouterr().out

    assert weights_main(["remove", "4x_tiny"], store=store) == 0
    assert "Removed the community model 4x_tiny" in capsys.readouterr().out
    assert _files(store) == [] and community.installed_models(store) == []
    assert weights_main(["remove", "4x_tiny"], store=store) == 1
    assert "Unknown weights" in capsys.readouterr().err


def test_cli_model_argument():
    from sinsr_gui.cli.upscale import build_parser

    parser = build_parser()
    assert parser.parse_args(["x.png", "--model", "Community:My-Model"]).model == "community:my-model"
    assert parser.parse_args(["x.png", "--model", "compact"]).model == "faithful"
    with pytest.raises(SystemExit):
        parser.parse_args(["x.png", "--model", "nonsense"])


# --------------------------------------------------------------------------------------- downloads
def _random_file(spec, path: Path, wrapper: str) -> bytes:
    """A random-weight file in the official layout of ``spec`` (its manifest), wrapped like the release."""
    gen = torch.Generator().manual_seed(0)

    def init(key: str, shape: tuple[int, ...]) -> torch.Tensor:
        if len(shape) > 1:  # convolutions: small, so 23 random RRDB blocks stay finite
            return torch.randn(shape, generator=gen) * 0.02
        return torch.full(shape, 0.25) if key.endswith(".weight") else torch.zeros(shape)  # PReLU slopes, biases

    torch.save({wrapper: {k: init(k, shape) for k, shape in spec.shapes().items()}}, path)
    return path.read_bytes()


@pytest.mark.parametrize("spec, wrapper", [
    (REALESR_GENERAL_X4V3_SPEC, "params"),
    (REALESRGAN_X4PLUS_SPEC, "params_ema"),  # 67 MB of random weights: about 4 s
])
def test_download_verify_install_run(tmp_path, home, server: FileServer, spec, wrapper, capsys):
    data = _random_file(spec, tmp_path / spec.filename, wrapper)
    registry = Registry([dataclasses.replace(s, urls=(server.url("/" + s.filename),)) for s in APP_REGISTRY.specs()])
    server.serve("/" + spec.filename, data)
    store = WeightStore(registry=registry)
    book = ConsentBook(tmp_path / "consent.json")
    assert weights_main(["download", spec.name], store=store, consent=book, interactive=False) == 1
    assert "BSD-3-Clause" in capsys.readouterr().err and server.requests == []  # no consent, no request

    if spec is REALESRGAN_X4PLUS_SPEC:
        assert weights_main(["download", spec.name, "--accept-license"], store=store, consent=book,
                            interactive=False) == 0
        assert f"--model community:{spec.name}" in capsys.readouterr().out
        path = store.resolve(spec.name)
    else:
        path = download(spec.name, store, accept_license=True, consent=book)
    assert path == store.root / "community" / f"{spec.name}.safetensors"
    assert not (store.root / spec.filename).exists() and not list(store.root.glob("*.part*"))
    assert store.status_of(spec.name).state == "installed"
    info = community.community_info(store, spec.name)
    assert info.licence == "BSD-3-Clause" and info.registry_name == spec.name
    assert info.source == server.url("/" + spec.filename) and info.facts.scale == 4
    assert info.facts.parameters == sum(int(np.prod(s)) for s in spec.shapes().values())
    assert info.source_sha256 == hashlib.sha256(data).hexdigest()
    assert download(spec.name, store, consent=book) == path and len(server.requests) == 1  # installed: no request

    model, _ = load_model(ModelRequest(model=f"community:{spec.name}", device="cpu", dtype="fp32",
                                       weights_dir=store.root))
    out = _upscale(model, _image(12, 16), tile=64, overlap=8)
    assert out.shape == (48, 64, 3) and np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert weights_main(["verify", spec.name], store=store) == 0
    assert weights_main(["remove", spec.name], store=store) == 0
    assert store.status_of(spec.name).state == "missing" and not path.exists()


def test_an_official_file_imported_by_hand_is_recognised_but_a_lookalike_is_not(tmp_path, store):
    """The official file (its name, and the layout of the manifest) becomes the registry's entry with its licence;
    a fine-tune with the same layout keeps an unknown licence and its own name."""
    spec = REALESR_GENERAL_X4V3_SPEC
    official = tmp_path / "user" / spec.filename
    official.parent.mkdir()
    _random_file(spec, official, "params")
    info = _import(official, store)
    assert info.name == spec.name and info.licence == "BSD-3-Clause" and info.registry_name == spec.name
    assert store.status_of(spec.name).state == "installed"

    tune = tmp_path / "user" / "4x-MyTune.pth"
    tune.write_bytes(official.read_bytes())
    other = _import(tune, store)
    assert other.name == "4x-mytune" and other.licence == community.UNKNOWN_LICENCE and other.registry_name is None
    with pytest.raises(community.CommunityNameError, match="belongs to the Real-ESRGAN x4plus download"):
        _import(tune, store, name="realesrgan_x4plus")
    with pytest.raises(community.CommunityNameError, match="belongs to the SinSR v1 denoiser"):
        _import(tune, store, name="sinsr_v1")


def test_a_download_that_is_not_the_model_is_discarded(tmp_path, home, server: FileServer):
    bad = tmp_path / "bad.pth"
    torch.save({"params": {"conv.weight": torch.zeros(3, 3)}}, bad)
    spec = dataclasses.replace(REALESR_GENERAL_X4V3_SPEC, urls=(server.serve("/x.pth", bad.read_bytes()),))
    store = WeightStore(registry=Registry([spec]))
    with pytest.raises(community.VerificationError, match="discarded"):
        download(spec.name, store, accept_license=True, consent=ConsentBook(tmp_path / "c.json"))
    assert not list(store.root.rglob("*.part")) and community.installed_models(store) == []


def test_manifests_are_what_the_generator_makes():
    """The stored manifests equal a fresh run of scripts/make_community_manifests.py (from spandrel's archs)."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_community_manifests.py"), "--check"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert sum(int(np.prod(s)) for s in REALESRGAN_X4PLUS_SPEC.shapes().values()) == 16_697_987
    assert sum(int(np.prod(s)) for s in REALESR_GENERAL_X4V3_SPEC.shapes().values()) == 1_213_296
