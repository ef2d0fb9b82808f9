"""A built-in synthetic skeleton dataset, generated from a seed (no files).

The body is a small articulated tree: a spine (pelvis → … → head), two arms hanging from
the top of the spine and two legs from the pelvis. Each class is one action: a *ramp* (a
limb group rises or returns over the sequence, e.g. "raise right arm" vs "lower right arm")
on top of a class-specific *swing* (which limbs oscillate, how many cycles, in phase or
anti-phase between left and right). Classes come in pairs that are time reversals of each
other, so their time-averaged poses have the same distribution: only the temporal order
tells them apart (a linear probe on time-averaged joints scores about 40 % on the default
6 classes, one on the means of 4 temporal chunks about 90 %). Per sample: random global yaw,
scale, translation, length, ramp timing and amplitude, a class-independent decoy ramp on
another limb, swing speed and start phase, small joint jitter and position noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mrmp.data.base import Body, SkeletonSet
from mrmp.data.text import stratified_split
from mrmp.errors import ConfigError

__all__ = ["make_synthetic"]

_X, _Y, _Z = np.eye(3)
_LIMBS = ("spine", "left_arm", "right_arm", "left_leg", "right_leg")
_DECOY_ANGLE = 1.0  # rad, a random ramp on a limb the class does not ramp
_JITTER = 0.15  # rad, largest random oscillation added at every pivot and bend joint
_NOISE = 0.015  # position noise (body height ~1.4 before scaling)
_SIDE = {"spine": 0.0, "left_arm": 1.0, "right_arm": -1.0, "left_leg": 1.0, "right_leg": -1.0}


@dataclass(frozen=True)
class _Body:
    """The joint tree.

    ``parents[j] < j`` (root ``-1``); rest ``offsets`` (V, 3) from the parent; per limb, the
    ``pivots`` joint whose incoming bone carries the limb's rotation and the ``bends`` joint
    (elbow, knee) that only jitters.
    """

    parents: tuple[int, ...]
    offsets: np.ndarray
    pivots: dict[str, int]
    bends: dict[str, int]


@dataclass(frozen=True)
class _Action:
    """One class.

    A ramp of the ``ramp`` limbs (sideways if ``lateral`` else forward, by ``angle`` rad,
    ``reverse`` in time) and a swing of the ``swing`` limbs (``cycles`` per sequence, left and
    right in ``antiphase`` or not).
    """

    name: str
    ramp: tuple[str, ...]
    lateral: bool
    angle: float
    reverse: bool
    swing: tuple[str, ...]
    cycles: float
    antiphase: bool


# (rising name, returning name, ramp limbs, lateral (about z) or forward (about x), angle rad).
_RAMPS = (
    ("raise_right_arm", "lower_right_arm", ("right_arm",), True, 1.7),
    ("raise_arms_forward", "lower_arms_forward", ("left_arm", "right_arm"), False, 1.5),
    ("kick_left_leg", "retract_left_leg", ("left_leg",), False, 1.1),
    ("raise_left_arm", "lower_left_arm", ("left_arm",), True, 1.7),
    ("bow", "straighten_up", ("spine",), False, 0.8),
    ("kick_right_leg", "retract_right_leg", ("right_leg",), False, 1.1),
)
_SWINGS = (("left_leg", "right_leg"), ("left_arm", "right_arm"), ("spine",))
# (swing cycles per sequence, left/right anti-phase); ramp k, variant v uses (k + v) % 6.
_RHYTHMS = tuple((c, a) for a in (True, False) for c in (1.0, 2.0, 3.0))
MAX_CLASSES = 2 * len(_RAMPS) * len(_RHYTHMS)


def make_synthetic(
    *,
    num_classes: int = 6,
    per_class: int = 40,
    joints: int = 15,
    frames: tuple[int, int] = (24, 48),
    seed: int = 0,
) -> SkeletonSet:
    """Generate the synthetic dataset; identical output for identical arguments.

    Args:
        num_classes: Number of actions (>= 2).
        per_class: Sequences per action (>= 2).
        joints: Joints of the body tree (>= 6); 15 gives an SBU-like body.
        frames: Inclusive range of sequence lengths (>= 4 frames).
        seed: Random seed.

    Returns:
        A :class:`SkeletonSet` named ``synthetic`` of float32 sequences (T, joints, 3), y up,
        sorted by class, with one split ``default``: stratified 50 % train / 50 % test.
    """
    _check(num_classes, per_class, joints, frames)
    rng = np.random.default_rng(seed)
    body = _make_body(joints)
    actions = _make_actions(num_classes)
    labels = np.repeat(np.arange(num_classes, dtype=np.int64), per_class)
    sequences = [_sample(rng, body, actions[c], frames) for c in labels.tolist()]
    edges = tuple((p, j) for j, p in enumerate(body.parents) if p >= 0)
    _spine, left_hip, right_hip = (j for j, p in enumerate(body.parents) if p == 0)  # children of the pelvis
    top = max(j for j in range(len(body.parents)) if _on_spine(body.parents, j))
    return SkeletonSet(
        name="synthetic",
        sequences=sequences,
        labels=labels,
        ids=[f"{actions[c].name}/{i % per_class}" for i, c in enumerate(labels.tolist())],
        class_names=tuple(a.name for a in actions),
        edges=edges,
        splits={"default": stratified_split(labels, 0.5, seed=seed)},
        persons=1,
        body=Body(root=0, primary=(right_hip, left_hip), secondary=(0, top), units="body heights / 1.4"),
    )


def _on_spine(parents: tuple[int, ...], joint: int) -> bool:
    """Whether ``joint`` is on the chain that leaves the pelvis first (the spine)."""
    first = next(j for j, p in enumerate(parents) if p == 0)
    while joint > first:
        joint = parents[joint]
    return joint == first


def _check(num_classes: int, per_class: int, joints: int, frames: tuple[int, int]) -> None:
    if not 2 <= num_classes <= MAX_CLASSES:
        raise ConfigError(f"synthetic: need 2 <= num_classes <= {MAX_CLASSES}, got {num_classes}")
    if per_class < 2:
        raise ConfigError(f"synthetic: need per_class >= 2, got {per_class}")
    if joints < 6:
        raise ConfigError(f"synthetic: need joints >= 6 (spine and four limbs), got {joints}")
    if not 4 <= frames[0] <= frames[1]:
        raise ConfigError(f"synthetic: need 4 <= frames[0] <= frames[1], got {frames}")


def _make_body(joints: int) -> _Body:
    """Spine of ``s`` joints above the pelvis; four limbs of ``L`` joints each."""
    limb = (joints - 2) // 4
    spine = joints - 1 - 4 * limb
    parents: list[int] = [-1]
    offsets: list[np.ndarray] = [np.zeros(3)]
    chains: dict[str, list[int]] = {}

    def chain(name: str, attach: int, first: np.ndarray, rest: np.ndarray, count: int) -> None:
        chains[name] = list(range(len(parents), len(parents) + count))
        for k in range(count):
            parents.append(attach if k == 0 else len(parents) - 1)
            offsets.append(first if k == 0 else rest)

    chain("spine", 0, _Y * 0.55 / spine, _Y * 0.55 / spine, spine)
    top = chains["spine"][-2] if spine >= 2 else chains["spine"][0]
    for name in ("left_arm", "right_arm"):
        side = _SIDE[name]
        chain(name, top, _X * 0.18 * side, -_Y * 0.55 / max(limb - 1, 1), limb)
    for name in ("left_leg", "right_leg"):
        side = _SIDE[name]
        chain(name, 0, _X * 0.1 * side - _Y * 0.05, -_Y * 0.8 / max(limb - 1, 1), limb)
    if limb == 1:  # a single joint per limb: its own bone points down and carries the motion
        for name in ("left_arm", "right_arm", "left_leg", "right_leg"):
            offsets[chains[name][0]] = offsets[chains[name][0]] - _Y * 0.5
    # A limb turns at its second joint (upper arm, thigh); the spine bends at the pelvis.
    pivots = {n: c[0] if n == "spine" else c[min(1, len(c) - 1)] for n, c in chains.items()}
    bends = {name: c[min(2, len(c) - 1)] for name, c in chains.items()}
    return _Body(tuple(parents), np.stack(offsets), pivots, bends)


def _make_actions(num_classes: int) -> list[_Action]:
    """Classes ``2k`` and ``2k + 1`` are the rising and returning versions of ramp ``k``."""
    actions: list[_Action] = []
    for c in range(num_classes):
        k, reverse = divmod(c, 2)
        rising, returning, limbs, lateral, angle = _RAMPS[k % len(_RAMPS)]
        variant = k // len(_RAMPS)
        name = returning if reverse else rising
        swing = tuple(s for s in _SWINGS[k % len(_SWINGS)] if s not in limbs) or _SWINGS[0]
        cycles, antiphase = _RHYTHMS[(k + variant) % len(_RHYTHMS)]
        actions.append(
            _Action(
                name=f"{name}_v{variant + 1}" if variant else name,
                ramp=limbs,
                lateral=lateral,
                angle=angle,
                reverse=bool(reverse),
                swing=swing,
                cycles=cycles,
                antiphase=antiphase,
            )
        )
    return actions


def _sample(rng: np.random.Generator, body: _Body, action: _Action, frames: tuple[int, int]) -> np.ndarray:
    """One sequence (T, V, 3) of ``action``."""
    t_len = int(rng.integers(frames[0], frames[1] + 1))
    s = np.linspace(0.0, 1.0, t_len)
    angles: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}

    ramp = action.angle * _ramp(rng, s, action.reverse)
    for limb in action.ramp:
        sign = _SIDE[limb] if action.lateral else (-1.0 if limb == "spine" else 1.0)
        axis = _Z if action.lateral else _X
        angles.setdefault(body.pivots[limb], []).append((axis, sign * ramp))
    others = [limb for limb in _LIMBS if limb not in action.ramp]
    decoy = others[int(rng.integers(len(others)))]  # a class-independent ramp, either way
    wave = _DECOY_ANGLE * _ramp(rng, s, rng.random() < 0.5)
    angles.setdefault(body.pivots[decoy], []).append((_X if rng.random() < 0.5 else _Z, wave))

    phase = rng.uniform(0, 2 * np.pi)
    cycles = action.cycles * rng.uniform(0.8, 1.25)
    for n, limb in enumerate(action.swing):
        offset = np.pi * n if action.antiphase else 0.0
        wave = rng.uniform(0.3, 0.6) * np.sin(2 * np.pi * cycles * s + phase + offset)
        axis = _Z if limb == "spine" else _X
        angles.setdefault(body.pivots[limb], []).append((axis, wave))

    for joint in sorted({*body.pivots.values(), *body.bends.values()}):  # jitter everywhere
        cycles, phase = rng.uniform(0.5, 3.0), rng.uniform(0, 2 * np.pi)
        wave = rng.uniform(0.0, _JITTER) * np.sin(2 * np.pi * cycles * s + phase)
        angles.setdefault(joint, []).append((_X if rng.random() < 0.5 else _Z, wave))

    pose = _forward_kinematics(body, angles, t_len)
    yaw = _rotation(_Y, np.full(1, rng.uniform(0, 2 * np.pi)))[0]
    shift = np.array([rng.normal(0, 0.5), rng.normal(0, 0.05), rng.normal(0, 0.5)])
    pose = rng.uniform(0.8, 1.2) * pose @ yaw.T + shift
    pose += rng.normal(0, _NOISE, size=pose.shape)
    return pose.astype(np.float32)


def _ramp(rng: np.random.Generator, s: np.ndarray, reverse: bool) -> np.ndarray:
    """A smooth 0 → ~1 ramp (~1 → 0 if ``reverse``) over a random window of ``s`` in [0, 1]."""
    pre, post = rng.uniform(0.05, 0.35, size=2)
    ease = 0.5 - 0.5 * np.cos(np.pi * np.clip((s - pre) / (1.0 - pre - post), 0.0, 1.0))
    return rng.uniform(0.7, 1.3) * ((1.0 - ease) if reverse else ease)


def _forward_kinematics(body: _Body, angles: dict[int, list[tuple[np.ndarray, np.ndarray]]], t_len: int) -> np.ndarray:
    """Joint positions (T, V, 3); a joint's rotations turn its incoming bone and descendants."""
    v = len(body.parents)
    frames = np.broadcast_to(np.eye(3), (t_len, 3, 3))
    world: list[np.ndarray] = []
    pose = np.zeros((t_len, v, 3))
    for j, parent in enumerate(body.parents):
        local = np.broadcast_to(np.eye(3), (t_len, 3, 3))
        for axis, angle in angles.get(j, []):
            local = local @ _rotation(axis, angle)
        base = frames if parent < 0 else world[parent]
        world.append(base @ local)
        if parent >= 0:
            pose[:, j] = pose[:, parent] + world[j] @ body.offsets[j]
    return pose


def _rotation(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices (T, 3, 3) about a unit ``axis`` by ``angle`` (T,) radians (Rodrigues)."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    sin, cos = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + sin * k + (1 - cos) * (k @ k)
