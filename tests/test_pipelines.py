"""lm_jax/inference: each pipeline gives what the run itself predicted (its
predictions files, or a direct full-length forward pass) whatever the batch,
bucket and order of its inputs, compiles each bucket shape once, and refuses
bad input in one line naming it."""
import dataclasses
import json
import os

import jax
import ml_collections
import numpy as np
import pytest

from conftest import FINETUNED_EVAL_EXAMPLES, REPO, assert_one_line
import lm_jax
from data_pipelines.tasks import conll, glue, squad
from lm_jax import generation, sharding, trained_lm
from lm_jax.errors import InputError
from lm_jax.finetuning import metrics
from lm_jax.finetuning import objectives as finetuning_objectives
from lm_jax import inference
from lm_jax.inference import (question_answering, text_classification,
                              token_classification)
from lm_jax.objectives import get_objective

DATA = os.path.join(REPO, 'tests', 'data', 'tasks')
# One batch shape per length bucket: the 8 test devices' batch shards.
BATCH = 8


def forward(lm, model, params, *inputs, method=None):
  """The model's outputs on full-length rows, one jitted call."""
  with sharding.use(lm.mesh, lm.rules):
    return np.asarray(jax.jit(lambda p, *x: model.apply(
        {'params': p}, *x, method=method))(params, *inputs))


def classification_model(lm):
  return finetuning_objectives.OBJECTIVES['classification'].build_model(
      lm.config, lm.tokenizer.vocab_size, deterministic=True)


def dev_glue(task: str, folder: str) -> list:
  examples, _ = glue.read_split(glue.get_task(task),
                                os.path.join(DATA, 'glue', folder, 'dev.tsv'),
                                labelled=True)
  return examples[:FINETUNED_EVAL_EXAMPLES]


def jsonl(path: str) -> list:
  with open(path) as f:
    return [json.loads(line) for line in f]


def test_lm_jax_pipeline_is_loaded_on_first_use():
  assert lm_jax.pipeline is inference.pipeline


@pytest.fixture(scope='module')
def classify(finetuned_runs):
  return lm_jax.pipeline('text-classification',
                         workdir=finetuned_runs('sst2'), batch_size=BATCH)


@pytest.fixture(scope='module')
def qa(finetuned_runs):
  return lm_jax.pipeline(workdir=finetuned_runs('squad'), batch_size=BATCH)


def test_classification_is_the_runs_and_a_direct_forward(classify,
                                                         finetuned_runs):
  examples = dev_glue('sst2', 'SST-2')
  outputs = classify([{'sentence': e.text_a} for e in examples])
  run = jsonl(os.path.join(finetuned_runs('sst2'), 'predictions.jsonl'))
  assert [o['label'] for o in outputs] == [r['prediction'] for r in run]
  lm = classify.lm
  arrays, _ = glue.featurize(examples, lm.tokenizer, lm.config.data.seq_len,
                             task=classify.spec)
  logits_NxC = forward(lm, classification_model(lm), lm.params, arrays['ids'],
                       arrays['segment_ids'], arrays['input_mask'])
  p_NxC = np.asarray(jax.nn.softmax(logits_NxC))
  got_NxC = np.array([[o['scores'][l] for l in ('0', '1')] for o in outputs])
  np.testing.assert_allclose(got_NxC, p_NxC, atol=1e-5)
  assert all(o['score'] == max(o['scores'].values()) for o in outputs)


def test_outputs_keep_order_and_ignore_batch_and_bucket(classify):
  short = 'a gem'
  longer = ['the plot ' * 20 + 'never moves', 'warm , witty ' * 10 + 'fun']
  alone = classify(short)
  among = classify([longer[0], short, longer[1]])
  assert among[1]['scores'] == pytest.approx(alone['scores'], abs=1e-5)
  backwards = classify([longer[1], short, longer[0]])
  for got, expected in zip(backwards, among[::-1]):
    assert got['scores'] == pytest.approx(expected['scores'], abs=1e-5)
  # Bucketed by length: a short row and a long one, two shapes.
  shapes = classify.model.compiled_shapes
  assert {16, 64} <= {dict(shape)['ids'][1] for shape in shapes}
  # Inputs of the buckets seen run without tracing again.
  traces = classify.model.traces
  assert traces == len(shapes)
  classify(['an utter bore', longer[0] + ' at all'])
  assert classify.model.traces == traces


