"""Choosing between the Triton kernels and their PyTorch references.

Triton decides at decoration time whether a kernel is compiled for the GPU or run by its CPU
interpreter (`TRITON_INTERPRET=1`). Decorating lazily, once per mode, lets a test process switch
the interpreter on after this package was imported by someone else, and lets a GPU process
never pay for the interpreter. Interpreted launches also swap in interpreter-ready copies of
triton.language's own jitted helpers for their duration (see `_interpretable_language`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import torch

try:
    import triton
    from triton.runtime.jit import JITFunction
except ImportError:  # the references still work; `fused_kernels_available` reports why
    triton = None
    JITFunction = None

log = logging.getLogger("coderforge.trainer.kernels")

_warned: set[str] = set()
_jitted: dict[tuple[Callable[..., Any], bool], Any] = {}


def interpret_mode() -> bool:
    """Whether kernels run in Triton's CPU interpreter (TRITON_INTERPRET=1) rather than compiled."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "yes", "on")


def _triton_importable() -> bool:
    return triton is not None


def fused_kernels_available(device: torch.device | str) -> bool:
    """True when the Triton path can run for tensors on `device`."""
    if not _triton_importable():
        return False
    device = torch.device(device)
    if device.type == "cuda":
        return True
    return device.type == "cpu" and interpret_mode()


def _why_unavailable(device: torch.device) -> str:
    if not _triton_importable():
        return "triton is not installed"
    return f"tensors are on {device.type} and no CUDA device is in use (set TRITON_INTERPRET=1 to interpret)"


def use_fused(requested: bool, kernel: str, device: torch.device) -> bool:
    """Resolve a `fused=` switch: fall back to the reference, logging once per kernel and reason."""
    if not requested:
        return False
    if fused_kernels_available(device):
        return True
    reason = _why_unavailable(device)
    key = f"{kernel}:{reason}"
    if key not in _warned:
        _warned.add(key)
        log.warning("fused %s kernel unavailable (%s); using the PyTorch reference", kernel, reason)
    return False


# Keyed by id(): hashing a JITFunction parses its source and its dependencies.
_interpreted_lang: dict[int, tuple[Any, Any]] = {}


@contextlib.contextmanager
def _interpretable_language() -> Iterator[None]:
    """Let the interpreter run triton.language's own jitted helpers (tl.max, tl.cumsum, ...).

    Triton decorates those helpers when triton is first imported; if that happened before
    TRITON_INTERPRET was set (megatron-core imports triton), they are GPU-only JITFunctions that
    refuse to run in the interpreter. For the duration of an interpreted launch they are swapped
    for interpreted twins, then restored.
    """
    # triton: only interpreted launches need its interpreter, which a GPU process never loads
    from triton.runtime.interpreter import InterpretedFunction

    swapped: list[tuple[types.ModuleType, str, Any]] = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("triton.language") or not isinstance(module, types.ModuleType):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, JITFunction) and not isinstance(value, InterpretedFunction):
                entry = _interpreted_lang.get(id(value))
                if entry is None:
                    entry = _interpreted_lang[id(value)] = (value, InterpretedFunction(value.fn))
                twin = entry[1]
                swapped.append((module, attr, value))
                setattr(module, attr, twin)
    try:
        yield
    finally:
        for module, attr, value in swapped:
            setattr(module, attr, value)


class _InterpretedLaunch:
    """`kernel[grid](...)` for an interpreted kernel, run with `_interpretable_language`."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel

    def __getitem__(self, grid: Any) -> Callable[..., Any]:
        launch = self.kernel[grid]

        def run(*args: Any, **kwargs: Any) -> Any:
            with _interpretable_language():
                return launch(*args, **kwargs)

        return run


def jit(fn: Callable[..., Any]) -> Any:
    """`triton.jit(fn)`, decorated for the current mode (GPU compiler or CPU interpreter) and cached."""
    mode = interpret_mode()
    key = (fn, mode)
    kernel = _jitted.get(key)
    if kernel is None:
        # triton.jit reads TRITON_INTERPRET now, which is the mode `key` was built from.
        kernel = triton.jit(fn)
        if mode:
            kernel = _InterpretedLaunch(kernel)
        _jitted[key] = kernel
    return kernel


def next_pow2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()
