"""TranslationData on the shared English–Korean corpora, and the translate command end to end."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from helpers import run_launch

from experiments import en_ko
from s2s_jax import distributed, experiment
from s2s_jax.data.translation import TranslationData, _Once, load_split
from s2s_jax.errors import ConfigError
from s2s_jax.vocab import EOS_ID, PAD_ID, UNK_ID

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared", "data", "en_ko")
pytestmark = pytest.mark.skipif(
    not os.path.isdir(SHARED), reason=f"the shared English-Korean corpora are not at {SHARED}"
)


@pytest.fixture(scope="module")
def smoke(en_ko_data_dir):
    """The smoke config on the corpora prepared once per session (tests/data/conftest.py)."""
    config = en_ko.get_config("smoke")
    config.data.data_dir = en_ko_data_dir
    config.data.manual_dir = SHARED
    config.data.tests = "jhe:test"
    config.devices = 1
    return config


@pytest.fixture(scope="module")
def data(smoke, tmp_path_factory):
    """With a token budget of 400: rows 400 // boundary, rounded to sharding.batch_multiple."""
    config = smoke.copy_and_resolve_references()
    config.data.max_tokens, config.sharding.batch_multiple = 400, 8
    return TranslationData(config, str(tmp_path_factory.mktemp("work")))


def test_eval_sets_and_saved_tokenizers(data, smoke):
    """Dev comes first (it picks the best checkpoint); tokenizers are saved in the workdir."""
    assert list(data.eval_sets()) == ["dev", "test_jhe_test"]
    assert len(data.eval_sets()["test_jhe_test"]) == 720
    assert (data.src_vocab_size, data.tgt_vocab_size) == (300, 1200)
    assert data.src_tok.path.endswith(os.path.join("tokenizers", "src.model"))
    assert data.tgt_tok.path.endswith(os.path.join("tokenizers", "tgt.model"))


def test_reversed_direction(smoke):
    """src_key='ko', tgt_key='en' swaps each pair."""
    forward = load_split("jhe:validation", smoke.data)
    backward_config = smoke.data.copy_and_resolve_references()
    backward_config.src_key, backward_config.tgt_key = "ko", "en"
    assert load_split("jhe:validation", backward_config) == [(k, e) for e, k in forward]


def test_bad_split_spec(smoke):
    """A spec without ':' is refused, naming the spec."""
    with pytest.raises(Exception, match="split spec 'tatoeba' is invalid"):
        load_split("tatoeba", smoke.data)


def test_train_batches_are_bucketed_and_sharded(data):
    """Train batches have bucket shapes and rows in multiples of sharding.batch_multiple (8),
    whatever the device count: 400 // 12 = 33 rows are cut to 32."""
    stream = data.train_batches()
    assert stream.batch_sizes == {8: 48, 12: 32, 16: 24, 24: 16, 32: 8, 48: 8}
    for _ in range(20):
        batch = next(stream)
        B, S = batch["src_BxS"].shape
        assert S in data.boundaries and batch["tgt_in_BxT"].shape == (B, S)
        assert stream.batch_sizes[S] == B and B * S <= 400
    assert set(stream.stats()) == {"epoch", "padding_fraction"}
    assert 0.0 < stream.stats()["padding_fraction"] < 1.0


def test_eval_batches_keep_order_and_cut_long_pairs(data):
    """Eval batches keep every pair in order; longer pairs are cut to the largest bucket."""
    long_pair = (" ".join(["word"] * 200), "말 " * 200)
    pairs = [*data.eval_sets()["dev"][:5], long_pair]
    batches = data.eval_batches(pairs)
    rows = np.concatenate([b["src_BxS"][: len(pairs)] for b in batches])
    assert rows.shape[1] <= data.max_len
    first = data.src_tok.encode(pairs[0][0])
    assert list(rows[0][: len(first)]) == first
    assert (rows[5] != PAD_ID).sum() == data.max_len  # The long source, cut.


def test_encode_sources_unknown_and_overlong(data, caplog):
    """Unseen characters become UNK; an overlong input is cut with a warning naming it."""
    src_BxS = data.encode_sources(["☃ snowman", "hello " * 100], [4, 7])
    assert UNK_ID in src_BxS[0]
    assert (src_BxS[1] != PAD_ID).sum() == data.max_len
    assert any("Input line 7 is" in r.getMessage() for r in caplog.records)


def test_scores_include_bleu_and_chrf(data):
    """Translation scores: BLEU (13a, ko, char), chrF and exact match, all numbers."""
    pairs = data.eval_sets()["dev"][:20]
    scores = data.score([t for _, t in pairs], pairs)
    assert scores["chrf"] == pytest.approx(100.0) and scores["exact_match"] == 1.0
    assert {"bleu", "bleu_ko", "bleu_char"} <= set(scores)


