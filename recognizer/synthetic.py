"""The synthetic face renderer behind ``recognizer.data.synthetic_faces``: identity-structured cartoon faces,
deterministic from a generator, so that ``freqmix train`` runs on a fresh machine with no download.

:func:`identity_params` draws one identity's face (shape, tones, features) and :func:`render_identity` renders
images of it with small pose, expression and lighting changes, as ``uint8 (n, channels, size, size)`` arrays.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

# ITU-R BT.601 luma, the weights cv2.COLOR_RGB2GRAY uses.
_LUMA = np.array([0.299, 0.587, 0.114])


def _soft_ellipse(u: np.ndarray, v: np.ndarray, cx, cy, a, b, image_size: int) -> np.ndarray:
    """Anti-aliased ellipse mask in 0..1 (edge about two pixels wide) in face coordinates ``u``, ``v``."""
    r = np.sqrt(((u - cx) / a) ** 2 + ((v - cy) / b) ** 2)
    # r grows by 2 / (image_size * axis) per pixel along an axis; scale so the long axis blurs over ~2 pixels.
    sharpness = np.maximum(a, b) * image_size
    return _sigmoid((1.0 - r) * sharpness)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _paint(img: np.ndarray, mask: np.ndarray, tone: np.ndarray) -> np.ndarray:
    """Blend ``tone`` (broadcastable to ``img`` (n, C, S, S)) over ``img`` where ``mask`` (n, S, S) is 1."""
    return img + mask[:, None] * (tone - img)


def identity_params(rng: np.random.Generator) -> dict[str, np.ndarray | float]:
    """One person's face: geometry in face coordinates (-1..1), tones as RGB 0..255."""
    skin = rng.uniform(95, 225) * np.array([1.0, rng.uniform(0.72, 0.88), rng.uniform(0.55, 0.75)])
    return {
        "skin": skin,
        "hair": rng.uniform(15, 140) * np.array([1.0, rng.uniform(0.6, 0.9), rng.uniform(0.4, 0.8)]),
        "iris": rng.uniform(20, 110) * np.array([rng.uniform(0.5, 1.0), rng.uniform(0.6, 1.0), rng.uniform(0.5, 1.0)]),
        "lip": skin * np.array([rng.uniform(0.6, 0.85), rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6)]),
        "face_a": rng.uniform(0.5, 0.66),
        "face_b": rng.uniform(0.66, 0.84),
        "face_y": rng.uniform(0.0, 0.1),
        "hair_extra": rng.uniform(0.04, 0.14),
        "hairline": rng.uniform(-0.62, -0.32),
        "eye_dx": rng.uniform(0.2, 0.33),
        "eye_y": rng.uniform(-0.18, 0.0),
        "eye_a": rng.uniform(0.07, 0.12),
        "eye_b": rng.uniform(0.035, 0.06),
        "brow_gap": rng.uniform(0.09, 0.17),
        "brow_th": rng.uniform(0.018, 0.045),
        "brow_tilt": rng.uniform(-0.35, 0.35),
        "nose_len": rng.uniform(0.2, 0.36),
        "nose_w": rng.uniform(0.045, 0.1),
        "mouth_y": rng.uniform(0.36, 0.54),
        "mouth_w": rng.uniform(0.14, 0.3),
        "mouth_th": rng.uniform(0.018, 0.04),
        "mouth_curve": rng.uniform(-0.07, 0.07),
        # Low-frequency skin texture (freckles, shading): a few plane waves in face coordinates.
        "tex_freq": rng.uniform(-7, 7, size=(4, 2)),
        "tex_phase": rng.uniform(0, 2 * np.pi, size=4),
        "tex_amp": rng.uniform(0.02, 0.07, size=4),
    }


