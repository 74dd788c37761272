"""Hugging Face DeepSeek-V2 `safetensors` → a `dist_checkpointing` checkpoint, one tensor at a time.

megatron-core's own save needs the whole model in memory (its writer resolves every tensor before
writing the first), which for DeepSeek-V2 236B is ~470 GB in bf16. So the checkpoint is written
directly in the format megatron's `torch_dist` backend reads: PyTorch Distributed Checkpoint files
(`.metadata`, `__0_0.distcp`) plus megatron's `metadata.json` and `common.pt`. A save planner lists
every chunk up front from the shape alone (`trainer.hf_weights`), and hands the writer each tensor
only when it is written: read from its shard (the shard opened for that tensor alone), written, freed.
Peak memory is therefore about one tensor (the largest is the 102400 x 5120 embedding, 1 GB in bf16),
whatever the model's size. Tensors keep their dtype: the checkpoint holds exactly the input's bits,
and the trainer's loader casts into the model's precision.

The output loads at any expert-parallel (and data-parallel) layout, because megatron's loader
reads each rank's experts as slices of the stacked [E, ...] tensors.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import yaml
from tqdm import tqdm

from corpus.core.atomic import atomic_write_text
from corpus.core.errors import UserError
from trainer.hf_config import model_from_hf, recipe_sections
from trainer.hf_weights import IGNORED_HF_SUFFIXES, CheckpointLayout, checkpoint_layout
from trainer.recipe import ModelConfig, YarnConfig

#: megatron's `metadata.json` for a torch_dist checkpoint with a torch-saved common part
MEGATRON_METADATA = {
    "sharded_backend": "torch_dist",
    "sharded_backend_version": 1,
    "common_backend": "torch",
    "common_backend_version": 1,
}
#: marks a checkpoint that holds weights only (no optimizer, schedule or data position)
WEIGHTS_ONLY = "weights_only"
RECIPE_FILE = "model.yaml"


def safetensors_open() -> Callable[..., Any]:
    """`safetensors.safe_open`, or one line saying how to install it."""
    try:
        from safetensors import safe_open  # the [hf] extra
    except ImportError:
        raise UserError("Hugging Face checkpoints need safetensors: pip install 'coderforge[hf]'") from None
    return safe_open


@dataclass(frozen=True)
class HFCheckpoint:
    """A Hugging Face model folder: its config and which shard holds each tensor."""

    folder: str
    config: dict[str, Any]
    weight_map: dict[str, str]  # tensor name -> shard file name

    @property
    def config_path(self) -> str:
        return os.path.join(self.folder, "config.json")


def is_hf_folder(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "config.json")) and (
        os.path.isfile(os.path.join(path, "model.safetensors.index.json"))
        or os.path.isfile(os.path.join(path, "model.safetensors"))
    )


def read_hf_folder(folder: str) -> HFCheckpoint:
    """config.json and the shard index (or the single model.safetensors); one line for what is missing."""
    cfg_path = os.path.join(folder, "config.json")
    if not os.path.isdir(folder):
        raise UserError(f"{folder}: not a folder")
    if not os.path.isfile(cfg_path):
        raise UserError(f"{folder}: no config.json (not a Hugging Face model folder)")
    try:
        with open(cfg_path, encoding="utf-8") as f:
            config = json.load(f)
    except json.JSONDecodeError as e:
        raise UserError(f"{cfg_path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(config, dict):
        raise UserError(f"{cfg_path}: expected a JSON object")
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.isfile(index):
        try:
            with open(index, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise UserError(f"{index}: not a safetensors index (no weight_map)") from None
    elif os.path.isfile(os.path.join(folder, "model.safetensors")):
        safe_open = safetensors_open()
        single = os.path.join(folder, "model.safetensors")
        try:
            with safe_open(single, framework="pt") as f:
                weight_map = dict.fromkeys(f.keys(), "model.safetensors")
        except Exception as e:  # safetensors' own error type: a truncated or damaged file
            raise UserError(f"{single}: not a readable safetensors file ({e})") from None
    else:
        raise UserError(
            f"{folder}: no model.safetensors or model.safetensors.index.json (only safetensors are read)"
        )
    for shard in sorted(set(weight_map.values())):
        if not os.path.isfile(os.path.join(folder, shard)):
            raise UserError(f"{index}: shard {shard} is missing from {folder}")
    return HFCheckpoint(folder, config, weight_map)


def _check_names(hf: HFCheckpoint, layout: CheckpointLayout) -> None:
    want = layout.hf_names()
    have = {n for n in hf.weight_map if not n.endswith(IGNORED_HF_SUFFIXES)}
    missing = [n for n in want if n not in have]
    if missing:
        raise UserError(
            f"{hf.folder}: {len(missing)} tensor(s) the config implies are missing, first {missing[0]} "
            "(does config.json belong to these weights?)"
        )
    extra = sorted(have - set(want))
    if extra:
        raise UserError(
            f"{hf.folder}: {len(extra)} unexpected tensor(s), first {extra[0]} (not DeepSeek-V2?)"
        )


# --- the streaming writer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    key: str
    offset: tuple[int, ...]
    shape: tuple[int, ...]
    global_shape: tuple[int, ...]
    dtype: torch.dtype
    hf_name: str | None  # None: an _extra_state object


_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
}


def _plan_items(hf: HFCheckpoint, layout: CheckpointLayout) -> list[_Item]:
    """Every chunk with its dtype and shape checked against the shard headers, in shard order."""
    safe_open = safetensors_open()
    headers: dict[str, tuple[str, tuple[int, ...]]] = {}
    for shard in sorted(set(hf.weight_map.values())):
        path = os.path.join(hf.folder, shard)
        try:
            with safe_open(path, framework="pt") as f:
                for name in f.keys():  # noqa: SIM118 - safe_open handles are not iterable
                    sl = f.get_slice(name)
                    headers[name] = (sl.get_dtype(), tuple(sl.get_shape()))
        except Exception as e:  # safetensors' own error type: a truncated or damaged file
            raise UserError(f"{path}: not a readable safetensors file ({e})") from None
    for name, shard in hf.weight_map.items():
        if name in headers or name.endswith(IGNORED_HF_SUFFIXES):
            continue
        raise UserError(f"{os.path.join(hf.folder, shard)}: has no tensor {name}, which the index puts there")
    items: list[_Item] = []
    for t in layout.tensors:
        dtypes = set()
        for c in t.chunks:
            kind, shape = headers[c.hf_name]
            if kind not in _DTYPES:
                raise UserError(
                    f"{hf.folder}: {c.hf_name} has dtype {kind}; only floating-point weights import"
                )
            if shape != c.hf_shape:
                raise UserError(
                    f"{hf.folder}: {c.hf_name} has shape {list(shape)}, config.json implies {list(c.hf_shape)}"
                )
            dtypes.add(_DTYPES[kind])
        if len(dtypes) != 1:
            raise UserError(f"{hf.folder}: the parts of {t.key} mix dtypes {sorted(map(str, dtypes))}")
        dtype = dtypes.pop()
        items += [_Item(t.key, c.offset, c.shape, t.shape, dtype, c.hf_name) for c in t.chunks]
    # read shard by shard, each shard front to back
    order = {name: i for i, name in enumerate(headers)}
    items.sort(key=lambda it: (hf.weight_map[it.hf_name], order[it.hf_name]))  # type: ignore[index]
    items += [_Item(k, (), (), (), torch.float32, None) for k in layout.objects]
    return items


def _extra_state_bytes() -> io.BytesIO:
    """What megatron saves for a non-TransformerEngine linear layer's `_extra_state`: a list of None."""
    buf = io.BytesIO()
    torch.save([None], buf)
    buf.seek(0)
    return buf