def test_workdir_alone_translates_and_eval_sets_name_the_missing_corpus(data, smoke, tmp_path):
    """With its tokenizers in the workdir (copied) and no corpus (data_dir and manual_dir
    do not exist), the data builds and encodes and detokenizes as the original, reading no
    split (a read would fail); the held-out sets and the train split, when asked for, are a
    ConfigError naming the split, its config field and both directories."""
    workdir = tmp_path / "copy"
    shutil.copytree(os.path.dirname(data.src_tok.path), workdir / "tokenizers")
    config = smoke.copy_and_resolve_references()
    no_data, no_corpus = tmp_path / "no_tfds", tmp_path / "no_corpus"
    config.data.data_dir, config.data.manual_dir = str(no_data), str(no_corpus)
    alone = TranslationData(config, str(workdir))

    assert (alone.src_vocab_size, alone.tgt_vocab_size) == (300, 1200)
    texts = ["Hello, world!", "I'm hungry."]
    np.testing.assert_array_equal(
        alone.encode_sources(texts, [1, 2]), data.encode_sources(texts, [1, 2])
    )
    korean = "안녕하세요, 세계!"
    ids = np.array([*data.tgt_tok.encode(korean), EOS_ID, PAD_ID])
    assert alone.detokenize(ids) == data.detokenize(ids) == korean
    example = alone.example_batch()  # init's shapes: one row of the first bucket.
    assert {k: v.shape for k, v in example.items()} == {
        k: (1, data.boundaries[0]) for k in ("src_BxS", "tgt_in_BxT", "tgt_out_BxT")
    }
    assert not no_data.exists() and not no_corpus.exists()

    directories = f"with config.data.data_dir={no_data}, manual_dir={no_corpus}: "
    with pytest.raises(ConfigError) as raised:
        alone.eval_sets()
    assert str(raised.value) == (
        f"cannot read the split 'tatoeba:validation' (config.data.dev) {directories}"
        f"manual_dir {no_corpus} is not a directory"
    )
    with pytest.raises(ConfigError, match=r"'tatoeba:train' \(config.data.train\) with"):
        alone.train_batches()


def test_a_split_enters_writer_first_once_in_every_process(monkeypatch):
    """A split's first shared read goes through distributed.writer_first (with several
    processes, a barrier) exactly once, also where it was already read locally (process 0,
    training the tokenizers): so no process waits at a barrier the others skip."""
    barriers, reads = [], []
    monkeypatch.setattr(distributed, "writer_first", lambda make: barriers.append(1) or make())
    for read_locally_first in (True, False):
        barriers.clear()
        reads.clear()
        split = _Once(lambda: reads.append(1) or [("a", "b")])
        if read_locally_first:
            assert split.local() == [("a", "b")] and barriers == []
        assert split.shared() == split.shared() == split.local() == [("a", "b")]
        assert (barriers, reads) == ([1], [1])


def _launch(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return run_launch(*args, check=False, stdin=stdin, timeout=600)


@pytest.mark.slow
def test_smoke_trains_and_translates(tmp_path, en_ko_data_dir):
    """The smoke config trains; then, from a copy of its workdir whose config points at no
    corpus (as on another machine), translate copes with empty, overlong and unseen input
    (input that is not UTF-8: tests/test_launch.py), and eval, which needs the held-out sets,
    fails with one line naming them."""
    trained = str(tmp_path / "run")
    overrides = [
        f"--config.data.data_dir={en_ko_data_dir}",
        f"--workdir={trained}",
        "--config.data.bucket_boundaries=(16, 48)",
    ]  # Two shapes to compile, not six.
    proc = _launch("--config=experiments/en_ko.py:smoke", *overrides)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.listdir(os.path.join(trained, "best"))
    assert os.path.exists(os.path.join(trained, "hypotheses"))

    workdir = str(tmp_path / "elsewhere" / "run")  # The workdir alone: the corpus hidden.
    shutil.copytree(trained, workdir)
    with open(os.path.join(workdir, "config.json"), encoding="utf-8") as f:
        saved = json.load(f)
    hidden = str(tmp_path / "elsewhere" / "no_corpus")
    saved["data"]["data_dir"], saved["data"]["manual_dir"] = hidden + "/tfds", hidden + "/raw"
    with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(saved, f)

    lines = ["Hello, world!", "", "hello " * 100, "☃☃☃ ♜♞"]
    proc = _launch("--mode=translate", f"--workdir={workdir}", stdin="\n".join(lines).encode())
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout.split("\n")
    assert len(out) == len(lines) + 1 and out[1] == "" and out[-1] == ""
    assert "Input line 3 is" in proc.stderr  # The overlong line's warning.

    proc = _launch("--mode=eval", f"--workdir={workdir}")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [f"error: cannot read the split 'tatoeba:validation' (config.data.dev) "
                      f"with config.data.data_dir={hidden}/tfds, manual_dir={hidden}/raw: "
                      f"manual_dir {hidden}/raw is not a directory"]  # fmt: skip
    assert not os.path.exists(hidden)


def test_experiment_builds_for_translation(smoke, tmp_path):
    """experiment.build wires TranslationData: vocab sizes reach the model config."""
    exp = experiment.build(smoke, str(tmp_path))
    assert (exp.model_cfg.src_vocab_size, exp.model_cfg.tgt_vocab_size) == (300, 1200)
    assert exp.data.best_metric == "chrf"
