"""The pretraining loop, top to bottom: mesh, input pipeline, abstract state
and its shardings, restore or jitted init, then steps with logging and
checkpoints. Works for every objective in `lm_jax.objectives`."""
import json
import os
import signal

import jax

from data_pipelines import inputs
from lm_jax import checkpointing, config_base, evaluation, sharding, training
from lm_jax.errors import InputError
from lm_jax.metrics import MetricLogger
from lm_jax.models import model_config
from lm_jax.objectives import get_objective

# Parts of the config a checkpoint cannot be resumed under if changed (the
# vocabulary is compared by content). Batch size, sequence length, data and
# schedule may change between runs, e.g. BERT's 128-then-512 recipe.
_MUST_MATCH = ('objective', 'model')


def _print_now(line: str) -> None:
  print(line, flush=True)


def run(config, workdir: str, *, print_fn=_print_now) -> dict:
  """Trains until train.stop_at_step (or num_steps); returns the last metrics.

  `print_fn` receives each progress and status line (on the first host only).
  """
  log = print_fn if jax.process_index() == 0 else lambda line: None
  config_base.check(config)
  objective = get_objective(config.objective.name)
  objective.check(config)
  num_hosts, host = jax.process_count(), jax.process_index()
  stop_step = config.train.stop_at_step or config.train.num_steps

  # 1. The mesh.
  mesh = sharding.make_mesh(config.mesh)
  sharding.check_batch(config.data.batch_size, mesh, num_hosts)
  rules = sharding.rules(config.mesh)
  log(f'Devices: {jax.device_count()} ({jax.devices()[0].platform}), '
      f'hosts: {num_hosts}, mesh: {dict(mesh.shape)}')

  # 2. The input's static part: the vocabulary and built examples.
  train_input = inputs.training_input(config, objective, host, num_hosts, log)
  eval_batches = None
  if config.data.eval_files:
    if num_hosts > 1 and not config.data.eval_batches:
      raise InputError('multi-host evaluation needs data.eval_batches > 0 '
                       '(every host runs that many eval steps)')
    num_eval, eval_batches = inputs.eval_input(
        config, objective, train_input.tokenizer, train_input.vocab_id,
        config.data.eval_files, host, num_hosts, log)
    log(f'Evaluation: {num_eval:,} held-out examples on this host, every '
        f'{config.train.eval_every} steps.')

  # 3. Model, optimizer, the abstract state and its shardings, the step.
  with sharding.use(mesh, rules):
    run_parts = training.build(config, objective, train_input.vocab_size, mesh,
                               rules)
    for note in run_parts.replicated_dims:
      log(f'Replicated: {note}')
    frozen_note = (f' (+ {run_parts.num_frozen_params:,} frozen)'
                   if run_parts.num_frozen_params else '')
    log(f'Model: {objective.name}, {run_parts.num_params:,} parameters'
        f'{frozen_note}, vocabulary {train_input.vocab_size:,}, '
        f'{train_input.summary}')
    frozen = {}
    if objective.restore_frozen is not None:
      frozen = objective.restore_frozen(config, run_parts.frozen_target(),
                                        train_input.vocab_id)

    # 4. Restore the latest checkpoint, or initialise on the devices.
    checkpointer = checkpointing.Checkpointer(
        os.path.join(workdir, checkpointing.CHECKPOINTS),
        every=config.train.checkpoint_every, keep=config.train.keep_checkpoints,
        use_async=config.train.async_checkpoints)
    meta = {'config': json.loads(config.to_json()),
            'vocab_id': train_input.vocab_id,
            'vocab_size': train_input.vocab_size,
            'vocab_file': os.path.basename(train_input.vocab_path)}
    # A checkpoint at step 0 is a converted model (lm_jax.convert): resumed.
    latest = checkpointer.latest_step()
    start_step = latest or 0
    try:
      if latest is not None:
        check_resumable(checkpointer.read_meta(start_step), meta)
        state = checkpointer.restore(start_step, run_parts.restore_target())
        log(f'Resumed from the checkpoint at step {start_step}.')
      else:
        state = run_parts.init(jax.random.key(config.train.seed), frozen)
    except InputError:
      checkpointer.close()
      raise
    if start_step >= stop_step:
      log(f'Nothing to do: the checkpoint is at step {start_step}, the run '
          f'stops at {stop_step}.')
      checkpointer.close()
      return {}

    if train_input.vocab_path and host == 0:
      checkpointing.keep_vocabulary(train_input.vocab_path, workdir)

    # 5. This host's batches, starting at start_step.
    local_batches = train_input.batches(start_step)
    logger = MetricLogger(
        workdir, num_steps=config.train.num_steps, start_step=start_step,
        tokens_per_step=config.data.batch_size * config.data.seq_len,
        primary=host == 0, print_fn=log)

    def evaluate(step, params):
      logger.write_eval(step, evaluation.run(run_parts, params, eval_batches))

    # 6. The loop.
    try:
      last, _ = loop(run_parts, state, frozen, local_batches,
                     start_step=start_step, stop_step=stop_step,
                     checkpointer=checkpointer, meta=meta, logger=logger,
                     log=log, log_every=config.train.log_every,
                     eval_every=config.train.eval_every,
                     evaluate=evaluate if eval_batches is not None else None)
    finally:
      checkpointer.close()
      logger.close()
  return last


