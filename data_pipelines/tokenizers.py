"""Tokenizers: BERT WordPiece vocabularies, SentencePiece models and GPT-2's
byte-level BPE.

All kinds expose the same small `Tokenizer` protocol: `encode` turns text into
ids without adding special tokens (instance builders add [CLS]/[SEP] or the
end-of-text token), and the special tokens are looked up by name, so a
vocabulary that lacks one is rejected at load time rather than producing wrong
ids later. A byte-level BPE vocabulary has only GPT-2's `<|endoftext|>`: its
[UNK], [CLS], [SEP] and [MASK] raise `InputError` when asked for, so an
objective that needs them fails at its first use with one clear line.
`encode_with_offsets` gives the same ids plus, per id, the span of the original
text it came from, so that span tasks (SQuAD) can map predicted tokens back to
the text with its original casing, accents and spacing.

Files are read through `tf.io.gfile`, so `gs://` paths work.
"""

import json
import os
import re
import types
import unicodedata
from typing import Any, Collection, Mapping, Protocol, Sequence

from data_pipelines import tf_cpu
from lm_jax.errors import InputError

SPECIAL_TOKENS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
# GPT-2's one special token: it ends each document of a causal LM's stream.
EOT_TOKEN = '<|endoftext|>'

# Other names of the special tokens in SentencePiece models (ALBERT's).
_SPM_ALIASES = {'[PAD]': '<pad>', '[UNK]': '<unk>'}

# BERT maps any word longer than this to [UNK] instead of splitting it.
_MAX_WORD_CHARS = 100

# A basic token with, per character, its start and end in the original text.
_SpannedToken = tuple[str, list[int], list[int]]


