"""Generated tasks: addition (the default), copy, reverse and sort.

    python launch.py --config=experiments/generated.py:reverse --workdir=/tmp/reverse

The argument after ':' picks the task; every other field can be overridden on
the command line, e.g. --config.model.cell=gru.

`get_sweep` declares a small sweep for any task, hidden size x learning rate,
400 steps each (about a minute in all on a 2-core CPU):

    python launch.py --config=experiments/generated.py:reverse --sweep --workdir=/tmp/sweep
"""

import ml_collections

from s2s_jax import sweeps

# Per-task settings that differ from the shared ones below.
_TASK_OVERRIDES = {
    # "123+45" -> "168". Source reversal puts the ones digits first, next to the answer's start.
    # Two GRU layers learn it far faster than one wider layer. The cosine schedule over 5k
    # steps keeps the rate high while the model finds carrying (99% held-out by ~2k steps);
    # over 2.5k steps it decays too soon, and most seeds stall near 50-65%.
    "addition": {
        "model.reverse_source": True,
        "model.cell": "gru",
        "model.hidden_size": 128,
        "model.num_layers": 2,
        "train.batch_size": 256,
        "optim.learning_rate": 5e-3,
        "train.num_steps": 5000,
    },
    "copy": {"train.num_steps": 1500},
    "reverse": {"train.num_steps": 1500},
    "sort": {"train.num_steps": 2000},
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    task = arg or "addition"
    if task not in _TASK_OVERRIDES:
        raise ValueError(
            f"unknown task {task!r} in the config argument; use one of {list(_TASK_OVERRIDES)}"
        )
    c = ml_collections.ConfigDict()
    c.seed = 0  # Seeds the parameters, dropout and the generated data.
    c.devices = -1  # How many devices the batch is sharded over; -1 = all of them.

    c.task = ml_collections.ConfigDict()
    c.task.name = task  # copy | reverse | sort | addition.
    c.task.min_len = 1  # copy/reverse/sort: shortest source, in symbols.
    c.task.max_len = 16  # copy/reverse/sort: longest source, in symbols.
    c.task.num_symbols = 10  # copy/reverse/sort: alphabet size (a, b, c, ...), at most 52.
    c.task.max_digits = 3  # addition: each operand is uniform in [0, 10**max_digits).
    c.task.num_eval = 1000  # Held-out examples; never drawn for training.

    c.model = ml_collections.ConfigDict()
    c.model.cell = "lstm"  # lstm | gru | rnn.
    c.model.embed_size = 64
    c.model.hidden_size = 256
    c.model.num_layers = 1  # Encoder and decoder alike; layer l's context starts decoder layer l.
    c.model.bidirectional = False  # Bidirectional encoder, bridged to the decoder's size.
    c.model.dropout_rate = 0.0  # On every layer's outputs, a fresh mask per time step.
    c.model.init_state = "zeros"  # Encoder h_0: zeros | learned.
    c.model.reverse_source = False  # Feed the source backwards (Sutskever et al., 2014).
    c.model.scan_unroll = 1  # Time steps per scan iteration.
    c.model.remat = False  # Recompute scan-step activations in the backward pass (less memory).
    # How each layer runs over time: 'fused' (a custom VJP, the fastest on CPU), 'scan'
    # (plain nn.scan, the reference) or 'cudnn' (cuDNN's LSTM; CUDA GPUs only).
    c.model.backend = "fused"
    # 'basic': the context vector only starts the decoder; 'context': it is also an
    # input of every decoder step and of the output layer (Cho et al., 2014).
    c.model.decoder = "basic"
    c.model.dtype = "float32"  # Compute dtype: float32 | bfloat16.
    c.model.param_dtype = "float32"  # Parameter dtype: float32 | bfloat16.

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam"  # adam | adamw | sgd.
    c.optim.learning_rate = 3e-3  # Peak learning rate.
    c.optim.schedule = "warmup_cosine"  # constant | warmup_cosine | warmup_rsqrt.
    c.optim.warmup_steps = 100
    c.optim.final_lr_fraction = 0.01  # warmup_cosine: final rate / peak rate.
    c.optim.b1 = 0.9  # adam/adamw.
    c.optim.b2 = 0.999  # adam/adamw.
    c.optim.weight_decay = 0.0  # adamw (decoupled).
    c.optim.momentum = 0.0  # sgd; 0 = plain SGD.
    c.optim.grad_clip_norm = 1.0  # Global-norm clipping; 0 disables.

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 128  # Sentences per step, over all devices.
    c.train.num_steps = 2000
    c.train.label_smoothing = 0.0
    # Output layer and loss over this many target steps at a time, recomputed in the
    # backward pass: bounds the logits' memory for long targets. 0 = all at once.
    c.train.loss_chunk_size = 0
    c.train.log_every_steps = 100
    c.train.eval_every_steps = 500
    c.train.checkpoint_every_steps = 500
    c.train.max_checkpoints_to_keep = 3
    c.train.time_budget_seconds = 0.0  # Stop (saving and evaluating) after this long; 0 = no limit.
    c.train.early_stopping_patience = 0  # Evals without a better score before stopping; 0 = off.

    c.eval = ml_collections.ConfigDict()
    c.eval.batch_size = 512
    c.eval.max_decode_len = 0  # Longest decode; 0 = the task's longest target + EOS.
    c.eval.beam_size = 1  # Hypotheses kept per sentence while decoding; 1 = greedy decoding.
    c.eval.length_penalty = 0.6  # Beam search's GNMT alpha: log p / ((5 + len) / 6)**alpha.
    c.eval.num_examples_to_log = 5  # Decoded examples shown at each eval.

    for dotted, value in _TASK_OVERRIDES[task].items():
        section, key = dotted.split(".")
        c[section][key] = value
    return c


def get_sweep(arg: str | None = None) -> sweeps.Sweep:
    """Hidden size x peak learning rate, ranked by held-out exact match (the same for any task)."""
    del arg  # The same sweep for every task.
    return sweeps.Sweep(
        trials=sweeps.product({"model.hidden_size": [32, 64], "optim.learning_rate": [3e-3, 1e-2]}),
        metric="best_eval.exact_match",
        mode="max",
        shared={
            "model.num_layers": 1,
            "train.num_steps": 400,
            "train.eval_every_steps": 200,
            "train.checkpoint_every_steps": 200,
        },
    )
