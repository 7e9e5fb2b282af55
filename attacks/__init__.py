"""Who tries to undo the defense: CGAN reconstruction of protected tensors (white- and black-box), model inversion
of the trained recognizer (TV and generator priors), the metrics that score them, and the defenses compared.

Entry points: :func:`attacks.privacy.attack_recognizer` (every attack on one recognizer), the building blocks in
:mod:`attacks.reconstruction`, :mod:`attacks.inversion`, :mod:`attacks.metrics`; who knows what is in
``docs/threat_model.md``, the score formulas in ``docs/privacy_metrics.md``.
"""
