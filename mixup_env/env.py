"""``FreqMixUpEnv``: the per-batch MixUp recipe as the action, one recognizer step inside ``step()``.

The agent picks a recipe for the batch the observation describes, the recognizer takes one optimizer step on the
mixed, masked batch, and a named, pluggable reward (:mod:`mixup_env.rewards`) scores the step: ``loss`` (the
paper's: the batch's recognition loss, which the agent maximises while the recognizer minimises it) or
``constrained`` (privacy of the batch against the free analytic attack minus λ × the clean-probe accuracy
shortfall, λ by dual ascent). An episode is an epoch of one long game (``episode="epoch"``: the recognizer persists
across episodes) or a whole run (``episode="run"``: every episode trains a fresh recognizer for the whole budget,
so that a policy can be learned across runs and deployed on other faces).

Gymnasium conventions: every ``info`` value has the same shape and dtype at every step, so that vector envs
(``gymnasium.make_vec``) stack them: ``info["weights"]`` is ``(batch_size, max(k_choices))`` float32 (the step's k
partners' weights, then :data:`WEIGHT_FILL`, 0: an absent partner adds nothing), ``info["recipe"]`` the batch's whole
:class:`Recipe` (None at reset). ``render_mode="rgb_array"`` makes :meth:`FreqMixUpEnv.render` return the last
trained batch as the analytic inverse shows it, before and after mixing (see :data:`RENDER_COLUMNS`).
"""
from __future__ import annotations

import inspect
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from freqmix_base.errors import FreqmixError
from freqmix_base.fields import with_fields
from mixup_env.analytic_inverse import AnalyticInverse
from mixup_env.fork_safety import use_fork_safe_threads
from mixup_env.env_config import EPISODES, EnvConfig
from mixup_env.env_options import (pooled_mixup, refuse_bad_augmentation, refuse_unnamed_faces,
                                   refuse_unknown_options, refuse_unused_options)
from mixup_env.frequency import FrequencyTransform
from mixup_env.leakage import LEAKAGE_ROWS, BatchLeakage, Reconstructor
from mixup_env.rewards import TRAINED_LEAKAGE_TERMS, StepSignals, build_reward
from mixup_env.spaces import ActionCodec, ObservationLayout
from recognizer.augment import random_shift, shift_pixels
from recognizer.data import load_dataset
from recognizer.faces import FaceDataset
from recognizer.sampling import check_sampler, epoch_order
from recognizer.splits import split_per_identity
from recognizer.streaming import StreamedTrainingSet
from recognizer.trainer import Recognizer

_LOSS_WINDOW = 20
WEIGHT_FILL = 0.0  # info["weights"] beyond the step's k columns
RENDER_COLUMNS = 8  # images of the batch shown side by side by render()
INFO_KEYS = ("k", "recipe", "weights", "loss", "reward", "cost", "lambda", "leakage", "lr", "step", "epoch", "accuracy",
             "evaluated", "error")
NOT_MEASURED = -1.0  # info["leakage"] of a reward that needs no leakage signal (NaN would break info equality checks)


def _training_faces(data: FaceDataset | StreamedTrainingSet | str, image_size: int | None, data_seed: int | None
                    ) -> tuple[FaceDataset | StreamedTrainingSet, FaceDataset | None]:
    """(train, test) faces: a dataset as given (no test part), or a data spec loaded (at ``image_size`` and
    ``data_seed`` where given, else ``load_dataset``'s defaults) and split per identity."""
    if isinstance(data, (FaceDataset, StreamedTrainingSet)):
        return data, None
    seed = {"seed": data_seed} if data_seed is not None else {}
    full = load_dataset(data, **({"image_size": image_size} if image_size is not None else {}), **seed)
    return split_per_identity(full, **seed)


def _episode_length(config: EnvConfig, steps_per_epoch: int) -> int:
    """Recognizer steps per episode: as configured, else one epoch (``episode="epoch"``) or the whole run's budget
    (``episode="run"``)."""
    if config.episode not in EPISODES:
        raise FreqmixError(f"unknown episode {config.episode!r}; choose one of {', '.join(EPISODES)}")
    if config.episode == "run" and config.total_steps is None and config.steps_per_episode is None:
        raise FreqmixError('episode="run" needs total_steps (the budget each episode trains a fresh recognizer for)')
    steps = config.steps_per_episode or (config.total_steps if config.episode == "run" else steps_per_epoch)
    if steps < 1:
        raise FreqmixError(f"steps_per_episode must be >= 1, not {config.steps_per_episode}")
    return steps


