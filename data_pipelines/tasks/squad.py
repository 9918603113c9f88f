"""SQuAD 1.1 and 2.0: reading, featurising and decoding, as BERT's run_squad.py.

`read_squad` checks a file's structure and returns one `SquadExample` per
question. `featurize` lays each question out as
`[CLS] question [SEP] context-window [SEP]` rows: a context longer than a row
is cut into overlapping windows `doc_stride` tokens apart, and each context
token counts only in the window where it has the most context on both sides
(its "max context" window), so that every token is scored once. `decode` turns
start/end logits back into answer strings, BERT's `write_predictions`.

The context is tokenised once, with each token's character span in the
original text (`Tokenizer.encode_with_offsets`). That one mapping replaces
BERT's whitespace-word bookkeeping: the training targets are the first and
last tokens that overlap the answer's characters (BERT's char_to_word_offset
and _improve_answer_span), and a predicted answer is cut from the original
context characters, so it keeps their casing, accents and spacing (BERT's
get_final_text, which re-aligns a lowercased detokenised string).

Where this differs from run_squad.py, on purpose:
  - A training answer whose text is not at its `answer_start` (compared with
    runs of whitespace treated as equal) is skipped and reported in
    `SquadFeatures.skipped`, never trained on at a guessed position.
  - A context with no tokens still gets one (empty) window, so that every
    evaluation question has a feature and a prediction.
  - Decoding skips spans with no characters (a SentencePiece U+2581 piece on
    its own), which could only ever predict an empty string.
"""
import dataclasses
import json
from typing import Any, Optional, Sequence

import numpy as np

from data_pipelines.tasks import files
from data_pipelines.tokenizers import Tokenizer
from lm_jax.errors import InputError

VERSIONS = ('1.1', '2.0')
SPLITS = ('train', 'dev')

# Why a training question was left out (the values of `skipped`).
NO_ANSWER = 'answerable question without an answer'
NOT_IN_CONTEXT = 'answer not found in its context'
NO_TOKENS = 'answer covers no tokens'

# Rows start with [CLS] and the question's [SEP], and end with a [SEP].
_SPECIAL_TOKENS_PER_ROW = 3


@dataclasses.dataclass
class SquadExample:
  """One question about one context.

  Attributes:
    qid: the question's id, unique within its file.
    question: the question text.
    context: the paragraph the answer is to be found in.
    answers: the reference answers' texts; empty for SQuAD 2.0 questions
      with no answer (their `plausible_answers` are not read).
    answer_starts: the character offset in `context` of each answer.
    is_impossible: SQuAD 2.0's flag for a question the context cannot answer.
  """
  qid: str
  question: str
  context: str
  answers: list[str]
  answer_starts: list[int]
  is_impossible: bool


@dataclasses.dataclass
class SquadFeatures:
  """The rows of `featurize`: N windows of L tokens.

  Attributes:
    arrays: the model's inputs and targets: `ids`, `segment_ids`,
      `input_mask` and `context_mask` (1 at the window's context tokens, the
      positions an answer may start or end at) [N, L] int32;
      `start_position`, `end_position` [N] int32 (0, the [CLS] position,
      when the window does not hold the answer, for unanswerable questions
      and for evaluation rows); `example_index` [N] int32, the row's position
      in the list of examples featurised.
    token_to_char: [N, L, 2] int32, for each position the (start, end)
      character span in the example's context of the token there, or
      (-1, -1) outside the context. Host-side only, for decoding.
    max_context: [N, L] bool, whether this row is the token's max-context
      window. Host-side only, for decoding.
    skipped: the training questions left out, question id -> reason.
  """
  arrays: dict[str, np.ndarray]
  token_to_char: np.ndarray
  max_context: np.ndarray
  skipped: dict[str, str]

  def __len__(self) -> int:
    return len(self.arrays['ids'])

  def skipped_summary(self) -> str:
    """One line for the log, e.g. '3 training questions skipped: answer not
    found in its context (first: 5733be28...)'; '' if none were."""
    by_reason = {}
    for qid, reason in self.skipped.items():
      by_reason.setdefault(reason, []).append(qid)
    return '; '.join(
        f'{len(qids)} training question{"s" * (len(qids) != 1)} skipped: '
        f'{reason} (first: {qids[0]})' for reason, qids in by_reason.items())


