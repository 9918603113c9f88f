"""Tests run on the CPU backend with 8 simulated devices, so meshes such as
data=2 x fsdp=2 x tensor=2 compile and run as they would on 8 chips."""
import os
import sys

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

jax.config.update('jax_num_cpu_devices', 8)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
  sys.path.insert(0, REPO)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
  """Vocabularies and built examples go to one cache shared by the session."""
  monkeypatch.setenv('LM_JAX_CACHE', str(tmp_path_factory.getbasetemp() / 'cache'))
