"""Peak throughput of the device, for the MFU estimate.

MFU = achieved model FLOP/s per device / the device's dense bf16 peak. The peak comes from the
recipe (`training.peak_tflops`) when given, otherwise from the GPU's name; on the CPU there is no
meaningful peak and MFU is not reported.
"""

from __future__ import annotations

import torch

#: dense (non-sparse) bf16 tensor-core peaks in TFLOP/s, from the vendors' data sheets (SXM parts)
_PEAKS = (
    ("H200", 989.0),
    ("H100", 989.0),
    ("GH200", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("A10G", 70.0),
    ("L4", 121.0),
)


def peak_tflops(device: torch.device, configured: float | None = None) -> float | None:
    if configured is not None:
        return configured
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peak in _PEAKS:
        if key in name:
            return peak
    return None
