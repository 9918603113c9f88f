"""Every downstream metric of fine-tuning: GLUE, SQuAD v1.1/v2.0, CoNLL NER.

One module scores each benchmark one way, with the semantics of its official
evaluation, so numbers are comparable with published results:

* GLUE: accuracy, binary F1 and Matthews correlation from scikit-learn,
  Pearson and Spearman correlation from scipy.
* SQuAD: answer normalisation, exact match and token F1 as in the official
  v1.1/v2.0 scripts (the v2.0 rules for empty answers), and v2.0's search
  for the best no-answer threshold.
* NER: entity-level precision/recall/F1 with conlleval's chunking rules,
  ported here so IOB1, IOB2 and even invalid tag sequences score exactly as
  the Perl script scores them.

Everything runs on the host in numpy/python (no JAX) and returns plain
Python numbers, so results can be written to JSON as they are.
"""
import collections
import re
import statistics
import string

import numpy as np
from scipy import stats
from sklearn import metrics as sk_metrics

# GLUE.


def _paired_arrays(first, second) -> tuple[np.ndarray, np.ndarray]:
  """Both sides as 1-D arrays of one non-zero length."""
  first, second = np.asarray(first), np.asarray(second)
  if first.ndim != 1 or second.ndim != 1:
    raise ValueError(f'expected 1-D sequences, got shapes {first.shape} and '
                     f'{second.shape}')
  if len(first) != len(second):
    raise ValueError(f'length mismatch: {len(first)} vs {len(second)}')
  if not len(first):
    raise ValueError('cannot score an empty set')
  return first, second


def accuracy(labels, predictions) -> float:
  """Fraction of predictions equal to their label."""
  labels, predictions = _paired_arrays(labels, predictions)
  return float(sk_metrics.accuracy_score(labels, predictions))


def binary_f1(labels, predictions, positive=1) -> float:
  """F1 of the `positive` class; 0.0 when it is neither labelled nor
  predicted (the GLUE convention for MRPC and QQP)."""
  labels, predictions = _paired_arrays(labels, predictions)
  return float(sk_metrics.f1_score(labels, predictions, pos_label=positive,
                                   average='binary', zero_division=0.0))


def matthews_corr(labels, predictions) -> float:
  """Matthews correlation (CoLA); 0.0 when undefined, as sklearn does."""
  labels, predictions = _paired_arrays(labels, predictions)
  return float(sk_metrics.matthews_corrcoef(labels, predictions))


def _has_constant_side(first: np.ndarray, second: np.ndarray) -> bool:
  return bool(np.all(first == first[0]) or np.all(second == second[0]))


def pearson(targets, predictions) -> float:
  """Pearson's r. 0.0 when either side is constant, where r is undefined
  (scipy would return nan), so a collapsed model scores 0 and not nan."""
  targets, predictions = _paired_arrays(targets, predictions)
  if _has_constant_side(targets, predictions):
    return 0.0
  return float(stats.pearsonr(targets, predictions).statistic)


def spearman(targets, predictions) -> float:
  """Spearman's rho. 0.0 when either side is constant (see `pearson`)."""
  targets, predictions = _paired_arrays(targets, predictions)
  if _has_constant_side(targets, predictions):
    return 0.0
  return float(stats.spearmanr(targets, predictions).statistic)


def classification_metrics(kind: str, labels, predictions) -> dict:
  """The metric set of a GLUE task.

  Args:
    kind: 'accuracy' (SST-2, MNLI, QNLI, RTE, WNLI), 'accuracy_f1' (MRPC,
      QQP), 'mcc' (CoLA) or 'correlation' (STS-B, float targets).
    labels: gold labels (targets for 'correlation').
    predictions: predicted labels (scores for 'correlation').

  Returns:
    {'accuracy'}, {'accuracy', 'f1'}, {'mcc', 'accuracy'} or
    {'pearson', 'spearman'}, as fractions.
  """
  if kind == 'accuracy':
    return {'accuracy': accuracy(labels, predictions)}
  if kind == 'accuracy_f1':
    return {'accuracy': accuracy(labels, predictions),
            'f1': binary_f1(labels, predictions)}
  if kind == 'mcc':
    return {'mcc': matthews_corr(labels, predictions),
            'accuracy': accuracy(labels, predictions)}
  if kind == 'correlation':
    return {'pearson': pearson(labels, predictions),
            'spearman': spearman(labels, predictions)}
  raise ValueError(f'unknown metric kind {kind!r}; expected one of '
                   "'accuracy', 'accuracy_f1', 'mcc', 'correlation'")


# SQuAD, with the semantics of the official evaluate-v1.1.py/evaluate-v2.0.py.

