"""data_pipelines.tokenizers.ByteLevelBPETokenizer: GPT-2's byte-level BPE.

No GPT-2 vocabulary is downloaded: GPT-2's ids are checked on a hand-made
vocabulary and, on a trained one, against an independent encoder written
here from GPT-2's definition (its regex, its byte symbols, merges by rank).
"""

import json
import math
import pathlib
import random
import re

import pytest

from conftest import assert_one_line
from data_pipelines import bpe_training
from data_pipelines import tokenizers
from lm_jax.errors import InputError

EOT = '<|endoftext|>'
# GPT-2's pre-tokenizer: contractions, letters, numbers, other symbols, each
# with at most one space in front; a run of spaces gives its last to the
# word after it.
GPT2_PATTERN = (r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+"""
                r"""| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def _byte_symbols() -> list[str]:
  """GPT-2's symbol for each byte: a printable Latin-1 byte stands for itself,
  the others (controls, space, ...) take U+0100, U+0101, ... in byte order."""
  printable = {*range(ord('!'), ord('~') + 1), *range(ord('\u00A1'), 0xAD),
               *range(ord('\u00AE'), 0x100)}
  symbols, extra = [], 0
  for byte in range(256):
    if byte in printable:
      symbols.append(chr(byte))
    else:
      symbols.append(chr(0x100 + extra))
      extra += 1
  return symbols


BYTE_SYMBOLS = _byte_symbols()
SPACE = BYTE_SYMBOLS[ord(' ')]  # 'Ġ'

# The toy vocabulary and merges of the GPT-2 tokenizer tests. The other byte
# symbols and <|endoftext|> follow, so that the toy's ids stay as they are.
TOY_TOKENS = ['l', 'o', 'w', 'e', 'r', 's', 't', 'i', 'd', 'n', '\u0120',
              '\u0120l', '\u0120n', '\u0120lo', '\u0120low', 'er',
              '\u0120lowest', '\u0120newer', '\u0120wider', '<unk>']
TOY_MERGES = ['#version: 0.2', '\u0120 l', '\u0120l o', '\u0120lo w', 'e r']


def write_gpt2_files(directory: pathlib.Path, tokens: list[str],
                     merges: list[str]) -> str:
  """Writes vocab.json (these tokens, ids in order) and merges.txt."""
  directory.mkdir(parents=True, exist_ok=True)
  vocab = {t: i for i, t in enumerate(tokens)}
  (directory / 'vocab.json').write_text(json.dumps(vocab), encoding='utf-8')
  (directory / 'merges.txt').write_text('\n'.join(merges) + '\n',
                                        encoding='utf-8')
  return str(directory / 'vocab.json')


def _toy_tokens() -> list[str]:
  return TOY_TOKENS + [s for s in BYTE_SYMBOLS if s not in TOY_TOKENS] + [EOT]


@pytest.fixture
def toy(tmp_path) -> tokenizers.ByteLevelBPETokenizer:
  return tokenizers.load_tokenizer(
      'bpe', write_gpt2_files(tmp_path / 'toy', _toy_tokens(), TOY_MERGES))


# GPT-2's kinds of test strings: contractions, numbers, punctuation runs,
# runs of spaces, newlines, non-ASCII text and emoji.
GPT2_TEXTS = [
    "I'm sure it's fine: you're late, we've eaten, they'll go, he'd know, "
    "don't ask.",
    "Uppercase 'S 'RE 'LL stay apart; so does 'tis and rock'n'roll.",
    'Pi is 3.14159, a million is 1,000,000 and today is 2024-02-29.',
    'Wait!!! What?!? -- "quoted" (nested (parens)) <tag/> ...and... $5.00 #1',
    'multiple   spaces\tand\t\ttabs\n\nnew lines  \n  indented\r\nCRLF  ',
    '   leading and trailing spaces   ',
    'Caf\u00E9 na\u00EFve r\u00E9sum\u00E9, \u0395\u03BB\u03BB\u03B7\u03BD'
    '\u03B9\u03BA\u03AC, \u0440\u0443\u0441\u0441\u043A\u0438\u0439, '
    '\u65E5\u672C\u8A9E\u306E\u30C6\u30AD\u30B9\u30C8, \uD55C\uAD6D\uC5B4',
    'emoji \U0001F600\U0001F44D\U0001F3FD \U0001F1EB\U0001F1F7 '
    '\U0001F468\u200D\U0001F469\u200D\U0001F467 \u2764\uFE0F!',
    'Digits in scripts: \u0663\u0664 \u0968\u0969 \u00BD \u2167, '
    'and\u00A0no-break\u2003em\u3000ideographic spaces.',
    'e\u0301 (combining accent), \uFB01 ligature, \x00 NUL, \x7F DEL, '
    '\uFFFD replacement, <|endoftext|> as text.',
]


def _reference_encode(text: str, vocab: dict[str, int],
                      merges: list[tuple[str, str]]) -> list[int]:
  """GPT-2's encoder: pre-tokenize with its regex, map each UTF-8 byte to
  its symbol, then merge the pair of lowest rank (all its occurrences, left
  to right) until no pair has a rank."""
  regex = pytest.importorskip('regex')
  ranks = {pair: rank for rank, pair in enumerate(merges)}
  ids = []
  for word in regex.findall(GPT2_PATTERN, text):
    symbols = [BYTE_SYMBOLS[b] for b in word.encode('utf-8')]
    while len(symbols) > 1:
      best = min(zip(symbols, symbols[1:]),
                 key=lambda pair: ranks.get(pair, math.inf))
      if best not in ranks:
        break
      merged, i = [], 0
      while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
          merged.append(symbols[i] + symbols[i + 1])
          i += 2
        else:
          merged.append(symbols[i])
          i += 1
      symbols = merged
    ids += [vocab[s] for s in symbols]
  return ids


def _vocab_and_merges(tok) -> tuple[dict[str, int], list[tuple[str, str]]]:
  model = json.loads(tok.tokenizer_json)['model']
  return model['vocab'], [tuple(m.split(' ')) for m in model['merges']]


@pytest.fixture(scope='module')
def trained(tmp_path_factory) -> tokenizers.ByteLevelBPETokenizer:
  """A vocabulary with many merges, trained on the test strings."""
  path = tmp_path_factory.mktemp('bpe') / 'tokenizer.json'
  rng = random.Random(0)
  lines = [' '.join(rng.sample(text.split(' '), len(text.split(' '))))
           for text in GPT2_TEXTS for _ in range(20)]
  bpe_training.train_bpe_on_lines(GPT2_TEXTS * 5 + lines, str(path), 700,
                                  source='test strings')
  return tokenizers.load_tokenizer('bpe', str(path))


class TestGpt2Ids:

  def test_toy_vocabulary(self, toy):
    ids = toy.encode(' lower newer')
    assert [toy.id_to_token(i) for i in ids] == [
        '\u0120low', 'er', '\u0120', 'n', 'e', 'w', 'er']
    assert ids == [14, 15, 10, 9, 3, 2, 15]

  def test_no_space_added_in_front(self, toy):
    assert [toy.id_to_token(i) for i in toy.encode('lower')] == [
        'l', 'o', 'w', 'er']

  def test_sizes_and_special_ids(self, toy):
    assert toy.vocab_size == 20 + (256 - 11) + 1
    assert toy.eot_id == toy.pad_id == toy.vocab_size - 1
    assert toy.id_to_token(toy.eot_id) == EOT

  def test_pre_tokenizer_is_gpt2s_regex(self, trained):
    """The pre-tokenizer in the file splits as GPT-2's regex does."""
    regex = pytest.importorskip('regex')
    import tokenizers as hf  # pylint: disable=g-import-not-at-top
    pre_tokenizer = hf.Tokenizer.from_str(trained.tokenizer_json).pre_tokenizer
    for text in GPT2_TEXTS:
      pieces = [piece for piece, _ in pre_tokenizer.pre_tokenize_str(text)]
      assert pieces == [
          ''.join(BYTE_SYMBOLS[b] for b in word.encode('utf-8'))
          for word in regex.findall(GPT2_PATTERN, text)], repr(text)

  @pytest.mark.parametrize('text', GPT2_TEXTS)
  def test_ids_equal_the_reference_encoder(self, trained, text):
    vocab, merges = _vocab_and_merges(trained)
    ids = trained.encode(text)
    assert ids == _reference_encode(text, vocab, merges)
    assert len(ids) < len(text.encode('utf-8')) / 2  # Merges did apply.

  def test_random_text_equals_the_reference_encoder(self, trained):
    vocab, merges = _vocab_and_merges(trained)
    rng = random.Random(0)
    alphabet = ("aeinst TIO'sdlmrv0123,.!?-  \t\n\r\u00E9\u03B1\u65E5"
                '\U0001F600\u0301\u00A0')
    for _ in range(300):
      text = ''.join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
      assert trained.encode(text) == _reference_encode(text, vocab, merges), (
          repr(text))

  def test_endoftext_in_the_text_is_text(self, trained):
    ids = trained.encode('a <|endoftext|> b')
    assert trained.eot_id not in ids
    assert trained.decode(ids) == 'a <|endoftext|> b'


ROUND_TRIP_TEXT = (
    'Voil\u00E0 \u2014 cr\u00E8me br\u00FBl\u00E9e, \u00C5ngstr\u00F6m, '
    'Stra\u00DFe; \u4E2D\u6587\u6587\u672C\u3002\u65E5\u672C\u8A9E '
    '\uD55C\uAD6D\uC5B4 \u0627\u0644\u0639\u0631\u0628\u064A\u0629 '
    '\u05E2\u05D1\u05E8\u05D9\u05EA \u0939\u093F\u0928\u094D\u0926\u0940\n'
    '\temoji \U0001F600\U0001F44D\U0001F3FD\U0001F1EB\U0001F1F7 '
    '\U0001F468\u200D\U0001F469\u200D\U0001F467\t\ttabs\r\n\n  spaces   \n'
    'e\u0301\u0301 \x00\x01\x7F \uFFFD \U00010348 \uFEFF end')


class TestRoundTrip:

  @pytest.mark.parametrize('text', [ROUND_TRIP_TEXT, '', ' ', '\n\n'] +
                           GPT2_TEXTS)
  def test_decode_gives_the_text_back(self, trained, toy, text):
    for tok in (trained, toy):
      assert tok.decode(tok.encode(text)) == text

  def test_random_unicode(self, trained):
    rng = random.Random(1)
    for _ in range(200):
      text = ''.join(chr(rng.choice([rng.randrange(0x20, 0x7F),
                                     rng.randrange(0x80, 0xD800),
                                     rng.randrange(0xE000, 0x110000)]))
                     for _ in range(rng.randint(0, 12)))
      assert trained.decode(trained.encode(text)) == text, repr(text)

  def test_decode_names_endoftext(self, trained):
    ids = trained.encode('one') + [trained.eot_id] + trained.encode(' two')
    assert trained.decode(ids) == 'one<|endoftext|> two'

  def test_id_out_of_range(self, toy):
    for i in (-1, toy.vocab_size):
      with pytest.raises(IndexError):
        toy.id_to_token(i)
      with pytest.raises(IndexError):
        toy.decode([0, i])


def _expected_spans(tok, text: str) -> list[tuple[int, int]]:
  """Each token's span from its bytes: the characters its bytes lie in,
  whitespace at either end left out (an empty span where it ends)."""
  byte_of_symbol = {s: b for b, s in enumerate(BYTE_SYMBOLS)}
  char_at_byte = [i for i, c in enumerate(text)
                  for _ in c.encode('utf-8')]
  spans, offset = [], 0
  for i in tok.encode(text):
    size = len(tok.id_to_token(i))  # One symbol per byte.
    assert all(s in byte_of_symbol for s in tok.id_to_token(i))
    start, end = char_at_byte[offset], char_at_byte[offset + size - 1] + 1
    offset += size
    while start < end and text[start].isspace():
      start += 1
    while end > start and text[end - 1].isspace():
      end -= 1
    spans.append((start, end))
  assert offset == len(text.encode('utf-8'))
  return spans


class TestOffsets:

  @pytest.mark.parametrize('text', [ROUND_TRIP_TEXT, ''] + GPT2_TEXTS)
  def test_spans_follow_the_bytes(self, trained, text):
    ids, spans = trained.encode_with_offsets(text)
    assert ids == trained.encode(text)
    assert spans == _expected_spans(trained, text)

  @pytest.mark.parametrize('text', GPT2_TEXTS)
  def test_span_spells_its_token(self, trained, text):
    ids, spans = trained.encode_with_offsets(text)
    for i, (start, end) in zip(ids, spans):
      piece = trained.decode([i])
      if '\ufffd' not in piece:  # Not part of a character.
        assert text[start:end] == piece.strip()

  def test_exact_spans(self, toy):
    ids, spans = toy.encode_with_offsets(' lower  newer')
    assert [toy.id_to_token(i) for i in ids] == [
        '\u0120low', 'er', '\u0120', '\u0120', 'n', 'e', 'w', 'er']
    # The space a 'Ġ' stands for is left out; a lone one is empty.
    assert spans == [(1, 4), (4, 6), (7, 7), (8, 8), (8, 9), (9, 10),
                     (10, 11), (11, 13)]

  def test_split_character_is_given_to_each_piece(self, toy):
    text = 'a\U0001F600\u00E9'
    ids, spans = toy.encode_with_offsets(text)
    assert len(ids) == 1 + 4 + 2  # One piece per byte: no merges apply.
    assert spans == [(0, 1)] + [(1, 2)] * 4 + [(2, 3)] * 2


class TestFiles:

  def test_tokenizer_json_gives_the_same_ids(self, toy, tmp_path):
    path = tmp_path / 'elsewhere' / 'tokenizer.json'
    path.parent.mkdir()
    path.write_text(toy.tokenizer_json, encoding='utf-8')
    from_json = tokenizers.load_tokenizer('bpe', str(path))
    assert from_json.files == (str(path),)
    assert toy.files == (str(tmp_path / 'toy' / 'vocab.json'),
                         str(tmp_path / 'toy' / 'merges.txt'))
    for text in GPT2_TEXTS + [' lower newer']:
      assert from_json.encode(text) == toy.encode(text)
    assert from_json.vocab_size == toy.vocab_size
    assert from_json.eot_id == toy.eot_id

  def test_vocab_and_merges_give_the_same_ids(self, trained, tmp_path):
    vocab, merges = _vocab_and_merges(trained)
    path = write_gpt2_files(
        tmp_path, sorted(vocab, key=vocab.get),
        ['#version: 0.2'] + [f'{a} {b}' for a, b in merges])
    pair = tokenizers.load_tokenizer('bpe', path)
    for text in GPT2_TEXTS:
      assert pair.encode(text) == trained.encode(text)
    assert pair.tokenizer_json == trained.tokenizer_json

  def test_a_tokenizer_json_as_tokenizers_writes_it(self, toy, tmp_path):
    """Today's merges format (pairs), and truncation, which is ignored."""
    import tokenizers as hf  # pylint: disable=g-import-not-at-top
    written = hf.Tokenizer.from_str(toy.tokenizer_json)
    written.enable_truncation(2)
    path = tmp_path / 'tokenizer.json'
    written.save(str(path))
    tok = tokenizers.load_tokenizer('bpe', str(path))
    assert tok.encode(' lower newer') == [14, 15, 10, 9, 3, 2, 15]

  def test_crlf_merges_and_no_version_line(self, tmp_path):
    path = write_gpt2_files(tmp_path, _toy_tokens(), TOY_MERGES[1:])
    merges = tmp_path / 'merges.txt'
    merges.write_bytes(merges.read_bytes().replace(b'\n', b'\r\n'))
    tok = tokenizers.load_tokenizer('bpe', path)
    assert tok.encode(' lower newer') == [14, 15, 10, 9, 3, 2, 15]


class TestBadFiles:

  def test_missing_file(self, tmp_path):
    path = str(tmp_path / 'tokenizer.json')
    with pytest.raises(InputError, match='does not exist') as e:
      tokenizers.load_tokenizer('bpe', path)
    assert_one_line(e, path)

  def test_missing_merges(self, tmp_path):
    path = write_gpt2_files(tmp_path, _toy_tokens(), TOY_MERGES)
    (tmp_path / 'merges.txt').unlink()
    with pytest.raises(InputError, match='merges file .* does not exist') as e:
      tokenizers.load_tokenizer('bpe', path)
    assert_one_line(e, str(tmp_path / 'merges.txt'))

  @pytest.mark.parametrize('content, message', [
      (b'{"a": 0, "b": ', 'is not JSON'),
      (b'["a", "b"]', 'neither a tokenizer.json nor a vocab.json'),
      (b'{"a": 0, "b": "1"}', 'neither a tokenizer.json nor a vocab.json'),
      (b'{"a": 0, "b": true}', 'neither a tokenizer.json nor a vocab.json'),
      (b'{"a": \xff}', 'not UTF-8'),
  ])
  def test_malformed_vocab_json(self, tmp_path, content, message):
    path = write_gpt2_files(tmp_path, _toy_tokens(), TOY_MERGES)
    pathlib.Path(path).write_bytes(content)
    with pytest.raises(InputError, match=message) as e:
      tokenizers.load_tokenizer('bpe', path)
    assert_one_line(e, path)

  def test_malformed_merges_line(self, tmp_path):
    path = write_gpt2_files(tmp_path, _toy_tokens(),
                            TOY_MERGES[:2] + ['\u0120l o w'])
    merges = str(tmp_path / 'merges.txt')
    with pytest.raises(InputError, match='line 3 is not two symbols') as e:
      tokenizers.load_tokenizer('bpe', path)
    assert_one_line(e, merges)

  def test_merge_of_unknown_symbols(self, tmp_path):
    path = write_gpt2_files(tmp_path, _toy_tokens(), TOY_MERGES + ['x yz'])
    with pytest.raises(InputError, match='cannot load BPE vocabulary') as e:
      tokenizers.load_tokenizer('bpe', path)
    assert_one_line(e, path)

  def test_no_endoftext(self, tmp_path):
    path = write_gpt2_files(tmp_path, _toy_tokens()[:-1], TOY_MERGES)
    with pytest.raises(InputError, match=r'has no <\|endoftext\|> token') as e:
      tokenizers.load_tokenizer('bpe', path)
    assert_one_line(e, path)

  def test_no_endoftext_in_tokenizer_json(self, tmp_path):
    content = json.loads(tokenizers.byte_level_bpe_json(
        {s: i for i, s in enumerate(BYTE_SYMBOLS)}, []))
    path = tmp_path / 'tokenizer.json'
    path.write_text(json.dumps(content), encoding='utf-8')
    with pytest.raises(InputError, match=r'has no <\|endoftext\|> token') as e:
      tokenizers.load_tokenizer('bpe', str(path))
    assert_one_line(e, str(path))

  def test_missing_byte_symbols(self, tmp_path):
    tokens = [t for t in _toy_tokens() if t != BYTE_SYMBOLS[ord('\n')]]
    path = write_gpt2_files(tmp_path, tokens, TOY_MERGES)
    with pytest.raises(InputError,
                       match='lacks 1 of the 256 byte symbols') as e:
      tokenizers.load_tokenizer('bpe', path)
    assert_one_line(e, path)

  def test_ids_with_a_gap(self, tmp_path):
    path = write_gpt2_files(tmp_path, _toy_tokens(), TOY_MERGES)
    vocab = json.loads(pathlib.Path(path).read_text(encoding='utf-8'))
    vocab[EOT] += 1
    pathlib.Path(path).write_text(json.dumps(vocab), encoding='utf-8')
    with pytest.raises(InputError, match='does not number its 266 tokens') as e:
      tokenizers.load_tokenizer('bpe', path)
    assert_one_line(e, path)

  @pytest.mark.parametrize('change, message', [
      ({'model': {'type': 'WordPiece', 'vocab': {'a': 0}}},
       'holds a WordPiece model, not BPE'),
      ({'decoder': None}, 'has a None decoder, not ByteLevel'),
  ])
  def test_tokenizer_json_not_byte_level_bpe(self, toy, tmp_path, change,
                                             message):
    content = json.loads(toy.tokenizer_json)
    content.update(change)
    path = tmp_path / 'tokenizer.json'
    path.write_text(json.dumps(content), encoding='utf-8')
    with pytest.raises(InputError, match=message) as e:
      tokenizers.load_tokenizer('bpe', str(path))
    assert_one_line(e, str(path))


class TestSpecialTokens:

  @pytest.mark.parametrize('name, token', [
      ('unk_id', '[UNK]'), ('cls_id', '[CLS]'), ('sep_id', '[SEP]'),
      ('mask_id', '[MASK]')])
  def test_bert_tokens_are_refused(self, toy, name, token):
    with pytest.raises(InputError,
                       match=f'has no {re.escape(token)} token') as e:
      getattr(toy, name)
    message = assert_one_line(e, toy.files[0])
    assert 'need a sentencepiece or wordpiece vocabulary' in message

  def test_eot_and_pad(self, trained):
    assert trained.eot_id == trained.pad_id == 0
    assert trained.id_to_token(0) == EOT
