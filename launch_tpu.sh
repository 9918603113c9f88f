#!/usr/bin/env bash
# Runs lm_jax pretraining on every worker of a Cloud TPU VM slice.
#
#   ./launch_tpu.sh TPU_NAME ZONE -- --config=configs/electra_small.py \
#       --workdir=gs://BUCKET/runs/electra_small --config.data.vocab_path=gs://...
#
# Each worker must already have this repository at ~/lm_jax and have run
# `pip install -e .` (with jax[tpu]). The workdir and data should be on GCS so
# every host sees the same checkpoints; multi-host runs need data.vocab_path
# (build it once with `python -m data_pipelines.build_vocab`). Re-running the
# same command resumes from the latest checkpoint.
#
# Status: single-command launch only. Preemption babysitting and per-worker
# setup are not automated yet.
set -euo pipefail
if [[ $# -lt 3 || "$3" != "--" ]]; then
  echo "usage: $0 TPU_NAME ZONE -- TRAIN_FLAGS..." >&2
  exit 2
fi
tpu="$1"; zone="$2"; shift 3
args=$(printf ' %q' "$@")
gcloud compute tpus tpu-vm ssh "$tpu" --zone="$zone" --worker=all --command="
  pkill -f 'python -m lm_jax.train' || true
  cd ~/lm_jax && python -m lm_jax.train --distributed $args"
