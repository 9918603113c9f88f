"""Tests for data_pipelines.sources: text files to this host's documents."""

import gzip
import pathlib

import ml_collections
import pytest

from data_pipelines import sources
from data_pipelines import tf_cpu
from lm_jax.errors import InputError


def _write(path: pathlib.Path, text: str) -> str:
  if path.suffix == '.gz':
    path.write_bytes(gzip.compress(text.encode('utf-8')))
  else:
    path.write_text(text, encoding='utf-8')
  return str(path)


def _data_cfg(train_files: str, decode_errors: str = 'strict',
              tfds_name: str = '') -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      train_files=train_files, tfds_name=tfds_name, tfds_split='train',
      tfds_text_key='text', tfds_data_dir='', decode_errors=decode_errors))


def _host_documents(train_files: str, index: int, count: int):
  documents, files, _ = sources.host_documents(_data_cfg(train_files), index,
                                               count)
  return list(documents), files


TEXT = ('first line\n  second line  \n\n\n\nnext doc\r\n \t \nthird doc a\n'
        'third doc b\n\n')
DOCUMENTS = [['first line', 'second line'], ['next doc'],
             ['third doc a', 'third doc b']]


class TestDocuments:

  def test_blank_lines_separate_documents(self, tmp_path):
    """One or more blank (or whitespace-only) lines end a document."""
    path = _write(tmp_path / 'a.txt', TEXT)
    assert list(sources.text_file_documents([path])) == DOCUMENTS

  def test_gzip_reads_like_plain_text(self, tmp_path):
    """A .txt.gz file gives the same documents as the .txt file."""
    plain = _write(tmp_path / 'a.txt', TEXT)
    packed = _write(tmp_path / 'a.txt.gz', TEXT)
    assert (list(sources.text_file_documents([packed]))
            == list(sources.text_file_documents([plain])))

  def test_file_end_closes_document(self, tmp_path):
    """A document never continues into the next file."""
    a = _write(tmp_path / 'a.txt', 'x one\nx two')
    b = _write(tmp_path / 'b.txt', 'y one\n')
    assert list(sources.text_file_documents([a, b])) == [
        ['x one', 'x two'], ['y one']]

  def test_non_utf8_names_file_and_line(self, tmp_path):
    """Undecodable bytes raise InputError naming the file and line number."""
    path = tmp_path / 'bad.txt'
    path.write_bytes(b'fine\n\nalso fine\n\xff\xfe broken\n')
    with pytest.raises(InputError) as error:
      list(sources.text_file_documents([str(path)]))
    message = str(error.value)
    assert '\n' not in message
    assert f'{path}:4' in message

  def test_corrupt_gzip_is_input_error(self, tmp_path):
    """A .gz file that is not gzip raises InputError naming it."""
    path = tmp_path / 'bad.txt.gz'
    path.write_bytes(b'not gzip at all\n')
    with pytest.raises(InputError, match='bad.txt.gz'):
      list(sources.text_file_documents([str(path)]))


# Line 4 has bytes that are not UTF-8.
BAD_BYTES = b'fine\n\nalso fine\nbad \xff\xfe here\nafter\n'


class TestDecodeErrors:
  """data.decode_errors: what becomes of a line that is not UTF-8."""

  def _documents(self, tmp_path, errors):
    path = tmp_path / 'bad.txt'
    path.write_bytes(BAD_BYTES)
    documents, _, report = sources.host_documents(
        _data_cfg(str(path), errors), 0, 1)
    return path, documents, report

  def test_strict_names_file_and_line(self, tmp_path):
    path, documents, _ = self._documents(tmp_path, 'strict')
    with pytest.raises(InputError, match=f'{path}:4: not UTF-8') as error:
      list(documents)
    assert '\n' not in str(error.value)

  def test_replace_keeps_the_line(self, tmp_path):
    """The bad bytes become U+FFFD; the report, filled in while reading,
    counts the line and says where it is."""
    path, documents, report = self._documents(tmp_path, 'replace')
    assert report.bad_lines == 0 and report.summary() == ''
    assert list(documents) == [
        ['fine'], ['also fine', 'bad \ufffd\ufffd here', 'after']]
    assert report.bad_lines == 1
    assert report.summary() == (
        f'1 line with undecodable bytes replaced (first at {path}:4)')

  def test_skip_line_drops_only_that_line(self, tmp_path):
    """The rest of the document stays one document."""
    path, documents, report = self._documents(tmp_path, 'skip_line')
    assert list(documents) == [['fine'], ['also fine', 'after']]
    assert report.bad_lines == 1
    assert report.summary() == (
        f'1 line with undecodable bytes skipped (first at {path}:4)')

  def test_counts_every_bad_line_of_a_gzip_file(self, tmp_path):
    path = tmp_path / 'bad.txt.gz'
    path.write_bytes(gzip.compress(BAD_BYTES * 3))
    report = sources.DecodeReport('replace')
    lines = list(sources.read_lines(str(path), 'replace', report))
    assert len(lines) == 15 and report.bad_lines == 3
    assert report.summary().startswith('3 lines with undecodable bytes')

  def test_clean_text_reports_nothing(self, tmp_path):
    path = _write(tmp_path / 'a.txt', TEXT)
    documents, _, report = sources.host_documents(
        _data_cfg(path, 'skip_line'), 0, 1)
    assert list(documents) == DOCUMENTS
    assert report.bad_lines == 0 and report.summary() == ''

  def test_unknown_mode_is_input_error(self, tmp_path):
    path = _write(tmp_path / 'a.txt', TEXT)
    with pytest.raises(InputError, match="unknown decode errors mode 'ignore'"):
      list(sources.read_lines(path, 'ignore'))