def find_split(data_dir: str, split: str, version: str) -> str:
  """The path of `{split}-v{version}.json` (or `.json.gz`) in `data_dir`.

  Args:
    data_dir: the folder holding the official SQuAD files.
    split: 'train' or 'dev'.
    version: '1.1' or '2.0'.
  """
  if version not in VERSIONS:
    raise InputError(f'unknown SQuAD version {version!r} for {data_dir} '
                     f'(expected {" or ".join(VERSIONS)})')
  if split not in SPLITS:
    raise InputError(f'unknown SQuAD split {split!r} for {data_dir} '
                     f'(expected {" or ".join(SPLITS)})')
  return files.find(data_dir, (f'{split}-v{version}.json',),
                    f'SQuAD {version} {split}')


def read_squad(path: str) -> list[SquadExample]:
  """The questions of a SQuAD 1.1 or 2.0 file (plain or `.gz`), in order.

  Both versions share one layout; 2.0 adds `is_impossible` (False where
  absent). A question without `answers` gets none, so that unlabelled files
  can be predicted on.

  Raises:
    InputError: an unreadable file, invalid JSON (with its line and column),
      a missing or mistyped field (naming the article, paragraph and question
      where it is) or a question id that appears twice.
  """
  text = files.read_text(path)
  try:
    data = json.loads(text)
  except json.JSONDecodeError as e:
    raise InputError(
        f'{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}') from None
  if not isinstance(data, dict) or not isinstance(data.get('data'), list):
    raise InputError(f'{path}: not a SQuAD file (no top-level "data" list)')
  version = data.get('version', '')
  if not isinstance(version, str):
    raise InputError(f'{path}: "version" is {version!r}, not a string')
  examples = []
  where_seen = {}
  for a, article in enumerate(data['data']):
    for p, paragraph in enumerate(
        _field(article, 'paragraphs', list, path, f'article {a}')):
      where = f'article {a} paragraph {p}'
      context = _field(paragraph, 'context', str, path, where)
      for q, qa in enumerate(_field(paragraph, 'qas', list, path, where)):
        qid = _field(qa, 'id', str, path, f'{where} question {q}')
        if qid in where_seen:
          raise InputError(f'{path}: question id {qid!r} appears twice '
                           f'({where_seen[qid]} and {where})')
        where_seen[qid] = where
        examples.append(_read_question(qa, qid, context, path,
                                       f'question {qid!r} ({where})'))
  return examples


def _read_question(qa: dict[str, Any], qid: str, context: str, path: str,
                   where: str) -> SquadExample:
  """One entry of a paragraph's `qas`, checked."""
  question = _field(qa, 'question', str, path, where)
  is_impossible = qa.get('is_impossible', False)
  if not isinstance(is_impossible, bool):
    raise InputError(f'{path}: {where}: "is_impossible" is '
                     f'{is_impossible!r}, not true or false')
  raw_answers = qa.get('answers', [])
  if not isinstance(raw_answers, list):
    raise InputError(f'{path}: {where}: "answers" is not a list')
  answers, starts = [], []
  for k, answer in enumerate(raw_answers):
    answers.append(_field(answer, 'text', str, path, f'{where} answer {k}'))
    start = _field(answer, 'answer_start', int, path, f'{where} answer {k}')
    if isinstance(start, bool):  # JSON true/false load as Python ints.
      raise InputError(f'{path}: {where} answer {k}: "answer_start" is '
                       f'{start!r}, not an integer')
    starts.append(start)
  return SquadExample(qid, question, context, answers, starts, is_impossible)


