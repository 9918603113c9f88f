"""lm_jax.convert: Hugging Face folders into workdirs and back, checked
against `transformers` PyTorch models built with random weights (no
download): the same outputs within 1e-4 in fp32 both ways, bit-identical
tensors after a round trip, the same greedy GPT-2 tokens, and one-line
refusals of bad input that leave nothing behind."""
import json
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip('torch')
transformers = pytest.importorskip('transformers')

# pylint: disable=g-import-not-at-top,wrong-import-position
from safetensors.numpy import load_file, save_file

from data_pipelines.tokenizers import byte_level_bpe_json
from lm_jax import generation, trained_lm
from lm_jax.errors import InputError
from lm_jax.interop import converter
from lm_jax.objectives import get_objective
from conftest import REPO

TOL = 1e-4
WORDS = (['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'un', '##want',
          '##ed', 'runn', '##ing', ',', '.', '!', '?', 'é', '博', '推']
         + [chr(c) for c in range(ord('a'), ord('z') + 1)]
         + ['##' + chr(c) for c in range(ord('a'), ord('z') + 1)])


def _bert_vocab(folder):
  with open(os.path.join(folder, 'vocab.txt'), 'w', encoding='utf-8') as f:
    f.write('\n'.join(WORDS) + '\n')


def _gpt2_vocab(folder):
  """A byte-level BPE: the 256 byte symbols, a few merges, end of text."""
  import tokenizers as hf
  symbols = sorted(hf.pre_tokenizers.ByteLevel.alphabet())
  merges = [('t', 'h'), ('th', 'e'), ('Ġ', 'the'), ('i', 'n'), ('in', 'g')]
  vocab = {s: i for i, s in enumerate(symbols)}
  for a, b in merges:
    vocab[a + b] = len(vocab)
  vocab['<|endoftext|>'] = len(vocab)
  with open(os.path.join(folder, 'tokenizer.json'), 'w',
            encoding='utf-8') as f:
    f.write(byte_level_bpe_json(vocab, merges))
  return len(vocab)


def _save(model, folder, vocab=_bert_vocab):
  model.save_pretrained(folder)
  vocab(folder)
  return folder


# Each case: (HF class, config) built with random weights.
T = transformers
V = len(WORDS)
CASES = {
    'bert': lambda: T.BertForPreTraining(T.BertConfig(
        vocab_size=V, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=37)),
    'bert_mlm_tanh': lambda: T.BertForMaskedLM(T.BertConfig(
        vocab_size=V, hidden_size=48, num_hidden_layers=3,
        num_attention_heads=3, intermediate_size=64, hidden_act='gelu_new',
        max_position_embeddings=64)),
    # Layers 0 and 1 share group 0, layer 2 has group 1.
    'albert': lambda: T.AlbertForPreTraining(T.AlbertConfig(
        vocab_size=V, embedding_size=16, hidden_size=32, num_hidden_layers=3,
        num_attention_heads=4, intermediate_size=37, num_hidden_groups=2)),
    'distilbert': lambda: T.DistilBertForMaskedLM(T.DistilBertConfig(
        vocab_size=V, dim=32, n_layers=2, n_heads=4, hidden_dim=37)),
    'electra_generator': lambda: T.ElectraForMaskedLM(T.ElectraConfig(
        vocab_size=V, embedding_size=16, hidden_size=64, num_hidden_layers=2,
        num_attention_heads=1, intermediate_size=256)),
}


def _electra_pair(tmp_path, generator_hidden):
  """An ELECTRA discriminator (E 32 < H 128) and a generator of
  `generator_hidden` with the discriminator's embeddings, as ELECTRA shares
  them."""
  disc = T.ElectraForPreTraining(T.ElectraConfig(
      vocab_size=V, embedding_size=32, hidden_size=128, num_hidden_layers=2,
      num_attention_heads=2, intermediate_size=100))
  gen = T.ElectraForMaskedLM(T.ElectraConfig(
      vocab_size=V, embedding_size=32, hidden_size=generator_hidden,
      num_hidden_layers=2, num_attention_heads=generator_hidden // 64,
      intermediate_size=4 * generator_hidden))
  gen.electra.embeddings.load_state_dict(disc.electra.embeddings.state_dict())
  return (_save(disc, str(tmp_path / 'disc')),
          _save(gen, str(tmp_path / 'gen')))


