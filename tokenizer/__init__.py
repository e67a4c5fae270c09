"""The traffic tokenizer, imported as ``trafficlm.tokenizer``.

Kept in the top-level ``tokenizer/`` folder so it can be saved next to every
model and read on its own; installed under the ``trafficlm`` namespace so it
never collides with other distributions' ``tokenizer`` packages. See
tokenizer/README.md for the token layout.
"""

from trafficlm.tokenizer.decode import DecodedFlow, decode, render
from trafficlm.tokenizer.encoder import (
    EncodedFlows,
    Provenance,
    TokenizerConfig,
    TokenizerError,
    TrafficTokenizer,
)

__all__ = ["DecodedFlow", "EncodedFlows", "Provenance", "TokenizerConfig", "TokenizerError",
           "TrafficTokenizer", "decode", "render"]