class Tokenizer(Protocol):
  """What the data pipeline needs from a tokenizer.

  A byte-level BPE vocabulary has no [UNK], [CLS], [SEP] or [MASK]: reading
  `unk_id`, `cls_id`, `sep_id` or `mask_id` raises `InputError`.
  """

  vocab_size: int
  pad_id: int
  unk_id: int
  cls_id: int
  sep_id: int
  mask_id: int
  # The end of text that separates documents in a causal LM's packed stream.
  eot_id: int

  def encode(self, text: str) -> list[int]:
    """Text to ids, with no special tokens added."""

  def encode_with_offsets(
      self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """`encode(text)` and, per id, its (start, end) character span in `text`.

    Spans never hold leading or trailing whitespace; a token that stands for
    no character of `text` gets an empty span (start == end).
    """

  def decode(self, ids: Sequence[int]) -> str:
    """Ids back to text; special tokens are shown by name."""

  def id_to_token(self, i: int) -> str:
    """The vocabulary entry for one id."""


def gfile() -> types.ModuleType:
  """`tf.io.gfile`: local and gs:// paths alike."""
  return tf_cpu.tf().io.gfile


def _read_bytes(path: str, what: str) -> bytes:
  """Reads a whole file, raising `InputError` if it is missing or unreadable.

  Args:
    path: local or `gs://` path.
    what: what the file is, for the error message (e.g. 'vocab file').
  """
  gf = gfile()
  if not gf.exists(path):
    raise InputError(f'{what} {path} does not exist')
  if gf.isdir(path):
    raise InputError(f'{what} {path} is a directory')
  try:
    with gf.GFile(path, 'rb') as f:
      return f.read()
  except Exception as e:  # tf.errors.OpError and OSError, whatever the FS.
    raise InputError(f'cannot read {what} {path}: {_one_line(e)}') from e


def _one_line(e: Exception) -> str:
  return ' '.join(str(e).split()) or type(e).__name__


# Character classes, as BERT defines them.


def is_whitespace(char: str) -> bool:
  """Space, tab, newline, carriage return or a Unicode space separator."""
  return char in ' \t\n\r' or unicodedata.category(char) == 'Zs'


def is_control(char: str) -> bool:
  """A Unicode control/format/other char; tab, newline and CR count as space."""
  if char in '\t\n\r':
    return False
  return unicodedata.category(char).startswith('C')


def is_punctuation(char: str) -> bool:
  """Unicode punctuation, plus all ASCII symbols such as '$' and '`'."""
  cp = ord(char)
  if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
    return True
  return unicodedata.category(char).startswith('P')


def _is_cjk(cp: int) -> bool:
  """CJK Unified Ideographs blocks (not Hiragana, Katakana or Hangul)."""
  return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or
          0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F or
          0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or
          0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class BasicTokenizer:
  """BERT's first stage: cleans text and splits it into words and punctuation.

  Each CJK ideograph becomes its own word, since those scripts have no spaces.
  """

  def __init__(self, lowercase: bool = True):
    self.lowercase = lowercase

  def tokenize(self, text: str) -> list[str]:
    chars = []
    for char in text:
      cp = ord(char)
      if cp == 0 or cp == 0xFFFD or is_control(char):
        continue
      if is_whitespace(char):
        chars.append(' ')
      elif _is_cjk(cp):
        chars.append(f' {char} ')
      else:
        chars.append(char)
    words = []
    for word in ''.join(chars).split():
      if self.lowercase:
        word = _strip_accents(word.lower())
      words.extend(_split_on_punctuation(word))
    return words

  def tokenize_with_spans(self, text: str) -> list[_SpannedToken]:
    """`tokenize(text)` with the span in `text` of each token character.

    Returns one (token, starts, ends) per token: `text[starts[k]:ends[k]]` is
    where the token's k-th character came from. Lowercasing and accent
    stripping almost always keep one output character per input character
    (accents vanish), so each character maps back exactly; a combining mark
    that vanishes is given to the character before it, and an input character
    that becomes several (a Hangul syllable split into jamo) gives its span to
    each of them. Should a word's characters not line up one by one, every
    character of its tokens gets the whole word's span.
    """
    tokens = []
    word = []  # Indices in `text` of the current word's kept characters.
    for i, char in enumerate(text):
      cp = ord(char)
      if cp == 0 or cp == 0xFFFD or is_control(char):
        continue  # Dropped, as in `tokenize`; it does not end a word.
      # `tokenize` maps BERT's whitespace to ' ' and then str.split() also
      # breaks at the other Unicode spaces (U+2028, U+2029).
      if is_whitespace(char) or char.isspace():
        tokens += self._word_tokens(text, word)
        word = []
      elif _is_cjk(cp):
        tokens += self._word_tokens(text, word)
        tokens += self._word_tokens(text, [i])
        word = []
      else:
        word.append(i)
    tokens += self._word_tokens(text, word)
    return tokens

  def _word_tokens(self, text: str,
                   indices: list[int]) -> list[_SpannedToken]:
    """The tokens of one word, the characters `indices` of `text`."""
    if not indices:
      return []
    word = ''.join(text[i] for i in indices)
    if not self.lowercase:
      out, starts, ends = word, indices, [i + 1 for i in indices]
    elif word.isascii():
      out, starts, ends = word.lower(), indices, [i + 1 for i in indices]
    else:
      out = _strip_accents(word.lower())
      starts, ends = _align_chars(
          indices, [_strip_accents(text[i].lower()) for i in indices],
          len(out))
    tokens = []
    begin = 0
    for piece in _split_on_punctuation(out):
      end = begin + len(piece)
      tokens.append((piece, starts[begin:end], ends[begin:end]))
      begin = end
    return tokens


def _align_chars(indices: list[int], per_char: list[str],
                 out_len: int) -> tuple[list[int], list[int]]:
  """Original spans of the `out_len` characters a word was transformed into.

  Args:
    indices: positions in the original text of the word's characters.
    per_char: what each of those characters becomes on its own.
    out_len: the length of the transformed word.
  """
  if sum(len(c) for c in per_char) != out_len:
    # Word-level casing did not match character-level casing in length (no
    # such case is known): fall back to the whole word.
    whole = (indices[0], indices[-1] + 1)
    return [whole[0]] * out_len, [whole[1]] * out_len
  starts, ends = [], []
  last = 0  # How many output characters the last visible character made.
  for i, out in zip(indices, per_char):
    if out:
      last = len(out)
      starts += [i] * last
      ends += [i + 1] * last
    elif last:
      # A vanished accent belongs with the character it decorates.
      ends[-last:] = [i + 1] * last
  return starts, ends


def _strip_accents(text: str) -> str:
  return ''.join(c for c in unicodedata.normalize('NFD', text)
                 if unicodedata.category(c) != 'Mn')


def _split_on_punctuation(word: str) -> list[str]:
  """'a,b!' -> ['a', ',', 'b', '!']: every punctuation char stands alone."""
  pieces = []
  start = 0
  for i, char in enumerate(word):
    if is_punctuation(char):
      if start < i:
        pieces.append(word[start:i])
      pieces.append(char)
      start = i + 1
  if start < len(word):
    pieces.append(word[start:])
  return pieces


class WordpieceSplitter:
  """BERT's second stage: greedy longest-match-first split into vocab pieces.

  Pieces after the first in a word carry a '##' prefix. A word that is too
  long, or that cannot be covered entirely by pieces, becomes one unknown.
  """

  def __init__(self, vocab: Collection[str], unk_token: str):
    self._vocab = vocab
    self._unk = unk_token
    # No piece is longer than the longest vocab entry, so this bounds the
    # search and keeps long words from costing O(n^2) lookups.
    self._max_piece_chars = max((len(t) for t in vocab), default=0)

  def tokenize(self, text: str) -> list[str]:
    pieces = []
    for word in text.split():
      if len(word) > _MAX_WORD_CHARS:
        pieces.append(self._unk)
      else:
        pieces.extend(self._split_word(word))
    return pieces

  def tokenize_with_spans(self, text: str) -> list[tuple[str, int, int]]:
    """`tokenize(text)`, each piece with its (start, end) in `text`.

    A piece's span is the part of `text` it spells ('##' aside); an unknown
    spans its whole word.
    """
    pieces = []
    # \S+ breaks where str.split() does: both use Python's isspace.
    for match in re.finditer(r'\S+', text):
      word, begin = match.group(), match.start()
      if len(word) > _MAX_WORD_CHARS:
        pieces.append((self._unk, begin, match.end()))
        continue
      word_pieces = self._split_word(word)
      if word_pieces == [self._unk]:
        pieces.append((self._unk, begin, match.end()))
        continue
      for piece in word_pieces:
        end = begin + len(piece) - (2 if piece.startswith('##') and
                                    begin > match.start() else 0)
        pieces.append((piece, begin, end))
        begin = end
    return pieces

  def _split_word(self, word: str) -> list[str]:
    pieces = []
    start = 0
    while start < len(word):
      end = min(len(word), start + self._max_piece_chars)
      while end > start:
        piece = word[start:end] if start == 0 else '##' + word[start:end]
        if piece in self._vocab:
          break
        end -= 1
      else:
        return [self._unk]
      pieces.append(piece)
      start = end
    return pieces


def _special_ids(lookup: Mapping[str, int], path: str, kind: str) -> list[int]:
  missing = [t for t in SPECIAL_TOKENS if t not in lookup]
  if missing:
    raise InputError(
        f'{kind} {path} lacks special token(s) {", ".join(missing)}')
  return [lookup[t] for t in SPECIAL_TOKENS]


class WordPieceTokenizer:
  """A BERT `vocab.txt` tokenizer (one token per line, id = line number)."""

  def __init__(self, vocab_path: str, lowercase: bool = True):
    self._tokens = _read_vocab(vocab_path)
    self._ids = {t: i for i, t in enumerate(self._tokens)}
    self.vocab_size = len(self._tokens)
    (self.pad_id, self.unk_id, self.cls_id, self.sep_id,
     self.mask_id) = _special_ids(self._ids, vocab_path, 'vocab file')
    self.eot_id = self.sep_id  # [SEP] ends a text, as BERT uses it.
    self._basic = BasicTokenizer(lowercase)
    self._wordpiece = WordpieceSplitter(self._ids, '[UNK]')

  def tokenize(self, text: str) -> list[str]:
    """Text to word pieces (strings)."""
    pieces = []
    for word in self._basic.tokenize(text):
      pieces.extend(self._wordpiece.tokenize(word))
    return pieces

  def encode(self, text: str) -> list[int]:
    return [self._ids[p] for p in self.tokenize(text)]

  def encode_with_offsets(
      self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """`encode(text)` and each id's (start, end) character span in `text`.

    Each word piece gets the exact characters it spells: from the first
    original character that produced it to the last, a combining accent that
    accent stripping removed counting with the character before it. Pieces of
    a word the vocabulary cannot cover ([UNK]) share the word's span. See
    `BasicTokenizer.tokenize_with_spans` for the rare exceptions.
    """
    ids, spans = [], []
    for token, starts, ends in self._basic.tokenize_with_spans(text):
      for piece, begin, end in self._wordpiece.tokenize_with_spans(token):
        ids.append(self._ids[piece])
        spans.append((starts[begin], ends[end - 1]))
    return ids, spans

  def decode(self, ids: Sequence[int]) -> str:
    text = ' '.join(self.id_to_token(i) for i in ids)
    return text.replace(' ##', '')

  def id_to_token(self, i: int) -> str:
    if not 0 <= i < self.vocab_size:
      raise IndexError(f'id {i} is outside the vocabulary [0, '
                       f'{self.vocab_size})')
    return self._tokens[i]


def _read_vocab(path: str) -> list[str]:
  """Reads vocab.txt lines as BERT does (stripped), rejecting duplicates."""
  data = _read_bytes(path, 'vocab file')
  try:
    text = data.decode('utf-8')
  except UnicodeDecodeError as e:
    raise InputError(f'vocab file {path} is not UTF-8 (byte {e.start})') from e
  # Split on '\n' only: str.splitlines would also split on characters such as
  # U+2028 that can legitimately appear inside a token.
  lines = text.split('\n')
  if lines[-1] == '':
    lines.pop()  # The final newline does not start another token.
  tokens = [line.strip() for line in lines]
  if not tokens:
    raise InputError(f'vocab file {path} is empty')
  first_line = {}
  for line_number, token in enumerate(tokens, start=1):
    if token in first_line:
      raise InputError(
          f'vocab file {path} repeats token {token!r} on lines '
          f'{first_line[token]} and {line_number}')
    first_line[token] = line_number
  return tokens


class SentencePieceTokenizer:
  """A trained SentencePiece model whose vocabulary holds the special tokens.

  With `lowercase`, text is first prepared as ALBERT's released models
  expect (its tokenizer's do_lower_case, keep_accents=False): `` and '' become
  ", accents are stripped (NFKD, combining marks dropped) and letters
  lower-cased; offsets still point into the original text.
  """

  def __init__(self, model_path: str, lowercase: bool = False):
    self.lowercase = lowercase
    import sentencepiece as spm  # pylint: disable=g-import-not-at-top
    data = _read_bytes(model_path, 'SentencePiece model')
    self._sp = spm.SentencePieceProcessor()
    try:
      self._sp.LoadFromSerializedProto(data)
    except Exception as e:  # The bindings raise RuntimeError; be safe.
      raise InputError(
          f'SentencePiece model {model_path} is corrupt or not a model: '
          f'{_one_line(e)}') from e
    self.vocab_size = self._sp.get_piece_size()
    # piece_to_id returns the unk id for unknown pieces, so check round trips.
    found = {}
    for token in SPECIAL_TOKENS:
      # ALBERT's models name padding and the unknown piece <pad> and <unk>.
      for piece in (token, _SPM_ALIASES.get(token)):
        i = self._sp.piece_to_id(piece) if piece else None
        if i is not None and self._sp.id_to_piece(i) == piece:
          found[token] = i
          break
    (self.pad_id, self.unk_id, self.cls_id, self.sep_id,
     self.mask_id) = _special_ids(found, model_path, 'SentencePiece model')
    self.eot_id = self.sep_id  # [SEP] ends a text, as BERT uses it.
    self._special_ids = frozenset(found.values())

  def _prepare(self, text: str) -> tuple[str, list[int]]:
    """The text SentencePiece reads and, per character of it, the index of
    the original character it came from (and one past the end)."""
    if not self.lowercase:
      return text, list(range(len(text) + 1))
    out, origin = [], []
    i = 0
    while i < len(text):
      if text[i:i + 2] in ('``', "''"):
        out.append('"')
        origin.append(i)
        i += 2
        continue
      for char in unicodedata.normalize('NFKD', text[i]).lower():
        if not unicodedata.combining(char):
          out.append(char)
          origin.append(i)
      i += 1
    return ''.join(out), origin + [len(text)]

  def encode(self, text: str) -> list[int]:
    return self._sp.encode(self._prepare(text)[0])

  def encode_with_offsets(
      self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """`encode(text)` and each id's (start, end) character span in `text`.

    The spans are SentencePiece's own (which undo its normalisation), less
    the whitespace that a piece's leading U+2581 stands for: a lone U+2581
    piece gets an empty span just before the next word. A piece given no
    characters (SentencePiece gives all of a character that became several
    pieces, such as the ligature U+FB01, to the last of them) gets an empty
    span too.
    """
    # pylint: disable-next=g-import-not-at-top
    from sentencepiece import sentencepiece_pb2
    # The serialized proto is the one form with offsets that every
    # SentencePiece 0.2.x offers; its offsets count UTF-8 bytes.
    prepared, origin = self._prepare(text)
    proto = sentencepiece_pb2.SentencePieceText.FromString(
        self._sp.encode(prepared, out_type='serialized_proto'))
    char_at_byte = _char_at_byte(prepared)
    ids, spans = [], []
    for piece in proto.pieces:
      ids.append(piece.id)
      start = origin[char_at_byte[piece.begin]]
      # An end inside a character (byte fallback) takes the whole character.
      end = (origin[char_at_byte[piece.end - 1]] + 1 if piece.end > piece.begin
             else start)
      while start < end and text[start].isspace():
        start += 1
      while end > start and text[end - 1].isspace():
        end -= 1
      spans.append((start, end))
    return ids, spans

  def decode(self, ids: Sequence[int]) -> str:
    # SentencePiece decodes control symbols to '', which would hide [MASK]
    # and friends; decode ordinary runs and name the specials in between.
    parts = []
    run = []
    for i in ids:
      if i in self._special_ids:
        if run:
          parts.append(self._sp.decode(run))
          run = []
        parts.append(self.id_to_token(i))
      else:
        run.append(i)
    if run:
      parts.append(self._sp.decode(run))
    return ' '.join(parts)

  def id_to_token(self, i: int) -> str:
    if not 0 <= i < self.vocab_size:
      raise IndexError(f'id {i} is outside the vocabulary [0, '
                       f'{self.vocab_size})')
    return self._sp.id_to_piece(i)


def _char_at_byte(text: str) -> list[int]:
  """For each UTF-8 byte offset of `text` (and its end), the character there."""
  if text.isascii():
    return list(range(len(text) + 1))
  index = []
  for i, char in enumerate(text):
    index += [i] * len(char.encode('utf-8'))
  index.append(len(text))
  return index


# GPT-2's byte-level BPE.

# GPT-2's pre-tokenizer and decoder as a tokenizer.json writes them: GPT-2's
# regex splits the text, no space is added in front of it, and each UTF-8
# byte is one symbol.
_BYTE_LEVEL = {'type': 'ByteLevel', 'add_prefix_space': False,
               'trim_offsets': True, 'use_regex': True}


def byte_level_bpe_json(vocab: Mapping[str, int],
                        merges: Sequence[tuple[str, str]]) -> str:
  """The `tokenizer.json` text of GPT-2's byte-level BPE with this vocabulary.

  The text depends on `vocab` and `merges` alone, not on the installed
  `tokenizers` version, so the id of a vocabulary (a hash of its file) stays
  the same. Merges are written as 'a b' strings, which every version reads
  (byte-level symbols hold no space). `<|endoftext|>`, if in `vocab`, is
  declared a special token.

  Args:
    vocab: token -> id.
    merges: the merges, highest priority first.
  """
  added = [{'id': vocab[EOT_TOKEN], 'content': EOT_TOKEN, 'single_word': False,
            'lstrip': False, 'rstrip': False, 'normalized': False,
            'special': True}] if EOT_TOKEN in vocab else []
  model = {'type': 'BPE', 'dropout': None, 'unk_token': None,
           'continuing_subword_prefix': None, 'end_of_word_suffix': None,
           'fuse_unk': False, 'byte_fallback': False,
           'vocab': dict(sorted(vocab.items(), key=lambda item: item[1])),
           'merges': [f'{a} {b}' for a, b in merges]}
  return json.dumps({'version': '1.0', 'truncation': None, 'padding': None,
                     'added_tokens': added, 'normalizer': None,
                     'pre_tokenizer': _BYTE_LEVEL, 'post_processor': None,
                     'decoder': _BYTE_LEVEL, 'model': model},
                    ensure_ascii=False, separators=(',', ':'))


class ByteLevelBPETokenizer:
  """GPT-2's byte-level BPE: a `tokenizer.json` (Hugging Face's format), or a
  GPT-2 `vocab.json` with its `merges.txt` beside it.

  `encode` gives GPT-2's ids: GPT-2's regex splits the text (no space added in
  front), each UTF-8 byte is a symbol, and BPE merges them by rank. Any text
  is encodable and `decode` gives it back exactly. The text '<|endoftext|>'
  is encoded as ordinary text, as GPT-2's own encoder does, so that a
  document cannot forge a document break: only instance builders put
  `eot_id` into a stream.

  A `tokenizer.json` is used as written (its normalizer, pre-tokenizer and
  decoder), provided it holds a BPE model with a byte-level decoder; the
  files this project writes (`byte_level_bpe_json`) are exactly GPT-2's, and
  a vocab.json + merges.txt pair is read as such a file.

  `pad_id` is `eot_id` (GPT-2's convention). There is no [UNK] (every byte
  has a symbol), [CLS], [SEP] or [MASK]: asking for one raises `InputError`.

  Attributes:
    files: the files read: (tokenizer.json,) or (vocab.json, merges.txt).
    tokenizer_json: the vocabulary as one tokenizer.json text (for a
      vocab.json + merges.txt pair, what they convert to).
  """

  def __init__(self, path: str):
    import tokenizers as hf  # pylint: disable=g-import-not-at-top
    self._path = path
    data = _read_bytes(path, 'BPE vocabulary')
    try:
      text = data.decode('utf-8-sig')
    except UnicodeDecodeError as e:
      raise InputError(
          f'BPE vocabulary {path} is not UTF-8 (byte {e.start})') from e
    try:
      content = json.loads(text)
    except json.JSONDecodeError as e:
      raise InputError(f'BPE vocabulary {path} is not JSON: {e.msg} at line '
                       f'{e.lineno} column {e.colno}') from e
    if isinstance(content, dict) and isinstance(content.get('model'), dict):
      _check_tokenizer_json(content, path)
      self.files = (path,)
      self.tokenizer_json = text
    else:
      merges_path = os.path.join(os.path.dirname(path), 'merges.txt')
      vocab = _vocab_json(content, path)
      self.files = (path, merges_path)
      self.tokenizer_json = byte_level_bpe_json(vocab,
                                                _read_merges(merges_path))
    try:
      self._hf = hf.Tokenizer.from_str(self.tokenizer_json)
    except Exception as e:  # The bindings raise their own Exception.
      raise InputError(f'cannot load BPE vocabulary '
                       f'{" with ".join(self.files)}: {_one_line(e)}') from e
    # A tokenizer.json may ask for truncation or padding; encode gives all.
    self._hf.no_truncation()
    self._hf.no_padding()
    # '<|endoftext|>' in the text is text (see the class docstring).
    self._hf.encode_special_tokens = True
    ids = self._hf.get_vocab(with_added_tokens=True)
    self.vocab_size = len(ids)
    if set(ids.values()) != set(range(self.vocab_size)):
      raise InputError(f'BPE vocabulary {path} does not number its '
                       f'{self.vocab_size} tokens 0 to {self.vocab_size - 1}')
    if EOT_TOKEN not in ids:
      raise InputError(f'BPE vocabulary {path} has no {EOT_TOKEN} token (the '
                       'end of text between documents)')
    self.eot_id = self.pad_id = ids[EOT_TOKEN]
    missing = sorted(set(hf.pre_tokenizers.ByteLevel.alphabet()) - set(ids))
    if missing:
      # BPE without an [UNK] would drop such bytes from the text silently.
      raise InputError(f'BPE vocabulary {path} lacks {len(missing)} of the 256 '
                       f'byte symbols (such as {missing[0]!r}), so it cannot '
                       'encode every text')

  def _no_token(self, name: str) -> InputError:
    return InputError(
        f'the byte-level BPE vocabulary {self._path} has no {name} token: '
        'masked-LM objectives (electra, mlm, distillation) and BERT-style '
        'fine-tuning need a sentencepiece or wordpiece vocabulary')

  @property
  def unk_id(self) -> int:
    raise self._no_token('[UNK]')

  @property
  def cls_id(self) -> int:
    raise self._no_token('[CLS]')

  @property
  def sep_id(self) -> int:
    raise self._no_token('[SEP]')

  @property
  def mask_id(self) -> int:
    raise self._no_token('[MASK]')

  def encode(self, text: str) -> list[int]:
    return self._hf.encode(text, add_special_tokens=False).ids

  def encode_with_offsets(
      self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """`encode(text)` and each id's (start, end) character span in `text`.

    A piece spans the characters its bytes came from, less the whitespace
    that its leading 'Ġ' (or a piece of spaces, tabs or newlines) stands for:
    a piece of whitespace alone gets an empty span where the whitespace
    ends. A character whose UTF-8 bytes are split among pieces (an emoji or
    a CJK character that is not one token) is given whole to each of them,
    so such pieces share it: a span task then finds all of them at that
    character.
    """
    encoding = self._hf.encode(text, add_special_tokens=False)
    spans = []
    # The bindings count characters (the bytes of a split character all map
    # to the whole of it), not bytes.
    for start, end in encoding.offsets:
      while start < end and text[start].isspace():
        start += 1
      while end > start and text[end - 1].isspace():
        end -= 1
      spans.append((start, end))
    return encoding.ids, spans

  def decode(self, ids: Sequence[int]) -> str:
    ids = [int(i) for i in ids]
    for i in ids:
      self._check_id(i)
    # A cut through a character's bytes decodes to U+FFFD.
    return self._hf.decode(ids, skip_special_tokens=False)

  def id_to_token(self, i: int) -> str:
    self._check_id(i)
    return self._hf.id_to_token(i)

  def _check_id(self, i: int) -> None:
    # The bindings drop unknown ids silently.
    if not 0 <= i < self.vocab_size:
      raise IndexError(f'id {i} is outside the vocabulary [0, '
                       f'{self.vocab_size})')


def _check_tokenizer_json(content: Mapping[str, Any], path: str) -> None:
  """Refuses a tokenizer.json that is not a byte-level BPE."""
  model = content['model']
  # Old files may leave out the type of a BPE model.
  model_type = model.get('type', 'BPE' if 'merges' in model else None)
  if model_type != 'BPE':
    raise InputError(f'tokenizer.json {path} holds a {model_type} model, '
                     'not BPE')
  decoder = content.get('decoder') or {}
  if decoder.get('type') != 'ByteLevel':
    raise InputError(f'tokenizer.json {path} has a {decoder.get("type")} '
                     'decoder, not ByteLevel: it is not a byte-level BPE')


def _vocab_json(content: Any, path: str) -> dict[str, int]:
  """The token ids of a GPT-2 vocab.json, checked."""
  if not isinstance(content, dict) or not all(
      isinstance(i, int) and not isinstance(i, bool)
      for i in content.values()):
    raise InputError(f'BPE vocabulary {path} is neither a tokenizer.json nor a '
                     'vocab.json (an object of token ids)')
  return content


def _read_merges(path: str) -> list[tuple[str, str]]:
  """The merges of a GPT-2 merges.txt: a '#version' line, then 'a b' lines."""
  data = _read_bytes(path, 'BPE merges file')
  try:
    text = data.decode('utf-8-sig')
  except UnicodeDecodeError as e:
    raise InputError(
        f'BPE merges file {path} is not UTF-8 (byte {e.start})') from e
  merges = []
  # Byte-level symbols hold no whitespace: '\n' and ' ' are separators only.
  for number, line in enumerate(text.split('\n'), start=1):
    line = line.rstrip('\r')
    if not line or (number == 1 and line.startswith('#version')):
      continue
    pair = line.split(' ')
    if len(pair) != 2 or not all(pair):
      raise InputError(f'BPE merges file {path} line {number} is not two '
                       f'symbols separated by a space: {line!r}')
    merges.append((pair[0], pair[1]))
  return merges


def load_tokenizer(kind: str, path: str,
                   lowercase: bool | None = None) -> Tokenizer:
  """Loads a tokenizer of `kind` from `path`.

  Args:
    kind: 'sentencepiece' (a `.model`), 'wordpiece' (a BERT `vocab.txt`) or
      'bpe' (GPT-2's byte-level BPE: a `tokenizer.json`, or a `vocab.json`
      with its `merges.txt` beside it).
    path: local or `gs://` path.
    lowercase: WordPiece: BERT's lower-casing and accent stripping (None:
      on); SentencePiece: ALBERT's preparation of the text (None: off); a
      BPE vocabulary carries its own normalisation. Take it from a run's
      config with `data_pipelines.vocabulary.lowercases`.
  """
  if kind == 'wordpiece':
    return WordPieceTokenizer(path, lowercase=lowercase is not False)
  if kind == 'sentencepiece':
    return SentencePieceTokenizer(path, lowercase=bool(lowercase))
  if kind == 'bpe':
    return ByteLevelBPETokenizer(path)
  raise InputError(
      f'unknown tokenizer kind {kind!r} for {path} (expected sentencepiece, '
      'wordpiece or bpe)')