class TestListFiles:

  def test_comma_separated_globs(self, tmp_path):
    """Each comma-separated glob adds its matches, sorted within a pattern."""
    for name in ('a2.txt', 'a1.txt', 'b.txt.gz', 'c.txt'):
      _write(tmp_path / name, 'x\n')
    files = sources.list_files(f'{tmp_path}/a*.txt, {tmp_path}/b.txt.gz,')
    assert files == [str(tmp_path / n) for n in ('a1.txt', 'a2.txt', 'b.txt.gz')]

  def test_unmatched_pattern_is_named(self, tmp_path):
    """A pattern matching nothing raises a one-line InputError naming it."""
    _write(tmp_path / 'a.txt', 'x\n')
    missing = f'{tmp_path}/nothing*.txt'
    with pytest.raises(InputError) as error:
      sources.list_files(f'{tmp_path}/a.txt,{missing}')
    assert '\n' not in str(error.value)
    assert missing in str(error.value)

  def test_empty_list_is_input_error(self):
    """No pattern at all is an InputError, not an empty corpus."""
    with pytest.raises(InputError):
      sources.list_files(' , ')


class TestHostSharding:

  def test_files_split_between_hosts(self, tmp_path):
    """With files >= hosts, hosts read disjoint files covering all of them."""
    for i in range(5):
      _write(tmp_path / f'f{i}.txt', f'doc {i} a\ndoc {i} b\n\ndoc {i} c\n')
    pattern = f'{tmp_path}/f*.txt'
    everything, all_files = _host_documents(pattern, 0, 1)
    shards = [_host_documents(pattern, h, 2) for h in range(2)]
    files = [set(f) for _, f in shards]
    assert files[0] and files[1]
    assert not files[0] & files[1]
    assert files[0] | files[1] == set(all_files)
    # Each host's documents are exactly those of its own files.
    for documents, mine in shards:
      assert documents == list(sources.text_file_documents(sorted(mine)))
    assert sorted(shards[0][0] + shards[1][0]) == sorted(everything)

  def test_documents_alternate_with_one_file(self, tmp_path):
    """With fewer files than hosts, hosts take every other document."""
    text = ''.join(f'doc {i} line\nmore {i}\n\n' for i in range(7))
    path = _write(tmp_path / 'one.txt', text)
    everything, _ = _host_documents(path, 0, 1)
    assert len(everything) == 7
    shards = [_host_documents(path, h, 2)[0] for h in range(2)]
    assert shards[0] == everything[0::2]
    assert shards[1] == everything[1::2]


class TestTfds:
  """TFDS by name, through tfds' mock data (no download)."""

  def test_documents_are_the_text_feature_split_into_lines(self):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    with tfds.testing.mock_data(num_examples=4):
      docs = list(sources.tfds_documents('imdb_reviews', 'train', 'text', 0, 1))
    assert 0 < len(docs) <= 4
    assert all(isinstance(line, str) and line.strip() == line and line
               for doc in docs for line in doc)

  def test_missing_feature_names_the_features(self):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    with tfds.testing.mock_data(num_examples=2):
      with pytest.raises(InputError, match=r"no feature 'body'; it has \['label', 'text'\]"):
        list(sources.tfds_documents('imdb_reviews', 'train', 'body', 0, 1))

  @pytest.mark.parametrize('errors, second', [
      ('replace', ['bad \ufffd here', 'ok']),
      ('skip_line', ['ok']),
  ])
  def test_decode_errors(self, errors, second):
    """An example that is not all UTF-8 is read line by line, as in files."""
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    report = sources.DecodeReport(errors)
    with tfds.testing.mock_data(as_dataset_fn=_examples(
        [b'good one\nline two', b'bad \xff here\nok'])):
      docs = list(sources.tfds_documents('imdb_reviews', 'train', 'text', 0, 1,
                                         errors=errors, report=report))
      with pytest.raises(InputError,
                         match='tfds:imdb_reviews/train example 1 line 1: '
                               'not UTF-8'):
        list(sources.tfds_documents('imdb_reviews', 'train', 'text', 0, 1))
    assert docs == [['good one', 'line two'], second]
    assert report.bad_lines == 1

  def test_unknown_dataset_is_one_line(self):
    with pytest.raises(InputError, match="cannot load TFDS dataset 'no_such_corpus'") as e:
      list(sources.tfds_documents('no_such_corpus', 'train', 'text', 0, 1))
    assert '\n' not in str(e.value)


def _examples(texts: list[bytes]):
  """An `as_dataset_fn` for tfds' mock_data: these texts as imdb_reviews."""

  def as_dataset(*args, **kwargs):
    del args, kwargs
    return tf_cpu.tf().data.Dataset.from_tensor_slices(
        dict(text=texts, label=[0] * len(texts)))

  return as_dataset