def _inputs(vocab_size, batch=3, length=11, seed=0):
  """Padded rows: ids, mask (the last two rows padded), segment ids."""
  rng = np.random.default_rng(seed)
  ids = rng.integers(5, vocab_size, (batch, length))
  mask = np.ones((batch, length), np.int64)
  mask[1, 7:] = 0
  mask[2, 4:] = 0
  segments = np.zeros_like(ids)
  segments[:, 5:] = 1
  return ids * mask, mask, segments * mask


def _hf_outputs(folder, ids, mask, segments):
  """{'hidden': final states, and each head's logits} of the HF model."""
  config = json.load(open(os.path.join(folder, 'config.json')))
  model = getattr(T, config['architectures'][0]).from_pretrained(folder)
  model.eval()
  kwargs = {'input_ids': torch.tensor(ids), 'attention_mask': torch.tensor(mask),
            'output_hidden_states': True}
  if config['model_type'] in ('bert', 'albert', 'electra'):
    kwargs['token_type_ids'] = torch.tensor(segments)
  with torch.no_grad():
    out = model(**kwargs)
  result = {'hidden': out.hidden_states[-1].numpy()}
  for name, key in (('mlm', 'prediction_logits'), ('mlm', 'logits'),
                    ('sentence', 'seq_relationship_logits'),
                    ('sentence', 'sop_logits')):
    if getattr(out, key, None) is not None:
      result[name] = out[key].numpy()
  if config['architectures'][0] == 'ElectraForPreTraining':
    result['discriminator'] = result.pop('mlm')
  return result


def _jax_outputs(workdir, ids, mask, segments, part=''):
  """The same outputs from an lm_jax workdir (or its `open_trained` model);
  `part` picks an ELECTRA pair's half ('generator'; default the
  discriminator)."""
  lm = (trained_lm.open_trained(workdir) if isinstance(workdir, str)
        else workdir)
  name = lm.config.objective.name
  variables = {'params': lm.params}
  if name == 'distillation':  # the student
    name, variables = 'mlm', {'params': lm.params['student']}
  model = get_objective(name).build_model(lm.config, lm.tokenizer.vocab_size,
                                          deterministic=True)
  ids, mask, segments = (jnp.asarray(x, jnp.int32)
                         for x in (ids, mask, segments))
  everywhere = jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape)
  apply = lambda fn: np.asarray(model.apply(variables, method=fn))
  if name == 'causal_lm':
    h = apply(lambda m: m.hidden(ids, mask))
    return {'hidden': h, 'mlm': apply(lambda m: m.logits(jnp.asarray(h)))}
  if name == 'electra' and part == 'generator':
    return {'hidden': apply(lambda m: m.generator(
        m.generator_embeddings(ids, segments), mask)),
            'mlm': apply(lambda m: m.generator_logits(ids, segments, mask,
                                                      everywhere))}
  if name == 'electra':
    return {'hidden': apply(lambda m: m.discriminator(
        m.embeddings(ids, segments), mask)),
            'discriminator': apply(lambda m: m.discriminator_logits(
                ids, segments, mask))}
  out = {'hidden': apply(lambda m: m.encode(ids, segments, mask)),
         'mlm': apply(lambda m: m.mlm_logits(m.encode(ids, segments, mask),
                                             everywhere))}
  if lm.config.objective.sentence_task != 'none':
    out['sentence'] = apply(lambda m: m.sentence_logits(
        m.encode(ids, segments, mask)))
  return out


def _assert_close(ours, theirs, mask):
  """Every output both sides have, at the real tokens, within TOL."""
  shared = set(ours) & set(theirs)
  assert 'hidden' in shared, (sorted(ours), sorted(theirs))
  for key in shared:
    a, b = ours[key], theirs[key]
    assert a.shape == b.shape, (key, a.shape, b.shape)
    if a.ndim >= 2 and a.shape[:2] == mask.shape:
      a, b = a[mask.astype(bool)], b[mask.astype(bool)]
    np.testing.assert_allclose(a, b, atol=TOL, rtol=0, err_msg=key)
  return shared


