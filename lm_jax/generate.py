"""Text continuation with a trained causal LM.

  python -m lm_jax.generate --workdir=runs/gpt2_tiny --prompt="It was a dark"
  python -m lm_jax.generate --workdir=runs/gpt2_tiny --prompts_file=p.jsonl
      [--max_new_tokens=50 --temperature=0.8 --top_k=40 --top_p=0.95
       --seed=0 --truncate]

Reads the model and its vocabulary from the workdir's latest checkpoint
(`lm_jax.trained_lm.open_causal_lm`; an encoder's workdir is refused) and
prints each prompt followed by the text generated after it, up to
--max_new_tokens tokens or the end-of-text token; with several prompts, one
blank line separates the continuations. --prompts_file is JSON lines, one
{"prompt": "..."} object a line (other keys ignored, so a BLEU file of
`lm_jax.evaluate --task=bleu` serves). Greedy decoding by default
(--temperature=0); with a temperature, top-k and top-p (nucleus) filter the
choices as Hugging Face transformers' warpers do, and the same --seed gives
the same text. A prompt longer than the model's context minus
--max_new_tokens is refused, or with --truncate its beginning is dropped.

From Python: `lm_jax.trained_lm.generate_text(workdir, prompts, **settings)`.
"""
from absl import app, flags, logging

from lm_jax import generation
from lm_jax.cli import fail, parse_flags
from lm_jax.errors import InputError
from lm_jax.trained_lm import generate_text, read_prompts

_WORKDIR = flags.DEFINE_string('workdir', None, 'A causal LM pretraining '
                               'workdir.')
_PROMPT = flags.DEFINE_string('prompt', None, 'The text to continue.')
_PROMPTS_FILE = flags.DEFINE_string(
    'prompts_file', None, 'JSON lines of {"prompt": "..."}, in place of '
    '--prompt.')
_MAX_NEW_TOKENS = flags.DEFINE_integer('max_new_tokens', 50, 'Tokens '
                                       'generated per prompt at most.')
_TEMPERATURE = flags.DEFINE_float('temperature', 0.0, '0: greedy; else '
                                  'sample at this temperature.')
_TOP_K = flags.DEFINE_integer('top_k', 0, 'Sample among the k likeliest '
                              'tokens; 0: off.')
_TOP_P = flags.DEFINE_float('top_p', 1.0, 'Sample from the smallest set of '
                            'tokens holding this probability, in (0, 1]; '
                            '1: off.')
_SEED = flags.DEFINE_integer('seed', 0, 'Sampling seed.')
_TRUNCATE = flags.DEFINE_bool('truncate', False, 'Drop the beginning of a '
                              'prompt too long for the context.')
flags.mark_flags_as_required(['workdir'])


def prompts_from_flags() -> list[str]:
  """The prompt of --prompt, or those of --prompts_file (exactly one)."""
  if (_PROMPT.value is None) == (_PROMPTS_FILE.value is None):
    raise InputError('give either --prompt or --prompts_file')
  if _PROMPT.value is not None:
    return [_PROMPT.value]
  return read_prompts(_PROMPTS_FILE.value)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  try:
    settings = dict(max_new_tokens=_MAX_NEW_TOKENS.value,
                    temperature=_TEMPERATURE.value, top_k=_TOP_K.value,
                    top_p=_TOP_P.value, seed=_SEED.value,
                    truncate=_TRUNCATE.value)
    generation.Settings(**settings).check()  # before anything is read
    texts = generate_text(_WORKDIR.value, prompts_from_flags(), **settings)
  except InputError as e:
    fail(str(e))
  print('\n\n'.join(texts))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
