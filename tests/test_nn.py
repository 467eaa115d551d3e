import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from awmkit.nn import MLP, CausalSelfAttention, CausalTransformer, LSTMCell, RNNCell


def test_transformer_decode_equals_parallel(getkey, x64):
    transformer = CausalTransformer(width=12, depth=2, num_heads=3, mlp_width=16, max_length=9, key=getkey())
    tokens = jax.random.normal(getkey(), (7, 12))
    parallel = eqx.filter_jit(transformer)(tokens)

    @eqx.filter_jit
    def generate(transformer, tokens):
        def body(cache, token):
            out, cache = transformer.decode(token, cache)
            return cache, out

        return jax.lax.scan(body, transformer.init_cache(7), tokens)

    cache, decoded = generate(transformer, tokens)
    assert parallel.dtype == jnp.float64
    np.testing.assert_allclose(decoded, parallel, rtol=1e-12, atol=1e-12)
    assert int(cache.index) == 7


@pytest.mark.slow  # test_models checks causality end to end through every Actions World Model
def test_transformer_is_causal(getkey):
    transformer = CausalTransformer(width=12, depth=2, num_heads=3, mlp_width=16, max_length=6, key=getkey())
    tokens = jax.random.normal(getkey(), (6, 12))
    jac = eqx.filter_jit(lambda m, x: jax.jacrev(m)(x))(
        transformer, tokens
    )  # (out_t, out_feature, in_t, in_feature)
    norms = jnp.sqrt(jnp.sum(jac**2, axis=(1, 3)))
    for t in range(6):
        assert float(jnp.max(norms[t, t + 1 :], initial=0.0)) == 0.0
        assert float(norms[t, 0]) > 0.0


def test_transformer_rejects_long_sequences(getkey):
    transformer = CausalTransformer(width=6, depth=1, num_heads=2, mlp_width=8, max_length=4, key=getkey())
    with pytest.raises(ValueError, match="sequence length 5 exceeds the transformer's max_length=4"):
        transformer(jnp.zeros((5, 6)))
    with pytest.raises(ValueError, match="divisible"):
        CausalSelfAttention(10, 3, key=getkey())


def test_attention_exposes_value_projection(getkey):
    attention = CausalSelfAttention(12, 3, key=getkey())
    assert attention.W_v is attention.v_proj.weight
    assert attention.W_v.shape == (12, 12)


def test_rnn_cell_is_equation_4(getkey):
    cell = RNNCell(3, 5, key=getkey())
    x, a = jax.random.normal(getkey(), (5,)), jax.random.normal(getkey(), (3,))
    expected = jnp.tanh(cell.W_x @ x) + cell.W_a @ a + cell.b
    np.testing.assert_allclose(cell(x, a), expected, rtol=1e-6)
    # The input enters outside the nonlinearity: d x_{t+1} / d a_t = W_a exactly.
    np.testing.assert_allclose(jax.jacobian(cell, argnums=1)(x, a), cell.W_a, rtol=1e-6)
    assert cell.init_state().shape == (5,)


def test_lstm_cell_matches_equinox(getkey):
    ours = LSTMCell(3, 4, key=getkey())
    reference = eqx.nn.LSTMCell(3, 4, key=getkey())
    reference = eqx.tree_at(
        lambda c: (c.weight_ih, c.weight_hh, c.bias), reference, (ours.W_i, ours.W_h, ours.b)
    )
    state = (jax.random.normal(getkey(), (4,)), jax.random.normal(getkey(), (4,)))
    a = jax.random.normal(getkey(), (3,))
    for x, y in zip(ours(state, a), reference(a, state)):
        np.testing.assert_allclose(x, y, rtol=1e-6)


def test_mlp(getkey):
    mlp = MLP(3, 2, (8, 8), key=getkey())
    assert len(mlp.layers) == 3
    assert mlp(jnp.ones(3)).shape == (2,)
    assert MLP(3, 2, (), key=getkey())(jnp.ones(3)).shape == (2,)
    with pytest.raises(ValueError, match="width_sizes"):
        MLP(3, 2, (0,), key=getkey())