def test_regression_scores_are_the_heads_on_the_tasks_scale(classify):
  """An STS-B model made from the SST-2 run's, its head cut to the first
  output (no second fine-tuning run): scores are 5 x that output."""
  lm = classify.lm
  config = ml_collections.ConfigDict(lm.config.to_dict())
  config.task, config.objective.name = 'stsb', 'regression'
  head = lm.params['classifier']
  params = dict(lm.params, classifier={'kernel': head['kernel'][:, :1],
                                       'bias': head['bias'][:1]})
  score = text_classification.TextClassification(
      dataclasses.replace(lm, config=config, params=params), batch_size=BATCH)
  examples = dev_glue('stsb', 'STS-B')
  outputs = score([{'text': e.text_a, 'text_pair': e.text_b}
                   for e in examples])
  arrays, _ = glue.featurize(examples, lm.tokenizer, lm.config.data.seq_len,
                             task=score.spec)
  logits_NxC = forward(lm, classification_model(lm), lm.params, arrays['ids'],
                       arrays['segment_ids'], arrays['input_mask'])
  np.testing.assert_allclose([o['score'] for o in outputs],
                             5 * logits_NxC[:, 0], atol=1e-4)
  # The task's own column names read the same.
  assert score({'sentence1': examples[0].text_a,
                'sentence2': examples[0].text_b}) == pytest.approx(
                    outputs[0], abs=1e-5)
  with pytest.raises(InputError) as e:
    score({'text': 'a man is singing'}, wheres=['pairs.jsonl line 4'])
  assert_one_line(e, 'pairs.jsonl line 4', 'stsb classifies sentence pairs',
                  '"text_pair"')


def test_tagging_is_the_runs_with_spans_into_the_text(finetuned_runs):
  workdir = finetuned_runs('conll2003')
  tag = lm_jax.pipeline('token-classification', workdir=workdir,
                        batch_size=BATCH)
  sentences = conll.read_conll(os.path.join(DATA, 'conll2003', 'eng.testa')
                               )[:FINETUNED_EVAL_EXAMPLES]
  outputs = tag([{'tokens': s.words} for s in sentences])
  with open(os.path.join(workdir, 'predictions.txt')) as f:
    blocks = [b for b in f.read().split('\n\n') if b.strip()]
  run = [[line.split()[2] for line in b.splitlines()] for b in blocks]
  assert [[w['entity'] for w in o['words']] for o in outputs] == run
  # Each word's score is its first sub-token's top probability.
  lm = tag.lm
  arrays, _ = conll.featurize(sentences, lm.tokenizer, lm.config.data.seq_len,
                              {t: i for i, t in enumerate(tag.tags)})
  model = finetuning_objectives.OBJECTIVES['tagging'].build_model(
      lm.config, lm.tokenizer.vocab_size, deterministic=True)
  p_NxLxC = np.asarray(jax.nn.softmax(forward(
      lm, model, lm.params, arrays['ids'], arrays['segment_ids'],
      arrays['input_mask'])))
  rows, positions = np.nonzero(arrays['word_index'] >= 0)
  for r, p in zip(rows, positions):
    word = outputs[arrays['example_index'][r]]['words'][
        arrays['word_index'][r, p]]
    assert word['score'] == pytest.approx(p_NxLxC[r, p].max(), abs=1e-5)
  text = '  '.join(sentences[1].words)  # split on any whitespace
  from_text = tag({'text': text})
  assert [w['entity'] for w in from_text['words']] == run[1]
  for word, expected in zip(from_text['words'], sentences[1].words):
    assert text[word['start']:word['end']] == word['word'] == expected