class FreqMixUpEnv(gym.Env):
    """Gymnasium env whose action is the MixUp recipe of the next training batch of a face recognizer.

    :param data: a :class:`FaceDataset` of training faces, a :class:`StreamedTrainingSet` (read batch by batch in
        its seeded stream order, for sets larger than memory), or a spec for ``recognizer.data.load_dataset``
        (``"synthetic"``, a folder path, ``"olivetti"``, ``"lfw"``), which is split per identity and trained on
        its train part (the test part is kept as ``test_data``).
    :param config: the env's :class:`EnvConfig` (default: its defaults).
    :param image_size: square side (pixels, multiple of 8) when ``data`` is a spec (default: ``load_dataset``'s);
        refused beside a dataset.
    :param data_seed: seed of the data spec (its synthetic faces, its train/test split; default 0); refused beside a
        dataset.
    :param render_mode: None, or ``"rgb_array"`` (:meth:`render` returns a picture of the last trained batch).
    :param initial_backbone: backbone weights every fresh recognizer starts from (e.g.
        ``recognizer.pretrain.pretrain_backbone`` on public faces through the same mask); None: random weights.
    :param leakage_attack: what reconstructs each mixed batch for a leakage privacy term (anything with
        ``reconstruct(tensors) -> faces``, e.g. ``attacks.decoder.DecoderAttack``); None: the free analytic inverse
        of the env's pipeline. The ``decoder-leakage`` term needs one by the first reset.
    :param pool: public faces (a :class:`FaceDataset` of the training faces' size) that partner each face of a recipe
        whose ``partners`` is ``"pool"``; refused without such a recipe.
    :param options: flat overrides of ``config``'s fields or of its nested configurations' fields
        (``batch_size=8``, ``channels="no-dc"``, ``embedding_dim=32``), as ``gymnasium.make`` passes them.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, data: FaceDataset | str = "synthetic", config: EnvConfig | None = None,
                 image_size: int | None = None, data_seed: int | None = None, render_mode: str | None = None,
                 initial_backbone: dict[str, torch.Tensor] | None = None,
                 leakage_attack: Reconstructor | None = None, pool: FaceDataset | None = None, **options: Any) -> None:
        super().__init__()
        use_fork_safe_threads()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise FreqmixError(f"render_mode {render_mode!r} is not supported; use None or 'rgb_array'")
        self.render_mode = render_mode
        refuse_unknown_options(config or EnvConfig(), options, _CONSTRUCTOR_NAMES)
        config = with_fields(config or EnvConfig(), **options)
        spec_options = [name for name, value in (("image_size", image_size), ("data_seed", data_seed))
                         if value is not None]
        dataset_given = isinstance(data, (FaceDataset, StreamedTrainingSet))
        refuse_unused_options(config, options, spec_options if dataset_given else [], leakage_attack is not None)
        self.config = config
        self.train_data, self.test_data = _training_faces(data, image_size, data_seed)
        batch_size = config.batch_size
        if not 1 <= batch_size <= len(self.train_data):
            raise FreqmixError(
                f"batch_size={batch_size} must be between 1 and the {len(self.train_data)} training images")
        self.codec = ActionCodec(config.action, config.k_choices, config.default_recipe)
        if max(self.codec.k_choices) > batch_size:
            raise FreqmixError(f"k up to {max(self.codec.k_choices)} needs batch_size >= {max(self.codec.k_choices)}")
        self.transform = FrequencyTransform.from_config(self.train_data.image_channels, config.transform)
        self.mixup = pooled_mixup(config, pool, self.transform, self.train_data)
        self.layout = ObservationLayout(num_k=len(self.codec.k_choices), num_channels=self.transform.out_channels)
        self.action_space = self.codec.space
        self.observation_space = self.layout.space()

        self.batch_size = batch_size
        self.steps_per_epoch = len(self.train_data) // batch_size
        self.steps_per_episode = _episode_length(config, self.steps_per_epoch)
        if config.probe_every < 0:
            raise FreqmixError(f"probe_every must be >= 0, not {config.probe_every}")
        self.probe_every, self.probe_size = config.probe_every, config.probe_size
        self.reward = build_reward(config.objective)
        # optional in a reward: one that never reads a face's worst exposure need not say so
        self._follows_exposure = bool(getattr(self.reward, "needs_exposure", False))
        refuse_unnamed_faces(config, self._follows_exposure, isinstance(self.train_data, StreamedTrainingSet))
        self.leakage: BatchLeakage | None = None
        self._attach_leakage(leakage_attack)
        refuse_bad_augmentation(config)
        self.augment_shift = shift_pixels(config.augment_shift, self.train_data.image_size)
        check_sampler(config.sampler)
        self.initial_backbone = initial_backbone
        self.recognizer: Recognizer | None = None
        self.finished_recognizer: Recognizer | None = None
        self._stream = None  # the StreamingLoader of a streamed training set (made at the first reset)
        self._batch_index: torch.Tensor | None = None  # the training-set indices of the batch (None when streamed)
        self._rendered: tuple[torch.Tensor, torch.Tensor] | None = None  # (batch, mixed batch) of the last step
        self._multiplier = 0.0  # the reward's price of cost (info["lambda"]) at the last step

    # -- Gymnasium API ------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode. The recognizer persists across episodes unless ``options={"reset_recognizer": True}``,
        this is the first reset, or episodes are runs (``episode="run"``: a fresh recognizer with a fresh seed);
        ``seed`` reseeds every generator the env owns (data order, mix partners and weights, recognizer init) from
        ``self.np_random``. The batch the last ``step()`` drew (and described) is
        the new episode's first, so that every batch drawn is trained on; a fresh one is drawn only on the first
        or a seeded reset, or after a terminated step."""
        if self.reward.needs_leakage and self.leakage is None:
            raise FreqmixError(f"the {self.config.objective.privacy} privacy term needs the attack it scores: give the "
                               "env leakage_attack= (freqmix train --privacy decoder-leakage trains a decoder on the "
                               "attacker's faces)")
        super().reset(seed=seed)
        options = options or {}
        if seed is not None or self.recognizer is None:
            seeds = self.np_random.integers(2**31, size=3)
            self._data_rng = np.random.default_rng(int(seeds[0]))
            self._mix_rng = np.random.default_rng(int(seeds[1]))
            self._recognizer_seed = int(seeds[2])
            self._order, self._cursor, self.epoch = np.empty(0, dtype=np.int64), 0, 0
            self._batch_pending = False
            if isinstance(self.train_data, StreamedTrainingSet):
                self._restart_stream(int(self.np_random.integers(2**31)))
            self._rendered = None  # a new game: nothing of the old one is shown
        fresh_run = self.config.episode == "run" and self.recognizer is not None and seed is None
        if fresh_run:
            self._recognizer_seed = int(self.np_random.integers(2**31))
            # Agents reset as soon as an episode ends, so the run just finished is kept for whoever measures it.
            self.finished_recognizer = self.recognizer
        if self.recognizer is None or seed is not None or fresh_run or options.get("reset_recognizer", False):
            self.recognizer = self._new_recognizer()
            self._losses: deque[float] = deque(maxlen=_LOSS_WINDOW)
            self._recent_k: deque[int] = deque(maxlen=_LOSS_WINDOW)
            self._probe_accuracy = 0.0
            self._probe = self._probe_batch()
            # Each training face's worst exposure to the leakage attack since this recognizer began (exposure="worst").
            self._worst_exposure = torch.zeros(len(self.train_data))
        self._episode_step = 0
        if not self._batch_pending:
            self._next_batch()
        return self._observation(), self._untrained_info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Mix the described batch with the recipe ``action`` encodes, train one step, score it with the reward."""
        if self.recognizer is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        recipe = self.codec.decode(action)
        mixed = self.mixup(recipe, self._x, self._y, self._mix_rng, self._batch_index, self.transform.key)
        self.finished_recognizer = None
        self._batch_pending = False
        loss = self.recognizer.train_step(mixed.x, mixed.soft_labels)
        self._episode_step += 1
        self._recent_k.append(recipe.k)

        error = "" if np.isfinite(loss) else f"non-finite recognition loss ({loss}) at step {self.recognizer.step}"
        terminated = bool(error)
        truncated = not terminated and self._episode_step >= self.steps_per_episode
        evaluated = not terminated and (truncated or (self.probe_every > 0
                                                      and self.recognizer.step % self.probe_every == 0))
        if evaluated:
            self._probe_accuracy = self._clean_probe_accuracy()
        if not terminated:
            self._losses.append(loss)
        leakage = exposure_rise = None
        if self.reward.needs_leakage:
            exposed, shown = self.leakage.row_exposures(mixed.x, self._pixels, mixed.partners,
                                                        self._x if recipe.linear else None)
            leakage = float(exposed.mean())
            if self._follows_exposure:
                exposure_rise = self._raise_worst_exposure(exposed, self._batch_index[shown])
        k_low, k_high = self.codec.k_choices[0], self.codec.k_choices[-1]
        blame = (recipe.k - k_low) / (k_high - k_low) if k_high > k_low else 0.0
        planned = self.steps_per_episode if self.config.episode == "run" else self.config.total_steps
        progress = (self._episode_step if self.config.episode == "run" else self.recognizer.step) / (planned or 1)
        terms = self.reward(StepSignals(loss, blame, self._probe_accuracy, evaluated,
                                        min(1.0, progress) if planned else 1.0, leakage, exposure_rise))
        reward = 0.0 if terminated else terms.reward
        self._multiplier = terms.multiplier
        if self.render_mode == "rgb_array":
            self._rendered = (self._x[:RENDER_COLUMNS].cpu(), mixed.x[:RENDER_COLUMNS].detach().cpu())
        weights = np.full((len(mixed.weights), max(self.codec.k_choices)), WEIGHT_FILL, dtype=np.float32)
        weights[:, :recipe.k] = mixed.weights.cpu().numpy()
        info = {"k": recipe.k, "recipe": recipe, "weights": weights, "loss": loss, "reward": reward,
                "cost": terms.cost, "lambda": terms.multiplier,
                "leakage": NOT_MEASURED if leakage is None else leakage, "lr": self.recognizer.lr,
                "step": self.recognizer.step, "epoch": self.epoch, "accuracy": self._probe_accuracy,
                "evaluated": evaluated, "error": error}
        if not terminated:
            self._next_batch()
        return self._observation(), float(reward), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """With ``render_mode="rgb_array"``: one ``(2·H, n·W, 3)`` uint8 picture (``H×W`` the training images'
        size, ``n = min(RENDER_COLUMNS, batch_size)``) of the first images of the batch the last step trained on,
        as the analytic inverse (``transform.inverse``, dropped channels as 0) shows them: top row as drawn, bottom
        row as mixed. Before the first step both rows show the batch the observation describes, unmixed. None
        without a render mode."""
        if self.render_mode is None:
            return None
        if self.recognizer is None:
            raise gym.error.ResetNeeded("call reset() before render()")
        batch, mixed = self._rendered or (self._x[:RENDER_COLUMNS].cpu(),) * 2
        rows = [self.transform.inverse(x).clamp(0, 255).round().to(torch.uint8) for x in (batch, mixed)]
        grid = torch.cat([torch.cat(list(row), dim=2) for row in rows], dim=1)  # (C, 2H, n·W)
        return grid.expand(3, -1, -1).permute(1, 2, 0).numpy().copy()

    # -- resume -------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything the game needs to continue bit-identically: the recognizer (with its optimizer), every
        generator the env owns, the data order and cursor, the observation windows and the reward's state (λ).
        Plain types and tensors only, so ``torch.load(..., weights_only=True)`` reads it back."""
        if self.recognizer is None:
            raise gym.error.ResetNeeded("call reset() before state_dict()")
        return {"recognizer": self.recognizer.state_dict(), "np_random": self.np_random.bit_generator.state,
                "data_rng": self._data_rng.bit_generator.state, "mix_rng": self._mix_rng.bit_generator.state,
                "recognizer_seed": self._recognizer_seed, "order": torch.from_numpy(self._order.copy()),
                "cursor": self._cursor, "epoch": self.epoch, "episode_step": self._episode_step,
                "losses": list(self._losses), "recent_k": list(self._recent_k),
                "probe_accuracy": self._probe_accuracy, "batch": self._x.clone(), "batch_labels": self._y.clone(),
                "batch_pending": self._batch_pending, "batch_faces": self._pixels,
                "reward": self.reward.state_dict(), "last_lambda": self._multiplier,
                "worst_exposure": self._worst_exposure.clone(), "batch_index": self._batch_index,
                **({"stream": self._stream.state_dict()} if self._stream is not None else {})}

    def load_state_dict(self, state: dict[str, Any], reschedule: bool = False) -> None:
        """Continue from :meth:`state_dict`; FreqmixError if it came from an env of another configuration.

        :param reschedule: the state may come from a run planned for another ``total_steps`` (a resumed run whose
            budget was extended): the recognizer continues on this env's cosine schedule from the saved step.
        """
        try:
            self.np_random  # noqa: B018 -- creates the generator whose state is restored next
            self.np_random.bit_generator.state = state["np_random"]
            self._data_rng = np.random.default_rng()
            self._data_rng.bit_generator.state = state["data_rng"]
            self._mix_rng = np.random.default_rng()
            self._mix_rng.bit_generator.state = state["mix_rng"]
            self._recognizer_seed = int(state["recognizer_seed"])
            order = state["order"].numpy()
            if isinstance(self.train_data, StreamedTrainingSet):
                # A streamed set's order is the loader's seeded stream; its position is the whole of its state.
                self._restart_stream(int(state["stream"]["seed"]))
                self._stream.load_state_dict(state["stream"])
            elif order.shape != (len(self.train_data),) or not ((order >= 0) & (order < len(order))).all():
                raise FreqmixError("its data order does not match this training set")
            self._order, self._cursor, self.epoch = order, int(state["cursor"]), int(state["epoch"])
            self._episode_step = int(state["episode_step"])
            self._losses = deque(state["losses"], maxlen=_LOSS_WINDOW)
            self._recent_k = deque(state["recent_k"], maxlen=_LOSS_WINDOW)
            self._probe_accuracy = float(state["probe_accuracy"])
            batch, batch_labels = state["batch"], state["batch_labels"]
            # States of earlier versions: a batch was always pending between steps.
            self._batch_pending = bool(state.get("batch_pending", True))
            # States of earlier versions: the loss reward, which keeps no state and needs no batch faces.
            self.reward.load_state_dict(state.get("reward", {}))
            # States of earlier versions: info["lambda"] restarts at 0 until the first step.
            self._multiplier = float(state.get("last_lambda", 0.0))
            faces = state.get("batch_faces")
            # States of earlier versions: no face had been followed.
            worst = state.get("worst_exposure")
            self._batch_index = state.get("batch_index")
        except (KeyError, TypeError, AttributeError) as exc:
            raise FreqmixError(f"not a FreqMixUpEnv state ({exc})") from None
        self.recognizer = self._new_recognizer()
        self.recognizer.load_state_dict(state["recognizer"], reschedule=reschedule)
        self._probe = self._probe_batch()
        # The described batch is stored as drawn (its augmentation came from generators already advanced).
        self._x, self._y = batch, batch_labels
        if self.reward.needs_leakage and faces is None:
            raise FreqmixError("the state holds no batch faces, which the leakage signal of this env's reward needs")
        self._pixels = faces
        self._worst_exposure = torch.zeros(len(self.train_data)) if worst is None else worst

    @property
    def trained_recognizer(self) -> Recognizer | None:
        """The recognizer the last step trained: with ``episode="run"``, the finished run's even after the reset
        that started a fresh one."""
        return self.finished_recognizer or self.recognizer

    def close(self) -> None:
        """Stop the decoding processes of a streamed training set (they restart at the next batch)."""
        if self._stream is not None:
            self._stream.close()

    def use_leakage_attack(self, attack: Reconstructor) -> None:
        """Score the leakage privacy term with ``attack``'s reconstructions from the next step on (``freqmix train``
        gives the env its decoder once the decoder has trained). A batch's mean leakage reads a sample of its rows
        (:data:`mixup_env.leakage.LEAKAGE_ROWS`); each face's worst exposure (``exposure="worst"``) reads them all."""
        self.leakage = BatchLeakage(attack, rows=None if self._follows_exposure else LEAKAGE_ROWS)

    def current_observation(self) -> np.ndarray:
        """The observation of the batch the next step will mix (what the last reset/step returned)."""
        return self._observation()

    # -- internals ----------------------------------------------------------------------------------------------
    def _attach_leakage(self, leakage_attack: Reconstructor | None) -> None:
        """Score each batch with ``leakage_attack``; without one, the analytic inverse when the reward's privacy term
        needs a leakage that needs no training (a trained decoder comes later, through :meth:`use_leakage_attack`)."""
        if leakage_attack is not None:
            self.use_leakage_attack(leakage_attack)
        elif self.reward.needs_leakage and self.config.objective.privacy not in TRAINED_LEAKAGE_TERMS:
            if isinstance(self.train_data, StreamedTrainingSet):
                raise FreqmixError("the leakage privacy term fills dropped channels with the training faces' mean "
                                   "face, which a streamed set does not hold in memory; drop --stream or use "
                                   "--privacy loss")
            self.use_leakage_attack(AnalyticInverse.fit(self.transform, self.train_data.images))

    def _untrained_info(self) -> dict[str, Any]:
        # reset()'s info: the keys, shapes and dtypes of a step's, with the values of a step that trained nothing
        # (k 0, no weights, loss and leakage not measured, no reward or cost), so that vector envs' autoreset
        # stacks it with the steps' infos.
        return {"k": 0, "recipe": None,
                "weights": np.full((self.batch_size, max(self.codec.k_choices)), WEIGHT_FILL, dtype=np.float32),
                "loss": NOT_MEASURED, "reward": 0.0, "cost": 0.0, "lambda": self._multiplier,
                "leakage": NOT_MEASURED, "lr": self.recognizer.lr, "step": self.recognizer.step, "epoch": self.epoch,
                "accuracy": self._probe_accuracy, "evaluated": False, "error": ""}

    def _new_recognizer(self) -> Recognizer:
        recognizer = Recognizer.from_config(self.transform.out_channels, self.train_data.num_identities,
                                            self.config.recognizer, seed=self._recognizer_seed,
                                            total_steps=self.config.total_steps)
        if self.initial_backbone is not None:
            recognizer.load_backbone(self.initial_backbone)
        return recognizer

    def _restart_stream(self, seed: int) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = self.train_data.loader(self.batch_size, seed, self.config.sampler)

    def _next_batch(self) -> None:
        if self._stream is not None:
            self.epoch = self._stream.delivered // len(self.train_data)
            images, self._y = self._stream.next_batch()
        else:
            if self._cursor + self.batch_size > len(self._order):
                if len(self._order):
                    self.epoch += 1
                self._order, self._cursor = epoch_order(self.config.sampler, self.train_data.labels.numpy(),
                                                          self._data_rng), 0
            idx = torch.from_numpy(self._order[self._cursor:self._cursor + self.batch_size])
            self._cursor += self.batch_size
            images, self._y = self.train_data.images[idx], self.train_data.labels[idx]
            self._batch_index = idx
        self._batch_pending = True
        faces = random_shift(images, self.augment_shift, self._data_rng, self.config.augment_step)
        self._x = self.transform(faces)
        self._pixels = faces if self.reward.needs_leakage else None  # what the leakage signal compares against

    def _raise_worst_exposure(self, exposed: torch.Tensor, faces: torch.Tensor) -> float:
        """Fold a batch's exposures into each face's worst one; the rise per row of the batch. ``exposed``: (N,)
        each row's leakage, ``faces``: (N,) the training-set index of the face each row exposes."""
        worst = self._worst_exposure.clone().scatter_reduce_(0, faces, exposed.float(), reduce="amax")
        rise = float((worst - self._worst_exposure).sum()) / len(exposed)
        self._worst_exposure = worst
        return rise

    def _probe_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        # A fixed, evenly spread subset of the training faces, unmixed but masked like the training data.
        n = len(self.train_data)
        idx = torch.linspace(0, n - 1, min(self.probe_size, n)).round().long()
        images, labels = self.train_data.take(idx)
        return self.transform(images), labels

    def _clean_probe_accuracy(self) -> float:
        x, y = self._probe
        return float((self.recognizer.predict(x) == y).float().mean())

    def _observation(self) -> np.ndarray:
        losses = np.array(self._losses) if self._losses else np.zeros(1)
        k_hist = np.zeros(len(self.codec.k_choices))
        for k in self._recent_k:
            if k in self.codec.k_choices:
                k_hist[self.codec.k_choices.index(k)] += 1
        k_hist /= max(1, len(self._recent_k))
        state = {
            "episode_progress": self._episode_step / self.steps_per_episode,
            "log_global_step": np.log1p(self.recognizer.step) / 10,
            "log_last_loss": np.log1p(max(0.0, losses[-1])),
            "log_loss_mean": np.log1p(max(0.0, losses.mean())),
            "log_loss_std": np.log1p(losses.std()),
            "lr_ratio": self.recognizer.lr / self.config.recognizer.lr,
            "probe_accuracy": self._probe_accuracy,
        }
        energy = self._x.pow(2).mean(dim=(0, 2, 3)).cpu().numpy()
        distinct = len(torch.unique(self._y)) / len(self._y)
        return self.layout.build(state, k_hist, energy, distinct)


# The keywords FreqMixUpEnv takes besides its configuration's fields (data, image_size, render_mode, ...).
_CONSTRUCTOR_NAMES = frozenset(name for name, parameter in inspect.signature(FreqMixUpEnv).parameters.items()
                               if parameter.kind is not inspect.Parameter.VAR_KEYWORD)
