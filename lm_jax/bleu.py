"""Corpus BLEU of a causal LM's continuations, with sacreBLEU.

The data: JSON lines, one example a line, {"prompt": "...", "reference":
"..."} or, with several references, {"prompt": "...", "references": ["...",
...]} (examples may have different numbers of references; blank lines are
skipped). The model continues each prompt with greedy decoding; the
hypothesis is the generated text alone (the prompt not included), stripped
of surrounding whitespace. The score is sacreBLEU's `corpus_bleu` with its
defaults (13a tokenization, exponential smoothing, mixed case), reported
with its signature so that figures can be compared.
"""
import dataclasses
from typing import Sequence

from sacrebleu.metrics import BLEU

from lm_jax import generation, trained_lm
from lm_jax.errors import InputError
from lm_jax.trained_lm import TrainedLM

DEFAULT_MAX_NEW_TOKENS = 32


@dataclasses.dataclass(frozen=True)
class Example:
  prompt: str
  references: tuple[str, ...]


def read_examples(patterns: str, what: str = '--data') -> list[Example]:
  """The examples of the JSON-lines files `patterns` (comma-separated
  globs) names; InputError naming file and line for a malformed line."""
  examples = []
  for where, value in trained_lm.jsonl_objects(patterns, what):
    prompt = trained_lm.prompt_of(value, where)
    if ('reference' in value) == ('references' in value):
      raise InputError(f'{where}: expected a "reference" string or a '
                       '"references" list (one of them)')
    refs = ([value['reference']] if 'reference' in value
            else value['references'])
    if (not isinstance(refs, list) or not refs
        or not all(isinstance(r, str) for r in refs)):
      raise InputError(f'{where}: "reference" must be a string, '
                       '"references" a non-empty list of strings')
    examples.append(Example(prompt, tuple(refs)))
  if not examples:
    raise InputError(f'{what} {patterns} holds no examples')
  return examples


def corpus_bleu(hypotheses: Sequence[str],
                references: Sequence[Sequence[str]]) -> tuple[float, str]:
  """(BLEU in [0, 100], sacreBLEU's signature) of hypothesis i against the
  references of example i (one or more each)."""
  if len(hypotheses) != len(references):
    raise ValueError(f'{len(hypotheses)} hypotheses, {len(references)} '
                     'lists of references')
  # sacreBLEU wants reference streams: stream j holds every example's j-th
  # reference, None where an example has fewer.
  depth = max(len(refs) for refs in references)
  streams = [[refs[j] if j < len(refs) else None for refs in references]
             for j in range(depth)]
  metric = BLEU()
  score = metric.corpus_score(list(hypotheses), streams)
  return score.score, str(metric.get_signature())


def evaluate(lm: TrainedLM, data: str, *,
             max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
             truncate: bool = False, batch_size: int = 0
             ) -> tuple[dict, list[dict]]:
  """(figures, one {"prompt", "prediction", "references"} per example) of
  `lm` continuing the prompts of `data` greedily.

  Args:
    lm: an opened causal LM.
    data: comma-separated globs of JSON-lines files (module docstring).
    max_new_tokens: tokens generated per prompt at most.
    truncate: keep the end of a prompt too long for the context.
    batch_size: prompts generated together; 0: trained_lm.GENERATE_BATCH.
  """
  settings = generation.Settings(max_new_tokens=max_new_tokens,
                                 truncate=truncate)
  settings.check()
  examples = read_examples(data)
  texts = trained_lm.continue_prompts(
      lm, [e.prompt for e in examples], settings,
      batch_size or trained_lm.GENERATE_BATCH)
  predictions = [text.strip() for text in texts]
  score, signature = corpus_bleu(predictions,
                                 [e.references for e in examples])
  figures = {'step': lm.step, 'examples': len(examples), 'bleu': score,
             'bleu_signature': signature, 'max_new_tokens': max_new_tokens}
  rows = [{'prompt': e.prompt, 'prediction': p,
           'references': list(e.references)}
          for e, p in zip(examples, predictions)]
  return figures, rows
