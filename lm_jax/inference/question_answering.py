"""question-answering: a SQuAD 1.1 or 2.0 fine-tuned workdir's answer to a
question about a context.

Inputs: {"question", "context"}. They are featurised and decoded exactly as
the run's dev set was (`squad.featurize`, `tasks.squad_answers`): the
question cut to data.max_query_length tokens, a context too long for one row
cut into windows data.doc_stride tokens apart, then the n_best start and end
positions of each window paired under max_answer_length and the max-context
rule, the answer cut from the context's own characters; a SQuAD 2.0 run
answers "" where the null score beats the best span by more than
objective.null_threshold (the run's, unless given).

Outputs: {"answer", "start", "end" (context[start:end] == answer; 0 and 0
for ""), "score" (the answer's probability among the n-best, BERT's)}.

One difference from the run's own decoding: rows are cut to their length
bucket (`lm_jax.buckets`), so padding positions past it are not ranked.
They can never be an answer, but where training ranked one among a
window's n_best positions it crowded out a real candidate that is ranked
here.
"""
import ml_collections
import numpy as np

from data_pipelines.tasks import squad
from lm_jax.finetuning import objectives, tasks
from lm_jax.inference import base
from lm_jax.inference.bucketed_model import BucketedModel


class QuestionAnswering(base.Pipeline):
  task = 'question-answering'
  objectives = ('span_qa',)
  needs = 'a SQuAD fine-tuning workdir'
  text_key = None  # a question needs its context: objects only

  def __init__(self, lm, *, batch_size: int = 0,
               null_threshold: float | None = None):
    super().__init__(lm, batch_size=batch_size)
    self.config = ml_collections.ConfigDict(lm.config.to_dict())
    if null_threshold is not None:
      self.config.objective.null_threshold = float(null_threshold)
    model = objectives.OBJECTIVES['span_qa'].build_model(
        lm.config, lm.tokenizer.vocab_size, deterministic=True)

    def forward(params, batch):
      out_BxLx2 = model.apply({'params': params}, batch['ids'],
                              batch['segment_ids'], batch['input_mask'])
      return {'start_logits': out_BxLx2[..., 0],
              'end_logits': out_BxLx2[..., 1]}

    self.model = BucketedModel(forward, lm, batch_size=self.batch_size,
                               max_length=lm.config.data.seq_len,
                               pad_values={'ids': lm.tokenizer.pad_id})

  def parse(self, value: dict, where: str) -> tuple[str, str]:
    return base.text(value, 'question', where), base.text(value, 'context',
                                                          where)

  def predict(self, parsed: list) -> list[dict]:
    data = self.config.data
    examples = [squad.SquadExample(str(i), question, context, [], [], False)
                for i, (question, context) in enumerate(parsed)]
    features = squad.featurize(
        examples, self.lm.tokenizer, seq_len=data.seq_len,
        doc_stride=data.doc_stride, max_query_length=data.max_query_length,
        training=False)
    arrays = features.arrays
    lengths = arrays['input_mask'].sum(1)
    outputs = self.model([
        {k: arrays[k][r, :lengths[r]]
         for k in ('ids', 'segment_ids', 'input_mask')}
        for r in range(len(lengths))])
    # Positions past a row's bucket were never computed: ranked last.
    logits = {name: np.full(arrays['ids'].shape, -np.inf)
              for name in ('start_logits', 'end_logits')}
    for r, out in enumerate(outputs):
      for name, value_NxL in logits.items():
        value_NxL[r, :len(out[name])] = out[name]
    answers, _, _, nbest = tasks.squad_answers(
        self.config.task, tasks.Split('inputs', examples, arrays, features),
        logits, self.config)
    return [_answer(answers[e.qid], nbest[e.qid]) for e in examples]


def _answer(text: str, nbest: list[dict]) -> dict:
  """The answer with its span and probability, from its n-best entry."""
  entry = next((e for e in nbest if e['text'] == text), None)
  if entry is None or not text:  # none found, or SQuAD 2.0's null answer
    return {'answer': '', 'start': 0, 'end': 0,
            'score': entry['probability'] if entry else 0.0}
  return {'answer': text, 'start': entry['start_char'],
          'end': entry['end_char'], 'score': entry['probability']}
