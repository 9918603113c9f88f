"""lm_jax/sharding.py: mesh sizing, divisibility errors, and that a sharded
run computes what a single device does."""
import json

import jax
import ml_collections
import numpy as np
import pytest

from lm_jax import sharding, trainer
from lm_jax.errors import InputError


def mesh_cfg(data=1, fsdp=-1, tensor=1):
  return ml_collections.ConfigDict(dict(data=data, fsdp=fsdp, tensor=tensor))


def test_minus_one_takes_the_remaining_devices():
  assert sharding.mesh_shape(mesh_cfg(), 8) == (1, 8, 1)
  assert sharding.mesh_shape(mesh_cfg(data=2, fsdp=-1, tensor=2), 8) == (2, 2, 2)
  assert sharding.mesh_shape(mesh_cfg(data=-1, fsdp=1, tensor=4), 8) == (2, 1, 4)


@pytest.mark.parametrize('cfg, message', [
    (mesh_cfg(data=3, fsdp=-1), 'does not divide the 8 devices'),
    (mesh_cfg(data=2, fsdp=2, tensor=1), 'needs 4 devices, but 8'),
    (mesh_cfg(data=-1, fsdp=-1), 'at most one'),
])
def test_bad_mesh_is_a_one_line_error(cfg, message):
  with pytest.raises(InputError, match=message) as e:
    sharding.mesh_shape(cfg, 8)
  assert '\n' not in str(e.value)


def test_batch_must_split_over_batch_axes():
  mesh = sharding.make_mesh(mesh_cfg(data=2, fsdp=2, tensor=2))
  sharding.check_batch(8, mesh, 1)
  with pytest.raises(InputError, match='batch_size 6 is not divisible by the 4'):
    sharding.check_batch(6, mesh, 1)


def test_dimension_that_does_not_divide_is_replicated_and_reported():
  mesh = sharding.make_mesh(mesh_cfg(data=1, fsdp=2, tensor=-1))
  spec = jax.sharding.NamedSharding(mesh, jax.P('tensor', 'fsdp'))
  abstract = {'embeddings': {'table': jax.ShapeDtypeStruct((1001, 16), 'float32')},
              'kernel': jax.ShapeDtypeStruct((8, 16), 'float32')}
  fitted, notes = sharding.fit_to_shapes(abstract, {'embeddings': {'table': spec},
                                                    'kernel': spec})
  assert fitted['embeddings']['table'].spec == jax.P(None, 'fsdp')
  assert fitted['kernel'].spec == jax.P('tensor', 'fsdp')
  assert notes == ["embeddings/table dim 0 (size 1001) is not split over "
                   "('tensor',) (4 shards)"]


def losses(workdir):
  with open(workdir / 'metrics.jsonl') as f:
    return [json.loads(line)['loss'] for line in f]


def test_data_fsdp_tensor_mesh_matches_one_device(micro_config, tmp_path,
                                                  monkeypatch):
  """The same steps on a 2x2x2 mesh and on one device give the same losses."""
  micro_config.train.num_steps = 4
  micro_config.train.log_every = 1
  micro_config.model.dropout_rate = 0.0
  micro_config.model.attention_dropout_rate = 0.0
  # micro_config's vocabulary (1,000 pieces) divides tensor=2.
  micro_config.mesh.data, micro_config.mesh.fsdp, micro_config.mesh.tensor = 2, 2, 2
  trainer.run(micro_config, str(tmp_path / 'mesh'), print_fn=lambda line: None)

  all_devices = jax.devices()
  monkeypatch.setattr(jax, 'devices', lambda *a: all_devices[:1])
  micro_config.mesh.data, micro_config.mesh.fsdp, micro_config.mesh.tensor = 1, 1, 1
  trainer.run(micro_config, str(tmp_path / 'single'), print_fn=lambda line: None)

  sharded, single = losses(tmp_path / 'mesh'), losses(tmp_path / 'single')
  assert len(sharded) == 4
  np.testing.assert_allclose(sharded, single, rtol=2e-4)
