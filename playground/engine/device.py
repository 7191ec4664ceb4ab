"""Device choice: CUDA, then Apple's MPS, then the CPU, unless the caller names one."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def choose_device(preference: str | torch.device | None = "auto") -> torch.device:
    """The device to train on; raises ValueError naming the device when it is not available.
    A torch.device is taken as it is (a caller that already chose one passes it on)."""
    if isinstance(preference, torch.device):
        return preference
    preference = (preference or "auto").lower()
    if preference not in DEVICE_CHOICES and not preference.startswith("cuda:"):
        raise ValueError(f"device: {preference!r} is not allowed; allowed: one of "
                         + ", ".join(DEVICE_CHOICES))
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device: {preference!r} is not available on this machine; "
                         "allowed: auto, cpu")
    if preference == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device: 'mps' is not available on this machine; allowed: auto, cpu")
    return torch.device(preference)
