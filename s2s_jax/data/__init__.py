"""Datasets: what the trainer needs from one (base.py), and the kinds a config can name.

- `config.task`: a generated task (generated.py);
- `config.data`: parallel text (translation.py), read through TFDS (tfds_reader.py,
  en_ko.py), cleaned (text_cleaning.py), tokenized (tokenizer.py), bucketed
  (batching.py) and scored (translation_metrics.py);
- `config.synthetic`: random token ids of fixed shape, for benchmarks (synthetic.py).
"""

import ml_collections

from s2s_jax import distributed
from s2s_jax.data.base import Batch, Data, Pair, TrainBatches

__all__ = ["KINDS", "Batch", "Data", "Pair", "TrainBatches", "make_data"]

KINDS = ("task", "data", "synthetic")  # The config block that names the dataset; exactly one.


def make_data(config: ml_collections.ConfigDict, workdir: str) -> Data:
    """The dataset a config asks for; translation data keeps its tokenizers in `workdir`.

    The batches (which examples, in which order, how many rows) follow from the config
    alone, never from the device count: a run resumes on another number of devices with the
    same data position (config_checks makes the mesh's 'data' axis divide the rows).
    Each kind is imported only when named: translation data imports TFDS.
    """
    if "task" in config:
        from s2s_jax.data.generated import GeneratedData

        return GeneratedData(config)
    if "synthetic" in config:
        from s2s_jax.data.synthetic import SyntheticData

        return SyntheticData(config)
    from s2s_jax.data.translation import TranslationData

    # Process 0 first: it prepares the corpora and trains the tokenizers the others then read.
    return distributed.writer_first(lambda: TranslationData(config, workdir))
