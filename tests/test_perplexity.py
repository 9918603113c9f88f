"""lm_jax/perplexity.py: the sliding windows score every token after the
first exactly once, the windowed NLL equals full forward passes, the text and
its bytes are defined exactly, and bits per byte is the total NLL over them.
"""
import dataclasses
import gzip
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import assert_one_line, load_named_config
from lm_jax import perplexity
from lm_jax.errors import InputError
from lm_jax.models.gpt import CausalLM
from lm_jax.models.model_config import from_model_config

VOCAB = 97


def test_windows_by_hand():
  # 10 tokens: 9 predictions (positions 0..8 predict tokens 1..9).
  np.testing.assert_array_equal(perplexity.windows(10, 4, 2), [
      [0, 4, 0],  # feeds 0-3, scores tokens 1-4
      [2, 6, 4],  # feeds 2-5, scores tokens 5-6
      [4, 8, 6],  # tokens 7-8
      [6, 9, 8],  # feeds 6-8, scores token 9
  ])
  # Stride == context: disjoint windows, each scoring all it feeds.
  np.testing.assert_array_equal(perplexity.windows(10, 4, 4),
                                [[0, 4, 0], [4, 8, 4], [8, 9, 8]])
  np.testing.assert_array_equal(perplexity.windows(5, 4, 1), [[0, 4, 0]])
  np.testing.assert_array_equal(perplexity.windows(2, 4, 2), [[0, 1, 0]])
  assert perplexity.windows(1, 4, 2).shape == (0, 3)  # nothing to predict


@pytest.mark.parametrize('num_tokens', [2, 3, 17, 64, 65, 100])
@pytest.mark.parametrize('context, stride', [(1, 1), (8, 1), (8, 3), (8, 7),
                                             (8, 8), (16, 5), (64, 32)])
def test_every_token_after_the_first_is_scored_exactly_once(
    num_tokens, context, stride):
  rows = perplexity.windows(num_tokens, context, stride)
  scored = np.zeros(num_tokens, int)
  for k, (begin, end, first) in enumerate(rows):
    assert begin == k * stride and 0 < end - begin <= context
    assert begin <= first < end
    scored[first + 1:end + 1] += 1  # position p predicts token p + 1
    # Each scored token sees at least context - stride tokens before it (all
    # of them near the start).
    assert first - begin + 1 >= min(first + 1, context - stride + 1)
  np.testing.assert_array_equal(scored, [0] + [1] * (num_tokens - 1))
  assert rows[-1][1] == num_tokens - 1
  if stride == context:  # disjoint windows
    np.testing.assert_array_equal(rows[:, 2], rows[:, 0])
    np.testing.assert_array_equal(rows[1:, 0], rows[:-1, 1])


def test_window_settings_are_checked():
  with pytest.raises(InputError) as e:
    perplexity.check_window(16, 17, 64)
  assert_one_line(e, '--stride', '[1, --context=16]', '17')
  with pytest.raises(InputError) as e:
    perplexity.check_window(128, 8, 64)
  assert_one_line(e, '--context', '[1, 64]', '128')
  with pytest.raises(InputError):
    perplexity.check_window(16, 0, 64)


@pytest.fixture(scope='module')
def tiny():
  """A random model of configs/gpt2_small.py:tiny's shape (64 positions)."""
  c = load_named_config('gpt2_small', 'tiny')
  config = dataclasses.replace(from_model_config(c.model, VOCAB), init_std=0.3)
  ids = jnp.zeros((1, 4), jnp.int32)
  params = nn.unbox(jax.jit(CausalLM(config).init)(
      jax.random.key(0), ids, jnp.ones_like(ids))['params'])
  return config, params


def stream(n, seed=0):
  return np.random.default_rng(seed).integers(0, VOCAB, n).astype(np.int32)


def direct_mean_nll(config, params, ids):
  """The mean NLL of tokens 1..N-1 from one full forward pass."""
  x = jnp.asarray(ids[None])
  logits = jax.jit(CausalLM(config).apply)({'params': params}, x,
                                           jnp.ones_like(x))
  logp = jax.nn.log_softmax(logits[0, :-1], axis=-1)
  return float(-jnp.mean(logp[jnp.arange(len(ids) - 1), x[0, 1:]]))


