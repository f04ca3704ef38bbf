"""Checkpoints with orbax's `CheckpointManager` and its `args` API.

A checkpoint at step k holds three items:
  state: the TrainState (params, optimizer state, step, RNG key);
  data:  the loop's JSON state: the train stream's position, so a resumed run
         sees the same batches, and the early-stopping record;
  model: the ModelConfig, so a mismatched model is refused with a clear error.
         Fields that only choose how the same parameters are computed
         (model.EXECUTION_FIELDS: backend, scan_unroll, remat, dtype) may differ:
         a checkpoint trained on one backend resumes and evaluates on another.

`workdir/checkpoints` keeps the newest checkpoints; `workdir/best` keeps the
one with the best dev score. With several processes, every process calls the
managers' save and restore (orbax writes each array once, and the JSON items from
process 0).

A save is written to `<step>.orbax-checkpoint-tmp` and renamed to `<step>` once complete, so
a save cut short (a full disk, a kill) is never taken for a checkpoint; a new manager
deletes such leftovers. A full disk is a DiskFullError (a UserError) naming the checkpoint
and the free space: before a save starts, if the free space is less than the newest
checkpoint takes; or when a write fails, in `save` or, for an asynchronous save, in the next
`save` or `wait_until_finished`.
"""

import dataclasses
import os
from typing import Any

import orbax.checkpoint as ocp
from absl import logging

from s2s_jax import atomic_write, distributed
from s2s_jax.errors import CheckpointError
from s2s_jax.model import EXECUTION_FIELDS, ModelConfig


class UnreadableCheckpointError(CheckpointError):
    """A checkpoint that exists but cannot be read (truncated, garbage, missing parts)."""


class _Manager(ocp.CheckpointManager):
    """orbax's manager, whose errors of a full disk name the checkpoint being written.

    orbax raises them (tensorstore's ValueError "RESOURCE_EXHAUSTED: ... No space left on
    device") from `save`, or from the `wait_until_finished` that ends an asynchronous save
    (the next `save` and `close` call it too), after its background threads have logged them.
    So a save that would not fit, judged by the newest checkpoint's size, is refused before
    it starts.
    """

    _writing = ""  # The directory of the latest save started.

    def save(self, step: int, *args: Any, **kwargs: Any) -> bool:
        path = os.path.join(self.directory, str(step))
        self.wait_until_finished()  # As orbax's save does first: the newest is complete.
        latest = self.latest_step()
        needed = 0 if latest is None else _disk_bytes(os.path.join(self.directory, str(latest)))
        space = atomic_write.free_space(path)
        (short,) = distributed.any_process(space is not None and space[0] < needed)
        if short:  # (Decided together: every process saves, or none.)
            raise atomic_write.disk_full_error(path, needed=needed)
        with atomic_write.reporting_full_disk(path):
            saved = super().save(step, *args, **kwargs)
        self._writing = path
        return saved

    def wait_until_finished(self) -> None:
        with atomic_write.reporting_full_disk(self._writing or str(self.directory)):
            super().wait_until_finished()


def make_manager(
    workdir: str, max_to_keep: int, read_only: bool = False, best: bool = False
) -> ocp.CheckpointManager:
    """A manager for `workdir/checkpoints` that keeps the newest `max_to_keep`.

    With best=True: `workdir/best`, keeping the `max_to_keep` checkpoints with
    the highest `metrics["score"]` passed to `save`.
    """
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep,
        create=not read_only,
        read_only=read_only,
        best_fn=(lambda metrics: metrics["score"]) if best else None,
        best_mode="max",
        cleanup_tmp_directories=not read_only,  # Saves cut short (a full disk, a kill).
        # Several processes: each manager's barriers get their own names, or the latest and
        # the best manager saving the same step would share them (and fail).
        multiprocessing_options=ocp.options.MultiprocessingOptions(
            barrier_sync_key_prefix="best" if best else "checkpoints"
        ),
    )
    return _Manager(
        os.path.join(os.path.abspath(workdir), "best" if best else "checkpoints"),
        options=options,
        item_names=("state", "data", "model"),
    )


def save(
    manager: ocp.CheckpointManager,
    step: int,
    state: Any,
    data_state: dict[str, Any],
    model_cfg: ModelConfig,
    score: float | None = None,
) -> None:
    """Starts an (asynchronous) save of step `step`; orbax writes it atomically.

    `score` is what a best-checkpoint manager ranks by.
    """
    manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=ocp.args.JsonSave(data_state),
            model=ocp.args.JsonSave(dataclasses.asdict(model_cfg)),
        ),
        metrics=None if score is None else {"score": score},
        force=True,
    )


