"""The fine-tuning run, top to bottom: the pretraining workdir, the task's
data, then per seed: the resolved config, mesh, `training.build`, restore or
init from the pretrained body, the shared training loop with dev evaluation,
the best checkpoint, predictions and eval_results.json.

Everything a step needs is pretraining's: the same jitted sharded step,
optimizer, checkpointer, metric logger and loop (`trainer.loop`).
"""
import json
import math
import os

import jax
import ml_collections
from flax import traverse_util
import numpy as np

from data_pipelines.sentences import RowTokens
from data_pipelines.tasks import files
from lm_jax import checkpointing, evaluation, sharding, trainer, training
from lm_jax.errors import InputError
from lm_jax.finetuning import backbone, peft
from lm_jax.finetuning import batches as batches_lib
from lm_jax.finetuning import metrics as metrics_lib
from lm_jax.finetuning import objectives, tasks
from lm_jax.finetuning.backbone import Pretrained
from lm_jax.metrics import MetricLogger
from lm_jax.models.model_config import from_model_config

BEST = checkpointing.BEST  # WORKDIR/best: the best main dev metric's parameters
# A fine-tuning checkpoint resumes only under the same task, head, body and
# trained parameters.
_MUST_MATCH = ('task', 'objective', 'model', 'peft', 'freeze')


def _print_now(line: str) -> None:
  print(line, flush=True)


def transfer_row(pretrained: Pretrained, tokenizer) -> RowTokens | None:
  """A causal LM's rows `start A delimiter B extract`, the three tokens new
  ids after its vocabulary (GPT-1, §2.7); None (BERT's [CLS]/[SEP]) for an
  encoder."""
  if not from_model_config(pretrained.config.model,
                           pretrained.vocab_size).causal:
    return None
  v = pretrained.vocab_size
  return RowTokens(start=v, delimiter=v + 1, end=v + 2, pad=tokenizer.pad_id)


def run(config, workdir: str, *, print_fn=_print_now) -> dict:
  """Fine-tunes num_seeds times; returns (and writes) the final dev metrics
  (the median over seeds, with each seed's figures)."""
  log = print_fn if jax.process_index() == 0 else lambda line: None
  _check(config)
  task = tasks.get(config.task)
  pretrained, tokenizer = backbone.open_pretrained(config.init_checkpoint)
  peft.check(config, pretrained.config.model)
  log(f'Task: {task.name}, from {pretrained.workdir} (step {pretrained.step}, '
      f'{pretrained.config.objective.name})')
  data = task.load(config, tokenizer, log, transfer_row(pretrained, tokenizer))

  if config.num_seeds == 1:
    results = _run_seed(config, workdir, task, data, pretrained, log)
  else:
    per_seed = []
    for i in range(config.num_seeds):
      seed_config = config.copy_and_resolve_references()
      seed_config.train.seed += i
      seed_config.data.seed += i
      log(f'Seed {i + 1} of {config.num_seeds}:')
      per_seed.append(_run_seed(seed_config, os.path.join(workdir, f'seed_{i}'),
                                task, data, pretrained, log))
      if per_seed[-1] is None:  # stopped: the rerun resumes this seed
        return {}
    results = metrics_lib.median_over_seeds(per_seed)
    results.update({f'seed_{i}.{k}': v for i, r in enumerate(per_seed)
                    for k, v in r.items()})
    if jax.process_index() == 0:
      files.write_json(os.path.join(workdir, checkpointing.RESULTS), results)
  if results is None:
    return {}
  log(f'Dev results ({os.path.join(workdir, checkpointing.RESULTS)}):')
  for name in sorted(k for k in results if not k.startswith('seed_')):
    log(f'  {name}: {results[name]:.4f}' if isinstance(results[name], float)
        else f'  {name}: {results[name]}')
  return results


def _check(config) -> None:
  problems = []
  if config.num_seeds < 1:
    problems.append(f'num_seeds must be >= 1, got {config.num_seeds}')
  if config.data.batch_size <= 0:
    problems.append('data.batch_size must be positive')
  if config.train.num_steps < 0 or config.train.num_epochs < 0:
    problems.append('train.num_epochs and train.num_steps must be >= 0')
  if config.optim.learning_rate < 0:
    problems.append('optim.learning_rate must be >= 0 (0: the recipe\'s)')
  if not 0 <= config.optim.layer_decay <= 1:
    problems.append('optim.layer_decay must be in [0, 1] (0: the recipe\'s)')
  if not 0 <= config.optim.warmup_fraction < 1:
    problems.append('optim.warmup_fraction must be in [0, 1)')
  for key in ('log_every', 'checkpoint_every', 'keep_checkpoints'):
    if config.train[key] <= 0:
      problems.append(f'train.{key} must be positive')
  if not config.task:
    problems.append(f'set --config.task (one of {", ".join(tasks.names())})')
  if problems:
    raise InputError('; '.join(problems))