def loop(run_parts, state, frozen, local_batches, *, start_step: int,
         stop_step: int, checkpointer, meta: dict, logger, log, log_every: int,
         eval_every: int, evaluate=None):
  """Steps from start_step to stop_step: (last logged metrics, final state).

  Every entry point that trains (pretraining, fine-tuning) runs this loop.
  Metrics are fetched one step late so the host never waits on the step it
  just dispatched; `evaluate(step, params)` runs every `eval_every` steps and
  at the end; SIGINT/SIGTERM stop after a checkpoint.
  """
  stop_requested, restore_signals = _install_stop_handlers()
  pending, last = None, {}
  step = start_step
  try:
    while step < stop_step:
      batch = sharding.global_batch(next(local_batches),
                                    run_parts.batch_sharding)
      state, metrics = run_parts.step(state, batch, frozen)
      step += 1
      if pending is not None:
        last = jax.device_get(pending[1])
        logger.write(pending[0], last)
        pending = None
      if step == start_step + 1:  # compiled: time from here on
        jax.block_until_ready(metrics)
        logger.start_clock(step)
      if step % log_every == 0 or step == stop_step:
        pending = (step, metrics)
      if evaluate is not None and (step % eval_every == 0
                                   or step == stop_step):
        evaluate(step, state.params)
      stopping = stop_requested()
      checkpointer.save(step, state, meta, force=stopping or step == stop_step)
      if stopping:
        log(f'Stopping at step {step}: saved a checkpoint.')
        break
    if pending is not None:
      last = jax.device_get(pending[1])
      logger.write(pending[0], last)
  finally:
    restore_signals()
  return last, state


def check_resumable(saved: dict, current: dict,
                    must_match: tuple[str, ...] = _MUST_MATCH) -> None:
  """Refuses to continue a checkpoint whose config differs in `must_match`
  (dotted keys) or whose vocabulary differs. Model keys that either config
  lacks (a checkpoint written before they existed, a pretraining config
  without the fine-tuning fields) count as their defaults."""
  def with_defaults(config: dict) -> dict:
    config = dict(config)
    if 'model' in config:
      config['model'] = {**model_config.field_defaults(), **config['model']}
    return config

  saved_config = with_defaults(saved['config'])
  current_config = with_defaults(current['config'])
  for dotted in must_match:
    old, new = saved_config, current_config
    for key in dotted.split('.'):
      old, new = old.get(key), new.get(key)
    if old != new:
      raise InputError(
          f'the workdir holds a checkpoint trained with a different {dotted} '
          f'({_diff(old, new)}); use a new --workdir to start another run')
  if saved.get('vocab_id') != current['vocab_id']:
    raise InputError('the workdir holds a checkpoint trained with a different '
                     'vocabulary; use a new --workdir to start another run')


def _diff(old, new) -> str:
  if isinstance(old, dict) and isinstance(new, dict):
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return ', '.join(f'{k}: {old.get(k)} then, {new.get(k)} now' for k in keys)
  return f'{old} then, {new} now'


def _install_stop_handlers():
  """The first SIGINT/SIGTERM asks the loop to save and stop; a second
  SIGINT interrupts at once."""
  requested = []

  def handler(signum, frame):
    if requested and signum == signal.SIGINT:
      raise KeyboardInterrupt
    requested.append(signum)

  previous = {}
  try:
    for sig in (signal.SIGINT, signal.SIGTERM):
      previous[sig] = signal.signal(sig, handler)
  except ValueError:  # not the main thread: leave signals alone
    pass

  def restore():
    for sig, old in previous.items():
      signal.signal(sig, old)

  return (lambda: bool(requested)), restore
