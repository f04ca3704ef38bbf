"""Tests for s2s_jax.config_checks.validate: good configs pass, bad fields are named; and
saved_config, the config a workdir holds, with --config.* flags set in it (with_overrides)."""

import os
import re

import ml_collections
import pytest

from experiments import benchmark, en_ko, generated
from s2s_jax.benchmark.grid import grid_points, point_config
from s2s_jax.config_checks import check_backend, saved_config, validate, with_overrides
from s2s_jax.errors import ConfigError, UserError

NUM_DEVICES = 8  # conftest.py fakes eight CPU devices.


@pytest.mark.parametrize("task", ["addition", "copy", "reverse", "sort"])
def test_experiment_configs_are_valid(task, make_config):
    """The shipped experiment configs and their tiny test versions validate."""
    validate(generated.get_config(task), NUM_DEVICES)
    validate(make_config(task), NUM_DEVICES)


@pytest.mark.parametrize("variant", ["basic", "smoke", "luong", "bahdanau"])
def test_en_ko_configs_are_valid(variant):
    """Both English-Korean configs validate (so they set every field, eval.beam_size included)."""
    validate(en_ko.get_config(variant), NUM_DEVICES)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("model__hidden_size", -4, r"config\.model\.hidden_size=-4 is invalid"),
        ("model__hidden_size", 0, r"config\.model\.hidden_size=0 is invalid"),
        ("model__hidden_size", 8.0, r"config\.model\.hidden_size=8\.0 is invalid"),
        ("train__batch_size", 0, r"config\.train\.batch_size=0 is invalid"),
        ("model__cell", "lstmx", r"config\.model\.cell='lstmx' is invalid.*lstm"),
        ("model__dropout_rate", 1.0, r"config\.model\.dropout_rate=1\.0 is invalid"),
        ("model__init_state", "random", r"config\.model\.init_state=.random. is invalid"),
        ("optim__name", "rmsprop", r"config\.optim\.name='rmsprop'"),
        ("optim__learning_rate", 0.0, r"config\.optim\.learning_rate=0\.0"),
        ("task__name", "translate", r"config\.task\.name='translate'"),
        ("task__num_symbols", 53, r"config\.task\.num_symbols=53"),
        ("devices", 0, r"config\.devices=0"),
        ("sharding__model", 2, r"config\.sharding\.model=2 is invalid: expected 1 \(no layer"),
        ("sharding__fsdp", 1, r"config\.sharding\.fsdp=1 is invalid: expected True or False"),
        ("sharding__batch_multiple", 0, r"config\.sharding\.batch_multiple=0 is invalid"),
        ("eval__beam_size", 0, r"config\.eval\.beam_size=0 is invalid.*decode='beam'"),
        ("eval__decode", "top_k", r"config\.eval\.decode='top_k' is invalid.*'sample'"),
        ("eval__n_best", 0, r"config\.eval\.n_best=0 is invalid: expected an integer > 0"),
        ("eval__temperature", 0.0, r"config\.eval\.temperature=0\.0 is invalid.*> 0"),
        ("eval__top_k", -1, r"config\.eval\.top_k=-1 is invalid.*>= 0"),
        ("eval__top_k", 2.0, r"config\.eval\.top_k=2\.0 is invalid"),
        ("eval__top_p", 0.0, r"config\.eval\.top_p=0\.0 is invalid.*\(0, 1\]"),
        ("eval__top_p", 1.5, r"config\.eval\.top_p=1\.5 is invalid"),
        ("eval__seed", -2, r"config\.eval\.seed=-2 is invalid"),
        ("eval__beam_size", 2.0, r"config\.eval\.beam_size=2\.0 is invalid"),
        ("eval__length_penalty", -0.6, r"config\.eval\.length_penalty=-0\.6 is invalid.*>= 0"),
        ("eval__length_penalty", "0.6", r"config\.eval\.length_penalty='0\.6' is invalid"),
        ("seed", -1, r"config\.seed=-1 is invalid: expected an integer >= 0"),
        ("model__decoder", "transformer", r"config\.model\.decoder='transformer' is invalid"),
        ("model__attention_score", "cosine", r"config\.model\.attention_score='cosine'"),
        ("model__input_feeding", 0, r"config\.model\.input_feeding=0 is invalid"),
        ("eval__early_exit", 1, r"config\.eval\.early_exit=1 is invalid: expected True or False"),
        ("eval__length_buckets", (10, 5), r"config\.eval\.length_buckets=\(10, 5\) is invalid.*as"),
        ("eval__length_buckets", (5, 5), r"config\.eval\.length_buckets=\(5, 5\) is invalid"),
        ("eval__length_buckets", (0, 5), r"config\.eval\.length_buckets=\(0, 5\) is invalid.*> 0"),
        ("eval__length_buckets", (2.0,), r"config\.eval\.length_buckets=\(2\.0,\) is invalid"),
        ("eval__length_buckets", 10, r"config\.eval\.length_buckets=10 is invalid.*a tuple"),
        ("train__nonfinite", "ignore", r"config\.train\.nonfinite='ignore' is invalid.*'skip'"),
        ("train__max_nonfinite_in_a_row", 0, r"config\.train\.max_nonfinite_in_a_row=0 is"),
        ("eval__beam_grid", (4, 0.6), r"config\.eval\.beam_grid=\(4, 0\.6\) is invalid.*pairs"),
        ("eval__beam_grid", ((0, 0.6),), r"config\.eval\.beam_grid=\(\(0, 0\.6\),\) is invalid"),
        ("eval__beam_grid", ((4, -1.0),), r"config\.eval\.beam_grid=.* is invalid.*>= 0"),
        ("synthetic__vocab_size", 4, r"config\.synthetic\.vocab_size=4 is invalid.*> 4"),
        ("synthetic__src_len", 0, r"config\.synthetic\.src_len=0 is invalid"),
        ("synthetic__tgt_len", 2.0, r"config\.synthetic\.tgt_len=2\.0 is invalid"),
        ("synthetic__num_eval", 0, r"config\.synthetic\.num_eval=0 is invalid"),
        # The data block's rules (BucketedBatches and the tokenizer rely on them; tested on
        # the English-Korean config, the one with a data block).
        ("data__src_vocab_size", 4, r"config\.data\.src_vocab_size=4 is invalid.*integer > 4"),
        ("data__src_vocab_size", 300.0, r"config\.data\.src_vocab_size=300\.0 is invalid"),
        ("data__tgt_vocab_size", 4, r"config\.data\.tgt_vocab_size=4 is invalid.*integer > 4"),
        ("data__tokenizer_type", "char", r"config\.data\.tokenizer_type='char' is invalid.*bpe"),
        (
            "data__character_coverage",
            0.0,
            r"config\.data\.character_coverage=0\.0 is invalid: expected a number in \(0, 1\]",
        ),
        ("data__character_coverage", 1.5, r"config\.data\.character_coverage=1\.5 is invalid"),
        ("data__max_tokens", -1, r"config\.data\.max_tokens=-1 is invalid.*integer >= 0"),
        ("data__max_tokens", 512.0, r"config\.data\.max_tokens=512\.0 is invalid"),
        (
            "data__bucket_boundaries",
            (16, 8),
            r"config\.data\.bucket_boundaries=\(16, 8\) is invalid.*increasing integers > 0",
        ),
        ("data__bucket_boundaries", (8, 8), r"config\.data\.bucket_boundaries=\(8, 8\)"),
        ("data__bucket_boundaries", (0, 8), r"config\.data\.bucket_boundaries=\(0, 8\)"),
        ("data__bucket_boundaries", (), r"config\.data\.bucket_boundaries=\(\) is invalid"),
    ],
)
def test_bad_field_is_named(make_config, field, value, message):
    """A bad value raises a ConfigError (a UserError) that names the field and the value."""
    section, _, name = field.rpartition("__")
    if section == "data":
        base = en_ko.get_config("smoke")
    elif section == "synthetic":  # A benchmark point: the experiment config it measures.
        bench = benchmark.get_config("small")
        base = point_config(bench, grid_points(bench)[0])
    else:
        base = make_config()
    validate(base, NUM_DEVICES)  # Only the field set below is bad.
    # Not type-safe, so a config file could set e.g. hidden_size=8.0 (ConfigDict would refuse).
    config = ml_collections.ConfigDict(base.to_dict(), type_safe=False)
    (config[section] if section else config)[name] = value
    with pytest.raises(ConfigError, match=message) as info:
        validate(config, NUM_DEVICES)
    assert isinstance(info.value, UserError)
    assert "\n" not in str(info.value)


