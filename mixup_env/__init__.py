"""The defense and the environment: block-DCT channel masking, frequency MixUp, and ``FreqMixUpEnv``.

Importing this package registers ``FreqMixUp-v0`` (the paper's action: ``Discrete(5)`` -> k in {2..6}) and
``FreqMixUpRecipe-v0`` (MultiDiscrete recipe), and the presets ``FreqMixUp-Tiny-v0`` and ``FreqMixUp-ORL32-v0``
(:mod:`mixup_env.presets`) with Gymnasium, idempotently, so that
``gymnasium.make("mixup_env:FreqMixUp-v0")`` works in any process, SB3's ``SubprocVecEnv`` workers included.
"""
import gymnasium

from freqmix_base.registry import Registry

# env id -> the action kind of FreqMixUpEnv it makes ("k" or "recipe").
ENV_IDS: Registry[str] = Registry("env", "--env")
ENV_IDS.register("FreqMixUp-v0", "k")
ENV_IDS.register("FreqMixUpRecipe-v0", "recipe")


def register_envs() -> None:
    """Register both env ids and the small presets (:mod:`mixup_env.presets`) with Gymnasium unless they already
    are (safe to call any number of times)."""
    from mixup_env.presets import PRESETS

    for env_id, action in ENV_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point="mixup_env.env:FreqMixUpEnv", kwargs={"action": action})
    for env_id, (entry_point, kwargs, episode_steps) in PRESETS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point, kwargs=kwargs, max_episode_steps=episode_steps)


register_envs()
