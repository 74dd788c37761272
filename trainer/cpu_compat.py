"""Run megatron-core 0.16.1 without TransformerEngine, and on CPU-only PyTorch.

megatron-core is written for CUDA: a forward pass on a CPU build of PyTorch stops at a handful of
`torch.cuda` calls (rotary embeddings, buffer allocation, the all-to-all dispatcher's side stream,
the router, the RNG tracker, the optimizer's scalars). Rather than forking megatron-core, this module
hands megatron's own modules a stand-in for their global name `torch` whose `cuda` attribute points at
the CPU, and whose tensor factories read `device="cuda"` as the CPU. Nothing outside `megatron.core`
sees the stand-in, and `enable_cpu()` does nothing when CUDA is present, so a GPU run is untouched.

Independently of the CPU, megatron-core 0.16.1 has two bugs of its own when TransformerEngine is
absent; `fix_te_less_megatron()` repairs them (it is called by `enable_cpu()`, and by the model
builder on GPUs without TransformerEngine):

* `multi_latent_attention.HAVE_TE` stays true because the TE probe returns a stand-in object, so MLA
  believes it has TE linears;
* `moe_utils.te_general_gemm` is never bound when the TE import fails, so the router's gating GEMM
  raises `NameError`.

The public API (`fix_te_less_megatron`, `enable_cpu`, `cpu_active`, `default_device`) is stable: other
parts of the trainer and their tests import it.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from typing import Any

import torch

__all__ = ["cpu_active", "default_device", "enable_cpu", "fix_te_less_megatron", "te_available"]

_CPU_ACTIVE = False
_TE_FIXED = False

# Modules imported before patching, so that each one's global `torch` is replaced. Everything that a
# GPT+MLA+MoE forward/backward, megatron's DDP wrapper, optimizer, clipping and dist_checkpointing touch.
_MEGATRON_MODULES = (
    "megatron.core.utils",
    "megatron.core.parallel_state",
    "megatron.core.tensor_parallel.random",
    "megatron.core.tensor_parallel.layers",
    "megatron.core.tensor_parallel.mappings",
    "megatron.core.tensor_parallel.cross_entropy",
    "megatron.core.tensor_parallel.utils",
    "megatron.core.models.common.embeddings.rotary_pos_embedding",
    "megatron.core.models.common.embeddings.yarn_rotary_pos_embedding",
    "megatron.core.models.common.embeddings.rope_utils",
    "megatron.core.models.common.embeddings.language_model_embedding",
    "megatron.core.models.common.language_module.language_module",
    "megatron.core.models.gpt.gpt_model",
    "megatron.core.transformer.transformer_block",
    "megatron.core.transformer.transformer_layer",
    "megatron.core.transformer.attention",
    "megatron.core.transformer.multi_latent_attention",
    "megatron.core.transformer.mlp",
    "megatron.core.transformer.module",
    "megatron.core.transformer.moe.moe_layer",
    "megatron.core.transformer.moe.moe_utils",
    "megatron.core.transformer.moe.router",
    "megatron.core.transformer.moe.experts",
    "megatron.core.transformer.moe.shared_experts",
    "megatron.core.transformer.moe.token_dispatcher",
    "megatron.core.distributed.distributed_data_parallel",
    "megatron.core.distributed.param_and_grad_buffer",
    "megatron.core.distributed.finalize_model_grads",
    "megatron.core.optimizer",
    "megatron.core.optimizer.optimizer",
    "megatron.core.optimizer.distrib_optimizer",
    "megatron.core.optimizer.clip_grads",
    "megatron.core.optimizer_param_scheduler",
    "megatron.core.dist_checkpointing.strategies.torch",
    "megatron.core.dist_checkpointing.strategies.filesystem_async",
    "megatron.core.dist_checkpointing.exchange_utils",
    "megatron.core.dist_checkpointing.validation",
    "megatron.core.rerun_state_machine",
    "megatron.core.pipeline_parallel.schedules",
    "megatron.core.pipeline_parallel.p2p_communication",
    "megatron.core.num_microbatches_calculator",
)


def te_available() -> bool:
    """Whether TransformerEngine really imports (megatron's own probe can be fooled)."""
    try:
        # transformer_engine: optional (neither extra installs it); importing it is the probe
        import transformer_engine.pytorch  # noqa: F401
    except Exception:
        return False
    return True


def fix_te_less_megatron() -> None:
    """Repair megatron-core 0.16.1's two TE-less bugs; a no-op when TransformerEngine is installed."""
    global _TE_FIXED
    if _TE_FIXED or te_available():
        return
    mla = importlib.import_module("megatron.core.transformer.multi_latent_attention")
    mla.HAVE_TE = False
    moe_utils = importlib.import_module("megatron.core.transformer.moe.moe_utils")
    if not hasattr(moe_utils, "te_general_gemm"):
        moe_utils.te_general_gemm = None
    _TE_FIXED = True


def cpu_active() -> bool:
    """True once `enable_cpu()` has redirected megatron-core to the CPU."""
    return _CPU_ACTIVE


def default_device() -> torch.device:
    """The device that model, data and loss live on: the local GPU, or the CPU when there is none."""
    if torch.cuda.is_available() and not _CPU_ACTIVE:
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _cpu_device(device: Any) -> Any:
    if device is None:
        return None
    if isinstance(device, int):
        return torch.device("cpu")
    if isinstance(device, str) and device.startswith("cuda"):
        return torch.device("cpu")
    if isinstance(device, torch.device) and device.type == "cuda":
        return torch.device("cpu")
    return device


class _Stream:
    """A CUDA stream stand-in: on the CPU every operation is already ordered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def wait_stream(self, other: Any) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def record_event(self, event: Any = None) -> _Event:
        return _Event()


class _Event:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def record(self, stream: Any = None) -> None:
        pass

    def wait(self, stream: Any = None) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def query(self) -> bool:
        return True


_DEFAULT_STREAM = _Stream()


def _make_cuda_shim() -> types.SimpleNamespace:
    """The attributes of `torch.cuda` that megatron-core reaches on its training path, pointed at the CPU;
    anything else falls through to the real `torch.cuda` (and fails there, loudly)."""
    random_ns = types.SimpleNamespace(
        get_rng_state=lambda device=None: torch.get_rng_state(),
        set_rng_state=lambda state, device=None: torch.set_rng_state(state),
    )
    shim = types.SimpleNamespace(
        is_available=lambda: False,
        current_device=lambda: torch.device("cpu"),
        device_count=lambda: 0,
        set_device=lambda device: None,
        synchronize=lambda device=None: None,
        empty_cache=lambda: None,
        Stream=_Stream,
        Event=_Event,
        stream=lambda s=None: contextlib.nullcontext(),
        current_stream=lambda device=None: _DEFAULT_STREAM,
        default_stream=lambda device=None: _DEFAULT_STREAM,
        get_rng_state=lambda device=None: torch.get_rng_state(),
        set_rng_state=lambda state, device=None: torch.set_rng_state(state),
        manual_seed=lambda seed: torch.manual_seed(seed),
        manual_seed_all=lambda seed: torch.manual_seed(seed),
        random=random_ns,
        memory_allocated=lambda device=None: 0,
        max_memory_allocated=lambda device=None: 0,
        memory_reserved=lambda device=None: 0,
        reset_peak_memory_stats=lambda device=None: None,
        nvtx=types.SimpleNamespace(range_push=lambda msg: None, range_pop=lambda: None),
        amp=torch.amp,
        CUDAGraph=types.SimpleNamespace(),
        is_current_stream_capturing=lambda: False,
        get_device_capability=lambda device=None: (0, 0),
        get_device_properties=torch.cuda.get_device_properties,
        FloatTensor=torch.FloatTensor,
    )
    return shim


_FACTORIES = (
    "empty",
    "zeros",
    "ones",
    "full",
    "tensor",
    "arange",
    "rand",
    "randn",
    "randint",
    "randperm",
    "empty_like",
    "zeros_like",
    "ones_like",
    "full_like",
    "as_tensor",
    "linspace",
    "eye",
)


def _wrap_factory(fn: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> Any:
        if "device" in kwargs:
            kwargs["device"] = _cpu_device(kwargs["device"])
        kwargs.pop("pin_memory", None)
        return fn(*args, **kwargs)

    factory.__name__ = getattr(fn, "__name__", "factory")
    return factory


class _TorchOnCpu(types.ModuleType):
    """`torch` as megatron-core should see it on a machine without CUDA."""

    def __init__(self) -> None:
        super().__init__("torch")
        self.cuda = _make_cuda_shim()
        for name in _FACTORIES:
            setattr(self, name, _wrap_factory(getattr(torch, name)))

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)


def _cpu_rng_get(*args: Any, **kwargs: Any) -> torch.Tensor:
    return torch.get_rng_state()


def _cpu_rng_set(new_state: Any, *args: Any, **kwargs: Any) -> None:
    torch.set_rng_state(new_state)


def _clip_grad_by_total_norm_cpu(
    parameters: Any, max_norm: float, total_norm: float, use_decoupled_grad: bool = False
) -> None:
    """megatron's in-place gradient clipping minus its assertion that gradients are CUDA tensors."""
    attr = "decoupled_grad" if use_decoupled_grad else "grad"
    grads = [getattr(p, attr).detach() for p in parameters if getattr(p, attr, None) is not None]
    clip_coeff = max_norm / (total_norm + 1.0e-6)
    if clip_coeff < 1.0 and grads:
        torch._foreach_mul_(grads, clip_coeff)


def _move_to_host(tensor: Any, as_numpy: bool = False, record_stream: bool = False) -> Any:
    """megatron's device-to-host copy of split sizes, for tensors that already live on the host.

    On GPUs megatron turns the all-to-all split sizes into numpy arrays here; the stock version skips
    CPU tensors, and gloo's all_to_all_single then rejects tensor-valued split sizes.
    """
    if as_numpy and torch.is_tensor(tensor):
        return tensor.detach().cpu().numpy()
    return tensor


def enable_cpu() -> bool:
    """Point megatron-core at the CPU when CUDA is absent; returns whether it did.

    Idempotent. Call it before building models or process groups. With CUDA present it changes
    nothing (and returns False), so code can call it unconditionally.
    """
    global _CPU_ACTIVE
    if _CPU_ACTIVE:
        return True
    if torch.cuda.is_available():
        return False
    fix_te_less_megatron()
    proxy = _TorchOnCpu()
    for name in _MEGATRON_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for name, module in list(sys.modules.items()):
        if not name.startswith("megatron.core") or module is None:
            continue
        if getattr(module, "torch", None) is torch:
            module.torch = proxy
    rnd = sys.modules["megatron.core.tensor_parallel.random"]
    rnd._get_cuda_rng_state = _cpu_rng_get
    rnd._set_cuda_rng_state = _cpu_rng_set
    rnd._lazy_call = lambda cb: cb()
    for name in ("megatron.core.transformer.moe.moe_utils", "megatron.core.transformer.moe.token_dispatcher"):
        if hasattr(sys.modules[name], "maybe_move_tensor_to_cpu"):
            sys.modules[name].maybe_move_tensor_to_cpu = _move_to_host
    for name in ("megatron.core.optimizer.clip_grads", "megatron.core.optimizer.optimizer"):
        sys.modules[name].clip_grad_by_total_norm_fp32 = _clip_grad_by_total_norm_cpu
    _CPU_ACTIVE = True
    return True
