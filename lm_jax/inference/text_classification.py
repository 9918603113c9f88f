"""text-classification: a GLUE fine-tuned workdir's label (or STS-B score)
for a sentence or a pair of sentences.

Inputs: {"text"} or, for a pair task, {"text", "text_pair"}; the task's own
column names serve too (SST-2's "sentence", MNLI's "sentence1"/"sentence2",
QNLI's "question"/"sentence", ...). Each input is one row as in training
(`glue.featurize`: [CLS] A [SEP] B [SEP], the pair cut by BERT's rule to
the run's data.seq_len).

Outputs: {"label", "score" (its probability), "scores" (every label's
probability)}; for a regression task (STS-B) {"score"}, on the task's scale
(0 to 5).
"""
import jax
import jax.numpy as jnp

from data_pipelines.sentences import RowTokens
from data_pipelines.tasks import glue
from lm_jax.errors import InputError
from lm_jax.finetuning import objectives
from lm_jax.inference import base
from lm_jax.inference.bucketed_model import BucketedModel


class TextClassification(base.Pipeline):
  task = 'text-classification'
  objectives = ('classification', 'regression')
  needs = 'a GLUE fine-tuning workdir'

  def __init__(self, lm, *, batch_size: int = 0):
    super().__init__(lm, batch_size=batch_size)
    config = lm.config
    self.spec = glue.get_task(config.task)
    # A causal body (GPT-1 transfer) reads `start A delimiter B extract`,
    # its three tokens the ids after the vocabulary (finetuning/runner.py).
    v = lm.tokenizer.vocab_size
    self.row = (RowTokens(start=v, delimiter=v + 1, end=v + 2,
                          pad=lm.tokenizer.pad_id) if lm.body.causal
                else RowTokens.of(lm.tokenizer))
    model = objectives.OBJECTIVES[config.objective.name].build_model(
        config, v, deterministic=True)
    scale = config.objective.target_scale

    def forward(params, batch):
      out_BxC = model.apply({'params': params}, batch['ids'],
                            batch['segment_ids'], batch['input_mask'])
      if self.spec.is_regression:
        return {'score': out_BxC[:, 0] * scale}
      return {'probabilities': jax.nn.softmax(out_BxC.astype(jnp.float32))}

    self.model = BucketedModel(forward, lm, batch_size=self.batch_size,
                               max_length=config.data.seq_len,
                               pad_values={'ids': self.row.pad})

  def parse(self, value: dict, where: str) -> dict:
    first, second = self._texts(value, where)
    arrays, _ = glue.featurize(
        [glue.PairExample(where, first, second, None)], self.lm.tokenizer,
        self.lm.config.data.seq_len, task=self.spec, row=self.row)
    length = int(arrays['input_mask'][0].sum())
    return {k: arrays[k][0, :length]
            for k in ('ids', 'segment_ids', 'input_mask')}

  def _texts(self, value: dict, where: str) -> tuple[str, str | None]:
    """Sentence A (and B): "text" (and "text_pair"), or the task's own
    column names."""
    columns = self.spec.text_columns
    own = 'text' not in value and columns[0] in value
    names = columns if own else ('text', 'text_pair')[:len(columns)]
    if not self.spec.is_pair:
      if 'text_pair' in value:
        raise InputError(f'{where}: {self.spec.name} classifies single '
                         'sentences; "text_pair" is not read')
      return base.text(value, names[0], where), None
    if names[1] not in value:
      raise InputError(f'{where}: {self.spec.name} classifies sentence '
                       f'pairs; give "{names[0]}" and "{names[1]}"')
    return base.text(value, names[0], where), base.text(value, names[1], where)

  def predict(self, parsed: list) -> list[dict]:
    outputs = self.model(parsed)
    if self.spec.is_regression:
      return [{'score': float(out['score'])} for out in outputs]
    labels = self.spec.labels
    results = []
    for out in outputs:
      p_C = out['probabilities']
      best = int(p_C.argmax())
      results.append({'label': labels[best], 'score': float(p_C[best]),
                      'scores': {label: float(p) for label, p
                                 in zip(labels, p_C)}})
    return results
