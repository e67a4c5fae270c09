"""The traffic tokenizer, imported as ``trafficlm.tokenizer``.

Kept in the top-level ``tokenizer/`` folder so it can be saved next to every
model and read on its own; installed under the ``trafficlm`` namespace so it
never collides with other distributions' ``tokenizer`` packages.
"""
