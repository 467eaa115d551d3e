import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from awmkit.nn import MLP, CausalSelfAttention, CausalTransformer, LSTMCell, RNNCell, cache_lengths


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


def test_blocked_decode_with_a_growing_cache_equals_parallel(getkey, x64):
    """Generation in segments, the cache grown between them (as the world models generate), gives
    the parallel pass; the write never touches positions past the cache's filled prefix."""
    transformer = CausalTransformer(width=12, depth=2, num_heads=3, mlp_width=16, max_length=9, key=getkey())
    tokens = jax.random.normal(getkey(), (9, 12))

    @eqx.filter_jit
    def generate(transformer, tokens):
        cache, outs, start = transformer.init_cache(3), [], 0
        for end in (3, 6, 9):
            cache = transformer.grow_cache(cache, end)
            assert cache.length == end and cache.keys[0].shape == (3, end, 4)

            def body(cache, token):
                out, cache = transformer.decode(token, cache)
                return cache, out

            cache, out = jax.lax.scan(body, cache, tokens[start:end])
            outs.append(out)
            start = end
        return cache, jnp.concatenate(outs)

    cache, decoded = generate(transformer, tokens)
    np.testing.assert_allclose(decoded, transformer(tokens), rtol=1e-12, atol=1e-12)
    assert int(cache.index) == 9
    with pytest.raises(ValueError, match="cannot grow a cache of 9 positions to 4"):
        transformer.grow_cache(cache, 4)


@pytest.mark.parametrize("block", [6, 7, 64])
def test_query_blocked_attention_equals_the_full_square(getkey, x64, monkeypatch, block):
    """The teacher-forced pass attends in query blocks (the upper triangle never formed): values and
    gradients equal the one-block square for block lengths that divide the sequence, do not, or exceed it."""
    from awmkit.nn import _attention as _transformer  # the block length lives with the attention

    transformer = CausalTransformer(width=12, depth=2, num_heads=3, mlp_width=16, max_length=24, key=getkey())
    tokens = jax.random.normal(getkey(), (24, 12))

    def value_and_grad():
        return jax.jit(jax.value_and_grad(lambda x: jnp.sum(jnp.sin(transformer(x)))))(tokens)

    monkeypatch.setattr(_transformer, "_ATTENTION_BLOCK", None)
    full = value_and_grad()
    monkeypatch.setattr(_transformer, "_ATTENTION_BLOCK", block)
    blocked = value_and_grad()
    for a, b in zip(full, blocked):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    # The blocks are really there: one pair of attention matmuls per query block and layer.
    dots = str(jax.make_jaxpr(transformer)(tokens)).count("dot_general")
    monkeypatch.setattr(_transformer, "_ATTENTION_BLOCK", None)
    assert dots - str(jax.make_jaxpr(transformer)(tokens)).count("dot_general") == 2 * 2 * (-(-24 // block) - 1)


@pytest.mark.parametrize("length", [1, 20, 64, 65, 101, 500, 501, 2001])
def test_cache_lengths_cover_the_sequence_in_few_segments(length):
    lengths = cache_lengths(length)
    assert lengths[-1] == length and list(lengths) == sorted(set(lengths))
    assert 1 <= len(lengths) <= 8 and lengths[0] >= 1
    # Segments of about equal size, none longer than ceil(length / n) tokens.
    sizes = np.diff((0, *lengths))
    assert sizes.max() - sizes.min() <= 1


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
    # q, k and v come from one fused projection; W_v is its last block of rows.
    np.testing.assert_array_equal(attention.W_v, attention.qkv_proj.weight[24:])
    np.testing.assert_array_equal(attention.W_q, attention.qkv_proj.weight[:12])
    assert attention.W_v.shape == attention.W_k.shape == (12, 12)


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