def restore(
    manager: ocp.CheckpointManager,
    abstract_state: Any,
    model_cfg: ModelConfig,
    step: int | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Restores (state, data_state) from `step`, or the latest step if None.

    `abstract_state` gives the shapes, dtypes and shardings to restore into.
    Raises CheckpointError if the checkpoint holds a different model.
    """
    directory = manager.directory
    step = manager.latest_step() if step is None else step
    if step is None or step not in manager.all_steps():
        raise CheckpointError(
            f"no checkpoint{'' if step is None else f' at step {step}'} in {directory}"
        )
    try:
        saved = manager.restore(step, args=ocp.args.Composite(model=ocp.args.JsonRestore()))[
            "model"
        ]
    except Exception as e:  # An unreadable checkpoint: say which one, not orbax's internals.
        raise UnreadableCheckpointError(
            f"checkpoint {directory}/{step} is unreadable: {_first_line(e)}"
        ) from e
    current = dataclasses.asdict(model_cfg)
    mismatch = model_mismatch(saved, current)
    if mismatch:
        raise CheckpointError(
            f"checkpoint {directory}/{step} belongs to a different model ({mismatch}); "
            "use a fresh --workdir or the config it was trained with"
        )
    changed = model_mismatch(saved, current, EXECUTION_FIELDS)
    if changed:
        logging.info("Checkpoint %s/%d computed differently now: %s", directory, step, changed)
    try:
        restored = manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore()
            ),
        )
    except Exception as e:
        raise UnreadableCheckpointError(
            f"checkpoint {directory}/{step} is unreadable: {_first_line(e)}"
        ) from e
    logging.info("Restored checkpoint %s/%d", directory, step)
    return restored["state"], restored["data"]


def restore_latest_good(
    manager: ocp.CheckpointManager, abstract_state: Any, model_cfg: ModelConfig
) -> tuple[Any, dict[str, Any]]:
    """Restores the newest checkpoint that reads, as `restore` does.

    A newer one that does not read (a truncated array file, garbage metadata, a missing
    part) is named in a warning and set aside, moved (not deleted) to
    <workdir>/corrupt_checkpoints/<step>; then the one before it is tried. With none
    left that reads, a CheckpointError names what was set aside. A checkpoint of another
    model is refused as ever, not set aside.
    """
    set_aside = []
    for step in sorted(manager.all_steps(), reverse=True):
        try:
            return restore(manager, abstract_state, model_cfg, step)
        except UnreadableCheckpointError as e:
            path = os.path.join(manager.directory, str(step))
            aside = os.path.join(os.path.dirname(manager.directory), "corrupt_checkpoints")
            os.makedirs(aside, exist_ok=True)
            target = os.path.join(aside, f"{step}")
            while os.path.exists(target):
                target += "_again"
            os.rename(path, target)
            manager.reload()
            set_aside.append(target)
            logging.warning("%s; set it aside as %s and trying the one before", e, target)
    raise CheckpointError(
        f"no checkpoint in {manager.directory} reads; set aside as unreadable: "
        f"{', '.join(set_aside) or 'none'}. Delete the workdir's checkpoints to start over"
    )


def _disk_bytes(directory: str) -> int:
    """The disk space the files under `directory` take (their allocated blocks)."""
    return sum(
        os.stat(os.path.join(folder, name)).st_blocks * 512
        for folder, _, names in os.walk(directory)
        for name in names
    )


def _first_line(error: Exception) -> str:
    """The gist of a storage error: its first line, at most 300 characters (tensorstore's
    messages go on with the whole store spec)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if len(text) <= 300 else text[:300] + "..."


def model_mismatch(
    saved: dict[str, Any], current: dict[str, Any], fields: tuple[str, ...] | None = None
) -> str:
    """'' if equal, else e.g. "hidden_size: checkpoint 64, config 32".

    Compares `fields`, or (None) every field but the EXECUTION_FIELDS, which
    change how the parameters are computed, not what they are. A ModelConfig field
    missing from either side (one the checkpoint predates) counts at its default.
    """
    defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)
                if f.default is not dataclasses.MISSING}  # fmt: skip
    saved, current = ({**defaults, **fields_} for fields_ in (saved, current))
    keys = sorted(set(saved) | set(current))
    keys = [k for k in keys if k not in EXECUTION_FIELDS] if fields is None else list(fields)
    diffs = [
        f"{k}: checkpoint {saved.get(k)!r}, config {current.get(k)!r}"
        for k in keys
        if saved.get(k) != current.get(k)
    ]
    return "; ".join(diffs)