def _assert_same_tensors(folder_a, folder_b):
  a = load_file(os.path.join(folder_a, 'model.safetensors'))
  b = load_file(os.path.join(folder_b, 'model.safetensors'))
  assert sorted(a) == sorted(b)
  for name in a:
    assert a[name].dtype == b[name].dtype and np.array_equal(a[name],
                                                             b[name]), name


@pytest.mark.parametrize('case', sorted(CASES))
def test_hf_model_converts_exactly_both_ways(case, tmp_path):
  """HF -> lm_jax: the same states and logits within 1e-4; lm_jax -> HF:
  the very tensors back, which transformers loads."""
  torch.manual_seed(0)
  src = _save(CASES[case](), str(tmp_path / 'hf'))
  workdir = str(tmp_path / 'lm_jax')
  converter.from_hf(src, workdir)
  ids, mask, segments = _inputs(V)
  hf = _hf_outputs(src, ids, mask, segments)
  shared = _assert_close(_jax_outputs(workdir, ids, mask, segments), hf, mask)
  assert len(shared) == len(hf)  # every head compared

  back = str(tmp_path / 'hf_back')
  converter.to_hf(workdir, back)
  _assert_same_tensors(src, back)
  _assert_close(_hf_outputs(back, ids, mask, segments), hf, mask)


@pytest.mark.parametrize('generator_hidden', [64, 128])
def test_electra_pair_converts_into_one_model(tmp_path, generator_hidden):
  disc, gen = _electra_pair(tmp_path, generator_hidden)
  workdir = str(tmp_path / 'pair')
  converter.from_hf(disc, workdir, generator=gen)
  ids, mask, segments = _inputs(V)
  for part, folder in (('', disc), ('generator', gen)):
    _assert_close(_jax_outputs(workdir, ids, mask, segments, part),
                  _hf_outputs(folder, ids, mask, segments), mask)
  meta = trained_lm.open_trained(workdir).config
  assert meta.objective.share_embeddings
  assert meta.objective.generator_hidden_fraction == generator_hidden / 128

  back = str(tmp_path / 'back')
  converter.to_hf(workdir, back)
  _assert_same_tensors(disc, back)
  _assert_same_tensors(gen, os.path.join(back, 'generator'))


def test_electra_discriminator_alone_needs_its_generator_started(tmp_path):
  disc, _ = _electra_pair(tmp_path, 64)
  with pytest.raises(InputError, match='generator.*--init_missing'):
    converter.from_hf(disc, str(tmp_path / 'w'))
  summary = converter.from_hf(disc, str(tmp_path / 'w'), init_missing=True)
  assert 'generator/layers' in summary['initialised']
  ids, mask, segments = _inputs(V)
  _assert_close(_jax_outputs(str(tmp_path / 'w'), ids, mask, segments),
                _hf_outputs(disc, ids, mask, segments), mask)


def test_spanbert_takes_the_bert_layout_and_starts_its_sbo_head(tmp_path):
  torch.manual_seed(1)
  src = _save(T.BertForMaskedLM(T.BertConfig(
      vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
      intermediate_size=40)), str(tmp_path / 'spanbert'))
  summary = converter.from_hf(
      src, str(tmp_path / 'w'), init_missing=True,
      recipe=os.path.join(REPO, 'configs', 'spanbert_base.py'))
  assert summary['initialised'] == ['span_boundary_head/dense_0',
                                    'span_boundary_head/dense_1',
                                    'span_boundary_head/layer_norm_0',
                                    'span_boundary_head/layer_norm_1',
                                    'span_boundary_head/offset_embeddings',
                                    'span_boundary_head/output_bias']
  ids, mask, segments = _inputs(V)
  _assert_close(_jax_outputs(str(tmp_path / 'w'), ids, mask, segments),
                _hf_outputs(src, ids, mask, segments), mask)
  notes = converter.to_hf(str(tmp_path / 'w'), str(tmp_path / 'back'))
  assert notes == ['not written (no Hugging Face class holds it): '
                   'span_boundary_head']
  _assert_same_tensors(src, str(tmp_path / 'back'))


