"""The task of a run: its faces (the private identities' training and held-out images, the attacker's auxiliary
identities), verification pairs and ``--val`` sets, loaded one way for ``freqmix train`` and ``freqmix evaluate``."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from freqmix.experiment.config import TrainConfig
from freqmix_base.errors import FreqmixError
from recognizer.data import load_dataset
from recognizer.faces import FaceDataset, PairSet, UnusablePairsError
from recognizer.insightface_io import load_bin
from recognizer.pairs import load_lfw_pairs, make_pairs
from recognizer.splits import PrivateSplit, private_split, split_per_identity
from recognizer.streaming import StreamedTrainingSet

VERIFICATION_PAIRS = 600


@dataclass
class Task:
    """The data of a run: training and held-out faces of the same identities, verification pairs, and the
    insightface ``.bin`` sets of ``--val`` by file stem. A streamed run trains on every image: no held-out faces,
    and pairs only from a pairs file. ``pool``: the public faces that partner each face of a recipe whose
    ``partners`` is ``"pool"`` (the attacker's identities), else None."""

    train: FaceDataset | StreamedTrainingSet
    test: FaceDataset | None
    pairs: PairSet | None
    pairs_protocol: str
    val_sets: dict[str, PairSet] = field(default_factory=dict)
    pool: FaceDataset | None = None


def load_val_sets(paths: list[str] | None, image_size: int, color: str) -> dict[str, PairSet]:
    """The ``--val`` sets by file stem, decoded as ``color``; FreqmixError for two files of one stem."""
    sets: dict[str, PairSet] = {}
    for path in paths or []:
        stem = Path(path).stem
        if stem in sets:
            raise FreqmixError(f"two --val sets are named '{stem}'; metrics.json keys them by file stem, rename one")
        sets[stem] = load_bin(path, image_size=image_size, color=color)
    return sets


def load_private_split(config: TrainConfig) -> PrivateSplit:
    """``config.task.data`` split as the run splits it: its private identities' training and held-out faces, and the
    attacker's auxiliary identities (None when the run trains on every identity); deterministic from the seed."""
    full = load_dataset(config.task.data, image_size=config.task.image_size, seed=config.seed,
                        drop_small=config.task.drop_small_identities)
    return private_split(full, config.task.private_fraction, config.task.train_per_identity, seed=config.seed)


def attack_split(config: TrainConfig) -> PrivateSplit:
    """The faces a privacy evaluation of the run needs: :func:`load_private_split`, which must hold auxiliary
    identities (a run with ``private_fraction``)."""
    if config.task.private_fraction is None:
        raise FreqmixError("the run trained on every identity of its data (no private_fraction), so no attacker owns "
                           "other faces; retrain it with --private-fraction 0.5")
    return load_private_split(config)


def load_task(config: TrainConfig) -> Task:
    """Load ``config.task.data`` (only its private identities when ``private_fraction`` is set, so that attacks have
    disjoint auxiliary identities), split it per identity, find or build verification pairs, and read the
    ``--val`` sets. With ``stream`` the training set is opened for streaming (every image) instead."""
    if config.task.stream:
        return _load_streamed_task(config)
    split = load_private_split(config)
    pool = public_pool(config, split)
    color = "rgb" if split.train.image_channels == 3 else "gray"
    val_sets = load_val_sets(config.task.val, config.task.image_size, color)
    train, test = split.train, split.test
    if config.task.train_identities == "auxiliary":
        if split.auxiliary is None:
            raise FreqmixError("--train-identities auxiliary needs --private-fraction (the identities to leave out)")
        train, test = split_per_identity(split.auxiliary, config.task.train_per_identity, seed=config.seed)
    pairs_file = Path(config.task.pairs) if config.task.pairs else None
    if pairs_file is None and Path(config.task.data).is_dir() and (Path(config.task.data) / "pairs.txt").is_file():
        pairs_file = Path(config.task.data) / "pairs.txt"
    if pairs_file is not None:
        try:
            pairs = load_lfw_pairs(pairs_file, Path(config.task.data), image_size=config.task.image_size, color=color)
        except UnusablePairsError:
            if config.task.pairs:  # a pairs file the user named and that cannot be used is an error, not replaced
                raise
        else:
            return Task(train, test, pairs, f"LFW pairs file {pairs_file.name} ({len(pairs.same)} usable pairs)",
                        val_sets, pool)
    # Pairs among the held-out images keep verification honest when no usable two-class pairs file exists;
    # half of them are same-identity pairs, so the identities' image counts bound how many there can be.
    counts = test.labels.bincount()
    same_available = int((counts * (counts - 1) // 2).sum())
    num_pairs = min(VERIFICATION_PAIRS, 2 * same_available)
    return Task(train, test, make_pairs(test, num_pairs, seed=config.seed),
                f"{num_pairs} pairs generated from the held-out images", val_sets, pool)


def public_pool(config: TrainConfig, split: PrivateSplit) -> FaceDataset | None:
    """The public faces a recipe with ``partners="pool"`` mixes each private face with: the run's auxiliary
    identities (public, and the attacker's: by Kerckhoffs it holds the pool); None for batch partners."""
    if config.recipe.partners != "pool":
        return None
    if split.auxiliary is None or config.task.train_identities == "auxiliary":
        raise FreqmixError("partners 'pool' mixes each private face with the run's public identities: give "
                           "--private-fraction (the identities left out are the pool) and train on the private ones")
    return split.auxiliary


def _load_streamed_task(config: TrainConfig) -> Task:
    if config.recipe.partners == "pool":
        raise FreqmixError("--stream trains on every identity of the set, so none is left for partners 'pool'")
    if config.task.private_fraction is not None or config.task.train_per_identity is not None:
        raise FreqmixError("--stream trains on every image of the set; it takes no --private-fraction or "
                           "--train-per-identity (split the set on disk instead)")
    if config.task.data in ("synthetic", "olivetti", "lfw"):
        raise FreqmixError(f"--stream reads a folder tree or a train.rec, not '{config.task.data}' (drop --stream)")
    train = StreamedTrainingSet(config.task.data, config.task.image_size, num_workers=config.task.data_workers)
    color = "rgb" if train.image_channels == 3 else "gray"
    val_sets = load_val_sets(config.task.val, config.task.image_size, color)
    pairs, protocol = None, "none: --stream holds out no images; give --pairs or --val"
    if config.task.pairs:
        pairs = load_lfw_pairs(Path(config.task.pairs), Path(config.task.data), image_size=config.task.image_size,
                               color=color)
        protocol = f"LFW pairs file {Path(config.task.pairs).name} ({len(pairs.same)} usable pairs)"
    if pairs is None and not val_sets:
        raise FreqmixError("--stream holds out no images to measure the recognizer on; give --val FILE.bin or "
                           "--pairs FILE")
    return Task(train, None, pairs, protocol, val_sets)