def _write_dcp(
    folder: str, hf: HFCheckpoint, items: list[_Item], progress: Callable[[int, int], None]
) -> None:
    """Write the PyTorch Distributed Checkpoint files, resolving each tensor as it is written."""
    # torch and megatron-core (the `train` extra) load only when this runs
    from torch.distributed.checkpoint import FileSystemWriter
    from torch.distributed.checkpoint import save as dcp_save
    from torch.distributed.checkpoint.default_planner import DefaultSavePlanner
    from torch.distributed.checkpoint.metadata import (
        ChunkStorageMetadata,
        MetadataIndex,
        StorageMeta,
        TensorProperties,
    )
    from torch.distributed.checkpoint.planner import SavePlan, TensorWriteData, WriteItem, WriteItemType

    class _ReproducibleWriter(FileSystemWriter):
        """torch records a random save id and the folder's path in `.metadata`; neither is read back,
        so leave them out and the same input gives the same bytes wherever it is written."""

        def storage_meta(self) -> StorageMeta | None:
            return StorageMeta(save_id="coderforge-hf-import")

    safe_open = safetensors_open()
    write_items: list[WriteItem] = []
    by_index: dict[MetadataIndex, _Item] = {}
    for it in items:
        if it.hf_name is None:
            wi = WriteItem(index=MetadataIndex(it.key), type=WriteItemType.BYTE_IO)
        else:
            wi = WriteItem(
                index=MetadataIndex(it.key, torch.Size(it.offset)),
                type=WriteItemType.SHARD,
                tensor_data=TensorWriteData(
                    chunk=ChunkStorageMetadata(offsets=torch.Size(it.offset), sizes=torch.Size(it.shape)),
                    properties=TensorProperties(dtype=it.dtype),
                    size=torch.Size(it.global_shape),
                ),
            )
        write_items.append(wi)
        by_index[wi.index] = it
    total = sum(1 for it in items if it.hf_name is not None)
    done = [0]

    class StreamingPlanner(DefaultSavePlanner):
        """Plans from the layout, not from a state dict; reads each tensor only when it is written."""

        def create_local_plan(self) -> SavePlan:
            self.plan = SavePlan(items=write_items)
            return self.plan

        previous: torch.Tensor | None = None

        def resolve_data(self, write_item: WriteItem) -> torch.Tensor | io.BytesIO:
            it = by_index[write_item.index]
            if it.hf_name is None:
                return _extra_state_bytes()
            if self.previous is not None:
                # The serial loader asks for a tensor only once the one before it is written, but
                # torch's writer keeps a reference to every tensor until its file is closed (for its
                # safetensors format). Without this, memory would grow with the model.
                self.previous.untyped_storage().resize_(0)
            # the shard is mapped for this tensor alone; the copy owns its memory, freed above
            with safe_open(os.path.join(hf.folder, hf.weight_map[it.hf_name]), framework="pt") as f:
                tensor = f.get_tensor(it.hf_name).clone()
            self.previous = tensor
            done[0] += 1
            progress(done[0], total)
            return tensor.reshape(it.shape)

    # One writer thread, one file, no copy-ahead: the serial loader resolves each tensor right before
    # writing it (with copy-ahead, torch resolves several in advance on CUDA machines).
    writer = _ReproducibleWriter(
        folder, single_file_per_rank=True, thread_count=1, sync_files=True, per_thread_copy_ahead=0
    )
    planner = StreamingPlanner(flatten_state_dict=False, flatten_sharded_tensors=False)
    dcp_save({}, storage_writer=writer, planner=planner, no_dist=True)