def test_gpt2_converts_and_generates_the_same_tokens(tmp_path):
  torch.manual_seed(2)
  folder = str(tmp_path / 'gpt2')
  os.makedirs(folder)
  vocab_size = _gpt2_vocab(folder)
  model = T.GPT2LMHeadModel(T.GPT2Config(
      vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=64,
      bos_token_id=vocab_size - 1, eos_token_id=vocab_size - 1))
  model.save_pretrained(folder)
  model.eval()  # no dropout
  workdir = str(tmp_path / 'w')
  converter.from_hf(folder, workdir)
  ids, mask, segments = _inputs(vocab_size)
  mask = np.ones_like(mask)  # GPT-2 reads right padding as text
  lm = trained_lm.open_causal_lm(workdir)
  _assert_close(_jax_outputs(lm, ids, mask, segments),
                _hf_outputs(folder, ids, mask, segments), mask)
  prompts = [list(map(int, ids[0, :5])), list(map(int, ids[1, :3]))]
  ours = generation.generate(lm.body, lm.params, prompts,
                             generation.Settings(max_new_tokens=12),
                             eot_id=lm.tokenizer.eot_id, pad_id=0)
  for prompt, new in zip(prompts, ours):
    theirs = model.generate(torch.tensor([prompt]), do_sample=False,
                            max_new_tokens=12, attention_mask=torch.ones(
                                1, len(prompt), dtype=torch.long),
                            pad_token_id=vocab_size - 1)[0, len(prompt):]
    theirs = [int(t) for t in theirs]
    if vocab_size - 1 in theirs:
      theirs = theirs[:theirs.index(vocab_size - 1)]
    assert new == theirs
  texts = trained_lm.generate_text(workdir, ['the thing'], max_new_tokens=4)
  assert texts[0].startswith('the thing')

  back = str(tmp_path / 'back')
  converter.to_hf(workdir, back)
  _assert_same_tensors(folder, back)
  tokenizer = T.AutoTokenizer.from_pretrained(back)
  text = 'the thing, théâtre 博 — ok\n'
  assert tokenizer(text)['input_ids'] == lm.tokenizer.encode(text)


@pytest.mark.parametrize('name, architecture', [
    ('electra_small', 'ElectraForPreTraining'),
    ('bert_base', 'BertForPreTraining'),
    ('albert_base', 'AlbertForPreTraining'),
    ('distilbert', 'DistilBertForMaskedLM'),
    ('gpt2_small', 'GPT2LMHeadModel'),
])
def test_lm_jax_pretrained_model_exports_with_the_same_outputs(
    tiny_runs, tmp_path, name, architecture):
  """A workdir lm_jax trained (`:tiny` on the embedded corpus; SentencePiece
  or GPT-2's BPE) written as HF folders: transformers gives its outputs,
  every head's, and its token ids."""
  workdir = tiny_runs(name)
  converter.to_hf(workdir, str(tmp_path / 'hf'))
  config = json.load(open(tmp_path / 'hf' / 'config.json'))
  assert config['architectures'] == [architecture]
  lm = trained_lm.open_trained(workdir)
  ids, mask, segments = _inputs(lm.tokenizer.vocab_size)
  if name == 'gpt2_small':
    mask = np.ones_like(mask)
  folders = [('', 'hf')] + ([('generator', 'hf/generator')]
                            if name == 'electra_small' else [])
  for part, folder in folders:
    theirs = _hf_outputs(str(tmp_path / folder), ids, mask, segments)
    assert _assert_close(_jax_outputs(lm, ids, mask, segments, part),
                         theirs, mask) == set(theirs)
  tokenizer = T.AutoTokenizer.from_pretrained(str(tmp_path / 'hf'))
  text = 'It was the best of times, it was the worst of times.'
  assert (tokenizer(text, add_special_tokens=False)['input_ids']
          == lm.tokenizer.encode(text))


