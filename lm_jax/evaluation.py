"""Held-out evaluation: exact means over a whole set of fixed batches.

The objective's `evaluate` gives per-batch (numerator, denominator) sums and
scored arrays; here they are added up over the set, so a figure does not
depend on how the set splits into batches. MLM runs also report the
pseudo-perplexity exp(MLM loss), causal LMs the perplexity exp(LM loss);
scored arrays become ROC AUCs.
"""
import math
from typing import Callable, Iterable, Iterator

import jax
import numpy as np
from sklearn.metrics import roc_auc_score

from lm_jax import sharding


def accumulate(run_parts, params, local_batches: Iterable[dict]
               ) -> tuple[dict, dict, list]:
  """One pass of `run_parts.evaluate`: (means, their (Σ, count) totals, the
  outputs of each batch, on the host)."""
  totals, outputs = {}, []
  for local_batch in local_batches:
    batch = sharding.global_batch(local_batch, run_parts.batch_sharding)
    sums, out = jax.device_get(run_parts.evaluate(params, batch))
    for name, (num, den) in sums.items():
      old = totals.get(name, (0.0, 0.0))
      totals[name] = (old[0] + float(num), old[1] + float(den))
    outputs.append(out)
  means = {name: num / den for name, (num, den) in totals.items() if den > 0}
  return means, totals, outputs


def run(run_parts, params, batches: Callable[[], Iterator[dict]]
        ) -> dict:
  """Evaluates `params` on one pass of `batches()`; returns name -> value."""
  results, totals, outputs = accumulate(run_parts, params, batches())
  scored = {}
  for out in outputs:
    for name, (score, label, mask) in out.items():
      keep = np.asarray(mask) > 0
      scored.setdefault(name, []).append(
          (np.asarray(score)[keep], np.asarray(label)[keep]))
  if 'mlm_loss' in results:
    results['pseudo_perplexity'] = math.exp(results['mlm_loss'])
    results['mlm_predictions'] = totals['mlm_loss'][1]
  if 'lm_loss' in results:  # a causal LM, over rows as trained
    results['perplexity'] = math.exp(results['lm_loss'])
    results['lm_predictions'] = totals['lm_loss'][1]
  for name, parts in scored.items():
    score = np.concatenate([p[0] for p in parts])
    label = np.concatenate([p[1] for p in parts])
    if 0 < label.sum() < len(label):  # an AUC needs both classes
      results[name] = float(roc_auc_score(label, score))
  return results