def test_exactly_one_dataset_block(make_config):
    """A config names its data with exactly one of task, data and synthetic."""
    config = make_config()
    config.synthetic = ml_collections.ConfigDict({"vocab_size": 10})
    two = r"exactly one of config\.task .* has \['task', 'synthetic'\]"
    with pytest.raises(ConfigError, match=two):
        validate(config, NUM_DEVICES)
    del config["synthetic"], config["task"]
    with pytest.raises(ConfigError, match=r"it has none"):
        validate(config, NUM_DEVICES)


def test_min_len_above_max_len(make_config):
    """min_len > max_len is refused, naming both fields."""
    config = make_config(task__min_len=5, task__max_len=3)
    with pytest.raises(ConfigError, match=r"config\.task\.min_len=5.*config\.task\.max_len=3"):
        validate(config, NUM_DEVICES)
    validate(make_config(task__min_len=3, task__max_len=3), NUM_DEVICES)


@pytest.mark.parametrize("size", [12, 4])  # 4: fewer rows than devices (BucketedBatches).
@pytest.mark.parametrize("field", ["train__batch_size", "eval__batch_size"])
def test_batch_not_divisible_by_devices(make_config, field, size):
    """A batch size not divisible by the device count is refused, naming the field."""
    config = make_config(**{field: size})
    dotted = field.replace("__", ".")
    with pytest.raises(
        ConfigError, match=rf"config\.{dotted}={size} must be divisible by the 8 devices"
    ):
        validate(config, NUM_DEVICES)
    # With config.devices=4 the same batch size is fine.
    config.devices = 4
    validate(config, NUM_DEVICES)


