"""The base layer under every freqmix package: errors, registries, configuration-field mapping, atomic writes, seeds
and bootstrap intervals.

It imports no project code, so ``recognizer``, ``mixup_env``, ``agents``, ``attacks`` and ``freqmix`` may all import
it; ``python -m freqmix_base.import_graph`` checks that the arrows between the packages point one way.
"""
