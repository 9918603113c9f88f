"""Tests for data_pipelines.tokenizers, using BERT's published test vectors."""

import pathlib
import random

import pytest
import sentencepiece as spm

from data_pipelines import spm_training
from data_pipelines import tokenizers
from lm_jax.errors import InputError

# The vocabulary from BERT's own tokenizer tests.
BERT_TEST_VOCAB = ['[UNK]', '[CLS]', '[SEP]', 'want', '##want', '##ed', 'wa',
                   'un', 'runn', '##ing', ',']


def _write_vocab(tmp_path: pathlib.Path, tokens: list[str]) -> str:
  path = tmp_path / 'vocab.txt'
  path.write_text(''.join(t + '\n' for t in tokens), encoding='utf-8')
  return str(path)


def _assert_one_line_naming(error: pytest.ExceptionInfo, path: str) -> None:
  message = str(error.value)
  assert '\n' not in message
  assert path in message


@pytest.fixture
def bert_tokenizer(tmp_path) -> tokenizers.WordPieceTokenizer:
  # Appending the two missing specials keeps the test vocab's ids intact.
  return tokenizers.WordPieceTokenizer(
      _write_vocab(tmp_path, BERT_TEST_VOCAB + ['[PAD]', '[MASK]']))


class TestBasicTokenizer:

  def test_lowercases_and_splits_punctuation(self):
    basic = tokenizers.BasicTokenizer(lowercase=True)
    assert basic.tokenize(' \tHeLLo!how  \n Are yoU?  ') == [
        'hello', '!', 'how', 'are', 'you', '?']

  def test_strips_accents_when_lowercasing(self):
    assert tokenizers.BasicTokenizer(lowercase=True).tokenize(
        'H\u00E9llo') == ['hello']

  def test_keeps_case_without_lowercasing(self):
    basic = tokenizers.BasicTokenizer(lowercase=False)
    assert basic.tokenize(' \tHeLLo!how  \n Are yoU?  ') == [
        'HeLLo', '!', 'how', 'Are', 'yoU', '?']

  def test_splits_cjk_ideographs(self):
    assert tokenizers.BasicTokenizer().tokenize('ah\u535A\u63A8zz') == [
        'ah', '\u535A', '\u63A8', 'zz']

  def test_drops_nul_replacement_and_control_chars(self):
    assert tokenizers.BasicTokenizer().tokenize(
        'a\x00b\ufffdc\x05d e') == ['abcd', 'e']


class TestWordpieceSplitter:

  @pytest.fixture
  def splitter(self) -> tokenizers.WordpieceSplitter:
    return tokenizers.WordpieceSplitter(set(BERT_TEST_VOCAB), '[UNK]')

  def test_empty(self, splitter):
    assert splitter.tokenize('') == []

  def test_greedy_longest_match(self, splitter):
    assert splitter.tokenize('unwanted running') == [
        'un', '##want', '##ed', 'runn', '##ing']

  def test_uncoverable_word_is_one_unknown(self, splitter):
    assert splitter.tokenize('unwantedX running') == [
        '[UNK]', 'runn', '##ing']

  def test_overlong_word_is_unknown(self, splitter):
    assert splitter.tokenize('un' + 'want' * 25) == ['[UNK]']
    assert splitter.tokenize('want' * 25) == ['want'] + ['##want'] * 24


class TestCharacterClasses:

  @pytest.mark.parametrize('char', [' ', '\t', '\r', '\n', '\u00A0'])
  def test_whitespace(self, char):
    assert tokenizers.is_whitespace(char)

  @pytest.mark.parametrize('char', ['A', '-'])
  def test_not_whitespace(self, char):
    assert not tokenizers.is_whitespace(char)

  def test_control(self):
    assert tokenizers.is_control('\u0005')

  @pytest.mark.parametrize('char', ['A', ' ', '\t', '\r', '\U0001F4A9'])
  def test_not_control(self, char):
    assert not tokenizers.is_control(char)

  @pytest.mark.parametrize('char', ['-', '$', '`', '.'])
  def test_punctuation(self, char):
    assert tokenizers.is_punctuation(char)

  @pytest.mark.parametrize('char', ['A', ' '])
  def test_not_punctuation(self, char):
    assert not tokenizers.is_punctuation(char)