def resolve(config, task, data, pretrained: Pretrained
            ) -> ml_collections.ConfigDict:
  """The full config of one run: the pretrained model section with the
  fine-tuning overrides, the head the task implies, steps from epochs."""
  c = ml_collections.ConfigDict(config.to_dict())
  model = ml_collections.ConfigDict(pretrained.config.model.to_dict())
  for key, value in config.model.items():
    model[key] = value
  for key, value in peft.model_fields(config).items():
    model[key] = value
  c.model = model
  if c.data.seq_len > model.max_positions:
    raise InputError(f'data.seq_len {c.data.seq_len} exceeds the pretrained '
                     f'model\'s max_positions {model.max_positions}')
  # The pretrained run's tokenizer, so the workdir can be read alone.
  c.data.tokenizer = pretrained.config.data.tokenizer
  c.data.lowercase = pretrained.config.data.lowercase
  c.data.spm_lowercase = pretrained.config.data.get('spm_lowercase', False)
  c.objective.name = task.objective
  c.objective.num_labels = data.num_labels
  c.objective.label_names = list(data.labels or [])  # tags (CoNLL), for
  #   reading predictions without the training data
  c.objective.num_choices = data.num_choices
  c.objective.use_pooler = (config.objective.use_pooler
                            and 'pooler' in pretrained.backbone_paths)
  family = pretrained.config.objective.name
  if not c.optim.learning_rate:
    c.optim.learning_rate = peft.LEARNING_RATES.get(
        c.peft, recipe_learning_rate(family, model.hidden_size))
  if not c.optim.layer_decay:
    c.optim.layer_decay = (1.0 if c.peft != 'none' else
                           recipe_layer_decay(family, model.hidden_size))
  if not c.train.num_epochs:
    c.train.num_epochs = task.num_epochs
  train_rows = batches_lib.num_rows(data.train)
  if not train_rows:
    raise InputError(f'no training examples in {task.name} '
                     f'{config.data.train_split}')
  if not c.train.num_steps:
    c.train.num_steps = max(1, math.ceil(
        c.train.num_epochs * train_rows / c.data.batch_size))
  c.optim.warmup_steps = int(c.optim.warmup_fraction * c.train.num_steps)
  if not c.train.eval_every:
    c.train.eval_every = max(1, math.ceil(train_rows / c.data.batch_size))
  if not c.data.eval_batch_size:
    c.data.eval_batch_size = c.data.batch_size
  c.lock()
  return c


def recipe_learning_rate(family: str, hidden_size: int) -> float:
  """The published fine-tuning rate for a pretraining family and width
  (§3.4): ELECTRA Small 3e-4, Base 1e-4, Large 5e-5; BERT and its kin
  5e-5 from Base up (run_classifier), 1e-4 below (the compact models' grid);
  GPT-1 6.25e-5."""
  if family == 'causal_lm':
    return 6.25e-5
  if family == 'electra':
    if hidden_size <= 256:
      return 3e-4
    return 1e-4 if hidden_size <= 768 else 5e-5
  return 5e-5 if hidden_size >= 768 else 1e-4


def recipe_layer_decay(family: str, hidden_size: int) -> float:
  """ELECTRA's layer-wise decay, 0.8 (0.9 for Large); none for BERT."""
  if family == 'electra':
    return 0.9 if hidden_size >= 1024 else 0.8
  return 1.0