def _field(obj: Any, key: str, kind: type, path: str, where: str) -> Any:
  """`obj[key]`, an InputError if obj is no JSON object or the value is
  missing or not of `kind`."""
  if not isinstance(obj, dict):
    raise InputError(f'{path}: {where} is not a JSON object')
  if key not in obj:
    raise InputError(f'{path}: {where} has no "{key}"')
  value = obj[key]
  if not isinstance(value, kind):
    expected = {str: 'a string', list: 'a list', int: 'an integer'}[kind]
    shown = repr(value) if len(repr(value)) <= 40 else type(value).__name__
    raise InputError(f'{path}: {where}: "{key}" is {shown}, not {expected}')
  return value


def featurize(examples: Sequence[SquadExample],
              tokenizer: Tokenizer,
              *,
              seq_len: int = 384,
              doc_stride: int = 128,
              max_query_length: int = 64,
              training: bool) -> SquadFeatures:
  """Rows `[CLS] question [SEP] window [SEP]` for `examples`, BERT's layout.

  The question is cut to its first `max_query_length` tokens. The context
  is tokenised once and cut into windows of at most
  `seq_len - len(question) - 3` tokens, each starting `doc_stride` tokens
  after the last, until one reaches the end of the context.

  Args:
    examples: the questions, from `read_squad`.
    tokenizer: the model's tokenizer; it must offer `encode_with_offsets`.
    seq_len: the row length L.
    doc_stride: how many tokens each window starts after the previous one.
    max_query_length: the most question tokens kept.
    training: if true, rows get the first answer's start and end token
      positions as targets, and a question whose first answer is missing or
      is not found at its `answer_start` is skipped (`skipped`); if false,
      every question is kept and the targets are 0.

  Returns:
    The rows, in the order of `examples` and their windows.

  Raises:
    InputError: sizes that leave no room for the context, or a stride < 1.
  """
  if seq_len - max_query_length - _SPECIAL_TOKENS_PER_ROW < 1:
    raise InputError(
        f'SQuAD seq_len {seq_len} leaves no room for a context after a '
        f'{max_query_length}-token question and 3 special tokens')
  if doc_stride < 1:
    raise InputError(f'SQuAD doc_stride must be at least 1, got {doc_stride}')
  blocks = []
  skipped = {}
  contexts = {}  # Questions come grouped by context: tokenise each once.
  for index, example in enumerate(examples):
    if example.context not in contexts:
      ids, spans = tokenizer.encode_with_offsets(example.context)
      contexts[example.context] = (np.asarray(ids, np.int32).reshape(-1),
                                   np.asarray(spans, np.int32).reshape(-1, 2))
    context_ids_T, spans_Tx2 = contexts[example.context]
    answer_tokens = None
    if training and not example.is_impossible:
      answer_tokens = _answer_tokens(example, spans_Tx2)
      if isinstance(answer_tokens, str):
        skipped[example.qid] = answer_tokens
        continue
    question_ids = tokenizer.encode(example.question)[:max_query_length]
    blocks.append(_example_rows(
        index, question_ids, context_ids_T, spans_Tx2, answer_tokens,
        tokenizer, seq_len, doc_stride))
  if blocks:
    rows = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
  else:  # Every question skipped, or none given: no rows, right shapes.
    rows = {k: np.zeros((0,) + v.shape[1:], v.dtype)
            for k, v in _example_rows(0, [], np.zeros(0, np.int32),
                                      np.zeros((0, 2), np.int32), None,
                                      tokenizer, seq_len, doc_stride).items()}
  token_to_char = rows.pop('token_to_char')
  max_context = rows.pop('max_context')
  return SquadFeatures(rows, token_to_char, max_context, skipped)