def render_identity(
    p: dict, rng: np.random.Generator, n: int, image_size: int, channels: int
) -> np.ndarray:
    """``n`` images ``(n, C, S, S)`` uint8 of one identity, each with its own pose, expression and lighting."""

    def tone(rgb: np.ndarray) -> np.ndarray:  # (..., 3) RGB -> (..., C, 1, 1)
        out = rgb if channels == 3 else rgb @ _LUMA[:, None]
        return out[..., None, None].astype(np.float32)

    def per_image(draw) -> np.ndarray:  # (n, 1, 1) so it broadcasts over the pixel grid
        return np.asarray(draw, dtype=np.float32).reshape(n, 1, 1)

    # float32 throughout: half the memory traffic of float64, and 8-bit output needs no more.
    grid = ((np.arange(image_size) + 0.5) / image_size * 2 - 1).astype(np.float32)
    y_img, x_img = np.meshgrid(grid, grid, indexing="ij")
    # Pose: shift, scale and in-plane rotation map image coordinates to face coordinates.
    tx, ty = per_image(rng.normal(0, 0.05, n)), per_image(rng.normal(0, 0.05, n))
    scale = per_image(np.exp(rng.normal(0, 0.06, n)))
    angle = per_image(rng.normal(0, 0.08, n))
    x0, y0 = x_img - tx, y_img - ty
    u = (np.cos(angle) * x0 + np.sin(angle) * y0) / scale
    v = (-np.sin(angle) * x0 + np.cos(angle) * y0) / scale
    # Expression: eye openness, brow raise, smile, gaze.
    openness = per_image(rng.uniform(0.45, 1.1, n))
    brow_raise = per_image(rng.normal(0, 0.015, n))
    curve = p["mouth_curve"] + per_image(rng.normal(0, 0.035, n))
    gaze = per_image(rng.normal(0, 0.25, n)) * p["eye_a"]

    s = image_size
    background = rng.uniform(40, 215, size=(n, 1)) * rng.uniform(0.8, 1.0, size=(n, 3))
    img = np.broadcast_to(tone(background), (n, channels, s, s)).astype(np.float32)

    img = _paint(
        img,
        _soft_ellipse(u, v, 0, p["face_y"] - p["hair_extra"], p["face_a"] + p["hair_extra"],
                      p["face_b"] + p["hair_extra"], s),
        tone(p["hair"]),
    )
    texture = sum(
        amp * np.cos(f[0] * u + f[1] * v + phase) for f, phase, amp in zip(p["tex_freq"], p["tex_phase"], p["tex_amp"])
    )
    fringe = _sigmoid((p["hairline"] - v) * s / 4)
    face = _soft_ellipse(u, v, 0, p["face_y"], p["face_a"], p["face_b"], s) * (1 - fringe)
    img = _paint(img, face, tone(p["skin"]) * (1 + texture[:, None]))

    img = _paint_features(img, u, v, p, (openness, brow_raise, curve, gaze), tone, s)

    # Lighting: overall gain and a linear gradient across the image, then sensor noise.
    gain = rng.uniform(0.8, 1.2, (n, 1, 1, 1))
    gradient = 1 + rng.normal(0, 0.15, (n, 1, 1, 1)) * x_img + rng.normal(0, 0.08, (n, 1, 1, 1)) * y_img
    img = img * gain * gradient + rng.normal(0, 4.0, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _paint_features(img: np.ndarray, u: np.ndarray, v: np.ndarray, p: dict,
                    expression: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                    tone: Callable[[np.ndarray], np.ndarray], s: int) -> np.ndarray:
    """Eyes, irises, brows, nose and mouth of identity ``p`` on ``img`` at face coordinates ``(u, v)``, under the
    per-image expression (eye openness, brow raise, smile curve, gaze); draws nothing at random."""
    openness, brow_raise, curve, gaze = expression
    # Both eyes and brows at once: they are mirror images, so draw in |u|.
    au = np.abs(u)
    eye_b = p["eye_b"] * openness
    img = _paint(img, _soft_ellipse(au, v, p["eye_dx"], p["eye_y"], p["eye_a"], eye_b, s), tone(np.full(3, 225.0)))
    iris = _soft_ellipse(u, v, np.sign(u) * p["eye_dx"] + gaze, p["eye_y"], p["eye_b"] * 0.95, eye_b * 0.95, s)
    img = _paint(img, iris, tone(p["iris"]))
    brow_v = v - p["brow_tilt"] * (au - p["eye_dx"])
    brow_y = p["eye_y"] - p["eye_b"] - p["brow_gap"] + brow_raise
    img = _paint(img, _soft_ellipse(au, brow_v, p["eye_dx"], brow_y, p["eye_a"] * 1.35, p["brow_th"], s),
                 tone(p["hair"]))
    nose_y = p["eye_y"] + 0.05 + p["nose_len"] / 2
    img = _paint(img, 0.6 * _soft_ellipse(u, v, 0.02, nose_y, p["nose_w"], p["nose_len"] / 2, s),
                 tone(p["skin"] * 0.72))
    mouth_line = p["mouth_y"] - curve * (1 - (u / p["mouth_w"]) ** 2)
    mouth = _sigmoid((p["mouth_th"] - np.abs(v - mouth_line)) * s / 2) * _sigmoid((p["mouth_w"] - au) * s / 2)
    img = _paint(img, mouth, tone(p["lip"]))
    return img
