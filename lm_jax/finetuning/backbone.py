"""The pretrained body a fine-tuning run starts from.

`open_pretrained` reads a pretraining workdir (config, vocabulary, where its
encoder lives) and names it by a fingerprint of its run and step;
`restore_body` reads the body into a fine-tuning run's layout, split as the
run trains it (`lm_jax.partition`): the trained part starts from it, the
frozen part (under PEFT) is read from the pretraining workdir every time and
never copied, so a run's checkpoints hold only what it trained. Bodies read
for inference can be shared, so several tasks' adapters use one copy.
"""
import dataclasses
import hashlib
import json
import os

import ml_collections
from flax import traverse_util

from data_pipelines import tokenizers, vocabulary
from lm_jax import checkpointing
from lm_jax.errors import InputError
from lm_jax.finetuning import peft
from lm_jax.objectives import get_objective


@dataclasses.dataclass(frozen=True)
class Pretrained:
  """What fine-tuning takes from a pretraining workdir."""
  workdir: str
  step: int
  config: ml_collections.ConfigDict
  vocab_id: str
  vocab_path: str
  vocab_size: int
  backbone_paths: dict  # part -> path in the pretraining parameter tree
  fingerprint: str  # the pretraining run and step, see `fingerprint`

  def describe(self) -> dict:
    """What a fine-tuning run records of its body."""
    return {'workdir': self.workdir, 'step': self.step,
            'fingerprint': self.fingerprint}


def fingerprint(meta: dict, step: int) -> str:
  """Names a pretrained body: its run's whole config (model, data, seeds),
  vocabulary and step. Runs with the same fingerprint hold the same weights
  (training is a pure function of them)."""
  text = json.dumps([meta['config'], meta['vocab_id'], step], sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def open_pretrained(workdir: str) -> tuple[Pretrained, tokenizers.Tokenizer]:
  """The pretraining workdir and its tokenizer, checked against the
  checkpoint's vocabulary size."""
  pretrained = read_pretrained(workdir)
  config = pretrained.config
  tokenizer = tokenizers.load_tokenizer(config.data.tokenizer,
                                        pretrained.vocab_path,
                                        vocabulary.lowercases(config.data))
  if tokenizer.vocab_size != pretrained.vocab_size:
    raise InputError(f'{pretrained.vocab_path} has {tokenizer.vocab_size} '
                     f'entries, the checkpoint {pretrained.vocab_size}')
  return pretrained, tokenizer


def read_pretrained(workdir: str) -> Pretrained:
  """The pretraining workdir's record alone (no tokenizer), for loading a
  body whose vocabulary is known already."""
  if not workdir:
    raise InputError('set --config.init_checkpoint=WORKDIR of a pretraining '
                     'run')
  checkpointer, step, meta = checkpointing.open_workdir(workdir)
  checkpointer.close()
  config = ml_collections.ConfigDict(meta['config'])
  if 'task' in config:
    raise InputError(f'{workdir} is a fine-tuning run; start from a '
                     'pretraining workdir')
  objective = get_objective(config.objective.name)
  if objective.backbone_paths is None:
    raise InputError(f'{workdir} was pretrained with objective '
                     f'{config.objective.name!r}, which has no encoder to '
                     'fine-tune')
  return Pretrained(workdir, step, config, meta['vocab_id'],
                    checkpointing.vocabulary_path(workdir, meta),
                    meta['vocab_size'], objective.backbone_paths(config),
                    fingerprint(meta, step))


def check_same_body(recorded: dict | None, pretrained: Pretrained,
                    workdir: str) -> None:
  """InputError when `workdir` (a fine-tuning run) was trained on another
  body than `pretrained`."""
  if recorded and recorded['fingerprint'] != pretrained.fingerprint:
    raise InputError(
        f'{workdir} was trained on the body of {recorded["workdir"]} (step '
        f'{recorded["step"]}, fingerprint {recorded["fingerprint"]}), not on '
        f'{pretrained.workdir} (step {pretrained.step}, fingerprint '
        f'{pretrained.fingerprint})')


# (workdir, step, the restored leaves and their layouts) -> parameters
_SHARED_BODIES: dict = {}


def restore_body(run_parts, pretrained: Pretrained, share: bool = False
                 ) -> tuple[dict, dict]:
  """(trained, frozen) parts of the pretrained body, laid out as
  `run_parts` shards them: the embeddings, encoder (and pooler) under the
  fine-tuning model's names; parameters PEFT adds are not in it.

  `share`: reuse the arrays of an earlier call for the same body and layout
  (inference; never for a train state, whose step donates its arrays).
  """
  target = run_parts.params_target()
  parts = {part: path for part, path in pretrained.backbone_paths.items()
           if part in target}
  leaves = {path + sub: leaf
            for part, path in parts.items()
            for sub, leaf in traverse_util.flatten_dict(target[part]).items()
            if peft.is_pretrained((part,) + sub)}
  key = (os.path.realpath(pretrained.workdir), pretrained.step,
         tuple((p, a.shape, a.dtype, a.sharding) for p, a in leaves.items()))
  restored = _SHARED_BODIES.get(key) if share else None
  if restored is None:
    checkpointer, _, _ = checkpointing.open_workdir(pretrained.workdir)
    try:
      restored = traverse_util.flatten_dict(checkpointer.restore_params(
          pretrained.step, traverse_util.unflatten_dict(leaves)))
    finally:
      checkpointer.close()
    if share:
      _SHARED_BODIES[key] = restored
  body = {}
  for part, path in parts.items():
    for full, leaf in restored.items():
      if full[:len(path)] == path:
        body[(part,) + full[len(path):]] = leaf
  return run_parts.split(traverse_util.unflatten_dict(body))
