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

    # The teacher's 15-step samplers --------------------------------------------------------------------
    # The official code keeps these arrays in float64 and casts each looked-up value to float32 before using
    # it (square roots and exponentials then run in float32); the methods below do the same, to the bit.
    @property
    def etas_prev(self) -> np.ndarray:
        return np.append(0.0, self.etas[:-1])

    def posterior(self, t: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """float32 ``(coef_xt, coef_x0, std)`` of q(x_{t-1} | x_t, x0): mean = coef_xt·x_t + coef_x0·x0.

        ``std = exp(0.5 · log variance)``, with the variance of step 0 (which is 0) replaced by step 1's, as the
        official "clipped" log variance does; the noise term is dropped at t = 0 anyway.
        """
        etas, prev = self.etas, self.etas_prev
        alpha = etas - prev
        variance = self.kappa**2 * prev / etas * alpha
        log_variance = np.log(np.append(variance[1], variance[1:]))
        f32 = torch.float32
        std = torch.exp(0.5 * torch.tensor(log_variance[t], dtype=f32))
        return torch.tensor(prev[t] / etas[t], dtype=f32), torch.tensor(alpha[t] / etas[t], dtype=f32), std

    def ddim(self, t: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """float32 ``(k, m, j)`` of the deterministic step ``x_{t-1} = k·x0 + m·x_t + j·y`` (SinSR, section 3).

        ``k = 1 - eta' + sqrt(eta'·eta) - sqrt(eta'/eta)``, ``m = sqrt(eta'/eta)``, ``j = eta' - sqrt(eta'·eta)``
        with ``eta' = eta_{t-1}`` (0 at t = 0, where the step returns x0 itself).
        """
        f32 = torch.float32
        eta, prev = self.etas[t], self.etas_prev[t]
        prev32 = torch.tensor(prev, dtype=f32)
        root_product = torch.sqrt(torch.tensor(prev * eta, dtype=f32))
        root_ratio = torch.sqrt(torch.tensor(prev / eta, dtype=f32))
        return 1 - prev32 + root_product - root_ratio, root_ratio, prev32 - root_product
