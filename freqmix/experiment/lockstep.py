"""One agent, many recognizer processes: rank 0's env tells every other rank's env what to do, call by call.

Every rank holds the same env (same data, same seeds), so the same reset and the same action give every rank the
same global batch mixed with the same recipe; each trains its shard of it (``Recognizer(data_parallel=True)``).
Rank 0 wraps its env in :class:`LockstepBroadcast`, which sends each ``reset``/``step`` before doing it; the other
ranks run :func:`follow`, which repeats them until rank 0 says stop.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from mixup_env.env import FreqMixUpEnv
from recognizer.distributed import ProcessGroup


class LockstepBroadcast(gym.Wrapper):
    """Rank 0's env: sends every ``reset`` and ``step`` (and a state restore) to the followers before doing it.

    :param env: the base :class:`FreqMixUpEnv` (below any action relaxation, so that the followers get its own
        actions).
    :param group: the process group; this process must be its rank 0.
    """

    def __init__(self, env: FreqMixUpEnv, group: ProcessGroup) -> None:
        super().__init__(env)
        self.group = group
        self._stopped = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self.group.broadcast(("reset", seed, options))
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self.group.broadcast(("step", np.asarray(action)))
        return self.env.step(action)

    def restore(self, state: dict[str, Any]) -> None:
        """Load an env state (a checkpoint's) here; the followers load it from their own copy of the checkpoint."""
        self.group.broadcast(("restore",))
        self.env.unwrapped.load_state_dict(state, reschedule=True)

    def stop(self) -> None:
        """Release the followers (idempotent; also on errors, so that no rank waits for ever)."""
        if not self._stopped:
            self._stopped = True
            self.group.broadcast(("stop",))

    def close(self) -> None:
        self.stop()
        super().close()


def follow(env: FreqMixUpEnv, group: ProcessGroup, checkpoint_env: dict[str, Any] | None = None) -> None:
    """A follower rank's whole run: repeat rank 0's resets, steps and restores on ``env`` until it says stop.

    :param checkpoint_env: the env state of the checkpoint a resumed run starts from (each rank reads the file).
    """
    try:
        while True:
            command = group.broadcast()
            if command[0] == "reset":
                env.reset(seed=command[1], options=command[2])
            elif command[0] == "step":
                env.step(command[1])
            elif command[0] == "restore":
                if checkpoint_env is None:
                    raise RuntimeError("rank 0 restored a checkpoint this rank was not given")
                env.load_state_dict(checkpoint_env, reschedule=True)
            else:
                return
    finally:
        env.close()