def test_token_budget_rows_are_checked_against_the_data_axis():
    """With data.max_tokens, the rows are multiples of sharding.batch_multiple (not of
    train.batch_size): the 'data' axis must divide it, and the budget hold that many rows of
    the longest bucket (48 tokens in the English-Korean config)."""
    config = en_ko.get_config("smoke")
    config.data.max_tokens, config.train.batch_size = 8 * 48, 12  # 12 rows: unused here.
    validate(config, NUM_DEVICES)
    config.sharding.batch_multiple = 4
    with pytest.raises(
        ConfigError,
        match=r"config\.sharding\.batch_multiple=4 must be divisible by the 8 devices .*'data'",
    ):
        validate(config, NUM_DEVICES)
    config.devices = 4
    validate(config, NUM_DEVICES)
    config.data.max_tokens = 100
    with pytest.raises(
        ConfigError,
        match=r"config\.data\.max_tokens=100 must hold config\.sharding\.batch_multiple=4 rows "
        r"of the longest bucket \(48 tokens.*>= 192",
    ):
        validate(config, NUM_DEVICES)


def test_more_devices_than_exist(make_config):
    """Asking for more devices than exist is refused."""
    with pytest.raises(ConfigError, match=r"config\.devices=16 but only 8 devices"):
        validate(make_config(devices=16), NUM_DEVICES)


def test_missing_field(make_config):
    """A config without a required field is refused, naming it."""
    config = make_config()
    del config.model["scan_unroll"]
    with pytest.raises(ConfigError, match=r"config\.model\.scan_unroll is missing"):
        validate(config, NUM_DEVICES)


@pytest.mark.parametrize(
    ("changes", "platform", "message"),
    [
        ({"cell": "gru"}, "gpu", r"backend='cudnn' runs only cell='lstm'.*got cell='gru'"),
        ({"dtype": "bfloat16"}, "gpu", r"backend='cudnn' runs only .*dtype='bfloat16'"),
        ({}, "cpu", r"backend='cudnn' needs a CUDA GPU, but this run's devices are 'cpu'"),
    ],
)
def test_cudnn_backend_is_refused_where_it_cannot_run(make_config, changes, platform, message):
    config = make_config()
    config.model.backend = "cudnn"
    config.model.update(changes)
    with pytest.raises(ConfigError, match=message):
        check_backend(config.model, platform)
    config.model.update(cell="lstm", dtype="float32")
    check_backend(config.model, "gpu")  # The one place it runs.


