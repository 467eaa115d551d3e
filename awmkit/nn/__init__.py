"""Equinox building blocks for world models: a GPT-2-style causal transformer with a KV cache, an MLP,
and the recurrent cells of the paper (vanilla RNN of equation 4, LSTM), and a stable diagonal
state-space model (LRU / S5 style) with parallel and step modes. Every module acts on one
unbatched example or sequence; batch with ``jax.vmap``."""

from ._attention import (
    ATTENTION_IMPLEMENTATIONS as ATTENTION_IMPLEMENTATIONS,
    attention_implementation as attention_implementation,
    set_attention as set_attention,
)
from ._mlp import MLP as MLP
from ._precision import (
    MATMUL_PRECISIONS as MATMUL_PRECISIONS,
    current_matmul_precision as current_matmul_precision,
    matmul_precision as matmul_precision,
    set_matmul_precision as set_matmul_precision,
)
from ._recurrent import LSTMCell as LSTMCell, RNNCell as RNNCell
from ._ssm import (
    DiagonalSSM as DiagonalSSM,
    GatedMLP as GatedMLP,
    SSMBlock as SSMBlock,
    StateSpaceModel as StateSpaceModel,
)
from ._transformer import (
    CausalSelfAttention as CausalSelfAttention,
    CausalTransformer as CausalTransformer,
    KVCache as KVCache,
    TransformerBlock as TransformerBlock,
    cache_lengths as cache_lengths,
)