def _answer_tokens(example: SquadExample,
                   spans_Tx2: np.ndarray) -> tuple[int, int] | str:
  """The first and last context tokens of the first answer, or why not."""
  if not example.answers:
    return NO_ANSWER
  chars = _find_answer(example.context, example.answer_starts[0],
                       example.answers[0])
  if chars is None:
    return NOT_IN_CONTEXT
  begin, end = chars
  overlaps_T = ((spans_Tx2[:, 0] < end) & (spans_Tx2[:, 1] > begin) &
                (spans_Tx2[:, 1] > spans_Tx2[:, 0]))
  tokens = np.flatnonzero(overlaps_T)
  if not len(tokens):
    return NO_TOKENS
  return int(tokens[0]), int(tokens[-1])


def _find_answer(context: str, start: int,
                 text: str) -> Optional[tuple[int, int]]:
  """The answer's (begin, end) in `context` if `text` is at `start`.

  Runs of whitespace match any runs of whitespace (the official data has
  answers with a space where the context has two, or a newline), and the
  span excludes whitespace at either end.
  """
  words = text.split()
  if not words or not 0 <= start <= len(context):
    return None
  i = start
  while i < len(context) and context[i].isspace():
    i += 1
  begin = i
  for k, word in enumerate(words):
    if k:
      if i == len(context) or not context[i].isspace():
        return None
      while i < len(context) and context[i].isspace():
        i += 1
    if not context.startswith(word, i):
      return None
    i += len(word)
  return begin, i


def _windows(num_tokens: int, max_tokens: int,
             doc_stride: int) -> tuple[np.ndarray, np.ndarray]:
  """(starts [W], lengths [W]) of the context windows, BERT's loop."""
  starts, lengths = [], []
  start = 0
  while True:
    length = min(num_tokens - start, max_tokens)
    starts.append(start)
    lengths.append(length)
    if start + length >= num_tokens:
      return np.array(starts), np.array(lengths)
    start += min(length, doc_stride)


def _max_context_owner(starts_W: np.ndarray, lengths_W: np.ndarray,
                       num_tokens: int) -> np.ndarray:
  """[T]: the window where each token has max context (BERT's
  _check_is_max_context): the highest min(left, right) context plus
  0.01 * window length, the first such window on ties."""
  tokens_T = np.arange(num_tokens)
  left_WxT = tokens_T[None, :] - starts_W[:, None]
  right_WxT = (starts_W + lengths_W - 1)[:, None] - tokens_T[None, :]
  score_WxT = np.where((left_WxT >= 0) & (right_WxT >= 0),
                       np.minimum(left_WxT, right_WxT) +
                       0.01 * lengths_W[:, None], -np.inf)
  return np.argmax(score_WxT, axis=0)  # argmax picks the first of equals.


