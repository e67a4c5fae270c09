"""Training, evaluation, dataset loaders and the testbed, imported as ``trafficlm.training``.

Lives in the top-level ``training/`` folder and is installed under the
``trafficlm`` namespace so it never collides with other distributions.
"""
