"""data_pipelines/spm_training.py and bpe_training.py (training, atomic
output) and their command line, data_pipelines/build_vocab.py."""

import gzip
import json
import os
import pathlib
import random

from absl import flags
import pytest

from data_pipelines import bpe_training
from data_pipelines import build_vocab
from data_pipelines import sources
from data_pipelines import spm_training
from data_pipelines import tokenizers
from lm_jax.errors import InputError

# Lincoln's Gettysburg Address (public domain), one paragraph per line.
_GETTYSBURG = """\
Four score and seven years ago our fathers brought forth on this continent, \
a new nation, conceived in Liberty, and dedicated to the proposition that all \
men are created equal.
Now we are engaged in a great civil war, testing whether that nation, or any \
nation so conceived and so dedicated, can long endure. We are met on a great \
battle-field of that war. We have come to dedicate a portion of that field, \
as a final resting place for those who here gave their lives that that nation \
might live. It is altogether fitting and proper that we should do this.
But, in a larger sense, we can not dedicate -- we can not consecrate -- we \
can not hallow -- this ground. The brave men, living and dead, who struggled \
here, have consecrated it, far above our poor power to add or detract.
"""

_SUBJECTS = ['the old sailor', 'a young girl', 'my neighbour', 'the teacher',
             'our small dog', 'every farmer', 'the quiet student', 'she', 'he']
_VERBS = ['walked to', 'looked at', 'painted', 'remembered', 'carried',
          'wrote about', 'dreamed of', 'visited', 'talked about']
_OBJECTS = ['the harbour', 'a red house', 'the mountains', 'seven letters',
            'the garden', 'an empty station', 'the winter market', 'music']
_ENDINGS = ['yesterday.', 'before dawn.', 'in the rain!', 'with great care.',
            'again?', 'for many years.', 'at night, alone.']


def _corpus_lines(n: int = 300) -> list[str]:
  rng = random.Random(0)
  return [
      f'{rng.choice(_SUBJECTS).capitalize()} {rng.choice(_VERBS)} '
      f'{rng.choice(_OBJECTS)} {rng.choice(_ENDINGS)}' for _ in range(n)
  ]


@pytest.fixture(scope='module')
def corpus(tmp_path_factory) -> list[str]:
  """A plain and a gzipped file, with blank lines between documents."""
  root = tmp_path_factory.mktemp('corpus')
  lines = _corpus_lines()
  plain = root / 'a.txt'
  plain.write_text(_GETTYSBURG + '\n' + '\n'.join(lines[:150]) + '\n',
                   encoding='utf-8')
  zipped = root / 'b.txt.gz'
  with gzip.open(zipped, 'wt', encoding='utf-8') as f:
    f.write('\n\n'.join(lines[150:]) + '\n')
  return [str(plain), str(zipped)]


@pytest.fixture(scope='module')
def model_path(corpus, tmp_path_factory) -> str:
  out = tmp_path_factory.mktemp('vocab') / 'sub' / 'spm.model'
  return spm_training.train_sentencepiece(corpus, str(out), 300)


def test_special_ids(model_path):
  tok = tokenizers.load_tokenizer('sentencepiece', model_path)
  assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (
      0, 1, 2, 3, 4)
  assert [tok.id_to_token(i) for i in range(5)] == list(
      tokenizers.SPECIAL_TOKENS)
  assert 100 < tok.vocab_size <= 300


def test_round_trip(model_path):
  tok = tokenizers.SentencePieceTokenizer(model_path)
  text = 'The old sailor dreamed of the harbour, conceived in Liberty.'
  ids = tok.encode(text)
  assert ids and tok.unk_id not in ids
  assert not set(ids) & {0, 2, 3, 4}
  assert tok.decode(ids) == text


def test_decode_names_specials(model_path):
  tok = tokenizers.SentencePieceTokenizer(model_path)
  ids = [tok.cls_id] + tok.encode('the garden') + [tok.mask_id, tok.sep_id]
  assert tok.decode(ids) == '[CLS] the garden [MASK] [SEP]'


