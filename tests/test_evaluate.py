"""Tests for s2s_jax.evaluate: decodes as text, metrics of a set, the files, translate's lines."""

import json

import jax
import pytest
from helpers import tiny_config

from s2s_jax import checkpointing, evaluate, experiment
from s2s_jax.decoding.greedy import greedy_decode


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """An untrained tiny experiment with its initial state saved as step 0."""
    workdir = tmp_path_factory.mktemp("eval")
    config = tiny_config()
    exp = experiment.build(config, str(workdir))
    state = exp.initial_state()
    manager = checkpointing.make_manager(workdir, max_to_keep=1)
    checkpointing.save(manager, 0, state, exp.data.train_batches().state(), exp.model_cfg)
    manager.wait_until_finished()
    manager.close()
    return config, str(workdir), exp, state.params


def test_decode_texts_pads_to_the_mesh_and_keeps_the_rows(saved):
    """Three rows on eight devices decode as the unsharded greedy search decodes them."""
    _, _, exp, params = saved
    src_BxS = exp.data.encode_sources(["abc", "fed", "a"], [1, 2, 3])
    tokens, _ = greedy_decode(exp.model, params, src_BxS, max_len=exp.data.max_decode_len)
    expected = [exp.data.detokenize(row) for row in jax.device_get(tokens)]
    assert evaluate.decode_texts(exp, params, src_BxS) == expected


def test_evaluate_scores_every_pair(saved):
    _, _, exp, params = saved
    pairs = exp.data.eval_sets()["eval"][:40]  # Not a multiple of the eval batch (32).
    metrics, hyps = evaluate.evaluate(exp, params, pairs)
    assert len(hyps) == 40
    right = sum(h == t for h, (_, t) in zip(hyps, pairs, strict=True))
    assert metrics["exact_match"] == right / 40
    assert {"loss", "perplexity", "token_accuracy"} <= set(metrics)


def test_format_examples_and_hypothesis_file(tmp_path):
    pairs, hyps = [("ab", "ba"), ("c", "c")], ["ba", "x"]
    assert evaluate.format_examples(pairs, hyps, 5).splitlines() == [
        "  [ok ] 'ab' -> 'ba' (reference 'ba')",
        "  [ERR] 'c' -> 'x' (reference 'c')",
    ]
    evaluate.write_hypotheses(str(tmp_path / "h.tsv"), pairs, hyps)
    assert (tmp_path / "h.tsv").read_text().splitlines() == ["ab\tba\tba", "c\tx\tc"]


def test_translate_keeps_blank_lines_blank_and_writes_the_decodes(saved):
    config, workdir, exp, params = saved
    texts = ["abc", "", "   ", "fed"]
    out = evaluate.translate(config, workdir, texts)
    src_BxS = exp.data.encode_sources(["abc", "fed"], [1, 4])
    first, last = evaluate.decode_texts(exp, params, src_BxS)
    assert out == [("abc", first), ("", ""), ("   ", ""), ("fed", last)]
    with open(f"{workdir}/decode_step0.tsv", encoding="utf-8") as f:
        assert f.read().splitlines() == [f"abc\t{first}", "\t", "   \t", f"fed\t{last}"]


def test_run_eval_writes_every_set(saved):
    config, workdir, _, _ = saved
    results = evaluate.run_eval(config, workdir)
    with open(f"{workdir}/eval_step0.json", encoding="utf-8") as f:
        assert json.load(f) == {"step": 0, **results}
    assert list(results) == ["eval"]
