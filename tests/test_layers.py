"""lm_jax/models/layers.py: the GELU variants and the f32 LayerNorm."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf  # jax depends on scipy

from lm_jax.models.layers import activation, layer_norm
from tests.test_model_config import SMALL


def test_gelu_is_exact_erf_and_gelu_tanh_the_approximation():
  x = np.linspace(-4, 4, 41, dtype=np.float32)
  exact = 0.5 * x * (1 + erf(x / np.sqrt(2)))
  np.testing.assert_allclose(activation('gelu')(x), exact, atol=1e-6)
  tanh = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
  np.testing.assert_allclose(activation('gelu_tanh')(x), tanh, atol=1e-6)
  assert np.abs(exact - tanh).max() > 1e-4  # the two really differ
  with pytest.raises(ValueError, match='relu'):
    activation('relu')


def test_layer_norm_uses_eps_1e_12_in_f32():
  ln = layer_norm(SMALL, 'ln')
  x = jnp.full((2, 256), 3.0, jnp.bfloat16).at[:, 0].set(3.015625)  # 3 + one bf16 step
  params = ln.init(jax.random.key(0), x)
  y = ln.apply(params, x)
  assert y.dtype == jnp.float32 and ln.epsilon == 1e-12
  # A tiny spread around a large mean still normalises to unit scale: a
  # one-pass variance (E[x^2] - E[x]^2) or a large eps would give ~0.
  assert float(jnp.std(y[0])) == pytest.approx(1.0, rel=1e-3)