class TestWordPieceTokenizer:

  def test_full_tokenizer(self, bert_tokenizer):
    text = 'UNwant\u00E9d,running'
    assert bert_tokenizer.tokenize(text) == [
        'un', '##want', '##ed', ',', 'runn', '##ing']
    assert bert_tokenizer.encode(text) == [7, 4, 5, 10, 8, 9]

  def test_special_ids_and_size(self, bert_tokenizer):
    tok = bert_tokenizer
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (
        11, 0, 1, 2, 12)
    assert tok.vocab_size == 13
    assert tok.id_to_token(12) == '[MASK]'

  def test_sep_ends_a_text(self, bert_tokenizer):
    assert bert_tokenizer.eot_id == bert_tokenizer.sep_id == 2

  def test_decode_glues_continuations(self, bert_tokenizer):
    assert bert_tokenizer.decode([1, 7, 4, 5, 10, 8, 9, 12, 2]) == (
        '[CLS] unwanted , running [MASK] [SEP]')

  def test_id_out_of_range(self, bert_tokenizer):
    with pytest.raises(IndexError):
      bert_tokenizer.id_to_token(13)
    with pytest.raises(IndexError):
      bert_tokenizer.id_to_token(-1)

  def test_keeps_case_when_asked(self, tmp_path):
    tok = tokenizers.load_tokenizer(
        'wordpiece',
        _write_vocab(tmp_path, list(tokenizers.SPECIAL_TOKENS) + ['Hi', 'hi']),
        lowercase=False)
    assert tok.encode('Hi hi HI') == [5, 6, 1]

  def test_crlf_vocab(self, tmp_path):
    path = tmp_path / 'vocab.txt'
    path.write_bytes(b'[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nhi\r\n')
    tok = tokenizers.load_tokenizer('wordpiece', str(path))
    assert tok.vocab_size == 6
    assert tok.encode('hi') == [5]


class TestBadInputs:

  def test_missing_vocab(self, tmp_path):
    path = str(tmp_path / 'nope.txt')
    with pytest.raises(InputError, match='does not exist') as e:
      tokenizers.load_tokenizer('wordpiece', path)
    _assert_one_line_naming(e, path)

  def test_empty_vocab(self, tmp_path):
    path = _write_vocab(tmp_path, [])
    with pytest.raises(InputError, match='empty') as e:
      tokenizers.WordPieceTokenizer(path)
    _assert_one_line_naming(e, path)

  def test_vocab_missing_specials(self, tmp_path):
    path = _write_vocab(tmp_path, BERT_TEST_VOCAB)
    with pytest.raises(InputError, match=r'\[PAD\], \[MASK\]') as e:
      tokenizers.WordPieceTokenizer(path)
    _assert_one_line_naming(e, path)

  def test_duplicate_vocab_line(self, tmp_path):
    path = _write_vocab(tmp_path,
                        list(tokenizers.SPECIAL_TOKENS) + ['a', 'b', 'a'])
    with pytest.raises(InputError, match=r"'a' on lines 6 and 8") as e:
      tokenizers.WordPieceTokenizer(path)
    _assert_one_line_naming(e, path)

  def test_vocab_not_utf8(self, tmp_path):
    path = tmp_path / 'vocab.txt'
    path.write_bytes(b'[PAD]\n\xff\n')
    with pytest.raises(InputError, match='UTF-8') as e:
      tokenizers.WordPieceTokenizer(str(path))
    _assert_one_line_naming(e, str(path))

  def test_missing_sentencepiece_model(self, tmp_path):
    path = str(tmp_path / 'nope.model')
    with pytest.raises(InputError, match='does not exist') as e:
      tokenizers.load_tokenizer('sentencepiece', path)
    _assert_one_line_naming(e, path)

  @pytest.mark.parametrize('data', [b'', b'not a model\n\x00\x01\x02'])
  def test_corrupt_sentencepiece_model(self, tmp_path, data):
    path = tmp_path / 'bad.model'
    path.write_bytes(data)
    with pytest.raises(InputError, match='corrupt') as e:
      tokenizers.SentencePieceTokenizer(str(path))
    _assert_one_line_naming(e, str(path))

  def test_sentencepiece_model_without_specials(self, tmp_path):
    prefix = tmp_path / 'plain'
    spm.SentencePieceTrainer.Train(
        sentence_iterator=iter(['the cat sat on the mat'] * 20),
        model_prefix=str(prefix), vocab_size=20, hard_vocab_limit=False,
        minloglevel=3)
    path = f'{prefix}.model'
    # Its <unk> serves as [UNK], as in ALBERT's models.
    with pytest.raises(
        InputError, match=r'\[PAD\], \[CLS\], \[SEP\], \[MASK\]$') as e:
      tokenizers.SentencePieceTokenizer(path)
    _assert_one_line_naming(e, path)

  def test_directory_instead_of_file(self, tmp_path):
    with pytest.raises(InputError, match='directory') as e:
      tokenizers.WordPieceTokenizer(str(tmp_path))
    _assert_one_line_naming(e, str(tmp_path))

  def test_unknown_kind(self, tmp_path):
    path = _write_vocab(tmp_path, list(tokenizers.SPECIAL_TOKENS))
    with pytest.raises(InputError,
                       match=r"unknown tokenizer kind 'unigram' .*\(expected "
                       r'sentencepiece, wordpiece or bpe\)') as e:
      tokenizers.load_tokenizer('unigram', path)
    _assert_one_line_naming(e, path)


