"""token-classification: a CoNLL-2003 fine-tuned workdir's tag for every
word, and the entities the tags make.

Inputs: {"text"}, split into words on whitespace, or {"tokens": [words]}
(their text being the words joined by single spaces). The words go through
training's own featuriser and word mapping (`conll.featurize`,
`conll.assemble`): a word is tagged at its first sub-token, and a sentence
longer than a row continues in further rows.

Outputs: {"words": [{"word", "entity" (its tag), "score" (the tag's
probability), "start", "end"}], "entities": [{"entity_group", "word",
"start", "end", "score" (the mean of its words')}]}, entities grouped from
the tags by conlleval's chunk rules (`metrics.entity_chunks`), `start` and
`end` character offsets into the text.
"""
import re

import jax
import jax.numpy as jnp
import numpy as np

from data_pipelines.tasks import conll
from lm_jax.errors import InputError
from lm_jax.finetuning import metrics, objectives, tasks
from lm_jax.inference import base
from lm_jax.inference.bucketed_model import BucketedModel

_WORD = re.compile(r'\S+')


class TokenClassification(base.Pipeline):
  task = 'token-classification'
  objectives = ('tagging',)
  needs = 'a CoNLL-2003 fine-tuning workdir'

  def __init__(self, lm, *, batch_size: int = 0):
    super().__init__(lm, batch_size=batch_size)
    config = lm.config
    # The run records its tag names; a run made before it did has those of
    # its training split.
    self.tags = list(config.objective.get('label_names', []))
    try:
      self.tags = self.tags or tasks.conll_tags(config)
    except InputError as e:
      raise InputError(f'{lm.workdir}: its tag names are those of its '
                       f'training split: {e}') from None
    if len(self.tags) != config.objective.num_labels:
      raise InputError(f'{lm.workdir} predicts {config.objective.num_labels} '
                       f'tags; its training split now holds {len(self.tags)}')
    model = objectives.OBJECTIVES['tagging'].build_model(
        config, lm.tokenizer.vocab_size, deterministic=True)

    def forward(params, batch):
      logits_BxLxC = model.apply({'params': params}, batch['ids'],
                                 batch['segment_ids'], batch['input_mask'])
      p_BxLxC = jax.nn.softmax(logits_BxLxC.astype(jnp.float32))
      return {'tag': jnp.argmax(p_BxLxC, -1), 'score': jnp.max(p_BxLxC, -1)}

    self.model = BucketedModel(forward, lm, batch_size=self.batch_size,
                               max_length=config.data.seq_len,
                               pad_values={'ids': lm.tokenizer.pad_id})

  def parse(self, value: dict, where: str) -> tuple[str, list, list]:
    """(text, words, their (start, end) in the text)."""
    if 'tokens' in value and 'text' not in value:
      words = value['tokens']
      if (not isinstance(words, list) or not words or not all(
          isinstance(w, str) and _WORD.fullmatch(w) for w in words)):
        raise InputError(f'{where}: "tokens" must be a non-empty list of '
                         'words (strings without whitespace)')
      text = ' '.join(words)
    else:
      text = base.text(value, 'text', where)
    spans = [m.span() for m in _WORD.finditer(text)]
    return text, [text[s:e] for s, e in spans], spans

  def predict(self, parsed: list) -> list[dict]:
    sentences = [conll.TaggedSentence(words, ['O'] * len(words), 0)
                 for _, words, _ in parsed]
    arrays, _ = conll.featurize(sentences, self.lm.tokenizer,
                                self.lm.config.data.seq_len, {'O': 0})
    lengths = arrays['input_mask'].sum(1)
    outputs = self.model([
        {k: arrays[k][r, :lengths[r]]
         for k in ('ids', 'segment_ids', 'input_mask')}
        for r in range(len(lengths))])
    width = arrays['ids'].shape[1]
    # (tag, score) per row position, flattened; assembled into words by
    # training's own mapping from the flat position of each word.
    pairs = []
    for out in outputs:
      tag_L = np.zeros(width, np.int64)
      score_L = np.zeros(width)
      tag_L[:len(out['tag'])] = out['tag']
      score_L[:len(out['score'])] = out['score']
      pairs.extend((self.tags[t], float(s)) for t, s in zip(tag_L, score_L))
    flat_NxL = np.arange(len(outputs) * width).reshape(-1, width)
    per_word = conll.assemble(sentences, arrays['example_index'],
                              arrays['word_index'], flat_NxL, pairs)
    return [_tagged(text, words, spans, tagged)
            for (text, words, spans), tagged in zip(parsed, per_word)]


def _tagged(text: str, words: list, spans: list, tagged: list) -> dict:
  """One input's words with their tags, and its entities."""
  entities = []
  for kind, first, end in metrics.entity_chunks([t for t, _ in tagged]):
    start, stop = spans[first][0], spans[end - 1][1]
    entities.append({'entity_group': kind, 'word': text[start:stop],
                     'start': start, 'end': stop,
                     'score': float(np.mean([s for _, s in
                                             tagged[first:end]]))})
  return {'words': [{'word': word, 'entity': tag, 'score': score,
                     'start': start, 'end': end}
                    for word, (tag, score), (start, end)
                    in zip(words, tagged, spans)],
          'entities': entities}
