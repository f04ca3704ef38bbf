"""The base of every experiment config: each key, commented once.

An experiment file (generated.py, en_ko.py, benchmark.py) starts from
`get_config()` here, adds the block that names its dataset (`task`, `data` or
`synthetic`), and overrides only what differs, as flax's examples/wmt and
big_vision do. Every key of every block is required: the library reads no
defaults (config_checks.py names a missing or bad one).
"""

from collections.abc import Mapping
from typing import Any

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0  # Seeds the parameters, dropout and the data order (and generated data).
    # How many devices the run uses: the first N of jax.devices() (all processes' devices once
    # jax.distributed is initialized); -1 = all of them. They form the mesh below.
    c.devices = -1

    # The device mesh, axes ('data', 'model') = (devices / model, model) (s2s_jax/sharding.py):
    # batches are split over 'data'; the train state is replicated, except what fsdp splits.
    c.sharding = ml_collections.ConfigDict()
    # Size of the 'model' axis. Only 1: no layer splits its weights over it yet; the axis is
    # named so that tensor parallelism has a place to go. Other values are refused.
    c.sharding.model = 1
    # Split the source and target embeddings [V, E], the output kernel [H, V] and their Adam
    # state over 'data' on the vocabulary axis instead of replicating them (each vocabulary
    # size must be a multiple of the 'data' axis size). Saves memory; the losses are the same.
    c.sharding.fsdp = False
    # data.max_tokens: each bucket's rows per batch are rounded down to a multiple of this, a
    # fixed number, never the device count, so the batches and the data position are the same
    # on any device count (a checkpoint resumes on another one). 'data' must divide it.
    c.sharding.batch_multiple = 8

    c.model = ml_collections.ConfigDict()
    c.model.cell = "lstm"  # lstm | gru | rnn.
    c.model.embed_size = 64  # Token embedding size, source and target.
    c.model.hidden_size = 256  # H of every recurrent layer.
    c.model.num_layers = 1  # Encoder and decoder alike; layer l's context starts decoder layer l.
    c.model.bidirectional = False  # Bidirectional encoder, bridged to the decoder's size.
    c.model.dropout_rate = 0.0  # On every layer's outputs, a fresh mask per time step.
    c.model.init_state = "zeros"  # Encoder h_0: zeros | learned.
    c.model.reverse_source = False  # Feed the source backwards (Sutskever et al., 2014).
    c.model.scan_unroll = 1  # Time steps per loop iteration.
    c.model.remat = False  # Recompute activations in the backward pass (less memory).
    # How each layer runs over time: 'fused' (a custom VJP, the fastest on CPU), 'scan'
    # (plain nn.scan, the reference) or 'cudnn' (cuDNN's LSTM; CUDA GPUs only).
    c.model.backend = "fused"
    # 'basic': the context vector only starts the decoder; 'context': it is also an
    # input of every decoder step and of the output layer (Cho et al., 2014); 'bahdanau'
    # (additive attention before the step) and 'luong' (global attention after it) read the
    # whole source at every step.
    c.model.decoder = "basic"
    c.model.attention_score = "general"  # luong: dot | general | concat.
    c.model.input_feeding = True  # luong: the attentional vector is also the next step's input.
    c.model.dtype = "float32"  # Compute dtype: float32 | bfloat16.
    c.model.param_dtype = "float32"  # Parameter dtype: float32 | bfloat16.

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam"  # adam | adamw | sgd.
    c.optim.learning_rate = 3e-3  # Peak learning rate.
    c.optim.schedule = "warmup_cosine"  # constant | warmup_cosine | warmup_rsqrt.
    c.optim.warmup_steps = 100  # Linear warm-up from 0 (warmup_cosine, warmup_rsqrt).
    c.optim.final_lr_fraction = 0.01  # warmup_cosine: final rate / peak rate.
    c.optim.b1 = 0.9  # adam/adamw.
    c.optim.b2 = 0.999  # adam/adamw.
    c.optim.weight_decay = 0.0  # adamw (decoupled).
    c.optim.momentum = 0.0  # sgd; 0 = plain SGD.
    c.optim.grad_clip_norm = 1.0  # Global-norm clipping; 0 disables.

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 128  # Sentences per step, over all devices.
    c.train.num_steps = 2000  # Steps to train (an upper bound under a time budget).
    c.train.label_smoothing = 0.0  # Of the training loss only.
    # Output layer and loss (and their gradients) over this many target steps at a time:
    # bounds the logits' memory for long targets. 0 = all at once; -1 = chosen from each
    # batch's shape, chunks of about 32 MiB of logits (losses.auto_chunk; logged).
    c.train.loss_chunk_size = -1
    c.train.log_every_steps = 100  # Train metrics to metrics.jsonl, TensorBoard and the log.
    c.train.eval_every_steps = 500  # Dev evaluation; the best score keeps its checkpoint.
    c.train.checkpoint_every_steps = 500  # The latest checkpoints (an interrupt saves one too).
    c.train.max_checkpoints_to_keep = 3  # Latest checkpoints kept in workdir/checkpoints.
    # A NaN or Inf in the loss or gradients: 'stop' ends the run with an error, unsaved (the
    # last good checkpoint stays the latest); 'skip' drops that update and goes on.
    c.train.nonfinite = "stop"
    c.train.max_nonfinite_in_a_row = 10  # 'skip': stop with an error after this many in a row.
    c.train.time_budget_seconds = 0.0  # Stop (saving and evaluating) after this long; 0 = no limit.
    c.train.early_stopping_patience = 0  # Evals without a better score before stopping; 0 = off.
    # Scheduled sampling (Bengio et al., 2015; s2s_jax/scheduled_sampling.py): at train step i
    # the decoder reads its own previous prediction instead of the gold token with the sampling
    # probability p_i = 1 − ε_i, ε_i being the teacher-forcing probability the decay gives.
    c.train.scheduled_sampling = ml_collections.ConfigDict()
    # 'none' (off: teacher forcing) | 'constant' | 'linear' | 'exponential' | 'inverse_sigmoid'.
    c.train.scheduled_sampling.decay = "none"
    c.train.scheduled_sampling.constant_probability = 0.25  # constant: p_i at every step.
    c.train.scheduled_sampling.min_teacher_forcing = 0.0  # The decays: ε_i never goes below it.
    c.train.scheduled_sampling.decay_steps = 2000  # linear: ε_i = 1 − i / decay_steps.
    c.train.scheduled_sampling.exponential_base = 0.999  # exponential: ε_i = base ** i.
    c.train.scheduled_sampling.inverse_sigmoid_k = 200.0  # inverse_sigmoid: ε_i = k/(k + e^(i/k)).

    c.eval = ml_collections.ConfigDict()
    c.eval.batch_size = 512  # Sentences per eval and decoding batch.
    c.eval.max_decode_len = 0  # Longest decode; 0 = the dataset's longest target + EOS.
    c.eval.decode = "greedy"  # The search: greedy | beam | sample.
    c.eval.beam_size = 1  # decode='beam': hypotheses kept per sentence (K).
    c.eval.length_penalty = 0.6  # Beam search's GNMT alpha: log p / ((5 + len) / 6)**alpha.
    c.eval.n_best = 1  # decode='beam': translate writes the n best (<= beam_size), with scores.
    c.eval.temperature = 1.0  # decode='sample': logits / temperature (> 0; -> 0 is greedy).
    c.eval.top_k = 0  # decode='sample': only the k highest logits; 0 = off.
    c.eval.top_p = 1.0  # decode='sample': only the nucleus of probability p; 1 = off.
    c.eval.seed = 0  # decode='sample': with each batch's ids, seeds its samples.
    # Stop decoding once every sentence has ended (EOS); False always decodes max_decode_len
    # tokens, as the benchmark does to time a fixed amount of work.
    c.eval.early_exit = True
    c.eval.num_examples_to_log = 5  # Decoded examples shown at each eval.
    # Inclusive upper edges of source-length buckets (the data's unit: words, symbols), e.g.
    # (10, 20): final and --mode=eval scores per bucket "1-10", "11-20", "21+"; () = off.
    c.eval.length_buckets = ()
    # (beam_size, length_penalty) pairs, e.g. ((1, 0.0), (4, 0.6)): final and --mode=eval also
    # score every held-out set with beam search at each, into beam_grid.json; () = off.
    c.eval.beam_grid = ()
    return c


def override(config: ml_collections.ConfigDict, changes: Mapping[str, Any]) -> None:
    """Sets dotted fields, e.g. {"model.cell": "gru"}; each must exist already."""
    for dotted, value in changes.items():
        *sections, key = dotted.split(".")
        node = config
        for section in sections:
            node = node[section]
        if key not in node:
            raise KeyError(f"{dotted!r} is no field of the base config")
        node[key] = value