def test_vocab_listing(model_path):
  vocab_path = model_path[:-len('.model')] + '.vocab'
  lines = pathlib.Path(vocab_path).read_text(encoding='utf-8').splitlines()
  tok = tokenizers.SentencePieceTokenizer(model_path)
  assert len(lines) == tok.vocab_size
  assert [line.split('\t')[0] for line in lines[:5]] == list(
      tokenizers.SPECIAL_TOKENS)


def test_same_seed_same_model(corpus, model_path, tmp_path):
  again = spm_training.train_sentencepiece(
      corpus, str(tmp_path / 'again.model'), 300)
  assert pathlib.Path(again).read_bytes() == pathlib.Path(
      model_path).read_bytes()


def test_model_appears_only_when_complete(corpus, tmp_path, monkeypatch):
  out = tmp_path / 'spm.model'
  seen_during_training = []
  read_lines = spm_training.read_lines

  def spying_read_lines(*args):
    for line in read_lines(*args):
      seen_during_training.append(sorted(os.listdir(tmp_path)))
      yield line

  monkeypatch.setattr(spm_training, 'read_lines', spying_read_lines)
  spm_training.train_sentencepiece(corpus, str(out), 300)
  assert seen_during_training and not any(seen_during_training)
  assert sorted(os.listdir(tmp_path)) == ['spm.model', 'spm.vocab']


def test_failed_rebuild_keeps_old_model(corpus, tmp_path):
  out = tmp_path / 'spm.model'
  out.write_bytes(b'old model')
  bad = tmp_path / 'bad.txt.gz'
  bad.write_bytes(gzip.compress(b'some text\n' * 50)[:-12])  # Truncated.
  with pytest.raises(InputError, match='cannot read') as e:
    spm_training.train_sentencepiece(corpus + [str(bad)], str(out), 300)
  assert str(bad) in str(e.value) and '\n' not in str(e.value)
  assert out.read_bytes() == b'old model'
  assert sorted(os.listdir(tmp_path)) == ['bad.txt.gz', 'spm.model']


def test_missing_input(tmp_path):
  missing = str(tmp_path / 'missing.txt')
  with pytest.raises(InputError, match='not found') as e:
    spm_training.train_sentencepiece([missing], str(tmp_path / 'm.model'), 300)
  assert missing in str(e.value) and '\n' not in str(e.value)


def test_no_lines(tmp_path):
  blank = tmp_path / 'blank.txt'
  blank.write_text('\n  \n\n', encoding='utf-8')
  with pytest.raises(InputError, match='no text lines') as e:
    spm_training.train_sentencepiece([str(blank)], str(tmp_path / 'm.model'),
                                    300)
  assert str(blank) in str(e.value) and '\n' not in str(e.value)
  assert not (tmp_path / 'm.model').exists()


def test_not_utf8(tmp_path):
  bad = tmp_path / 'bad.txt'
  bad.write_bytes(b'fine\n\xff\xfe\n')
  with pytest.raises(InputError, match='bad.txt:2: not UTF-8'):
    spm_training.train_sentencepiece([str(bad)], str(tmp_path / 'm.model'), 300)


@pytest.mark.parametrize('errors, lines', [
    ('replace', ['fine', '\ufffd\ufffd']),
    ('skip_line', ['fine']),
])
def test_decode_errors(corpus, tmp_path, errors, lines):
  """Lines that are not UTF-8 are replaced or left out, and counted."""
  bad = tmp_path / 'bad.txt'
  bad.write_bytes(b'fine\n\xff\xfe\n')
  report = sources.DecodeReport(errors)
  out = spm_training.train_sentencepiece(
      corpus + [str(bad)], str(tmp_path / 'm.model'), 300,
      decode_errors=errors, report=report)
  assert tokenizers.SentencePieceTokenizer(out).mask_id == 4
  assert report.bad_lines == 1 and f'{bad}:2' in report.summary()
  assert list(spm_training.corpus_lines([str(bad)], 'm.model', errors,
                                       None)) == lines


def test_unknown_decode_errors_mode(corpus, tmp_path):
  with pytest.raises(InputError, match="unknown decode errors mode 'ignore'"):
    spm_training.train_sentencepiece(corpus, str(tmp_path / 'm.model'), 300,
                                     decode_errors='ignore')