def test_bert_tokenizer_files_give_hf_ids(tmp_path):
  """vocab.txt through lm_jax's WordPiece: the ids of HF's BertTokenizer on
  multilingual text (lower-casing, accents, CJK, punctuation, controls)."""
  folder = str(tmp_path / 'hf')
  os.makedirs(folder)
  _bert_vocab(folder)
  with open(os.path.join(folder, 'tokenizer_config.json'), 'w') as f:
    json.dump({'do_lower_case': True}, f)
  from lm_jax.interop import hf_tokenizers
  from data_pipelines import tokenizers
  vocab = hf_tokenizers.read_vocabulary(folder, 'bert')
  ours = tokenizers.load_tokenizer(vocab.kind, os.path.join(folder,
                                                             'vocab.txt'),
                                   vocab.lowercase)
  theirs = T.BertTokenizer.from_pretrained(folder, do_lower_case=True)
  for text in [' \tHeLLo!how  \n Are yoU?  ', 'H\u00E9llo unwanted running,',
               'ah\u535A\u63A8zz', 'Théâtre\u0005 «the» 博推 running!?',
               'Ünwanted  RUNNING. ¿qué?', '']:
    assert ours.encode(text) == theirs(text, add_special_tokens=False)[
        'input_ids'], text


def test_wordpiece_tokenizer_json_gives_hf_ids(tmp_path):
  """A BERT folder whose only vocabulary is a tokenizer.json (WordPiece):
  lm_jax reads the vocab.txt inside it and gives HF's ids."""
  from data_pipelines import tokenizers
  from lm_jax.interop import hf_tokenizers
  folder = str(tmp_path / 'hf')
  os.makedirs(folder)
  _bert_vocab(folder)
  T.BertTokenizer.from_pretrained(folder, do_lower_case=True).save_pretrained(
      str(tmp_path / 'json'))
  for name in os.listdir(tmp_path / 'json'):
    if name != 'tokenizer.json':
      os.remove(tmp_path / 'json' / name)
  vocab = hf_tokenizers.read_vocabulary(str(tmp_path / 'json'), 'bert')
  assert (vocab.kind, vocab.filename, vocab.lowercase) == ('wordpiece',
                                                           'vocab.txt', True)
  (tmp_path / 'vocab.txt').write_bytes(vocab.content)
  ours = tokenizers.load_tokenizer('wordpiece', str(tmp_path / 'vocab.txt'),
                                   True)
  theirs = T.AutoTokenizer.from_pretrained(str(tmp_path / 'json'))
  for text in (MULTILINGUAL, 'H\u00E9llo unwanted running,', 'ah\u535A\u63A8zz'):
    assert ours.encode(text) == theirs(text, add_special_tokens=False)[
        'input_ids'], text


# Bad input: one line, nothing written.


def _bert_folder(tmp_path, name='hf'):
  torch.manual_seed(0)
  return _save(CASES['bert'](), str(tmp_path / name))


def _assert_nothing_written(tmp_path, dst):
  assert not os.path.exists(dst)
  assert not [p for p in os.listdir(tmp_path) if p.startswith('.')]


def test_unsupported_architecture_is_refused(tmp_path):
  src = _bert_folder(tmp_path)
  config = json.load(open(os.path.join(src, 'config.json')))
  config.update(architectures=['RobertaForMaskedLM'], model_type='roberta')
  json.dump(config, open(os.path.join(src, 'config.json'), 'w'))
  with pytest.raises(InputError, match='RobertaForMaskedLM is not '
                     'convertible; lm_jax converts BertModel'):
    converter.from_hf(src, str(tmp_path / 'w'))
  _assert_nothing_written(tmp_path, str(tmp_path / 'w'))


