"""lm_jax/bleu.py: corpus BLEU through sacreBLEU with the references of each
example kept together, and JSON-lines files read strictly."""
import json

import pytest
import sacrebleu

from conftest import assert_one_line
from lm_jax import bleu
from lm_jax.errors import InputError

# sacreBLEU's documented corpus example (its README: BLEU = 48.53 with two
# reference streams), given here per example, as the data file holds it.
HYPOTHESES = ['The dog bit the man.', "It wasn't surprising.",
              'The man had just bitten him.']
REFERENCES = [['The dog bit the man.', 'The dog had bit the man.'],
              ['It was not unexpected.', 'No one was surprised.'],
              ['The man bit him first.', 'The man had bitten the dog.']]


def test_the_documented_example_scores_48_53():
  score, signature = bleu.corpus_bleu(HYPOTHESES, REFERENCES)
  assert round(score, 2) == 48.53
  assert 'nrefs:2' in signature and 'tok:13a' in signature
  # Swapping the references of two examples is not the same corpus.
  swapped = [REFERENCES[1], REFERENCES[0], REFERENCES[2]]
  assert bleu.corpus_bleu(HYPOTHESES, swapped)[0] < 20


def test_examples_may_have_different_numbers_of_references():
  refs = [REFERENCES[0], REFERENCES[1][1:], REFERENCES[2]]
  score, signature = bleu.corpus_bleu(HYPOTHESES, refs)
  expected = sacrebleu.corpus_bleu(
      HYPOTHESES, [[r[0] for r in refs], [refs[0][1], None, refs[2][1]]])
  assert score == pytest.approx(expected.score)
  assert 'nrefs:var' in signature
  assert score != pytest.approx(bleu.corpus_bleu(HYPOTHESES, REFERENCES)[0])


def test_reads_reference_and_references(tmp_path):
  path = tmp_path / 'pairs.jsonl'
  path.write_text(json.dumps({'prompt': 'a', 'reference': 'b'}) + '\n\n' +
                  json.dumps({'prompt': 'c', 'references': ['d', 'e'],
                              'id': 7}) + '\n')
  assert bleu.read_examples(str(path)) == [
      bleu.Example('a', ('b',)), bleu.Example('c', ('d', 'e'))]


@pytest.mark.parametrize('line, message', [
    ('{"prompt": "a", "reference": "b"', 'not JSON'),
    ('["a", "b"]', 'expected a JSON object'),
    ('{"reference": "b"}', '"prompt"'),
    ('{"prompt": "", "reference": "b"}', '"prompt"'),
    ('{"prompt": "a"}', '"reference"'),
    ('{"prompt": "a", "reference": "b", "references": ["c"]}', 'one of them'),
    ('{"prompt": "a", "references": []}', 'non-empty list'),
    ('{"prompt": "a", "references": "b"}', 'non-empty list'),
    ('{"prompt": "a", "reference": 3}', 'must be a string'),
])
def test_a_malformed_line_is_named(tmp_path, line, message):
  path = tmp_path / 'pairs.jsonl'
  path.write_text('{"prompt": "x", "reference": "y"}\n\n' + line + '\n')
  with pytest.raises(InputError) as e:
    bleu.read_examples(str(path))
  assert_one_line(e, f'{path} line 3', message)


def test_an_empty_file_is_refused(tmp_path):
  (tmp_path / 'empty.jsonl').write_text('\n')
  with pytest.raises(InputError) as e:
    bleu.read_examples(str(tmp_path / 'empty.jsonl'))
  assert_one_line(e, 'empty.jsonl', 'no examples')