# A 100 kB line: a whole document on one line, as web corpora often have.
_GREEK = ['αλφα', 'βητα', 'γαμμα', 'δελτα', 'ζητα', 'θητα', 'καππα', 'λαμδα']


def _long_line(n_bytes: int = 100_000) -> str:
  rng = random.Random(1)
  words, size = [], 0
  while size < n_bytes:
    words.append(rng.choice(_GREEK))
    size += len(words[-1].encode('utf-8')) + 1
  return ' '.join(words)


def test_a_single_long_line_is_trained_on(tmp_path):
  """SentencePiece drops lines over its length limit; they are fed in
  pieces, so a file holding one 100 kB line is enough text."""
  path = tmp_path / 'long.txt'
  path.write_text(_long_line() + '\n', encoding='utf-8')
  out = spm_training.train_sentencepiece([str(path)],
                                         str(tmp_path / 'm.model'), 40)
  tok = tokenizers.SentencePieceTokenizer(out)
  ids = tok.encode('γαμμα δελτα')
  assert ids and tok.unk_id not in ids


def test_long_line_among_short_ones_counts(corpus, tmp_path):
  """The long line's text (Greek, found nowhere else) gets into the
  vocabulary beside the short lines' English."""
  path = tmp_path / 'mixed.txt'
  path.write_text('\n'.join(_corpus_lines(50) + [_long_line()]
                            + _corpus_lines(50)) + '\n', encoding='utf-8')
  tok = tokenizers.SentencePieceTokenizer(spm_training.train_sentencepiece(
      [str(path)], str(tmp_path / 'm.model'), 300))
  for text in ('καππα λαμδα', 'the old sailor'):
    ids = tok.encode(text)
    assert tok.unk_id not in ids and tok.decode(ids) == text


def test_long_line_split_at_spaces():
  line = _long_line(40_000)
  pieces = list(spm_training._split_long_line(line, 1000))
  assert all(0 < len(p.encode('utf-8')) <= 1000 for p in pieces)
  assert ' '.join(pieces) == line


@pytest.mark.parametrize('line', [
    'a€β' * 5000,  # 1-, 3- and 2-byte characters, no whitespace.
    'x' * 3000 + ' ' + 'y' * 2000 + ' z',
])
def test_long_word_split_between_characters(line):
  pieces = list(spm_training._split_long_line(line, 1000))
  assert all(0 < len(p.encode('utf-8')) <= 1000 for p in pieces)
  assert ''.join(pieces) == line.replace(' ', '')


def test_line_at_the_limit_is_one_piece():
  line = 'word ' * 199 + 'words'
  assert len(line.encode('utf-8')) == 1000
  assert list(spm_training._split_long_line(line, 1000)) == [line]


@pytest.mark.parametrize('output, vocab_size, model_type, message', [
    ('m.bin', 300, 'unigram', 'must end in .model'),
    ('m.model', 5, 'unigram', 'must exceed'),
    ('m.model', 300, 'wordpiece', 'unknown model type'),
])
def test_bad_arguments(corpus, tmp_path, output, vocab_size, model_type,
                       message):
  with pytest.raises(InputError, match=message):
    spm_training.train_sentencepiece(
        corpus, str(tmp_path / output), vocab_size, model_type=model_type)


@pytest.fixture
def parse_flags():
  """Parses command-line flags for one in-process call of `main`."""

  def parse(*args: str) -> None:
    flags.FLAGS(['build_vocab', *args])

  yield parse
  flags.FLAGS.unparse_flags()


def test_cli_writes_model(corpus, tmp_path, parse_flags, capsys):
  out = tmp_path / 'cli.model'
  glob = os.path.join(os.path.dirname(corpus[0]), '*.txt*')
  parse_flags(f'--input={glob}', f'--output={out}', '--vocab_size=300')
  assert build_vocab.main(['build_vocab']) == 0
  assert tokenizers.SentencePieceTokenizer(str(out)).mask_id == 4
  assert str(out) in capsys.readouterr().out


def test_cli_decode_errors_warns(corpus, tmp_path, parse_flags, capsys):
  bad = tmp_path / 'bad.txt'
  bad.write_bytes(b'fine\n\xff\xfe\n')
  out = tmp_path / 'cli.model'
  parse_flags(f'--input={corpus[0]},{bad}', f'--output={out}',
              '--vocab_size=300', '--decode_errors=skip_line')
  assert build_vocab.main(['build_vocab']) == 0
  assert capsys.readouterr().err == (
      f'warning: 1 line with undecodable bytes skipped (first at {bad}:2)\n')
  assert out.exists()