def test_one_window_equals_a_full_forward_pass(tiny):
  config, params = tiny
  ids = stream(40)
  total, tokens = perplexity.total_nll(config, params, [ids], context=64,
                                       stride=32)
  assert tokens == 39
  assert total / tokens == pytest.approx(direct_mean_nll(config, params, ids),
                                         rel=1e-5)


def test_sliding_windows_equal_each_window_run_alone(tiny):
  """Smaller stride: every token once (N - 1 of them), each with its
  window's context; padding and batching change nothing."""
  config, params = tiny
  ids = stream(50, seed=1)
  expected = 0.0
  apply = jax.jit(CausalLM(config).apply)
  for begin, end, first in perplexity.windows(len(ids), 16, 5):
    window = jnp.asarray(ids[None, begin:end + 1])
    logits = apply({'params': params}, window[:, :-1],
                   jnp.ones_like(window[:, :-1]))
    logp = jax.nn.log_softmax(logits[0], axis=-1)
    nll = -logp[jnp.arange(end - begin), window[0, 1:]]
    expected += float(nll[first - begin:].sum())
  results = [perplexity.total_nll(config, params, [ids], context=16, stride=5,
                                  batch_size=b) for b in (8, 3, 8)]
  for total, tokens in results:
    assert tokens == 49
    assert total == pytest.approx(expected, rel=1e-5)
  assert results[0] == results[2]  # deterministic
  # Streams are scored apart: the total of two is the sum of each.
  other = stream(23, seed=2)
  both = perplexity.total_nll(config, params, [ids, other], context=16,
                              stride=5)
  alone = perplexity.total_nll(config, params, [other], context=16, stride=5)
  assert both[1] == 49 + 22
  assert both[0] == pytest.approx(results[0][0] + alone[0], rel=1e-5)


def test_bits_per_byte_by_hand():
  # 3 tokens at a loss of 2 nats over 'héllo' (6 UTF-8 bytes):
  # 6 nats = 6 / ln 2 bits over 6 bytes.
  assert perplexity.bits_per_byte(2.0 * 3, len('héllo'.encode())) == (
      pytest.approx(1 / math.log(2)))
  assert perplexity.bits_per_byte(10.0, 5) == pytest.approx(
      10 / math.log(2) / 5)


def test_a_file_is_its_lines_each_ended_by_a_newline(tmp_path):
  """CRLF -> LF, a final newline added, blank lines kept, .gz read
  decompressed, globs expanded in order."""
  (tmp_path / 'a.txt').write_bytes(b'\xef\xbb\xbf = T\xc3\xa9 = \r\n\r\n'
                                   b'one two\r\nlast')
  with gzip.open(tmp_path / 'b.txt.gz', 'wb') as f:
    f.write(b'x\n\n')
  texts = perplexity.read_texts(f'{tmp_path}/a.txt,{tmp_path}/*.gz')
  assert texts == [(f'{tmp_path}/a.txt', ' = Té = \n\none two\nlast\n'),
                   (f'{tmp_path}/b.txt.gz', 'x\n\n')]
  assert len(texts[0][1].encode('utf-8')) == 24  # é is 2 bytes


def test_undecodable_bytes_follow_decode_errors(tmp_path):
  (tmp_path / 'bad.txt').write_bytes(b'ok\nbad \xff byte\n')
  with pytest.raises(InputError) as e:
    perplexity.read_texts(str(tmp_path / 'bad.txt'))
  assert_one_line(e, 'bad.txt:2')
  assert perplexity.read_texts(str(tmp_path / 'bad.txt'), 'replace')[0][1] == (
      'ok\nbad \ufffd byte\n')


class _Tokenizer:
  eot_id = 9

  def encode(self, text):
    return [ord(c) % 7 for c in text]


def test_a_stream_starts_with_the_end_of_text_token():
  """So the text's first token is scored, as a document's first token
  follows an end-of-text token in the training stream."""
  np.testing.assert_array_equal(perplexity.text_stream(_Tokenizer(), 'ab\n'),
                                [9, 97 % 7, 98 % 7, 10 % 7])