# Offsets: encode_with_offsets must give encode's ids and, per id, the span of
# the original text it came from.

OFFSET_TEXTS = [
    'UNwant\u00E9d,running',
    'UNwante\u0301d,running',  # The accent as a combining mark.
    ' \tHeLLo!how  \n Are yoU?  ',
    'ah\u535A\u63A8zz',
    'a\x00b\ufffdc\x05d e',
    'Caf\u00E9  CAF\u00C9\u2028cafe\u00A0\u00BFhow?',
    '\u0301hello\u0301\u0301 \u00C5ngstr\u00F6m \u03A3\u039F\u03A3 \uAC00',
    '',
    '   ',
]


@pytest.fixture
def offsets_tokenizer(tmp_path) -> tokenizers.WordPieceTokenizer:
  extra = ['[PAD]', '[MASK]', 'hello', '!', 'how', 'are', 'you', '?', 'cafe',
           '\u00BF', 'abcd', 'e', '\u535A', '\u63A8', 'a', '##n', '##g', '##s',
           '##t', '##r', '##o', '##m', '\u03C3\u03BF\u03C2', '\u1100',
           '##\u1161']
  return tokenizers.WordPieceTokenizer(
      _write_vocab(tmp_path, BERT_TEST_VOCAB + extra))


class TestWordPieceOffsets:

  @pytest.mark.parametrize('text', OFFSET_TEXTS)
  def test_ids_equal_encode(self, offsets_tokenizer, text):
    ids, spans = offsets_tokenizer.encode_with_offsets(text)
    assert ids == offsets_tokenizer.encode(text)
    assert len(spans) == len(ids)

  @pytest.mark.parametrize('text', OFFSET_TEXTS)
  def test_each_span_spells_its_piece(self, offsets_tokenizer, text):
    basic = tokenizers.BasicTokenizer()
    ids, spans = offsets_tokenizer.encode_with_offsets(text)
    for i, (start, end) in zip(ids, spans):
      assert 0 <= start < end <= len(text)
      piece = offsets_tokenizer.id_to_token(i)
      if piece != '[UNK]' and '\uAC00' not in text[start:end]:
        assert ''.join(basic.tokenize(text[start:end])) == piece.removeprefix(
            '##')

  def test_exact_spans(self, offsets_tokenizer):
    encode = offsets_tokenizer.encode_with_offsets
    assert encode('UNwant\u00E9d,running')[1] == [
        (0, 2), (2, 6), (6, 8), (8, 9), (9, 13), (13, 16)]
    # A vanished combining accent stays with the letter it decorates.
    assert encode('UNwante\u0301d,running')[1] == [
        (0, 2), (2, 6), (6, 9), (9, 10), (10, 14), (14, 17)]
    # Dropped control characters do not split a word.
    assert encode('a\x00b\ufffdc\x05d e')[1] == [(0, 7), (8, 9)]
    # Unknown words span the whole word; CJK ideographs stand alone.
    ids, spans = encode('ah\u535A\u63A8zz')
    assert [offsets_tokenizer.id_to_token(i) for i in ids] == [
        '[UNK]', '\u535A', '\u63A8', '[UNK]']
    assert spans == [(0, 2), (2, 3), (3, 4), (4, 6)]
    # A Hangul syllable becomes two jamo pieces, both spanning it.
    assert encode(' \uAC00')[1] == [(1, 2), (1, 2)]

  def test_keeps_case_when_asked(self, tmp_path):
    tok = tokenizers.WordPieceTokenizer(
        _write_vocab(tmp_path, list(tokenizers.SPECIAL_TOKENS) + ['Hi', 'hi']),
        lowercase=False)
    assert tok.encode_with_offsets('Hi  hi HI') == (
        [5, 6, 1], [(0, 2), (4, 6), (7, 9)])

  def test_random_text_gives_encode_ids(self, offsets_tokenizer):
    rng = random.Random(0)
    alphabet = ('abcdeAE ,.!?\t\n\x00\x05\x0b\x85\ufffd\u00A0\u2028\u3000'
                '\u00E9\u00C9\u0301\u0308\u03A3\u03C3\u0130\uAC00\u535A\uF900'
                '\uFB01\U0001F600\U00020000')
    for _ in range(2000):
      text = ''.join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
      ids, spans = offsets_tokenizer.encode_with_offsets(text)
      assert ids == offsets_tokenizer.encode(text), repr(text)
      assert all(0 <= s < e <= len(text) for s, e in spans), repr(text)


