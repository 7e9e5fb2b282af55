"""Speed figures of freqmix, each a ratio of two things timed side by side in one process (``freqmix bench``).

One module per figure: :mod:`freqmix.benchmarks.env_step` (``env.step`` against a hand-written training step),
:mod:`freqmix.benchmarks.dct_vs_cv2` (our block DCT against a per-block ``cv2.dct`` loop),
:mod:`freqmix.benchmarks.dct_vs_copy` (our block DCT against a plain tensor copy) and
:mod:`freqmix.benchmarks.train_run` (throughput and peak memory of ``freqmix train``); :mod:`freqmix.benchmarks.timing`
holds the interleaved timer they share. See docs/benchmarks.md.
"""