def test_cli_glob_matching_nothing(corpus, tmp_path, parse_flags, capsys):
  pattern = str(tmp_path / 'nothing-*.txt')
  parse_flags(f'--input={corpus[0]},{pattern}',
              f'--output={tmp_path / "cli.model"}')
  assert build_vocab.main(['build_vocab']) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and pattern in err
  assert err.count('\n') == 1
  assert not (tmp_path / 'cli.model').exists()


# GPT-2 byte-level BPE (bpe_training.py, build_vocab --kind=bpe).


@pytest.fixture(scope='module')
def bpe_path(corpus, tmp_path_factory) -> str:
  out = tmp_path_factory.mktemp('bpe') / 'sub' / 'tokenizer.json'
  return bpe_training.train_bpe(corpus, str(out), 400)


def test_bpe_vocabulary(bpe_path):
  tok = tokenizers.load_tokenizer('bpe', bpe_path)
  assert tok.vocab_size == 400
  assert tok.eot_id == tok.pad_id == 0
  assert tok.id_to_token(0) == '<|endoftext|>'
  text = 'The old sailor dreamed of the harbour, conceived in Liberty.'
  ids = tok.encode(text)
  assert tok.decode(ids) == text
  # Words of the corpus are whole tokens; a leading space is part of one.
  assert [tok.id_to_token(i) for i in tok.encode(' sailor')] == [
      '\u0120sailor']


def test_bpe_small_corpus_gives_a_smaller_vocabulary(tmp_path):
  """Training stops when no pair of symbols occurs twice."""
  out = bpe_training.train_bpe_on_lines(
      ['abab abab', 'cd'], str(tmp_path / 'tokenizer.json'), 1000,
      source='two lines')
  tok = tokenizers.load_tokenizer('bpe', out)
  # 'ab' (4 times), then 'abab' (twice); 'Ġabab' and 'cd' occur once.
  assert tok.vocab_size == 257 + 2
  assert [tok.id_to_token(i) for i in tok.encode('abab abab cd')] == [
      'abab', '\u0120', 'abab', '\u0120', 'c', 'd']


def test_bpe_same_input_same_file(corpus, bpe_path, tmp_path):
  again = bpe_training.train_bpe(corpus, str(tmp_path / 'again.json'), 400)
  assert pathlib.Path(again).read_bytes() == pathlib.Path(
      bpe_path).read_bytes()


def test_bpe_sample_follows_the_seed(corpus, tmp_path):
  def train(seed: int) -> bytes:
    out = tmp_path / f'seed{seed}.json'
    bpe_training.train_bpe(corpus, str(out), 300, max_sentences=20, seed=seed)
    return out.read_bytes()

  assert train(1) == train(1)
  assert train(1) != train(2)


def test_bpe_sample_is_uniform_and_bounded():
  lines = [f'line {i}' for i in range(1000)] + ['', '   ']
  sample, count = bpe_training._sample(lines, 100, seed=0)
  assert count == 1000 and len(sample) == 100 == len(set(sample))
  assert sample == bpe_training._sample(lines, 100, seed=0)[0]
  # Drawn from the whole file, not its beginning.
  assert max(int(line.split()[1]) for line in sample) > 900
  assert bpe_training._sample(lines[:50], 100, seed=0) == (
      [f'line {i}' for i in range(50)], 50)


def test_bpe_file_appears_only_when_complete(corpus, tmp_path, monkeypatch):
  out = tmp_path / 'tokenizer.json'
  seen_during_training = []
  read_lines = spm_training.read_lines  # corpus_lines reads for both

  def spying_read_lines(*args):
    for line in read_lines(*args):
      seen_during_training.append(sorted(os.listdir(tmp_path)))
      yield line

  monkeypatch.setattr(spm_training, 'read_lines', spying_read_lines)
  bpe_training.train_bpe(corpus, str(out), 300)
  assert seen_during_training and not any(seen_during_training)
  assert sorted(os.listdir(tmp_path)) == ['tokenizer.json']
  assert json.loads(out.read_text(encoding='utf-8'))['model']['type'] == 'BPE'