def test_missing_extra_and_misshapen_tensors_are_listed(tmp_path):
  src = _bert_folder(tmp_path)
  path = os.path.join(src, 'model.safetensors')
  tensors = load_file(path)
  del tensors['cls.seq_relationship.bias']
  tensors['bert.encoder.layer.0.adapter.weight'] = np.zeros(3, np.float32)
  tensors['bert.pooler.dense.weight'] = np.zeros((32, 31), np.float32)
  save_file(tensors, path)
  with pytest.raises(InputError) as error:
    converter.from_hf(src, str(tmp_path / 'w'))
  message = str(error.value)
  assert '1 tensor(s) missing: cls.seq_relationship.bias' in message
  assert '1 tensor(s) unexpected: bert.encoder.layer.0.adapter.weight' in message
  assert ('1 tensor(s) of the wrong shape: bert.pooler.dense.weight (32, 31) '
          '(the config says (32, 32))') in message
  assert '\n' not in message
  _assert_nothing_written(tmp_path, str(tmp_path / 'w'))


def test_destination_holding_a_model_is_refused(tmp_path):
  src = _bert_folder(tmp_path)
  converter.from_hf(src, str(tmp_path / 'w'))
  other = str(tmp_path / 'other')
  torch.manual_seed(0)
  _save(CASES['bert_mlm_tanh'](), other)
  with pytest.raises(InputError, match=r'w already holds an lm_jax mlm '
                     r'workdir at step 0 \(hidden 32, 2 layers\)'):
    converter.from_hf(other, str(tmp_path / 'w'))
  with pytest.raises(InputError, match=r'already holds a Hugging Face '
                     r'BertForMaskedLM \(hidden 48\)'):
    converter.to_hf(str(tmp_path / 'w'), other)


def test_pytorch_bin_of_an_older_layout(tmp_path):
  """bert-base-uncased's files: pytorch_model.bin with LayerNorm gamma/beta,
  tied copies and buffers, and a config.json naming BertForMaskedLM although
  the weights hold BERT's NSP head too: all of it converts."""
  torch.manual_seed(0)
  src = str(tmp_path / 'hf')
  model = CASES['bert']()
  model.save_pretrained(src)
  _bert_vocab(src)
  os.remove(os.path.join(src, 'model.safetensors'))
  rename = lambda name: (name.replace('LayerNorm.weight', 'LayerNorm.gamma')
                         .replace('LayerNorm.bias', 'LayerNorm.beta'))
  state = {rename(name): t for name, t in model.state_dict().items()}
  state['bert.embeddings.position_ids'] = torch.arange(512)[None]
  torch.save(state, os.path.join(src, 'pytorch_model.bin'))
  config = json.load(open(os.path.join(src, 'config.json')))
  config['architectures'] = ['BertForMaskedLM']
  json.dump(config, open(os.path.join(src, 'config.json'), 'w'))
  converter.from_hf(src, str(tmp_path / 'w'))
  converter.to_hf(str(tmp_path / 'w'), str(tmp_path / 'back'))
  assert trained_lm.open_trained(str(tmp_path / 'w')).config.objective \
      .sentence_task == 'nsp'
  theirs = load_file(os.path.join(str(tmp_path / 'back'), 'model.safetensors'))
  expected = model.state_dict()
  assert set(theirs) == set(expected) - {'cls.predictions.decoder.weight',
                                         'cls.predictions.decoder.bias'}
  for name, tensor in theirs.items():
    assert np.array_equal(expected[name].numpy(), tensor), name


def _fine_tuned_outputs(workdir, ids, mask, segments):
  """A fine-tuned workdir's head outputs (its best checkpoint)."""
  lm = trained_lm.open_trained(workdir)
  model = lm.run_parts.model.clone(deterministic=True)
  if lm.config.objective.name == 'multiple_choice':
    ids, mask, segments = (x[:, None] for x in (ids, mask, segments))
  out = np.asarray(model.apply({'params': lm.params}, *(
      jnp.asarray(x, jnp.int32) for x in (ids, mask * 0 + segments, mask))))
  return out[:, :, 0] if lm.config.objective.name == 'span_qa' else out


@pytest.fixture(scope='module')
def converted_bert(tmp_path_factory):
  """The random BERT of _bert_folder as an lm_jax workdir."""
  tmp_path = tmp_path_factory.mktemp('converted_bert')
  converter.from_hf(_bert_folder(tmp_path), str(tmp_path / 'w'))
  return str(tmp_path / 'w')


