"""Multiple choice (algorithms.md §2.7, §5 pitfall 28): each choice encoded
with its context, one score per choice, softmax over the choices; accuracy.

  python -m lm_jax.finetune --config=configs/finetune/multiple_choice.py \
      --config.task=piqa --config.data_dir=piqa \
      --config.init_checkpoint=runs/electra_small --workdir=runs/piqa

Tasks: `piqa` (train.jsonl + train-labels.lst, valid.jsonl +
valid-labels.lst) and `swag` (SWAG-style jsonl with the label inside:
train.jsonl, dev.jsonl or valid.jsonl). BERT's SWAG recipe: 3 epochs,
batch 16, lr 2e-5.

Variants: `:gpt1` (GPT-1's transfer recipe, for a causal LM workdir: each
choice `start context delimiter choice extract`, scored from the extract
token, plus the auxiliary LM loss at 0.5), `:tiny`.
"""
from lm_jax import config_base


def get_config(variant: str = ''):
  c = config_base.finetuning_config()
  c.task = 'piqa'
  c.data.seq_len = 128
  c.data.batch_size = 16
  c.data.eval_split = 'valid'
  c.data.test_split = ''
  c.optim.learning_rate = 0.0  # the pretrained family's recipe by width
  c.train.num_epochs = 3.0
  if variant == 'gpt1':
    config_base.set_gpt1_finetuning(c)
  elif variant == 'tiny':
    config_base.set_tiny_finetuning(c)
  elif variant:
    raise config_base.unknown_variant('multiple_choice.py', variant, 'gpt1, tiny')
  return c