def test_bpe_failed_rebuild_keeps_old_file(corpus, tmp_path):
  out = tmp_path / 'tokenizer.json'
  out.write_bytes(b'old file')
  bad = tmp_path / 'bad.txt.gz'
  bad.write_bytes(gzip.compress(b'some text\n' * 50)[:-12])  # Truncated.
  with pytest.raises(InputError, match='cannot read') as e:
    bpe_training.train_bpe(corpus + [str(bad)], str(out), 300)
  assert str(bad) in str(e.value) and '\n' not in str(e.value)
  assert out.read_bytes() == b'old file'
  assert sorted(os.listdir(tmp_path)) == ['bad.txt.gz', 'tokenizer.json']


def test_bpe_no_lines(tmp_path):
  blank = tmp_path / 'blank.txt'
  blank.write_text('\n  \n\n', encoding='utf-8')
  with pytest.raises(InputError, match='no text lines') as e:
    bpe_training.train_bpe([str(blank)], str(tmp_path / 't.json'), 300)
  assert str(blank) in str(e.value) and '\n' not in str(e.value)
  assert not (tmp_path / 't.json').exists()


def test_bpe_decode_errors(corpus, tmp_path):
  bad = tmp_path / 'bad.txt'
  bad.write_bytes(b'fine\n\xff\xfe\n')
  with pytest.raises(InputError, match='bad.txt:2: not UTF-8'):
    bpe_training.train_bpe([str(bad)], str(tmp_path / 't.json'), 300)
  report = sources.DecodeReport('skip_line')
  out = bpe_training.train_bpe(corpus + [str(bad)], str(tmp_path / 't.json'),
                               300, decode_errors='skip_line', report=report)
  assert tokenizers.load_tokenizer('bpe', out).eot_id == 0
  assert report.bad_lines == 1 and f'{bad}:2' in report.summary()


@pytest.mark.parametrize('output, vocab_size, kwargs, message', [
    ('tokenizer.model', 300, {}, 'must end in .json'),
    ('tokenizer.json', 257, {}, 'must exceed the 256 byte symbols'),
    ('tokenizer.json', 300, dict(max_sentences=0), 'must be at least 1'),
    ('tokenizer.json', 300, dict(decode_errors='ignore'),
     "unknown decode errors mode 'ignore'"),
])
def test_bpe_bad_arguments(corpus, tmp_path, output, vocab_size, kwargs,
                           message):
  with pytest.raises(InputError, match=message) as e:
    bpe_training.train_bpe(corpus, str(tmp_path / output), vocab_size,
                           **kwargs)
  assert '\n' not in str(e.value)
  assert not os.listdir(tmp_path)


def test_bpe_missing_input(tmp_path):
  missing = str(tmp_path / 'missing.txt')
  with pytest.raises(InputError, match='not found') as e:
    bpe_training.train_bpe([missing], str(tmp_path / 't.json'), 300)
  assert missing in str(e.value) and '\n' not in str(e.value)


def test_cli_writes_bpe(corpus, bpe_path, tmp_path, parse_flags, capsys):
  out = tmp_path / 'tokenizer.json'
  parse_flags('--kind=bpe', f'--input={",".join(corpus)}', f'--output={out}',
              '--vocab_size=400')
  assert build_vocab.main(['build_vocab']) == 0
  assert out.read_bytes() == pathlib.Path(bpe_path).read_bytes()
  assert str(out) in capsys.readouterr().out


@pytest.mark.parametrize('args, message', [
    (['--output={out}/tokenizer.model'], 'must end in .json'),
    (['--output={out}/tokenizer.json', '--model_type=bpe'],
     '--model_type is for --kind=sentencepiece only'),
])
def test_cli_bpe_errors(corpus, tmp_path, parse_flags, capsys, args,
                        message):
  parse_flags('--kind=bpe', f'--input={corpus[0]}',
              *(a.format(out=tmp_path) for a in args))
  assert build_vocab.main(['build_vocab']) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and message in err
  assert err.count('\n') == 1
  assert not os.listdir(tmp_path)
