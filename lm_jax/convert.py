"""Converts models between Hugging Face folders and lm_jax workdirs.

  python -m lm_jax.convert --from=hf --src=HF_DIR --dst=WORKDIR \
      [--generator=HF_GENERATOR_DIR] [--recipe=configs/spanbert_base.py] \
      [--init_missing] [--ignore_unused]
  python -m lm_jax.convert --to=hf --src=WORKDIR --dst=HF_DIR [--dtype=...]

HF folders hold config.json, model.safetensors (or pytorch_model.bin, read
with PyTorch) and the tokenizer files. BERT, ALBERT, ELECTRA (a
discriminator with --generator makes one ELECTRA pair; either alone works),
SpanBERT (BERT's layout: --recipe=configs/spanbert_base.py --init_missing
starts its SBO head), DistilBERT and GPT-2. The workdir continues
pretraining with `lm_jax.train --config=WORKDIR/config.py`, and fine-tunes,
evaluates and generates as any other. An ELECTRA pair is written to HF_DIR
(the discriminator) and HF_DIR/generator.

Nothing is written on failure; a --dst that already holds something is
refused. Bad input ends with one `error: ...` line and exit status 2.
"""
from absl import app, flags, logging

from lm_jax.cli import fail, parse_flags
from lm_jax.errors import InputError

_FROM = flags.DEFINE_enum('from', None, ['hf'], 'Convert from this format '
                          'into an lm_jax workdir.')
_TO = flags.DEFINE_enum('to', None, ['hf'], 'Convert an lm_jax workdir into '
                        'this format.')
_SRC = flags.DEFINE_string('src', None, 'The model to convert.')
_DST = flags.DEFINE_string('dst', None, 'Where to write it (new or empty).')
_GENERATOR = flags.DEFINE_string(
    'generator', None, '--from=hf: an ELECTRA generator folder to pair with '
    'the discriminator in --src.')
_RECIPE = flags.DEFINE_string(
    'recipe', None, '--from=hf: the config file[:variant] whose objective, '
    'data and optimizer the workdir takes (default: the family\'s).')
_INIT_MISSING = flags.DEFINE_bool(
    'init_missing', False, '--from=hf: start parameters the source lacks (a '
    'head) as a new run would, instead of refusing.')
_IGNORE_UNUSED = flags.DEFINE_bool(
    'ignore_unused', False, '--from=hf: drop source tensors the model has no '
    'place for, instead of refusing.')
_DTYPE = flags.DEFINE_enum('dtype', 'float32',
                           ['float32', 'bfloat16', 'float16'],
                           '--to=hf: the dtype of the written tensors.')
flags.mark_flags_as_required(['src', 'dst'])


def main(argv):
  del argv
  if (_FROM.value is None) == (_TO.value is None):
    fail('give exactly one of --from=hf or --to=hf')
  logging.set_verbosity(logging.WARNING)
  from lm_jax.interop import converter  # pylint: disable=g-import-not-at-top
  try:
    if _FROM.value:
      summary = converter.from_hf(
          _SRC.value, _DST.value, generator=_GENERATOR.value,
          recipe=_RECIPE.value, init_missing=_INIT_MISSING.value,
          ignore_unused=_IGNORE_UNUSED.value, log=print)
      for group in summary['initialised']:
        print(f'Initialised (not in the source): {group}')
    else:
      for note in converter.to_hf(_SRC.value, _DST.value, dtype=_DTYPE.value,
                                  log=print):
        print(note)
  except InputError as e:
    fail(str(e))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
