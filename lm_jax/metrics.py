"""What the user sees: a progress line per log interval, `metrics.jsonl`
(one JSON object per logged step) and TensorBoard event files."""
import json
import os
import time

from tensorboardX import SummaryWriter

PROGRESS_KEYS = (('loss', 'loss', '.3f'), ('mlm_accuracy', 'gen_acc', '.3f'),
                 ('disc_accuracy', 'disc_acc', '.3f'),
                 ('learning_rate', 'lr', '.2e'))


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
    parts = [f'step {step}/{self._num_steps}']
    parts += [f'{label} {row[k]:{fmt}}' for k, label, fmt in PROGRESS_KEYS
              if k in row]
    if 'tokens_per_second' in row:
      parts.append(f'tok/s {row["tokens_per_second"]:,.0f}')
    parts.append(f'ETA {eta}')
    self._print(' | '.join(parts))
    with open(self._jsonl_path, 'a') as f:
      f.write(json.dumps(row) + '\n')
    if self._tb is not None:
      for key, value in row.items():
        if key != 'step':
          self._tb.add_scalar(key, value, step)
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


