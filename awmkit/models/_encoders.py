"""Token encoders of the sequence world models: the authors' MLP or the paper's linear layer."""

import jax

from .._typing import Key
from ..nn import MLP

#: The encoders accepted by ``ActionsModel`` and ``HistoryModel`` (`encoder=`).
ENCODERS = ("mlp", "linear")
#: The authors' encoder MLP (``networks.py``: hidden layers (64, 64), swish).
ENCODER_WIDTHS = (64, 64)


def make_encoder(kind: str, in_size: int, out_size: int, *, key: Key) -> MLP:
    """``"mlp"``: hidden layers (64, 64) with swish, then a linear map to `out_size`, as the authors'
    code embeds inputs (which produced the figures); ``"linear"``: one linear layer, as Appendix C.1
    describes. Both are an [`awmkit.nn.MLP`][] (the linear one with no hidden layer)."""
    if kind not in ENCODERS:
        raise ValueError(f"unknown encoder {kind!r}; valid names are: {', '.join(ENCODERS)}")
    widths = ENCODER_WIDTHS if kind == "mlp" else ()
    return MLP(in_size, out_size, widths, activation=jax.nn.swish, key=key)