def _example_rows(index: int, question_ids: Sequence[int],
                  context_ids_T: np.ndarray, spans_Tx2: np.ndarray,
                  answer_tokens: Optional[tuple[int, int]],
                  tokenizer: Tokenizer, seq_len: int,
                  doc_stride: int) -> dict[str, np.ndarray]:
  """The W rows of one example, as arrays with W first."""
  num_tokens = len(context_ids_T)
  offset = len(question_ids) + 2  # Where the window starts in a row.
  max_tokens = seq_len - len(question_ids) - _SPECIAL_TOKENS_PER_ROW
  starts_W, lengths_W = _windows(num_tokens, max_tokens, doc_stride)
  num_windows = len(starts_W)

  # Context token index and whether it is inside the window, per position.
  positions_L = np.arange(seq_len)
  token_WxL = starts_W[:, None] + positions_L[None, :] - offset
  in_context_WxL = ((positions_L[None, :] >= offset) &
                    (positions_L[None, :] < offset + lengths_W[:, None]))
  token_WxL = np.where(in_context_WxL, token_WxL, 0)
  if not num_tokens:  # Nothing to gather from; in_context is all False.
    context_ids_T = np.zeros(1, np.int32)
    spans_Tx2 = np.zeros((1, 2), np.int32)

  ids_WxL = np.where(in_context_WxL, context_ids_T[token_WxL],
                     tokenizer.pad_id).astype(np.int32)
  ids_WxL[:, 0] = tokenizer.cls_id
  ids_WxL[:, 1:offset - 1] = question_ids
  ids_WxL[:, offset - 1] = tokenizer.sep_id
  ids_WxL[np.arange(num_windows), offset + lengths_W] = tokenizer.sep_id
  # The window's [SEP] is part of the row and of segment 1.
  in_row_WxL = positions_L[None, :] <= (offset + lengths_W)[:, None]
  segment_ids_WxL = in_row_WxL & (positions_L[None, :] >= offset)

  token_to_char_WxLx2 = np.where(in_context_WxL[..., None],
                                 spans_Tx2[token_WxL], -1).astype(np.int32)
  if num_tokens:
    owner_T = _max_context_owner(starts_W, lengths_W, num_tokens)
    max_context_WxL = in_context_WxL & (
        owner_T[token_WxL] == np.arange(num_windows)[:, None])
  else:
    max_context_WxL = in_context_WxL

  start_W = np.zeros(num_windows, np.int32)
  end_W = np.zeros(num_windows, np.int32)
  if answer_tokens is not None:
    first, last = answer_tokens
    # A window that does not hold the whole answer points at [CLS].
    holds_W = (first >= starts_W) & (last < starts_W + lengths_W)
    start_W = np.where(holds_W, first - starts_W + offset, 0)
    end_W = np.where(holds_W, last - starts_W + offset, 0)

  return {
      'ids': ids_WxL,
      'segment_ids': segment_ids_WxL.astype(np.int32),
      'input_mask': in_row_WxL.astype(np.int32),
      'context_mask': in_context_WxL.astype(np.int32),
      'start_position': start_W.astype(np.int32),
      'end_position': end_W.astype(np.int32),
      'example_index': np.full(num_windows, index, np.int32),
      'token_to_char': token_to_char_WxLx2,
      'max_context': max_context_WxL,
  }


