"""lm_jax/finetuning/metrics.py: GLUE, SQuAD and CoNLL NER scores."""
import json
import random
import warnings

import numpy as np
import pytest
from scipy import stats
from seqeval import metrics as seqeval_metrics

from data_pipelines.tasks import conll
from lm_jax.finetuning import metrics


# GLUE.


def test_classification_scores_by_hand():
  labels = [1, 0, 1, 1, 0]
  predictions = [1, 1, 1, 0, 0]
  # Correct at 0, 2, 4: 3/5.
  assert metrics.accuracy(labels, predictions) == pytest.approx(0.6)
  # Positive 1: tp=2 (0, 2), fp=1 (1), fn=1 (3) -> 2*2 / (2*2 + 1 + 1).
  assert metrics.binary_f1(labels, predictions) == pytest.approx(2 / 3)
  # Positive 0: tp=1 (4), fp=1 (3), fn=1 (1) -> 2 / (2 + 1 + 1).
  assert metrics.binary_f1(labels, predictions, positive=0) == pytest.approx(
      0.5)
  # tp=2, tn=1, fp=1, fn=1: (2*1 - 1*1) / sqrt(3 * 3 * 2 * 2) = 1/6.
  assert metrics.matthews_corr(labels, predictions) == pytest.approx(1 / 6)