_ARTICLES = re.compile(r'\b(a|an|the)\b', re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(s: str) -> str:
  """Lower-cases, drops punctuation, then the articles a/an/the, then
  collapses whitespace; the official order, which matters: 'T.h.e' -> ''."""
  text = s.lower()
  text = ''.join(ch for ch in text if ch not in _PUNCTUATION)
  text = _ARTICLES.sub(' ', text)
  return ' '.join(text.split())


def exact_match_score(prediction: str, gold: str) -> float:
  """1.0 when both normalise to the same string, else 0.0."""
  return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
  """Token F1 of the normalised answers (bags of whitespace tokens).

  With the v2.0 rule for empty answers: when either side has no tokens, F1
  is 1.0 if both are empty and 0.0 otherwise (v1.1 gave 0.0 for both empty,
  which never arises on v1.1 data).
  """
  prediction_tokens = normalize_answer(prediction).split()
  gold_tokens = normalize_answer(gold).split()
  if not prediction_tokens or not gold_tokens:
    return float(prediction_tokens == gold_tokens)
  common = (collections.Counter(prediction_tokens)
            & collections.Counter(gold_tokens))
  num_same = sum(common.values())
  if not num_same:
    return 0.0
  precision = num_same / len(prediction_tokens)
  recall = num_same / len(gold_tokens)
  return 2 * precision * recall / (precision + recall)


def _scorable_golds(answers) -> list[str]:
  """As in v2.0: golds that normalise to nothing are dropped, and a question
  left without golds (unanswerable) has '' as its only correct answer."""
  if isinstance(answers, str):
    raise TypeError(f'golds must be lists of answers, got the string '
                    f'{answers!r}')
  return [a for a in answers if normalize_answer(a)] or ['']


def _raw_scores(predictions: dict, golds: dict) -> tuple[dict, dict]:
  """Per-question exact match and F1 (fractions), each the best over the
  golds; questions without a prediction are left out."""
  exact, f1 = {}, {}
  for qid, answers in golds.items():
    answers = _scorable_golds(answers)
    if qid not in predictions:
      continue
    exact[qid] = max(exact_match_score(predictions[qid], a) for a in answers)
    f1[qid] = max(f1_score(predictions[qid], a) for a in answers)
  return exact, f1


def _percent_mean(scores: dict, qids: list) -> float:
  # A question missing from `scores` counts 0, as in v1.1.
  return 100.0 * sum(scores.get(qid, 0.0) for qid in qids) / len(qids)


def squad_scores(predictions: dict, golds: dict) -> dict:
  """SQuAD exact match and F1, in percent (0-100) as the official scripts.

  Args:
    predictions: question id -> predicted answer text ('' for no answer).
    golds: question id -> list of gold answer texts; [] for an unanswerable
      (SQuAD 2.0) question.

  Returns:
    'exact_match' and 'f1': mean over questions of the best score over its
    golds; a question missing from `predictions` counts 0 (as in v1.1; the
    v2.0 script skips it instead), 'num_missing' says how many did.
    'num_questions': the number of questions in `golds`. When some question
    is unanswerable, v2.0's breakdown as well: 'has_answer_exact_match',
    'has_answer_f1' (0.0 when there is no answerable question),
    'no_answer_exact_match' (equal to the no-answer F1) and the counts
    'has_answer_total', 'no_answer_total'.
  """
  if not golds:
    raise ValueError('no gold questions to score')
  exact, f1 = _raw_scores(predictions, golds)
  qids = list(golds)
  result = {'exact_match': _percent_mean(exact, qids),
            'f1': _percent_mean(f1, qids),
            'num_questions': len(qids),
            'num_missing': sum(qid not in predictions for qid in qids)}
  # Like v2.0, answerability is read from the raw gold list.
  has_answer = [qid for qid in qids if golds[qid]]
  no_answer = [qid for qid in qids if not golds[qid]]
  if no_answer:
    result.update({
        'has_answer_exact_match':
            _percent_mean(exact, has_answer) if has_answer else 0.0,
        'has_answer_f1': _percent_mean(f1, has_answer) if has_answer else 0.0,
        'no_answer_exact_match': _percent_mean(exact, no_answer),
        'has_answer_total': len(has_answer),
        'no_answer_total': len(no_answer),
    })
  return result


def _best_threshold(raw_scores: dict, predictions: dict,
                    null_minus_best: dict, golds: dict) -> tuple[float, float]:
  """v2.0's threshold search for one score (see `best_null_threshold`)."""
  scorable = [qid for qid in null_minus_best
              if qid in golds and qid in raw_scores]
  # Below every difference all questions are predicted unanswerable: each
  # unanswerable one scores 1, each answerable one 0.
  current = sum(1.0 for qid in scorable if not golds[qid])
  best, best_threshold = current, 0.0
  # Raising the threshold past a question's difference answers it instead.
  for qid in sorted(scorable, key=lambda q: null_minus_best[q]):
    if golds[qid]:
      current += raw_scores[qid]
    elif predictions[qid]:
      current -= 1.0
    if current > best:
      best, best_threshold = current, float(null_minus_best[qid])
  return 100.0 * best / len(golds), best_threshold


def best_null_threshold(predictions: dict, null_minus_best: dict,
                        golds: dict) -> dict:
  """The no-answer threshold that maximises exact match, and the one that
  maximises F1 (the official v2.0 script's `find_best_thresh`).

  A question is predicted unanswerable ('') when its difference exceeds the
  threshold (`apply_null_threshold`). The candidates are the differences
  themselves; as in the official script, when answering nothing scores best
  the threshold is reported as 0.0 (which then need not reproduce it).

  Args:
    predictions: question id -> best non-null answer text.
    null_minus_best: question id -> score_null - score_best_non_null.
    golds: question id -> list of gold answers ([] when unanswerable).

  Returns:
    'best_exact_match', 'best_f1' (percent, over all questions of `golds`)
    and 'best_exact_match_threshold', 'best_f1_threshold'. A question
    without a prediction or a difference counts 0 at every threshold.
  """
  if not golds:
    raise ValueError('no gold questions to score')
  exact, f1 = _raw_scores(predictions, golds)
  best_exact, exact_threshold = _best_threshold(exact, predictions,
                                                null_minus_best, golds)
  best_f1, f1_threshold = _best_threshold(f1, predictions, null_minus_best,
                                          golds)
  return {'best_exact_match': best_exact,
          'best_exact_match_threshold': exact_threshold,
          'best_f1': best_f1, 'best_f1_threshold': f1_threshold}


def apply_null_threshold(predictions: dict, null_minus_best: dict,
                         threshold: float) -> dict:
  """Predictions with '' where the null difference exceeds `threshold`;
  questions without a difference keep their prediction."""
  def predicted_null(qid):
    return qid in null_minus_best and null_minus_best[qid] > threshold
  return {qid: '' if predicted_null(qid) else text
          for qid, text in predictions.items()}


# NER and tagging, with conlleval's conventions.


def _split_tag(tag: str) -> tuple[str, str]:
  """('B', 'PER') for 'B-PER'. As conlleval, the prefix ends at the first
  hyphen (types may hold hyphens) and a tag without one has type ''."""
  prefix, hyphen, chunk_type = tag.partition('-')
  return (prefix, chunk_type) if hyphen else (tag, '')


# conlleval's chunk boundaries between consecutive (prefix, type) pairs; the
# E, [, ] and . prefixes are other chunk representations conlleval reads.
_END_PAIRS = frozenset({('B', 'B'), ('B', 'O'), ('I', 'B'), ('I', 'O'),
                        ('E', 'E'), ('E', 'I'), ('E', 'O')})
_START_PAIRS = frozenset({('B', 'B'), ('I', 'B'), ('O', 'B'), ('O', 'I'),
                          ('E', 'E'), ('E', 'I'), ('O', 'E')})
_OUTSIDE = ('O', '')


def _chunk_ends(previous: tuple[str, str], current: tuple[str, str]) -> bool:
  """Whether a chunk ended between the previous and the current token."""
  (previous_prefix, previous_type), (prefix, chunk_type) = previous, current
  return ((previous_prefix, prefix) in _END_PAIRS
          or (previous_prefix not in ('O', '.')
              and previous_type != chunk_type)
          or previous_prefix in ('[', ']'))


def _chunk_starts(previous: tuple[str, str], current: tuple[str, str]) -> bool:
  """Whether a chunk started at the current token."""
  (previous_prefix, previous_type), (prefix, chunk_type) = previous, current
  return ((previous_prefix, prefix) in _START_PAIRS
          or (prefix not in ('O', '.') and previous_type != chunk_type)
          or prefix in ('[', ']'))


def entity_chunks(tags: list[str]) -> list[tuple[str, int, int]]:
  """(type, first, end) of each entity in one sentence's tags, words
  [first, end), under the chunk rules `entity_scores` counts by."""
  chunks = []
  previous = _OUTSIDE
  # conlleval reads the sentence break as an O: it closes the last chunk.
  for index, tag in enumerate(list(tags) + ['O']):
    current = _split_tag(tag)
    if chunks and chunks[-1][2] is None and _chunk_ends(previous, current):
      chunks[-1] = (chunks[-1][0], chunks[-1][1], index)
    if index < len(tags) and _chunk_starts(previous, current):
      chunks.append((current[1], index, None))
    previous = current
  return chunks


def _prf(correct: int, gold: int, predicted: int) -> dict:
  """Precision, recall, F1; each 0.0 where undefined, as conlleval."""
  precision = correct / predicted if predicted else 0.0
  recall = correct / gold if gold else 0.0
  f1 = (2 * precision * recall / (precision + recall)
        if precision + recall else 0.0)
  return {'precision': precision, 'recall': recall, 'f1': f1}


def entity_scores(gold_sequences: list[list[str]],
                  predicted_sequences: list[list[str]]) -> dict:
  """Entity-level micro precision/recall/F1 and token accuracy (conlleval).

  An entity is a maximal chunk under conlleval's start/end rules (an I-X
  after O or after another type starts one, so IOB1 input scores like its
  IOB2 form); a predicted entity is correct only when its type and both
  boundaries match a gold one. Entities never cross sentences.

  Args:
    gold_sequences: per sentence, the gold tags ('B-PER', 'I-PER', 'O').
    predicted_sequences: per sentence, the predicted tags.

  Returns:
    'precision', 'recall', 'f1', 'accuracy' (token level) as fractions, and
    'per_type': type -> {'precision', 'recall', 'f1', 'support'}, support
    being the number of gold entities; types sorted, including types only
    predicted (support 0).
  """
  if len(gold_sequences) != len(predicted_sequences):
    raise ValueError(f'{len(gold_sequences)} gold sentences but '
                     f'{len(predicted_sequences)} predicted ones')
  correct_chunks = collections.Counter()
  gold_chunks = collections.Counter()
  predicted_chunks = collections.Counter()
  correct_tokens = num_tokens = 0
  # Whether the chunks now open in both started together with one type and
  # have matched so far.
  matching = False
  last_gold = last_predicted = _OUTSIDE
  for index, (gold_tags, predicted_tags) in enumerate(
      zip(gold_sequences, predicted_sequences)):
    if len(gold_tags) != len(predicted_tags):
      raise ValueError(f'sentence {index}: {len(gold_tags)} gold tags but '
                       f'{len(predicted_tags)} predicted tags')
    tokens = [(_split_tag(gold), _split_tag(predicted), True)
              for gold, predicted in zip(gold_tags, predicted_tags)]
    # conlleval reads a sentence break as an uncounted O token.
    tokens.append((_OUTSIDE, _OUTSIDE, False))
    for gold, predicted, is_token in tokens:
      gold_ends = _chunk_ends(last_gold, gold)
      predicted_ends = _chunk_ends(last_predicted, predicted)
      if matching:
        if gold_ends and predicted_ends and last_gold[1] == last_predicted[1]:
          matching = False
          correct_chunks[last_gold[1]] += 1
        elif gold_ends != predicted_ends or gold[1] != predicted[1]:
          matching = False
      gold_starts = _chunk_starts(last_gold, gold)
      predicted_starts = _chunk_starts(last_predicted, predicted)
      if gold_starts and predicted_starts and gold[1] == predicted[1]:
        matching = True
      if gold_starts:
        gold_chunks[gold[1]] += 1
      if predicted_starts:
        predicted_chunks[predicted[1]] += 1
      if is_token:
        correct_tokens += gold == predicted
        num_tokens += 1
      last_gold, last_predicted = gold, predicted
  if matching:  # conlleval closes a chunk still open at the end of input.
    correct_chunks[last_gold[1]] += 1

  result = _prf(sum(correct_chunks.values()), sum(gold_chunks.values()),
                sum(predicted_chunks.values()))
  result['accuracy'] = correct_tokens / num_tokens if num_tokens else 0.0
  result['per_type'] = {
      chunk_type: {**_prf(correct_chunks[chunk_type], gold_chunks[chunk_type],
                          predicted_chunks[chunk_type]),
                   'support': gold_chunks[chunk_type]}
      for chunk_type in sorted(set(gold_chunks) | set(predicted_chunks))}
  return result


# Reporting over seeds.


def _is_number(value) -> bool:
  return (isinstance(value, (int, float, np.integer, np.floating))
          and not isinstance(value, (bool, np.bool_)))


def median_over_seeds(per_seed: list[dict]) -> dict:
  """Median (statistics.median) of every numeric key present in all the
  per-seed results; other keys, such as nested dicts, are left out."""
  if not per_seed:
    raise ValueError('no per-seed results to summarise')
  return {key: float(statistics.median(float(r[key]) for r in per_seed))
          for key in per_seed[0]
          if all(key in r and _is_number(r[key]) for r in per_seed)}