def test_entities_are_chunks_of_the_tags_with_character_spans():
  tags = ['B-PER', 'I-PER', 'O', 'I-LOC', 'B-LOC', 'I-MISC']
  assert metrics.entity_chunks(tags) == [('PER', 0, 2), ('LOC', 3, 4),
                                         ('LOC', 4, 5), ('MISC', 5, 6)]
  text = 'John  Smith visits Paris Lyon Euro'
  words = text.split()
  spans = [(0, 4), (6, 11), (12, 18), (19, 24), (25, 29), (30, 34)]
  tagged = [(t, 0.5 + i / 10) for i, t in enumerate(tags)]
  entities = token_classification._tagged(text, words, spans,
                                          tagged)['entities']
  assert [(e['entity_group'], e['word']) for e in entities] == [
      ('PER', 'John  Smith'), ('LOC', 'Paris'), ('LOC', 'Lyon'),
      ('MISC', 'Euro')]
  assert entities[0]['score'] == pytest.approx(0.55)
  assert all(text[e['start']:e['end']] == e['word'] for e in entities)


def test_answers_are_the_runs_over_windowed_contexts(qa, finetuned_runs):
  examples = squad.read_squad(os.path.join(DATA, 'squad', 'dev-v1.1.json')
                              )[:FINETUNED_EVAL_EXAMPLES]
  data = qa.lm.config.data
  windows = squad.featurize(examples, qa.lm.tokenizer, seq_len=data.seq_len,
                            doc_stride=data.doc_stride,
                            max_query_length=data.max_query_length,
                            training=False)
  assert len(windows) > 4 * len(examples)  # long contexts, many windows
  outputs = qa([{'question': e.question, 'context': e.context}
                for e in examples])
  with open(os.path.join(finetuned_runs('squad'), 'predictions.json')) as f:
    run = json.load(f)
  assert [o['answer'] for o in outputs] == [run[e.qid] for e in examples]
  for example, out in zip(examples, outputs):
    assert example.context[out['start']:out['end']] == out['answer']
    assert 0 < out['score'] <= 1


def test_a_short_context_and_a_long_question_are_answered(qa):
  context = 'The Normans settled in Normandy in the tenth century.'
  long_question = 'Where did the Normans settle ' + 'and when ' * 40 + '?'
  for out in qa([{'question': 'Where did they settle?', 'context': context},
                 {'question': long_question, 'context': context}]):
    assert out['answer'] and context[out['start']:out['end']] == out['answer']


def test_squad_v2s_null_answer_is_empty_with_its_probability():
  nbest = [{'text': '', 'start_char': -1, 'end_char': -1, 'score': 2.0,
            'probability': 0.7},
           {'text': 'Paris', 'start_char': 4, 'end_char': 9, 'score': 1.0,
            'probability': 0.3}]
  assert question_answering._answer('', nbest) == {
      'answer': '', 'start': 0, 'end': 0, 'score': 0.7}
  assert question_answering._answer('Paris', nbest) == {
      'answer': 'Paris', 'start': 4, 'end': 9, 'score': 0.3}
  assert question_answering._answer('', [])['score'] == 0.0


@pytest.mark.parametrize('name', ['electra_small', 'bert_base'])
def test_fill_mask_top_tokens_are_a_direct_forwards(tiny_runs, name):
  fill = lm_jax.pipeline('fill-mask', workdir=tiny_runs(name),
                         batch_size=BATCH, top_k=3)
  texts = ['The [MASK] sat on the mat.',
           '[MASK] was a dark and [MASK] night, and the rain fell.']
  outputs = fill(texts)
  # The same rows at full length, their mask positions padded with [CLS]'s.
  lm = fill.lm
  rows = [fill.parse({'text': text}, 'test')[0] for text in texts]
  ids_2xL = np.full((2, lm.config.data.seq_len), lm.tokenizer.pad_id,
                    np.int32)
  positions_2xM = np.zeros((2, 2), np.int32)
  for r, row in enumerate(rows):
    ids_2xL[r, :len(row['ids'])] = row['ids']
    positions_2xM[r, :len(row['positions'])] = row['positions']
  model = get_objective(lm.config.objective.name).build_model(
      lm.config, lm.tokenizer.vocab_size, deterministic=True)
  method = (type(model).generator_logits if name == 'electra_small' else
            lambda m, ids, segments, mask, positions: m.mlm_logits(
                m.encode(ids, segments, mask), positions))
  logits_2xMxV = forward(lm, model, lm.params, ids_2xL, np.zeros_like(ids_2xL),
                         (ids_2xL != lm.tokenizer.pad_id).astype(np.int32),
                         positions_2xM, method=method)
  p_2xMxV = np.asarray(jax.nn.softmax(logits_2xMxV))
  for text, out, p_MxV in zip(texts, outputs, p_2xMxV):
    assert len(out['masks']) == text.count('[MASK]')
    for mask, p_V in zip(out['masks'], p_MxV):
      assert text[mask['start']:].startswith('[MASK]')
      top = mask['candidates']
      assert top[0]['token'] == int(p_V.argmax())
      assert [c['score'] for c in top] == pytest.approx(
          np.sort(p_V)[::-1][:3], abs=1e-5)
    assert '[MASK]' not in out['sequence']
  with pytest.raises(InputError) as e:
    fill(['a [MASK] here', 'none here'], wheres=['m.jsonl line 1',
                                                  'm.jsonl line 2'])
  assert_one_line(e, 'm.jsonl line 2', 'has no [MASK]')