@pytest.mark.parametrize('family, task, data, head', [
    ('glue', 'sst2', 'glue/SST-2', 'BertForSequenceClassification'),
    ('conll2003', 'conll2003', 'conll2003', 'BertForTokenClassification'),
    ('squad', 'squad', 'squad', 'BertForQuestionAnswering'),
])
def test_converted_bert_fine_tunes_and_its_head_exports(
    converted_bert, tmp_path, family, task, data, head):
  """A converted BERT fine-tunes with lm_jax.finetune; the fine-tuned model
  goes back to transformers' matching class with the same logits."""
  from lm_jax.finetuning.runner import run
  from test_finetune import DATA, finetune_config
  workdir = converted_bert
  config = finetune_config(family, task=task, init_checkpoint=workdir,
                           data_dir=os.path.join(DATA, data),
                           **{'train.num_steps': 2, 'data.seq_len': 32})
  results = run(config, str(tmp_path / 'ft'), print_fn=lambda line: None)
  assert results

  converter.to_hf(str(tmp_path / 'ft'), str(tmp_path / 'hf_ft'))
  hf_config = json.load(open(tmp_path / 'hf_ft' / 'config.json'))
  assert hf_config['architectures'] == [head]
  ids, mask, segments = _inputs(V)
  model = getattr(T, head).from_pretrained(str(tmp_path / 'hf_ft')).eval()
  with torch.no_grad():
    out = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                token_type_ids=torch.tensor(segments))
  theirs = (out.start_logits if head.endswith('Answering')
            else out.logits).numpy()
  ours = _fine_tuned_outputs(str(tmp_path / 'ft'), ids, mask, segments)
  if ours.ndim == 3 or head.endswith('Answering'):
    ours, theirs = ours[mask.astype(bool)], theirs[mask.astype(bool)]
  np.testing.assert_allclose(ours, theirs, atol=TOL, rtol=0)


def test_converted_model_continues_pretraining(tmp_path):
  """`lm_jax.train --config=WORKDIR/config.py --workdir=WORKDIR` resumes a
  converted model at step 0."""
  from lm_jax import trainer
  workdir = str(tmp_path / 'w')
  converter.from_hf(_bert_folder(tmp_path), workdir)
  pretraining = converter.load_config_file(os.path.join(workdir, 'config.py'))
  corpus = tmp_path / 'corpus.txt'
  corpus.write_text('\n\n'.join(
      'the unwanted running, the running! the end.\nthe un wanted ring.'
      for _ in range(20)))
  pretraining.data.train_files = str(corpus)
  pretraining.data.seq_len = 32
  pretraining.data.batch_size = 8
  pretraining.train.num_steps = 2
  pretraining.train.async_checkpoints = False
  lines = []
  trainer.run(pretraining, workdir, print_fn=lines.append)
  assert 'Resumed from the checkpoint at step 0.' in lines


def test_cli_converts_and_fails_in_one_line(tmp_path):
  src = _bert_folder(tmp_path)
  run = lambda *args: subprocess.run(
      [sys.executable, '-m', 'lm_jax.convert', *args], cwd=REPO,
      capture_output=True, text=True, check=False)
  done = run('--from=hf', f'--src={src}', f'--dst={tmp_path / "w"}')
  assert done.returncode == 0, done.stderr
  assert 'Wrote BertForPreTraining (34,' in done.stdout
  converter.to_hf(str(tmp_path / 'w'), str(tmp_path / 'b'))
  _assert_same_tensors(src, str(tmp_path / 'b'))
  failed = run('--to=hf', f'--src={tmp_path / "w"}', f'--dst={tmp_path / "b"}')
  assert failed.returncode == 2
  assert failed.stderr.strip().count('\n') == 0
  assert failed.stderr.startswith('error: ')