SENTENCEPIECE_LINES = [
    'The quick brown fox jumps over the lazy dog.',
    'Caf\u00E9 cr\u00E8me br\u00FBl\u00E9e, na\u00EFve r\u00E9sum\u00E9!',
    '\u535A\u63A8 and \u6771\u4EAC are written without spaces.',
    'Hello,   world -- "quoted" text (in parentheses); 42 is 6*7.',
]


@pytest.fixture(scope='module')
def sentencepiece_tokenizer(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('spm') / 'tiny.model')
  spm_training.train_sentencepiece_on_lines(
      SENTENCEPIECE_LINES * 10, path, 120, source='test lines')
  return tokenizers.SentencePieceTokenizer(path)


class TestSentencePieceOffsets:

  @pytest.mark.parametrize('text', OFFSET_TEXTS + SENTENCEPIECE_LINES + [
      '  Hello,   world\u00E9 \u535A x\x05y \uFF21\uFF22 \uFB01ne \U0001F600 '])
  def test_ids_equal_encode(self, sentencepiece_tokenizer, text):
    tok = sentencepiece_tokenizer
    ids, spans = tok.encode_with_offsets(text)
    assert ids == tok.encode(text)
    assert len(spans) == len(ids)
    for start, end in spans:
      assert 0 <= start <= end <= len(text)
      assert text[start:end] == text[start:end].strip()

  @pytest.mark.parametrize('text', SENTENCEPIECE_LINES + [
      ' The  lazy dog jumps.  ', 'Caf\u00E9 na\u00EFve \u535A\u63A8'])
  def test_each_span_spells_its_piece(self, sentencepiece_tokenizer, text):
    tok = sentencepiece_tokenizer
    ids, spans = tok.encode_with_offsets(text)
    for i, (start, end) in zip(ids, spans):
      assert text[start:end] == tok.id_to_token(i).replace('\u2581', '')

  def test_offsets_count_characters_not_bytes(self, sentencepiece_tokenizer):
    text = 'na\u00EFve \u535A\u63A8 dog'
    _, spans = sentencepiece_tokenizer.encode_with_offsets(text)
    assert spans[-1][1] == len(text)
    assert (text.index('\u535A'), text.index('\u535A') + 1) in spans or (
        text.index('\u535A'), text.index('\u63A8') + 1) in spans

  def test_unknown_character_spans_itself(self, sentencepiece_tokenizer):
    tok = sentencepiece_tokenizer
    ids, spans = tok.encode_with_offsets('dog \U0001F600')
    assert ids[-1] == tok.unk_id
    assert spans[-1] == (4, 5)


def test_sentencepiece_sep_ends_a_text(sentencepiece_tokenizer):
  tok = sentencepiece_tokenizer
  assert tok.eot_id == tok.sep_id == 3