def test_dot_attention_needs_a_memory_of_the_decoders_size(make_config):
    """Luong's 'dot' score multiplies h_t by h_j: a bidirectional memory is twice as wide."""
    config = make_config(model__decoder="luong", model__attention_score="dot",
                         model__bidirectional=True)  # fmt: skip
    with pytest.raises(ConfigError, match=r"attention_score='dot' .* bidirectional"):
        validate(config, NUM_DEVICES)
    config.model.attention_score = "general"
    validate(config, NUM_DEVICES)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"beam_size": 4},
            r"config\.eval\.beam_size=4 needs config\.eval\.decode='beam'.*'greedy'",
        ),
        (
            {"beam_size": 2, "decode": "sample"},
            r"config\.eval\.beam_size=2 needs config\.eval\.decode='beam' \(it is 'sample'\)",
        ),
        ({"n_best": 2, "beam_size": 1}, r"config\.eval\.n_best=2 needs config\.eval\.decode"),
        (
            {"decode": "beam", "beam_size": 2, "n_best": 3},
            r"config\.eval\.n_best=3 is larger than config\.eval\.beam_size=2",
        ),
    ],
)
def test_beam_settings_need_beam_search(make_config, changes, message):
    """Beam width and n-best are beam search's: refused with another search, naming both
    keys; n-best beyond the beam is refused. With decode='beam' and a wide beam they pass."""
    config = make_config()
    config.eval.update(changes)
    with pytest.raises(ConfigError, match=message):
        validate(config, NUM_DEVICES)
    config.eval.update(decode="beam", beam_size=3, n_best=3)
    validate(config, NUM_DEVICES)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("decay", "cosine", r"decay='cosine' is invalid.*inverse_sigmoid"),
        ("constant_probability", 1.5, r"constant_probability=1\.5 is invalid.*\[0, 1\]"),
        ("min_teacher_forcing", -0.1, r"min_teacher_forcing=-0\.1 is invalid.*\[0, 1\]"),
        ("decay_steps", 0, r"decay_steps=0 is invalid: expected an integer > 0"),
        ("decay_steps", 100.0, r"decay_steps=100\.0 is invalid"),
        ("exponential_base", 0.0, r"exponential_base=0\.0 is invalid.*\(0, 1\]"),
        ("exponential_base", 1.01, r"exponential_base=1\.01 is invalid"),
        ("inverse_sigmoid_k", 0.5, r"inverse_sigmoid_k=0\.5 is invalid: expected a number >= 1"),
    ],
)
def test_bad_scheduled_sampling_field_is_named(make_config, field, value, message):
    """Every key of config.train.scheduled_sampling is checked, whatever the decay."""
    base = make_config()
    validate(base, NUM_DEVICES)
    config = ml_collections.ConfigDict(base.to_dict(), type_safe=False)
    config.train.scheduled_sampling[field] = value
    with pytest.raises(ConfigError, match=r"config\.train\.scheduled_sampling\." + message):
        validate(config, NUM_DEVICES)
    good = make_config()
    for decay in ("constant", "linear", "exponential", "inverse_sigmoid"):
        good.train.scheduled_sampling.decay = decay
        validate(good, NUM_DEVICES)


def test_saved_config_reads_what_training_wrote(make_config, tmp_path):
    """config.json as train.py writes it (to_json) comes back with the same fields (JSON
    has lists for the tuples)."""
    config = make_config()
    (tmp_path / "config.json").write_text(config.to_json(indent=1), encoding="utf-8")
    saved = saved_config(str(tmp_path))
    assert saved.to_json() == config.to_json() and saved.model.hidden_size == 32


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (None, "config.json is missing: the workdir holds no saved config"),
        ('{"model": {', r"config.json is not valid JSON \(Expecting"),
        (b"\xff\xfe{}", "config.json is not valid JSON"),
        ("[1, 2]", "config.json holds a JSON array, not an object"),
        ("3", "config.json holds a JSON number, not an object"),
        ("null", "config.json holds a JSON null, not an object"),
    ],
    ids=["missing", "malformed", "not-utf8", "array", "number", "null"],
)
def test_saved_config_errors_name_the_file(tmp_path, contents, message):
    """A workdir without a readable JSON object in config.json: a ConfigError naming the
    file (with the fix); a workdir that does not exist is named too."""
    path = tmp_path / "config.json"
    if isinstance(contents, bytes):
        path.write_bytes(contents)
    elif contents is not None:
        path.write_text(contents, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as raised:
        saved_config(str(tmp_path))
    assert str(raised.value).startswith(str(path))
    assert "or pass --config" in str(raised.value) and "\n" not in str(raised.value)
    missing = os.path.join(tmp_path, "nope")
    with pytest.raises(ConfigError, match=f"workdir {missing} does not exist"):
        saved_config(missing)


def test_overrides_are_set_in_a_saved_config():
    """--config.* values land in the saved config: an int in a float field becomes a float,
    a tuple in a field saved as a JSON array a list, and a field saved as None takes any
    value; a field the config lacks, or a value of another type, is named with its flag."""
    saved = ml_collections.ConfigDict(
        {"eval": {"length_penalty": 0.6, "length_buckets": [], "seed": None, "decode": "greedy"}}
    )
    overrides = {"eval.length_penalty": 1, "eval.length_buckets": (10, 20), "eval.seed": 3}
    config = with_overrides(saved, overrides)
    assert config.eval.to_dict() == {
        "length_penalty": 1.0, "length_buckets": [10, 20], "seed": 3, "decode": "greedy",
    }  # fmt: skip
    assert isinstance(config.eval.length_penalty, float)
    for bad, message in [
        ({"eval.beam_size": 4}, "--config.eval.beam_size: the saved config has no such field"),
        ({"model.hidden_size": 4}, "--config.model.hidden_size: the saved config has no such"),
        ({"eval.decode.x": 1}, "--config.eval.decode.x: the saved config has no such field"),
        ({"eval.x.decode": 1}, "--config.eval.x.decode: the saved config has no such field"),
        ({"eval.decode": 3}, "--config.eval.decode=3: Could not override field 'decode'"),
    ]:
        with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
            with_overrides(saved, bad)
