"""SentencePiece subword tokenizers that share the project's special ids.

Every model file trained here has PAD 0, BOS 1, EOS 2 and UNK 3 (`s2s_jax.vocab`), so a
model never needs to know which tokenizer produced its inputs, and `decode` has the same
contract as `CharVocab.decode`.

Choices, and why:

- Normalization: sentencepiece's rule is 'identity', and `encode` and training apply
  Unicode NFC in Python instead. The default rule 'nmt_nfkc' applies NFKC, which rewrites
  text a Korean corpus does contain: compatibility jamo ('ㅋ' U+314B becomes the conjoining
  'ᄏ' U+110F), '…' becomes '...', full-width '？' becomes '?'. Then decode(encode(x)) != x
  and BLEU is scored on altered hypotheses. Sentencepiece 0.2 has no built-in 'nfc' rule,
  hence NFC in Python: NFC text (what the cleaning step produces) comes back exactly, and
  decomposed Hangul (NFD, e.g. from macOS) is composed instead of turning into UNK jamo.
  Sentencepiece still drops leading and trailing spaces and collapses repeated spaces, so
  the round trip is exact for NFC text with single spaces between words. Only U+0020
  counts as a space: a tab, U+00A0 or U+3000 is an ordinary character.
- No byte fallback: a character never seen in training is UNK (id 3), and decodes to
  U+FFFD like `CharVocab`; a run of such characters inside a word is one UNK. Byte pieces
  would spend 256 ids and could decode to bytes that are not UTF-8. U+2581 ('▁'), which
  sentencepiece takes for a space wherever it occurs, is replaced by U+FFFD in training
  and `encode` alike, so it too decodes to U+FFFD instead of splitting a word in two.
- Determinism: one training thread (the learned pieces depend on the thread count, so it
  must be a constant, and one thread rules out any scheduling effect), every sentence used
  (no sampling, so no shuffle), and the model is written through `model_writer`, so the
  bytes do not depend on the output path. The same texts give the same .model bytes.
- Model types: 'unigram' and 'bpe' only. Sentencepiece's 'char' and 'word' models may end
  up with fewer pieces than `vocab_size`, which would break the size check of
  `load_or_train`; `s2s_jax.vocab.CharVocab` already covers characters.
- The options come from a config that `s2s_jax.config_checks` has validated (vocab_size
  an integer above the 4 special ids, character_coverage in (0, 1], model_type 'unigram'
  or 'bpe'), so they are not checked again here.
- A `vocab_size` the text cannot fill is a ConfigError naming `vocab_size` and the
  largest size that works (hard vocabulary limit), never a silently smaller vocabulary.
"""

import io
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence

import sentencepiece as spm
from absl import logging

from s2s_jax import atomic_write
from s2s_jax.errors import ConfigError, UserError
from s2s_jax.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, content_ids

UNK_SURFACE = "\N{REPLACEMENT CHARACTER}"  # What UNK decodes to, as in CharVocab.
_SPACE_MARK = "\N{LOWER ONE EIGHTH BLOCK}"  # U+2581: sentencepiece reads it as a space.
_NUM_THREADS = 1  # The pieces depend on the thread count: keep it constant (see above).


def _normalize(text: str) -> str:
    """NFC, and sentencepiece's space mark U+2581 as U+FFFD (see the module docstring)."""
    return unicodedata.normalize("NFC", text).replace(_SPACE_MARK, UNK_SURFACE)


class SubwordTokenizer:
    """A trained SentencePiece model: text <-> ids, with the project's special ids."""

    def __init__(self, path: str):
        if not os.path.isfile(path):
            raise UserError(f"no tokenizer model at {path}")
        self.path = path
        self._sp = spm.SentencePieceProcessor(model_file=path)
        got = (self._sp.pad_id(), self._sp.bos_id(), self._sp.eos_id(), self._sp.unk_id())
        if got != (PAD_ID, BOS_ID, EOS_ID, UNK_ID):
            raise UserError(
                f"tokenizer {path} has special ids (pad, bos, eos, unk) = {got}; s2s_jax needs "
                f"{(PAD_ID, BOS_ID, EOS_ID, UNK_ID)}: retrain it with train_tokenizer"
            )

    @property
    def size(self) -> int:
        """Number of ids, special ones included."""
        return self._sp.get_piece_size()

    @property
    def model_type(self) -> str:
        """'unigram' or 'bpe', as recorded in the model file."""
        from sentencepiece import sentencepiece_model_pb2  # Needs protobuf; only here.

        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(self._sp.serialized_model_proto())
        return sentencepiece_model_pb2.TrainerSpec.ModelType.Name(
            proto.trainer_spec.model_type
        ).lower()

    def encode(self, text: str) -> list[int]:
        """Text to ids, without BOS or EOS; unseen characters become UNK."""
        return self._sp.encode(_normalize(text))

    def decode(self, ids: Sequence[int]) -> str:
        """Ids to text, stopping at the first EOS and skipping PAD and BOS."""
        return self._sp.decode(content_ids(ids))

    def id_to_piece(self, i: int) -> str:
        return self._sp.id_to_piece(int(i))

    def piece_to_id(self, piece: str) -> int:
        return self._sp.piece_to_id(piece)

    def vocab_text(self) -> str:
        """One 'piece<TAB>score' line per id, like sentencepiece's .vocab files."""
        return "".join(
            f"{self._sp.id_to_piece(i)}\t{self._sp.get_score(i)}\n" for i in range(self.size)
        )


