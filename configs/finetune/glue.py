"""GLUE fine-tuning (algorithms.md §2.7, §3.4): ELECTRA's recipe by default.

  python -m lm_jax.finetune --config=configs/finetune/glue.py \
      --config.task=sst2 --config.data_dir=glue_data/SST-2 \
      --config.init_checkpoint=runs/electra_small --workdir=runs/sst2

Tasks: cola (MCC), sst2 (accuracy), mrpc and qqp (accuracy, F1), stsb
(Pearson, Spearman; regression head), mnli (matched and mismatched
accuracy), qnli, rte, wnli (accuracy). Test-set predictions are also
written in the GLUE-server format (WORKDIR/glue_submission/).

Parameter-efficient: `--config.peft=adapter|lora|prefix` trains only those
parameters and the head, `--config.freeze=embeddings,layers:K|body` keeps
pretrained parts fixed (lm_jax/finetuning/peft.py).

Variants: `:bert` (BERT's run_classifier recipe: lr 5e-5, no layer-wise
decay), `:gpt1` (GPT-1's transfer recipe, for a causal LM workdir: lr
6.25e-5, warmup 0.2%, the auxiliary LM loss at 0.5; rows `start A
delimiter B extract`, classified from the extract token), `:tiny` (the model of a `:tiny` pretraining run: short sequences,
one epoch, a high learning rate).
"""
from lm_jax import config_base


def get_config(variant: str = ''):
  c = config_base.finetuning_config()
  c.task = 'sst2'
  c.data.seq_len = 128
  c.data.batch_size = 32
  # 0: the recipe's learning rate and layer-wise decay for the pretrained
  # family and width (ELECTRA: 3e-4 Small, 1e-4 Base, 5e-5 Large, decay 0.8;
  # BERT: 5e-5, no decay) and the task's epochs (3; 10 for RTE and STS-B).
  c.optim.learning_rate = 0.0
  c.optim.layer_decay = 0.0
  c.train.num_epochs = 0.0
  if variant == 'bert':
    c.optim.learning_rate = 5e-5
    c.optim.layer_decay = 1.0
    c.optim.warmup = 'replace'
    c.objective.double_unordered = False
  elif variant == 'gpt1':
    config_base.set_gpt1_finetuning(c)
  elif variant == 'tiny':
    config_base.set_tiny_finetuning(c)
  elif variant:
    raise config_base.unknown_variant('glue.py', variant, 'bert, gpt1, tiny')
  return c