def _run_seed(config, workdir: str, task, data, pretrained: Pretrained, log
              ) -> dict | None:
  """One fine-tuning run in `workdir`; its final dev metrics, or None when it
  stopped early (SIGTERM, train.stop_at_step)."""
  config = resolve(config, task, data, pretrained)
  num_hosts, host = jax.process_count(), jax.process_index()
  objective = objectives.OBJECTIVES[config.objective.name]
  num_steps = config.train.num_steps
  stop_step = config.train.stop_at_step or num_steps

  mesh = sharding.make_mesh(config.mesh)
  for size in (config.data.batch_size, config.data.eval_batch_size):
    sharding.check_batch(size, mesh, num_hosts)
  rules = sharding.rules(config.mesh)
  with sharding.use(mesh, rules):
    run_parts = training.build(config, objective, pretrained.vocab_size,
                               mesh, rules)
    total = run_parts.num_params + run_parts.num_frozen_params
    log(f'Model: {task.name} head on {total:,} parameters, '
        f'{batches_lib.num_rows(data.train):,} training rows, {num_steps} '
        f'steps of {config.data.batch_size}')
    log(f'Trainable: {run_parts.num_params:,} of {total:,} parameters '
        f'({100 * run_parts.num_params / total:.2f}%; peft {config.peft}'
        + (f', freeze {config.freeze}' if config.freeze else '') + ')')
    checkpointer = checkpointing.Checkpointer(
        os.path.join(workdir, checkpointing.CHECKPOINTS),
        every=config.train.checkpoint_every,
        keep=config.train.keep_checkpoints,
        use_async=config.train.async_checkpoints)
    best = checkpointing.Checkpointer(os.path.join(workdir, BEST), keep=1,
                                      use_async=False)
    meta = {'config': json.loads(config.to_json()),
            'vocab_id': pretrained.vocab_id,
            'vocab_size': pretrained.vocab_size,
            'vocab_file': os.path.basename(pretrained.vocab_path),
            'init_checkpoint': pretrained.workdir,
            'init_step': pretrained.step,
            'backbone': pretrained.describe()}
    try:
      # The body: its trained part starts the state, its frozen part (PEFT)
      # is read from the pretraining workdir, now and on every resume.
      trained_body, frozen = backbone.restore_body(run_parts, pretrained)
      start_step = checkpointer.latest_step() or 0
      if start_step:
        trainer.check_resumable(checkpointer.read_meta(start_step), meta,
                                _MUST_MATCH)
        results_path = os.path.join(workdir, checkpointing.RESULTS)
        if start_step >= num_steps and os.path.exists(results_path):
          log(f'{workdir} is done: its results are in {results_path}.')
          with open(results_path) as f:
            return json.load(f)
        state = checkpointer.restore(start_step, run_parts.restore_target())
        log(f'Resumed from the checkpoint at step {start_step}.')
      else:
        state = run_parts.init(jax.random.key(config.train.seed), frozen)
        state = state.replace(params=traverse_util.unflatten_dict({
            **traverse_util.flatten_dict(state.params),
            **traverse_util.flatten_dict(trained_body)}))
      del trained_body
      if host == 0:
        checkpointing.keep_vocabulary(pretrained.vocab_path, workdir)

      best_step = best.latest_step()
      best_score = (best.read_meta(best_step)['score'] if best_step
                    else -math.inf)
      logger = MetricLogger(
          workdir, num_steps=num_steps, start_step=start_step,
          tokens_per_step=config.data.batch_size * config.data.seq_len,
          primary=host == 0, print_fn=log)
      last_eval = {}

      def evaluate(step, params):
        nonlocal best_score
        results, outputs = _evaluate(task, data, config, run_parts,
                                     run_parts.merge(params, frozen))
        logger.write_eval(step, results)
        last_eval.update(step=step, results=results, outputs=outputs)
        score = results[task.main_metric]
        if score > best_score:
          best_score = score
          # What the run trained, a prefix's MLP folded away (§1.13).
          saved_params, saved_config = peft.folded(params, config)
          best.save(step, {'params': saved_params},
                    dict(meta, config=saved_config, score=score,
                         metric=task.main_metric), force=True)

      local_batches = batches_lib.train_batches(
          {k: v for k, v in data.train.items()
           if k in objectives.BATCH_KEYS[config.objective.name]},
          batch_size=config.data.batch_size, seed=config.data.seed,
          start_step=start_step, process_index=host, process_count=num_hosts)
      try:
        _, state = trainer.loop(
            run_parts, state, frozen, local_batches, start_step=start_step,
            stop_step=stop_step, checkpointer=checkpointer, meta=meta,
            logger=logger, log=log, log_every=config.train.log_every,
            eval_every=config.train.eval_every, evaluate=evaluate)
        final_step = int(jax.device_get(state.step))
        if final_step < num_steps:
          return None
        if last_eval.get('step') != final_step:
          evaluate(final_step, state.params)
        results = dict(last_eval['results'], step=final_step,
                       best_step=best.latest_step(),
                       **{f'best_{task.main_metric}': best_score})
        # Every host computes (the step is global), the first one writes.
        params = run_parts.merge(state.params, frozen)
        test_outputs = [_predict(split, config, run_parts, params)[1]
                        for split in data.tests]
        if host == 0:
          task.write_predictions(workdir, data, last_eval['outputs'], config)
          for split, outputs in zip(data.tests, test_outputs):
            task.write_test_predictions(workdir, data, split, outputs, config)
          files.write_json(os.path.join(workdir, checkpointing.RESULTS), results)
      finally:
        logger.close()
    finally:
      checkpointer.close()
      best.close()
  return results


def _predict(split, config, run_parts, params) -> tuple[dict, dict]:
  """(loss/accuracy means, outputs per row) of one pass over a split."""
  # Unlabelled (test) rows carry label -1 or target NaN: their loss is
  # meaningless and unused, their outputs are what is wanted.
  keys = objectives.BATCH_KEYS[config.objective.name]
  means, _, outputs = evaluation.accumulate(
      run_parts, params, batches_lib.eval_batches(
          {k: v for k, v in split.arrays.items() if k in keys},
          batch_size=config.data.eval_batch_size,
          process_index=jax.process_index(),
          process_count=jax.process_count()))
  rows = {}
  for out in outputs:
    keep = np.asarray(out.pop('weight')) > 0
    for name, value in out.items():
      rows.setdefault(name, []).append(np.asarray(value)[keep])
  return means, {k: np.concatenate(v) for k, v in rows.items()}


def _evaluate(task, data, config, run_parts, params) -> tuple[dict, dict]:
  """Task metrics over every eval split (the first split's names bare, the
  others prefixed with the split's name), and the outputs per split."""
  results, outputs = {}, {}
  for i, split in enumerate(data.evals):
    sums, out = _predict(split, config, run_parts, params)
    metrics = task.metrics(data, split, out, config)
    if task.reports_loss:
      metrics['loss'] = sums['loss']
    prefix = '' if i == 0 else f'{split.name}_'
    results.update({prefix + k: v for k, v in metrics.items()})
    outputs[split.name] = out
  return results, outputs