def _albert_spiece(folder):
  """A SentencePiece model named as ALBERT's spiece.model names its pieces,
  with the tokenizer settings of albert-base-v2."""
  import gzip
  import sentencepiece as spm
  from lm_jax.config_base import DEFAULT_CORPUS
  with gzip.open(DEFAULT_CORPUS, 'rt', encoding='utf-8') as f:
    lines = [next(f) for _ in range(3000)]
  lines += ['Théâtre, café, naïve, Ünwanted; 博推 ``quoted\'\' «x»'] * 20
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(lines), model_prefix=os.path.join(folder,
                                                               'spiece'),
      vocab_size=400, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
      pad_piece='<pad>', unk_piece='<unk>', control_symbols=['[CLS]', '[SEP]'],
      user_defined_symbols=['[MASK]'], model_type='unigram',
      character_coverage=1.0, minloglevel=2)
  os.remove(os.path.join(folder, 'spiece.vocab'))
  with open(os.path.join(folder, 'tokenizer_config.json'), 'w') as f:
    json.dump({'do_lower_case': True, 'keep_accents': False}, f)


MULTILINGUAL = ('Théâtre ``Ünwanted\'\'  café —  NAÏVE 博推, «ok» ﬁne\tend. '
                'Ωmega straße ½')


def test_albert_spiece_model_gives_hf_ids_both_ways(tmp_path):
  """ALBERT's SentencePiece model: lm_jax's tokenizer gives the ids of HF's
  AlbertTokenizer (lower-casing and accent stripping as albert-base-v2
  does), and the model converts there and back with it."""
  from data_pipelines import tokenizers
  src = str(tmp_path / 'hf')
  os.makedirs(src)
  _albert_spiece(src)
  theirs = T.AlbertTokenizer.from_pretrained(src)
  ours = tokenizers.load_tokenizer('sentencepiece',
                                   os.path.join(src, 'spiece.model'), True)
  expected = theirs(MULTILINGUAL, add_special_tokens=False)['input_ids']
  assert ours.encode(MULTILINGUAL) == expected
  ids, spans = ours.encode_with_offsets(MULTILINGUAL)
  assert ids == expected and all(0 <= a <= b <= len(MULTILINGUAL)
                                 for a, b in spans)
  assert MULTILINGUAL[slice(*spans[0])] == 'Théâtre'[:spans[0][1]]

  torch.manual_seed(0)
  T.AlbertForMaskedLM(T.AlbertConfig(
      vocab_size=400, embedding_size=16, hidden_size=32, num_hidden_layers=2,
      num_attention_heads=2, intermediate_size=37)).save_pretrained(src)
  converter.from_hf(src, str(tmp_path / 'w'))
  assert trained_lm.open_trained(str(tmp_path / 'w')).tokenizer.encode(
      MULTILINGUAL) == expected
  converter.to_hf(str(tmp_path / 'w'), str(tmp_path / 'back'))
  assert T.AutoTokenizer.from_pretrained(str(tmp_path / 'back'))(
      MULTILINGUAL, add_special_tokens=False)['input_ids'] == expected


def test_half_precision_export_reads_back(tmp_path):
  """--dtype=bfloat16 writes what transformers loads as bfloat16, and
  reading it back gives the same values in f32."""
  import ml_dtypes
  src = _bert_folder(tmp_path)
  converter.from_hf(src, str(tmp_path / 'w'))
  converter.to_hf(str(tmp_path / 'w'), str(tmp_path / 'bf16'),
                  dtype='bfloat16')
  model = T.BertForPreTraining.from_pretrained(str(tmp_path / 'bf16'))
  weight = model.bert.embeddings.word_embeddings.weight
  assert weight.dtype == torch.bfloat16
  original = load_file(os.path.join(src, 'model.safetensors'))[
      'bert.embeddings.word_embeddings.weight']
  np.testing.assert_array_equal(
      weight.float().detach().numpy(),
      original.astype(ml_dtypes.bfloat16).astype(np.float32))
  converter.from_hf(str(tmp_path / 'bf16'), str(tmp_path / 'w2'))
  params = trained_lm.open_trained(str(tmp_path / 'w2')).params
  np.testing.assert_array_equal(
      np.asarray(params['embeddings']['word_embeddings']['embedding']),
      original.astype(ml_dtypes.bfloat16).astype(np.float32))