def test_generation_is_continue_prompts_in_input_order(tiny_runs):
  generate = lm_jax.pipeline(workdir=tiny_runs('gpt2_small'),
                             max_new_tokens=6)
  prompts = ['It was a dark and stormy night, and the rain', 'The', 'A man']
  outputs = generate([{'prompt': p} for p in prompts])
  # Another batch of the same shape (8 rows: the test devices), reversed.
  continued = trained_lm.continue_prompts(
      generate.lm, prompts[::-1] + prompts[:1] * 5,
      generation.Settings(max_new_tokens=6))[:3][::-1]
  assert [o['generated_text'] for o in outputs] == [
      p + t for p, t in zip(prompts, continued)]
  with pytest.raises(InputError) as e:
    generate(['fine', 'word ' * 60])
  assert_one_line(e, 'input 1: the prompt has', 'truncate')


@pytest.mark.parametrize('value, wheres', [
    ({'question': 'Who?', 'context': ''}, ['line 7', '"context" is empty']),
    ({'question': ' ', 'context': 'Paris.'}, ['line 7', '"question" is empty']),
    ({'question': 'Who?'}, ['line 7', 'no "context"']),
    ({'question': 'Who?', 'context': 3}, ['line 7', '"context" is int']),
    ('Who?', ['line 7', 'expected a JSON object, got str']),
])
def test_bad_questions_are_one_line_naming_the_input(qa, value, wheres):
  with pytest.raises(InputError) as e:
    qa([{'question': 'Fine?', 'context': 'Fine.'}, value],
       wheres=['q.jsonl line 6', 'q.jsonl line 7'])
  assert_one_line(e, 'q.jsonl', *wheres)


def test_bad_texts_are_one_line(classify):
  with pytest.raises(InputError) as e:
    classify([{'text': 'fine'}, {'text': 'a', 'text_pair': 'b'}])
  assert_one_line(e, 'input 1', 'sst2 classifies single sentences')
  with pytest.raises(InputError) as e:
    classify({'review': 'fine'})
  assert_one_line(e, 'input 0', 'no "text"')
  with pytest.raises(InputError) as e:
    text_classification.TextClassification(classify.lm, batch_size=3)
  assert_one_line(e, 'batch_size 3', '8 batch shards')


@pytest.mark.parametrize('task, run, wheres', [
    ('question-answering', 'sst2',
     ['holds a sst2 fine-tuned model (classification)',
      'question-answering needs a SQuAD fine-tuning workdir']),
    ('fill-mask', 'gpt2_small',
     ['holds a causal_lm model', 'fill-mask needs a masked LM']),
    ('summarization', 'sst2', ["unknown task 'summarization'"]),
])
def test_a_task_the_workdir_cannot_serve_is_one_line(finetuned_runs,
                                                     tiny_runs, task, run,
                                                     wheres):
  workdir = (tiny_runs(run) if run == 'gpt2_small' else finetuned_runs(run))
  with pytest.raises(InputError) as e:
    lm_jax.pipeline(task, workdir=workdir)
  assert_one_line(e, *wheres)