@dataclass(frozen=True)
class ImportSummary:
    out: str
    model: ModelConfig
    yarn: YarnConfig | None
    tensors: int
    bytes: int
    largest: tuple[str, int]
    seconds: float


def common_state(
    model: ModelConfig, yarn: YarnConfig | None, source: dict[str, Any] | None
) -> dict[str, Any]:
    """megatron's `common.pt` for a weights-only checkpoint: counters at zero and what the weights are."""
    return {
        "step": 0,
        "consumed_samples": 0,
        "layout": {"world": 1, "tensor": 1, "expert": 1, "data": 1},
        "model_config": model.model_dump(mode="json"),
        "model_yarn": yarn.model_dump(mode="json") if yarn is not None else None,
        "hf_config": source,
        WEIGHTS_ONLY: True,
    }


def write_recipe_section(path: str, model: ModelConfig, yarn: YarnConfig | None, origin: str) -> None:
    header = (
        f"# The model (and YaRN) settings of {origin}, as a training recipe's sections.\n"
        "# Paste them into a recipe and train with: coderforge train RECIPE --init-from CHECKPOINT\n"
        "# balance.expert is the checkpoint's aux_loss_alpha; set device/communication for grouped routing.\n"
    )
    if yarn is not None:
        header += "# long_context.yarn applies to the long-context stages; pretraining runs without YaRN.\n"
    atomic_write_text(path, header + yaml.safe_dump(recipe_sections(model, yarn), sort_keys=False))


def _progress(label: str, enabled: bool) -> Callable[[int, int], None]:
    """A tqdm bar over the tensors written (shown on terminals only, like the trainer's)."""
    bar = None

    def report(done: int, total: int) -> None:
        nonlocal bar
        if not enabled:
            return
        if bar is None:
            bar = tqdm(total=total, desc=label, unit="tensor", disable=None)
        bar.update(1)
        if done == total:
            bar.close()

    return report


def import_hf(hf_dir: str, out: str, *, progress: bool = True) -> ImportSummary:
    """Convert the Hugging Face DeepSeek-V2 folder `hf_dir` into the checkpoint folder `out`.

    `out` must not exist (or be an empty folder); it appears only when complete (written as
    `out.partial`, then renamed).
    """
    t0 = time.perf_counter()
    hf = read_hf_folder(hf_dir)
    model, yarn = model_from_hf(hf.config, hf.config_path)
    layout = checkpoint_layout(model)
    _check_names(hf, layout)
    items = _plan_items(hf, layout)
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise UserError(f"{out}: already exists; choose a new folder for the checkpoint")
    tmp = out.rstrip("/") + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    _write_dcp(tmp, hf, items, _progress(f"import {hf_dir}", progress))
    torch.save(common_state(model, yarn, hf.config), os.path.join(tmp, "common.pt"))
    atomic_write_text(os.path.join(tmp, "metadata.json"), json.dumps(MEGATRON_METADATA))
    write_recipe_section(os.path.join(tmp, RECIPE_FILE), model, yarn, hf_dir)
    if os.path.isdir(out):
        os.rmdir(out)
    os.replace(tmp, out)
    sizes = [(it.hf_name, _numel(it.shape) * it.dtype.itemsize) for it in items if it.hf_name is not None]
    largest = max(sizes, key=lambda x: x[1])
    return ImportSummary(
        out,
        model,
        yarn,
        len(sizes),
        sum(s for _, s in sizes),
        (str(largest[0]), largest[1]),
        time.perf_counter() - t0,
    )


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
