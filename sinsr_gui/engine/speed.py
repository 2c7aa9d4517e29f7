"""How long a model will take here: its speed measured on this computer, or a first estimate before that.

Speeds are seconds per input (LR) megapixel of a photo, by model kind, on one device ("cpu", "cuda:1"); the
app records one after every run (``Settings.record_throughput``).

The rule, in order:

1. **Measured here**: the model's own record on this device.
2. **A first estimate on a CPU**: the model's ``cpu_seconds_per_mp`` (its descriptor: measured on the
   reference 2-core CPU by ``scripts/models_speed.py``, docs/cpu/models_speed.json), scaled by how this
   computer's processor compared on the models of the same kind it has measured (the median of measured /
   reference). The kinds are the diffusion models (they draw noise: SinSR, ResShift), whose denoiser runs in
   float32, and the others, which run in bf16 where the processor has it: processors differ between the two
   (on an Intel Xeon with AMX the built-in models took 0.4x the reference's time and SinSR 1.04x, end to end,
   docs/cpu/e2e.json). With nothing of its kind measured yet it is the reference figure itself: processors
   differ by a few times, but that is enough to tell seconds from hours, which the warning before a long run
   needs.
3. **A multi-step model on another device**: its one-step sibling's (SinSR's) measured speed times its number
   of passes. Graphics cards differ too much for any other guess.

Otherwise there is no estimate (None): a GPU model that has not run on this card yet.

:func:`format_duration` words an estimate for both front-ends. Torch-free (the app's window imports it).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sinsr_gui.engine.descriptor import ModelDescriptor

LONG_RUN_S = 600.0  # a run expected to take longer is announced before it starts (the app: the run; the CLI: 1 MP)
ONE_STEP_SIBLING = "sinsr"  # a multi-step model (ResShift) is this network run ``passes`` times per tile


@dataclass(frozen=True)
class Speed:
    seconds_per_mp: float  # per input (LR) megapixel
    measured: bool  # False: a first estimate, until the model has run on this device

    def seconds_for(self, megapixels: float) -> float:
        return self.seconds_per_mp * megapixels


def expected_speed(descriptor: ModelDescriptor, device: str, measured: Mapping[str, float],
                   references: Mapping[str, ModelDescriptor] | None = None) -> Speed | None:
    """The speed of ``descriptor``'s model on ``device`` (rule: module docstring).

    ``measured``: the speeds recorded on this device, by model kind. ``references``: the models with a
    reference CPU figure to compare this processor with, by kind (default: the fixed models).
    """
    own = measured.get(descriptor.kind)
    if own is not None:
        return Speed(own, measured=True)
    if device == "cpu" and descriptor.cpu_seconds_per_mp:
        factor = cpu_factor(descriptor, measured, references)
        return Speed(descriptor.cpu_seconds_per_mp * factor, measured=False)
    sibling = measured.get(ONE_STEP_SIBLING)
    if descriptor.passes > 1 and sibling is not None:
        return Speed(sibling * descriptor.passes, measured=False)
    return None


def cpu_factor(descriptor: ModelDescriptor, measured: Mapping[str, float],
               references: Mapping[str, ModelDescriptor] | None = None) -> float:
    """How many times the reference CPU's time this processor takes for models of ``descriptor``'s kind
    (diffusion or not): the median over those measured here with a reference figure; 1 when there is none."""
    if references is None:
        from sinsr_gui.engine.models import DESCRIPTORS as references
    ratios = [rate / ref.cpu_seconds_per_mp for kind, rate in measured.items()
              if (ref := references.get(kind)) is not None and ref.cpu_seconds_per_mp and rate > 0
              and ref.needs_noise == descriptor.needs_noise]
    return statistics.median(ratios) if ratios else 1.0


def format_duration(seconds: float | None) -> str:
    """'about 40 s', 'about 3 min', 'about 1 h 20 min': rounded, because estimates are not precise."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "unknown"
    if seconds < 10:
        return f"about {max(1, round(seconds))} s"
    if seconds < 55:
        return f"about {round(seconds / 5) * 5} s"
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"