def test_undefined_scores_are_zero():
  # No positive labelled or predicted: F1 undefined -> 0.
  assert metrics.binary_f1([0, 0, 0], [0, 0, 0]) == 0.0
  # A constant prediction leaves MCC undefined -> 0.
  assert metrics.matthews_corr([0, 1, 1, 0], [1, 1, 1, 1]) == 0.0
  assert metrics.pearson([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == 0.0
  assert metrics.spearman([4.0, 4.0, 4.0], [1.0, 3.0, 2.0]) == 0.0


def test_correlations_by_hand():
  # dx = (-1, 0, 1), dy = (-4/3, -1/3, 5/3): r = 3 / sqrt(2 * 14/3).
  assert metrics.pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(
      3 / np.sqrt(28 / 3))
  assert metrics.spearman([1, 2, 3], [1, 2, 4]) == pytest.approx(1.0)
  # Rank differences (-2, 1, 1): 1 - 6 * 6 / (3 * (9 - 1)) = -0.5.
  assert metrics.spearman([1, 2, 3], [3, 1, 2]) == pytest.approx(-0.5)


def test_agreement_with_direct_formulas_on_random_arrays():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, size=200)
  predictions = np.where(rng.random(200) < 0.7, labels, 1 - labels)
  tp = np.sum((labels == 1) & (predictions == 1))
  tn = np.sum((labels == 0) & (predictions == 0))
  fp = np.sum((labels == 0) & (predictions == 1))
  fn = np.sum((labels == 1) & (predictions == 0))
  assert metrics.accuracy(labels, predictions) == pytest.approx(
      (tp + tn) / 200)
  assert metrics.binary_f1(labels, predictions) == pytest.approx(
      2 * tp / (2 * tp + fp + fn))
  assert metrics.matthews_corr(labels, predictions) == pytest.approx(
      (tp * tn - fp * fn)
      / np.sqrt(float((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))))

  targets = rng.uniform(0, 5, size=100)
  scores = targets + rng.normal(0, 1.5, size=100)
  assert metrics.pearson(targets, scores) == pytest.approx(
      np.corrcoef(targets, scores)[0, 1])
  assert metrics.spearman(targets, scores) == pytest.approx(
      np.corrcoef(stats.rankdata(targets), stats.rankdata(scores))[0, 1])
  assert metrics.spearman(targets, scores) == pytest.approx(
      stats.spearmanr(targets, scores).statistic)


def test_classification_metrics_sets_and_json():
  labels, predictions = [1, 0, 1, 1, 0], [1, 1, 1, 0, 0]
  assert metrics.classification_metrics('accuracy', labels, predictions) == {
      'accuracy': pytest.approx(0.6)}
  assert metrics.classification_metrics(
      'accuracy_f1', labels, predictions) == {
          'accuracy': pytest.approx(0.6), 'f1': pytest.approx(2 / 3)}
  cola = metrics.classification_metrics('mcc', np.array(labels),
                                        np.array(predictions))
  assert cola == {'mcc': pytest.approx(1 / 6), 'accuracy': pytest.approx(0.6)}
  stsb = metrics.classification_metrics('correlation', [0.5, 2.0, 4.5],
                                        [1.0, 2.5, 3.0])
  assert set(stsb) == {'pearson', 'spearman'}
  assert stsb['spearman'] == pytest.approx(1.0)
  # Plain floats, even from numpy inputs, so results serialise as they are.
  for value in (*cola.values(), *stsb.values()):
    assert type(value) is float  # pylint: disable=unidiomatic-typecheck
  json.dumps(cola)
  with pytest.raises(ValueError, match='unknown metric kind'):
    metrics.classification_metrics('f1', labels, predictions)


def test_mismatched_or_empty_inputs_raise():
  with pytest.raises(ValueError, match='length mismatch'):
    metrics.accuracy([1, 0], [1])
  with pytest.raises(ValueError, match='empty'):
    metrics.pearson([], [])


# SQuAD.


@pytest.mark.parametrize('text, normalized', [
    ('The  Quick, brown fox!', 'quick brown fox'),
    ('an apple a day', 'apple day'),
    # Articles only as whole words.
    ('Theater anatomy', 'theater anatomy'),
    ("don't  stop", 'dont stop'),
    # Punctuation goes before articles: 't.h.e' becomes the article 'the'.
    ('T.h.e end', 'end'),
    ('\tTHE\nEnd ', 'end'),
    ('', ''),
])
def test_normalize_answer(text, normalized):
  assert metrics.normalize_answer(text) == normalized


def test_exact_match_and_f1_by_hand():
  assert metrics.exact_match_score('The Cat!', 'cat') == 1.0
  assert metrics.exact_match_score('cat sat', 'sat cat') == 0.0
  # Tokens (cat, sat) vs (cat, sat, down): P = 1, R = 2/3, F1 = 0.8.
  assert metrics.f1_score('the cat sat', 'a cat sat down') == pytest.approx(
      0.8)
  # Bags, not sets: common = min(2, 1) cats + min(1, 2) dogs = 2 of 3 each.
  assert metrics.f1_score('cat cat dog', 'cat dog dog') == pytest.approx(
      2 / 3)
  assert metrics.f1_score('red car', 'blue truck') == 0.0
  # v2.0: with an empty side, 1 iff both are empty after normalisation.
  assert metrics.f1_score('', '') == 1.0
  assert metrics.f1_score('the', '') == 1.0
  assert metrics.f1_score('cat', '') == 0.0
  assert metrics.f1_score('', 'cat') == 0.0


def test_squad_scores_best_over_golds_and_missing():
  golds = {'q1': ['Denver Broncos', 'Broncos'], 'q2': ['Carolina Panthers'],
           'q3': ['Santa Clara']}
  predictions = {'q1': 'the Broncos', 'q2': 'Panthers team'}
  result = metrics.squad_scores(predictions, golds)
  # q1 matches its second gold (EM 1, F1 1); q2: 1 of 2 tokens each way
  # (EM 0, F1 0.5); q3 has no prediction (0, 0). Means over 3 questions.
  assert result == {'exact_match': pytest.approx(100 / 3),
                    'f1': pytest.approx(150 / 3),
                    'num_questions': 3, 'num_missing': 1}
  json.dumps(result)


def test_squad_v2_has_and_no_answer_breakdown():
  golds = {'q1': ['Paris'], 'q2': [], 'q3': [], 'q4': ['red car']}
  predictions = {'q1': 'Paris', 'q2': '', 'q3': 'London', 'q4': 'car'}
  result = metrics.squad_scores(predictions, golds)
  # EM: q1 1, q2 1 ('' is the only gold), q3 0, q4 0.
  # F1: q1 1, q2 1, q3 0, q4 2 * (1 * 1/2) / (1 + 1/2) = 2/3.
  assert result['exact_match'] == pytest.approx(50.0)
  assert result['f1'] == pytest.approx(100 * (2 + 2 / 3) / 4)
  assert result['has_answer_exact_match'] == pytest.approx(50.0)
  assert result['has_answer_f1'] == pytest.approx(100 * (1 + 2 / 3) / 2)
  assert result['no_answer_exact_match'] == pytest.approx(50.0)
  assert result['has_answer_total'] == 2
  assert result['no_answer_total'] == 2
  # Without unanswerable questions there is no breakdown.
  assert 'no_answer_total' not in metrics.squad_scores(
      {'q1': 'Paris'}, {'q1': ['Paris']})


def test_squad_gold_that_normalises_to_nothing_counts_as_empty():
  # As in v2.0, the gold 'The' is dropped, leaving '' as the only answer,
  # while the question still counts as answerable.
  result = metrics.squad_scores({'q': ''}, {'q': ['The']})
  assert result['exact_match'] == 100.0 and result['f1'] == 100.0
  assert 'has_answer_total' not in result
  with_unanswerable = metrics.squad_scores({'q': '', 'u': ''},
                                           {'q': ['The'], 'u': []})
  assert with_unanswerable['has_answer_total'] == 1
  assert with_unanswerable['has_answer_exact_match'] == 100.0
  # Dropped, not matched: beside a real gold, 'The' does not make '' right.
  assert metrics.squad_scores({'q': ''}, {'q': ['The', 'cat']})[
      'exact_match'] == 0.0


# Hand example for the no-answer threshold (null_minus_best ascending):
#   qid  diff  gold       prediction  EM  F1
#   q1   -2.0  Paris      Paris       1   1
#   q4   -1.0  (none)     Rome        -1  -1   (answering it loses the 1)
#   q5    0.0  blue       blue sky    0   2/3
#   q3    0.5  red car    car red     0   1
#   q2    1.0  (none)     London      -1  -1
# Answering nothing scores 2 (q2, q4). Running totals as the threshold rises
# past each difference: EM 3, 2, 2, 2, 1 -> best 3/5 at -2.0;
# F1 3, 2, 2 2/3, 3 2/3, 2 2/3 -> best 3 2/3 / 5 at 0.5.
_THRESHOLD_GOLDS = {'q1': ['Paris'], 'q2': [], 'q3': ['red car'], 'q4': [],
                    'q5': ['blue']}
_THRESHOLD_PREDICTIONS = {'q1': 'Paris', 'q2': 'London', 'q3': 'car red',
                          'q4': 'Rome', 'q5': 'blue sky'}
_NULL_MINUS_BEST = {'q1': -2.0, 'q2': 1.0, 'q3': 0.5, 'q4': -1.0, 'q5': 0.0}


def test_best_null_threshold_by_hand():
  result = metrics.best_null_threshold(_THRESHOLD_PREDICTIONS,
                                       _NULL_MINUS_BEST, _THRESHOLD_GOLDS)
  assert result == {'best_exact_match': pytest.approx(60.0),
                    'best_exact_match_threshold': -2.0,
                    'best_f1': pytest.approx(100 * (3 + 2 / 3) / 5),
                    'best_f1_threshold': 0.5}


def test_applying_the_best_threshold_reproduces_its_score():
  thresholded = metrics.apply_null_threshold(
      _THRESHOLD_PREDICTIONS, _NULL_MINUS_BEST, 0.5)
  # Only q2 (1.0 > 0.5) becomes unanswered; q3 sits on the threshold.
  assert thresholded == {**_THRESHOLD_PREDICTIONS, 'q2': ''}
  scores = metrics.squad_scores(thresholded, _THRESHOLD_GOLDS)
  assert scores['f1'] == pytest.approx(100 * (3 + 2 / 3) / 5)
  # A question without a difference keeps its prediction.
  assert metrics.apply_null_threshold({'q': 'x'}, {}, -10.0) == {'q': 'x'}


def test_best_null_threshold_when_answering_nothing_is_best():
  # q_a answered wrongly, q_b unanswerable but answered: starting from 1
  # (all null), answering q_b gives 0, then q_a 0. Best stays 1 of 2, with
  # the official script's initial threshold 0.0.
  result = metrics.best_null_threshold(
      {'qa': 'wrong', 'qb': 'text'}, {'qa': -1.0, 'qb': -3.0},
      {'qa': ['right'], 'qb': []})
  assert result['best_exact_match'] == pytest.approx(50.0)
  assert result['best_exact_match_threshold'] == 0.0
  assert result['best_f1'] == pytest.approx(50.0)


def test_best_null_threshold_keeps_the_first_of_tied_thresholds():
  # From 1 (q2 null): answering q1 gives 2 at -1.0, q2 then 1, q3 again 2 at
  # 1.0; only a strictly better total moves the threshold, as officially.
  result = metrics.best_null_threshold(
      {'q1': 'a cat', 'q2': 'dog', 'q3': 'fish'},
      {'q1': -1.0, 'q2': 0.0, 'q3': 1.0},
      {'q1': ['cat'], 'q2': [], 'q3': ['fish']})
  assert result['best_exact_match'] == pytest.approx(200 / 3)
  assert result['best_exact_match_threshold'] == -1.0
  assert result['best_f1_threshold'] == -1.0


def test_best_null_threshold_counts_missing_questions_as_zero():
  golds = {**_THRESHOLD_GOLDS, 'q6': ['Rome']}
  result = metrics.best_null_threshold(_THRESHOLD_PREDICTIONS,
                                       _NULL_MINUS_BEST, golds)
  # Same best totals as the hand example, now over 6 questions.
  assert result['best_exact_match'] == pytest.approx(50.0)
  assert result['best_f1'] == pytest.approx(100 * (3 + 2 / 3) / 6)


# NER.


@pytest.mark.parametrize('iob1, iob2', [
    (['I-PER', 'I-PER', 'O', 'I-LOC'], ['B-PER', 'I-PER', 'O', 'B-LOC']),
    # B- in IOB1 separates two adjacent chunks of one type; it stays.
    (['I-PER', 'B-PER', 'I-PER'], ['B-PER', 'B-PER', 'I-PER']),
    # A change of type starts a chunk.
    (['I-ORG', 'I-LOC', 'I-LOC'], ['B-ORG', 'B-LOC', 'I-LOC']),
    (['B-ORG', 'I-ORG', 'O'], ['B-ORG', 'I-ORG', 'O']),
    ([], []),
])
def test_iob1_to_iob2(iob1, iob2):
  assert conll.to_iob2(iob1) == iob2


def test_entity_scores_by_hand():
  gold = [['B-PER', 'I-PER', 'O', 'B-LOC', 'O', 'B-ORG', 'I-ORG'],
          ['I-MISC', 'I-MISC'],
          ['I-MISC']]
  predicted = [['B-PER', 'I-PER', 'O', 'B-ORG', 'O', 'B-ORG', 'O'],
               ['B-MISC', 'I-MISC'],
               ['I-MISC']]
  # Sentence 0: gold PER(0-1), LOC(3), ORG(5-6); predicted PER(0-1) correct,
  # ORG(3) a type error, ORG(5) a boundary error.
  # Sentences 1 and 2: IOB1 I-MISC starts a chunk; MISC(0-1) and MISC(0)
  # both correct, and they must not merge across the sentence break.
  # Entities: 5 gold, 5 predicted, 3 correct. Tokens: 7 of 10 equal.
  result = metrics.entity_scores(gold, predicted)
  assert result['precision'] == pytest.approx(0.6)
  assert result['recall'] == pytest.approx(0.6)
  assert result['f1'] == pytest.approx(0.6)
  assert result['accuracy'] == pytest.approx(0.7)
  assert result['per_type'] == {
      'LOC': {'precision': 0.0, 'recall': 0.0, 'f1': 0.0, 'support': 1},
      'MISC': {'precision': 1.0, 'recall': 1.0, 'f1': 1.0, 'support': 2},
      # 2 predicted ORGs, neither correct.
      'ORG': {'precision': 0.0, 'recall': 0.0, 'f1': 0.0, 'support': 1},
      'PER': {'precision': 1.0, 'recall': 1.0, 'f1': 1.0, 'support': 1},
  }
  json.dumps(result)


def test_entity_scores_precision_differs_from_recall():
  # Gold LOC(0-1) and PER(3); predicted LOC(0-1) only: P = 1/1, R = 1/2.
  result = metrics.entity_scores([['B-LOC', 'I-LOC', 'O', 'B-PER']],
                                 [['B-LOC', 'I-LOC', 'O', 'O']])
  assert result['precision'] == 1.0
  assert result['recall'] == pytest.approx(0.5)
  assert result['f1'] == pytest.approx(2 / 3)
  # A type only predicted is reported with support 0.
  extra = metrics.entity_scores([['O']], [['B-DATE']])
  assert extra['per_type'] == {
      'DATE': {'precision': 0.0, 'recall': 0.0, 'f1': 0.0, 'support': 0}}
  assert extra['precision'] == 0.0 and extra['f1'] == 0.0


def test_entity_scores_invalid_transitions_follow_conlleval():
  # I-LOC after B-PER starts a LOC chunk; I-PER after it starts another PER.
  gold = [['B-PER', 'I-LOC', 'I-PER']]
  result = metrics.entity_scores(gold, gold)
  assert result['per_type']['PER']['support'] == 2
  assert result['per_type']['LOC']['support'] == 1
  assert result['f1'] == 1.0


def test_entity_scores_typeless_tags_follow_conlleval():
  # Chunk tags without types (type ''), as conlleval reads them: gold has
  # I(1-2) (an I after O starts a chunk) and B(0) in the next sentence;
  # predicted I(1), B(2), B(0). One correct: P = 1/3, R = 1/2, F1 = 0.4.
  result = metrics.entity_scores([['O', 'I', 'I'], ['B']],
                                 [['O', 'I', 'B'], ['B']])
  assert result['precision'] == pytest.approx(1 / 3)
  assert result['recall'] == pytest.approx(0.5)
  assert result['f1'] == pytest.approx(0.4)
  assert result['per_type'][''] == {
      'precision': pytest.approx(1 / 3), 'recall': 0.5,
      'f1': pytest.approx(0.4), 'support': 2}
  # 'X' after B-PER opens a typeless chunk that no later O closes;
  # conlleval still counts it correct at the end of the input.
  open_chunk = metrics.entity_scores([['B-PER', 'X']], [['B-PER', 'X']])
  assert open_chunk['f1'] == 1.0
  assert open_chunk['per_type']['']['support'] == 1


def test_types_may_hold_hyphens():
  # As conlleval: the prefix ends at the first hyphen.
  assert conll.to_iob2(['I-geo-loc', 'I-geo-loc']) == [
      'B-geo-loc', 'I-geo-loc']
  result = metrics.entity_scores([['B-geo-loc', 'I-geo-loc', 'B-geo-org']],
                                 [['B-geo-loc', 'I-geo-loc', 'I-geo-loc']])
  assert set(result['per_type']) == {'geo-loc', 'geo-org'}
  assert result['per_type']['geo-loc']['precision'] == 0.0  # boundary error
  assert result['per_type']['geo-org']['support'] == 1


def test_iob1_and_iob2_inputs_score_alike():
  gold = [['I-PER', 'I-PER', 'B-PER', 'O', 'I-LOC']]
  predicted = [['I-PER', 'O', 'I-PER', 'I-LOC', 'I-LOC']]
  as_iob1 = metrics.entity_scores(gold, predicted)
  as_iob2 = metrics.entity_scores([conll.to_iob2(s) for s in gold],
                                  [conll.to_iob2(s) for s in predicted])
  for key in ('precision', 'recall', 'f1', 'per_type'):
    assert as_iob1[key] == as_iob2[key]
  # Gold PER(0-1), PER(2), LOC(4); predicted PER(0), PER(2), LOC(3-4).
  assert as_iob1['precision'] == pytest.approx(1 / 3)


def _random_sequences(rng, num_sentences):
  tags = ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC', 'B-MISC', 'I-MISC']
  gold = [[rng.choice(tags) for _ in range(rng.randint(1, 9))]
          for _ in range(num_sentences)]
  # Half the predicted tags copied, half random (invalid ones included).
  predicted = [[rng.choice(tags) if rng.random() < 0.5 else tag for tag in s]
               for s in gold]
  return gold, predicted


def test_agreement_with_seqeval():
  rng = random.Random(0)
  for _ in range(50):
    gold, predicted = _random_sequences(rng, rng.randint(1, 6))
    result = metrics.entity_scores(gold, predicted)
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')  # undefined scores, set to 0 by both
      report = seqeval_metrics.classification_report(
          gold, predicted, output_dict=True, zero_division=0)
      expected_f1 = seqeval_metrics.f1_score(gold, predicted)
      expected_precision = seqeval_metrics.precision_score(gold, predicted)
      expected_recall = seqeval_metrics.recall_score(gold, predicted)
    assert result['f1'] == pytest.approx(expected_f1)
    assert result['precision'] == pytest.approx(expected_precision)
    assert result['recall'] == pytest.approx(expected_recall)
    assert result['accuracy'] == pytest.approx(
        seqeval_metrics.accuracy_score(gold, predicted))
    for chunk_type, scores in result['per_type'].items():
      if chunk_type not in report:  # seqeval lists gold types only
        assert scores['support'] == 0
        continue
      assert scores['support'] == report[chunk_type]['support']
      assert scores['precision'] == pytest.approx(
          report[chunk_type]['precision'])
      assert scores['recall'] == pytest.approx(report[chunk_type]['recall'])
      assert scores['f1'] == pytest.approx(report[chunk_type]['f1-score'])


def test_entity_scores_rejects_mismatched_lengths():
  with pytest.raises(ValueError, match='sentence 1'):
    metrics.entity_scores([['O'], ['B-PER', 'O']], [['O'], ['B-PER']])
  with pytest.raises(ValueError, match='2 gold sentences'):
    metrics.entity_scores([['O'], ['O']], [['O']])


# Seeds.


def test_median_over_seeds():
  per_seed = [
      {'accuracy': 0.8, 'f1': 0.7, 'split': 'dev', 'per_type': {}},
      {'accuracy': 0.9, 'f1': 0.6, 'split': 'dev', 'per_type': {}},
      {'accuracy': 0.85, 'f1': 0.65, 'mcc': 0.1, 'split': 'dev',
       'per_type': {}},
      {'accuracy': 0.7, 'f1': 0.75, 'split': 'dev', 'per_type': {}},
  ]
  # Even count: the mean of the two middle values. 'mcc' is not in all.
  assert metrics.median_over_seeds(per_seed) == {
      'accuracy': pytest.approx((0.8 + 0.85) / 2),
      'f1': pytest.approx((0.65 + 0.7) / 2)}
  assert metrics.median_over_seeds(per_seed[:3]) == {
      'accuracy': pytest.approx(0.85), 'f1': pytest.approx(0.65)}
  with pytest.raises(ValueError):
    metrics.median_over_seeds([])
