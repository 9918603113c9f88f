"""What the user sees: a progress line per log interval, `metrics.jsonl`
(one JSON object per logged step) and TensorBoard event files."""
import json
import os
import time

from tensorboardX import SummaryWriter


def progress_fields(row: dict) -> list[str]:
  """'loss', then each head's loss and accuracy (mlm, nsp, sbo, disc, lm,
  ...), the perplexity of a causal LM, then the learning rate."""
  heads = sorted({k.rsplit('_', 1)[0] for k in row
                  if k != 'loss' and (k.endswith('_loss')
                                      or k.endswith('_accuracy'))})
  parts = [f'loss {row["loss"]:.3f}'] if 'loss' in row else []
  for head in heads:
    for suffix, label in (('loss', 'loss'), ('accuracy', 'acc')):
      if f'{head}_{suffix}' in row:
        parts.append(f'{head}_{label} {row[f"{head}_{suffix}"]:.3f}')
  if 'perplexity' in row:
    parts.append(f'ppl {row["perplexity"]:.2f}')
  if 'learning_rate' in row:
    parts.append(f'lr {row["learning_rate"]:.2e}')
  return parts


def _duration(seconds: float) -> str:
  seconds = int(seconds)
  days, seconds = divmod(seconds, 86400)
  hours, seconds = divmod(seconds, 3600)
  minutes, seconds = divmod(seconds, 60)
  text = f'{hours:d}h{minutes:02d}m{seconds:02d}s'
  return f'{days}d{text}' if days else text


class MetricLogger:
  """Writes logged steps; only the primary host writes files."""

  def __init__(self, workdir: str, *, num_steps: int, tokens_per_step: int,
               start_step: int, primary: bool = True, print_fn=print):
    self._num_steps, self._tokens_per_step = num_steps, tokens_per_step
    self._primary, self._print = primary, print_fn
    self._last_step, self._last_time = start_step, None
    self._jsonl_path = os.path.join(workdir, 'metrics.jsonl')
    self._tb = None
    if primary:
      _drop_rows_after(self._jsonl_path, start_step)
      # tensorboardX writes event files without TensorFlow.
      self._tb = SummaryWriter(os.path.join(workdir, 'tensorboard'))

  def start_clock(self, step: int) -> None:
    """Called once compilation is done, so tokens/s measures training only."""
    self._last_step, self._last_time = step, time.perf_counter()

  def write(self, step: int, metrics: dict) -> None:
    now = time.perf_counter()
    row = {'step': step, **{k: float(v) for k, v in metrics.items()}}
    if self._last_time is not None and step > self._last_step:
      seconds_per_step = (now - self._last_time) / (step - self._last_step)
      row['tokens_per_second'] = self._tokens_per_step / seconds_per_step
      row['seconds_per_step'] = seconds_per_step
      eta = _duration((self._num_steps - step) * seconds_per_step)
    else:
      eta = '?'
    self._last_step, self._last_time = step, now
    if not self._primary:
      return
    parts = [f'step {step}/{self._num_steps}'] + progress_fields(row)
    if 'tokens_per_second' in row:
      parts.append(f'tok/s {row["tokens_per_second"]:,.0f}')
    parts.append(f'ETA {eta}')
    self._print(' | '.join(parts))
    self._append(row)

  def write_eval(self, step: int, results: dict) -> None:
    """Held-out figures: one progress line, and a row of `eval_*` keys."""
    if not self._primary:
      return
    row = {'step': step, **{f'eval_{k}': float(v) for k, v in results.items()}}
    self._print(f'eval at step {step} | ' + ' | '.join(
        f'{k} {float(v):.4f}' for k, v in sorted(results.items())))
    self._append(row)

  def _append(self, row: dict) -> None:
    with open(self._jsonl_path, 'a') as f:
      f.write(json.dumps(row) + '\n')
    if self._tb is not None:
      for key, value in row.items():
        if key != 'step':
          self._tb.add_scalar(key, value, row['step'])
      self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


def _drop_rows_after(path: str, step: int) -> None:
  """A resumed run repeats the steps after its checkpoint: forget them."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    rows = [line for line in f if line.strip()]
  keep = [line for line in rows if json.loads(line)['step'] <= step]
  if len(keep) != len(rows):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
      f.writelines(keep)
    os.replace(tmp, path)