def _explain_training_error(
    error: RuntimeError, vocab_size: int, character_coverage: float
) -> ConfigError | None:
    """A ConfigError naming the field behind a sentencepiece training failure, or None."""
    message = str(error)
    if "Vocabulary size too high" in message:
        limit = re.search(r"<= (\d+)", message)
        most = f" at most {limit.group(1)}" if limit else " fewer"
        return ConfigError(
            f"vocab_size={vocab_size} is too large for the tokenizer's training text: it yields"
            f"{most} pieces; lower vocab_size or train on more text"
        )
    if "smaller than required_chars" in message:
        need = re.search(r"(\d+) vs (\d+)", message)
        chars = f" the {need.group(2)} pieces" if need else " the pieces"
        return ConfigError(
            f"vocab_size={vocab_size} is too small to hold{chars} (specials and characters) "
            f"that character_coverage={character_coverage} keeps; raise vocab_size or lower "
            "character_coverage"
        )
    if "sentences_.empty()" in message:
        return ConfigError("the tokenizer's training text is empty")
    return None


def train_tokenizer(
    texts: Iterable[str],
    path_prefix: str,
    vocab_size: int,
    *,
    character_coverage: float = 0.9995,
    model_type: str = "unigram",
) -> SubwordTokenizer:
    """Trains a tokenizer on `texts`; writes `path_prefix`.model (and a readable .vocab).

    Args:
      texts: training sentences, one per item (NFC is applied here).
      path_prefix: where to write, without the extension.
      vocab_size: number of ids, the four special ones included; exactly this many.
      character_coverage: fraction of the characters of `texts` that get their own piece;
        the rarest rest are UNK (1.0 keeps every character; 0.9995 suits Korean).
      model_type: 'unigram' or 'bpe'.

    Deterministic: the same texts and options give the same .model bytes.
    """
    model = io.BytesIO()
    start = time.time()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=(_normalize(t) for t in texts),
            model_writer=model,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            normalization_rule_name="identity",  # NFC is done in Python; see the docstring.
            byte_fallback=False,
            hard_vocab_limit=True,
            pad_id=PAD_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            unk_id=UNK_ID,
            pad_piece=SPECIALS[PAD_ID],
            bos_piece=SPECIALS[BOS_ID],
            eos_piece=SPECIALS[EOS_ID],
            unk_piece=SPECIALS[UNK_ID],
            unk_surface=UNK_SURFACE,
            num_threads=_NUM_THREADS,
            input_sentence_size=0,  # Every sentence: no sampling, so nothing random.
            shuffle_input_sentence=False,
            minloglevel=2,  # Errors only; sentencepiece's progress lines are noise here.
        )
    except RuntimeError as error:
        explained = _explain_training_error(error, vocab_size, character_coverage)
        if explained is None:
            raise
        raise explained from error
    path = f"{path_prefix}.model"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write.write_bytes(path, model.getvalue())
    tokenizer = SubwordTokenizer(path)
    atomic_write.write_bytes(f"{path_prefix}.vocab", tokenizer.vocab_text().encode("utf-8"))
    logging.info(
        "Trained a %s tokenizer of %d pieces in %.1f s: %s",
        model_type,
        tokenizer.size,
        time.time() - start,
        path,
    )
    return tokenizer


def load_or_train(
    directory: str,
    name: str,
    texts_fn: Callable[[], Iterable[str]],
    vocab_size: int,
    *,
    character_coverage: float = 0.9995,
    model_type: str = "unigram",
) -> SubwordTokenizer:
    """The tokenizer `directory`/`name`.model: loaded if it exists, else trained there.

    `texts_fn` is called only when training is needed, so a restored model translates
    without reading (or re-cleaning) its training data. A saved model whose size or type
    differs from the request is a ConfigError naming the file and both values.
    """
    prefix = os.path.join(directory, name)
    path = f"{prefix}.model"
    if not os.path.exists(path):
        return train_tokenizer(
            texts_fn(),
            prefix,
            vocab_size,
            character_coverage=character_coverage,
            model_type=model_type,
        )
    tokenizer = SubwordTokenizer(path)
    if tokenizer.size != vocab_size:
        raise ConfigError(
            f"tokenizer {path} has {tokenizer.size} pieces but vocab_size={vocab_size} was "
            f"requested; set vocab_size={tokenizer.size}, or delete the file to retrain it"
        )
    if tokenizer.model_type != model_type:
        raise ConfigError(
            f"tokenizer {path} is a {tokenizer.model_type!r} model but model_type="
            f"{model_type!r} was requested; set model_type={tokenizer.model_type!r}, or "
            "delete the file to retrain it"
        )
    logging.info("Loaded the tokenizer %s (%d pieces)", path, tokenizer.size)
    return tokenizer