def decode(examples: Sequence[SquadExample],
           features: SquadFeatures,
           start_logits_NxL: np.ndarray,
           end_logits_NxL: np.ndarray,
           *,
           n_best: int = 20,
           max_answer_length: int = 30,
           version_2: bool
           ) -> tuple[dict[str, str], dict[str, float], dict[str, list[dict]]]:
  """Answers from the model's start and end logits, BERT's write_predictions.

  In each row, the `n_best` highest start and end positions are paired; a
  pair counts if both ends are in the context, the start is at a
  max-context position, start <= end and it spans at most
  `max_answer_length` tokens. Its score is start_logit + end_logit, and an
  example's answer is the best pair over all its rows, cut from the
  original context characters.

  Args:
    examples: the examples `features` were made from.
    features: `featurize(examples, ..., training=False)`.
    start_logits_NxL: the model's start logits, one row per feature.
    end_logits_NxL: the model's end logits.
    n_best: how many start and end positions to pair, and the most
      non-null entries kept per question in `nbest`.
    max_answer_length: the longest answer, in tokens.
    version_2: SQuAD 2.0: also put the null answer ('') in `nbest`.

  Returns:
    predictions: question id -> the best non-null answer text ('' if no
      pair qualifies). For SQuAD 2.0 the caller predicts '' instead where
      `null_minus_best` exceeds its threshold.
    null_minus_best: question id -> s_null - best non-null score, where
      s_null = start_logit[0] + end_logit[0] is the MINIMUM over the
      example's rows; +inf when no pair qualifies (so any threshold
      predicts ''). Also computed for SQuAD 1.1, where it goes unused.
    nbest: question id -> up to `n_best` non-null entries, best first and one
      per distinct text, plus for SQuAD 2.0 the null entry (text '',
      start_char = end_char = -1) in its place by score, as in BERT's
      nbest_predictions.json. Each entry is {text, start_char, end_char,
      score, probability}, probability a softmax over the entries' scores.
  """
  start_NxL = np.asarray(start_logits_NxL, np.float64)
  end_NxL = np.asarray(end_logits_NxL, np.float64)
  context_mask_NxL = features.arrays['context_mask'].astype(bool)
  expected = context_mask_NxL.shape
  if start_NxL.shape != expected or end_NxL.shape != expected:
    raise ValueError(f'logits of shapes {start_NxL.shape} and '
                     f'{end_NxL.shape} for features of shape {expected}')
  num_rows = len(start_NxL)
  k = min(n_best, expected[1])

  # All rows' candidate pairs at once: [N, K, K], start-major like BERT's loop.
  # A stable sort keeps BERT's order among equal logits (sorted(reverse=True)).
  top_start_NxK = np.argsort(-start_NxL, axis=1, kind='stable')[:, :k]
  top_end_NxK = np.argsort(-end_NxL, axis=1, kind='stable')[:, :k]
  rows_Nx1x1 = np.arange(num_rows)[:, None, None]
  s_NxKxK = np.broadcast_to(top_start_NxK[:, :, None], (num_rows, k, k))
  e_NxKxK = np.broadcast_to(top_end_NxK[:, None, :], (num_rows, k, k))
  char_start_NxKxK = features.token_to_char[rows_Nx1x1, s_NxKxK, 0]
  char_end_NxKxK = features.token_to_char[rows_Nx1x1, e_NxKxK, 1]
  valid_NxKxK = (context_mask_NxL[rows_Nx1x1, s_NxKxK] &
                 context_mask_NxL[rows_Nx1x1, e_NxKxK] &
                 features.max_context[rows_Nx1x1, s_NxKxK] &
                 (e_NxKxK >= s_NxKxK) &
                 (e_NxKxK - s_NxKxK + 1 <= max_answer_length) &
                 (char_end_NxKxK > char_start_NxKxK))
  score_NxKxK = (start_NxL[rows_Nx1x1, s_NxKxK] +
                 end_NxL[rows_Nx1x1, e_NxKxK])
  null_N = start_NxL[:, 0] + end_NxL[:, 0]

  rows_of = [[] for _ in examples]
  for row, index in enumerate(features.arrays['example_index']):
    rows_of[index].append(row)

  predictions, null_minus_best, nbest = {}, {}, {}
  for index, example in enumerate(examples):
    rows = rows_of[index]
    if not rows:  # Only a training question can have been skipped.
      predictions[example.qid] = ''
      null_minus_best[example.qid] = float('inf')
      nbest[example.qid] = []
      continue
    valid = valid_NxKxK[rows]
    scores = score_NxKxK[rows][valid]
    char_starts = char_start_NxKxK[rows][valid]
    char_ends = char_end_NxKxK[rows][valid]
    entries = []
    seen = set()
    for i in np.argsort(-scores, kind='stable'):
      text = example.context[char_starts[i]:char_ends[i]]
      if text in seen:
        continue
      seen.add(text)
      entries.append({'text': text, 'start_char': int(char_starts[i]),
                      'end_char': int(char_ends[i]),
                      'score': float(scores[i])})
      if len(entries) == n_best:
        break
    null_score = float(np.min(null_N[rows]))
    if entries:
      predictions[example.qid] = entries[0]['text']
      null_minus_best[example.qid] = null_score - entries[0]['score']
    else:
      predictions[example.qid] = ''
      null_minus_best[example.qid] = float('inf')
    if version_2:
      null = {'text': '', 'start_char': -1, 'end_char': -1,
              'score': null_score}
      place = sum(e['score'] >= null_score for e in entries)
      entries.insert(place, null)
    nbest[example.qid] = _with_probabilities(entries)
  return predictions, null_minus_best, nbest


def _with_probabilities(entries: list[dict]) -> list[dict]:
  """Adds `probability`, a softmax over the entries' scores."""
  if not entries:
    return entries
  scores = np.array([e['score'] for e in entries])
  weights = np.exp(scores - scores.max())
  for entry, p in zip(entries, weights / weights.sum()):
    entry['probability'] = float(p)
  return entries
