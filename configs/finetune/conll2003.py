"""CoNLL-2003 NER (algorithms.md §2.7): a tag per word, predicted at its
first sub-token; entity-level precision, recall and F1 (conlleval) with a
per-type report. DIR holds eng.train and eng.testa (IOB1 or IOB2 tags).

  python -m lm_jax.finetune --config=configs/finetune/conll2003.py \
      --config.data_dir=conll2003 --config.init_checkpoint=runs/electra_small \
      --workdir=runs/ner

Variants: `:tiny`.
"""
from lm_jax import config_base


def get_config(variant: str = ''):
  c = config_base.finetuning_config()
  c.task = 'conll2003'
  c.data.seq_len = 128  # longer sentences are split at word boundaries
  c.data.batch_size = 32
  c.data.eval_split = 'testa'
  c.data.test_split = 'testb'
  c.optim.learning_rate = 0.0  # the pretrained family's recipe by width
  c.train.num_epochs = 3.0
  if variant == 'tiny':
    config_base.set_tiny_finetuning(c)
  elif variant:
    raise config_base.unknown_variant('conll2003.py', variant, 'tiny')
  return c
