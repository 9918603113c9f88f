"""SQuAD 1.1 and 2.0 extractive QA (algorithms.md §2.7, §5 pitfall 27).

  python -m lm_jax.finetune --config=configs/finetune/squad.py \
      --config.task=squad --config.data_dir=squad \
      --config.init_checkpoint=runs/electra_small --workdir=runs/squad

DIR holds train-v1.1.json and dev-v1.1.json (task `squad`) or
train-v2.0.json and dev-v2.0.json (task `squad_v2`), plain or gzipped.
Question + context windows (max_query_length 64, doc stride 128), start/end
heads, n-best decoding with a maximum answer length, answers mapped back to
the context's characters; for 2.0 the null score from [CLS] with the
threshold that maximises dev F1 reported. Official EM/F1. Without a train
file, train on part of dev: --config.data.train_split='dev[:80%]'
--config.data.eval_split='dev[80%:]'.

Variants: `:tiny`.
"""
from lm_jax import config_base


def get_config(variant: str = ''):
  c = config_base.finetuning_config()
  c.task = 'squad'
  c.data.seq_len = 384  # BERT's; ELECTRA uses 512
  c.data.batch_size = 32
  c.data.doc_stride = 128
  c.data.max_query_length = 64
  c.data.test_split = ''
  c.optim.learning_rate = 0.0  # the pretrained family's recipe by width
  c.train.num_epochs = 2.0
  if variant == 'tiny':
    config_base.set_tiny_finetuning(c)
    c.data.seq_len = 64
    c.data.doc_stride = 32
    c.data.max_query_length = 24
  elif variant:
    raise config_base.unknown_variant('squad.py', variant, 'tiny')
  return c
