"""Optimizer and learning-rate schedule from a `config.optim` block."""

import ml_collections
import optax

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "warmup_cosine", "warmup_rsqrt")


def make_schedule(config: ml_collections.ConfigDict, num_steps: int) -> optax.Schedule:
    """The learning rate as a function of the step."""
    lr, warmup = config.learning_rate, config.warmup_steps
    if config.schedule == "constant":
        return optax.constant_schedule(lr)
    if config.schedule == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=lr,
            warmup_steps=warmup,
            decay_steps=max(num_steps, warmup + 1),
            end_value=lr * config.final_lr_fraction,
        )
    if config.schedule == "warmup_rsqrt":
        # Linear warmup to lr, then lr·sqrt(warmup / step), as in the Transformer paper.
        warmup_fn = optax.linear_schedule(0.0, lr, max(warmup, 1))
        return optax.join_schedules(
            [warmup_fn, lambda s: lr * (max(warmup, 1) / (s + max(warmup, 1))) ** 0.5], [warmup]
        )
    raise ValueError(f"config.optim.schedule: unknown {config.schedule!r}; expected {SCHEDULES}")


def make_optimizer(
    config: ml_collections.ConfigDict, num_steps: int
) -> optax.GradientTransformation:
    """Global-norm clipping followed by the chosen optimizer."""
    schedule = make_schedule(config, num_steps)
    if config.name == "adam":
        opt = optax.adam(schedule, b1=config.b1, b2=config.b2)
    elif config.name == "adamw":
        opt = optax.adamw(schedule, b1=config.b1, b2=config.b2, weight_decay=config.weight_decay)
    elif config.name == "sgd":
        opt = optax.sgd(schedule, momentum=config.momentum or None)
    else:
        raise ValueError(f"config.optim.name: unknown {config.name!r}; expected {OPTIMIZERS}")
    clip = (
        optax.clip_by_global_norm(config.grad_clip_norm)
        if config.grad_clip_norm
        else optax.identity()
    )
    return optax.chain(clip, opt)
