"""The ResShift "shift" schedule: how much residual and noise each diffusion step holds.

``x_t = x0 + eta_t · (y - x0) + kappa · sqrt(eta_t) · noise`` with an exponential ``sqrt(eta_t)``. The arrays
are computed in float64 and rounded to float32 when used, exactly as the official code does, because the
one-step constants must match it to the last bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class ShiftSchedule:
    kappa: float
    sqrt_etas: np.ndarray  # (steps,) float64

    @classmethod
    def exponential(cls, *, steps: int, min_noise_level: float, etas_end: float, kappa: float,
                    power: float) -> ShiftSchedule:
        """sqrt_eta_i = eta_1 · b^(p_i), p_i = (steps-1)·(i/(steps-1))^power, b chosen so the last equals etas_end."""
        eta_start = min(min_noise_level / kappa, min_noise_level, math.sqrt(0.001))
        increaser = math.exp(1 / (steps - 1) * math.log(etas_end / eta_start))
        base = np.ones(steps) * increaser
        power_timestep = np.linspace(0, 1, steps, endpoint=True) ** power * (steps - 1)
        return cls(kappa=kappa, sqrt_etas=np.power(base, power_timestep) * eta_start)

    @property
    def steps(self) -> int:
        return len(self.sqrt_etas)

    @property
    def etas(self) -> np.ndarray:
        return self.sqrt_etas**2

    def prior_noise_scale(self, t: int) -> torch.Tensor:
        """float32 scalar ``kappa · sqrt(eta_t)`` (computed in float64, then rounded)."""
        return torch.tensor(self.kappa * self.sqrt_etas[t], dtype=torch.float32)

    def input_scale(self, t: int) -> torch.Tensor:
        """float32 scalar ``sqrt(eta_t · kappa² + 1)``; eta_t is rounded to float32 first, the rest is float32."""
        eta = torch.tensor(self.etas[t], dtype=torch.float32)
        return torch.sqrt(eta * self.kappa**2 + 1)
