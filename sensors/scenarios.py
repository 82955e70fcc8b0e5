"""Synthetic but realistic lower-back (L5) IMU motion: the virtual wearable's motion source.

Every scenario builds a **kinematic model of the trunk** -- the position of the sensor in the
room and the orientation of the trunk (yaw, pitch, roll) as smooth functions of time -- and
derives what an IMU strapped to it would read:

* accelerometer: specific force ``R^T (d^2p/dt^2 + [0, 0, g])`` in m/s^2 (gravity included,
  a still upright sensor reads +9.81 on its "up" axis),
* gyroscope: body angular velocity from successive orientations (log map of
  ``R_k^T R_{k+1}``) in rad/s,

then rotates both by a configurable **mounting rotation** into the sensor frame, low-pass
filters and decimates them like an IMU's output stage, and adds white noise and a small
constant bias. The model runs at an internal rate of at least 400 Hz, so 50, 100 and 200 Hz
outputs are decimations of the same motion.

Body frame of the model: x forward (AP), y left (ML), z up (V); world frame: x, y horizontal,
z up. Orientation ``R = Rz(yaw) Ry(pitch) Rx(roll)``; positive pitch is a forward lean
(trunk flexion), positive roll a lean to the right, positive yaw a turn to the left.

Movement models (numbers are defaults, each a parameter):

* **Quiet stance**: the body sways as an inverted pendulum about the ankles; the centre of
  mass moves by a multi-sine plus low-pass noise (0.1-1.2 Hz, ~1/f amplitudes), the trunk
  tilts by ``x / l``. Eyes closed and foam scale the amplitude (EO-firm 1.0, EC-firm 1.4,
  EO-foam 1.6, EC-foam 2.6; mCTSIB ratios of healthy older adults are of this order,
  Mancini et al. 2012).
* **Walking**: steps with random step time and length (CV a few %). Within each step the
  trunk moves as an inverted pendulum of length ``l`` (sensor height): lowest at initial
  contact, highest at mid-stance, vertical excursion ``h = l - sqrt(l^2 - (L'/2)^2)`` with
  ``L' = L / 1.25`` for a step length ``L`` (so Zijlstra & Hof's ``L = 1.25 * 2 sqrt(2 l h -
  h^2)``, with their correction factor, recovers ``L``; ``Subject.pendulum_factor``);
  forward speed fastest at double support and slowest at mid-stance (Cavagna et al.
  1977); medio-lateral sway of the trunk over the stance foot at stride frequency; pelvic
  yaw, roll and pitch oscillations; a short heel-strike transient at every initial contact.
  Turns rotate the walking direction with a minimum-jerk yaw profile while steps continue
  (shorter steps, El-Gohary et al. 2014 for typical turn durations).
* **Sit-to-stand / stand-to-sit**: trunk flexion to 30-40 degrees and back, with the
  vertical rise (about 0.35 m at L5) starting at seat-off (~30 % of the movement) and a
  forward shift of the pelvis over the feet (Schenkman et al. 1990; Najafi et al. 2002).
* **Loss of balance**: a trunk excursion (5-10 degrees, 5 cm) and a recovery step (foot
  impact), after which the person stands with feet apart (low sway).

Scenarios return :class:`MotionData` with a ``truth`` dict (event times in s from the start,
counts, distances, durations). The analysis never sees the truth: it is for tests only.
:class:`ScenarioSource` streams a scenario block by block for the virtual wearable.

References
----------
Zijlstra W., Hof A. L. (2003). Assessment of spatio-temporal gait parameters from trunk
accelerations during human walking. Gait Posture 18(2):1-10.

Cavagna G. A., Heglund N. C., Taylor C. R. (1977). Mechanical work in terrestrial
locomotion. Am J Physiol 233:R243-R261.

Schenkman M., Berger R. A., Riley P. O., Mann R. W., Hodge W. A. (1990). Whole-body movements
during rising to standing from sitting. Phys Ther 70(10):638-648.

Najafi B., Aminian K., Loew F., Blanc Y., Robert P. A. (2002). Measurement of stand-sit and
sit-stand transitions using a miniature gyroscope and its application in fall risk
evaluation in the elderly. IEEE Trans Biomed Eng 49(8):843-851.

Mancini M., Salarian A., Carlson-Kuhta P., et al. (2012). ISway: a sensitive, valid and
reliable measure of postural control. J NeuroEng Rehabil 9:59.

El-Gohary M., Pearson S., McNames J., et al. (2014). Continuous monitoring of turning in
patients with movement disability. Sensors 14(1):356-369.

Salarian A., Horak F. B., Zampieri C., et al. (2010). iTUG, a sensitive and reliable
measure of mobility. IEEE Trans Neural Syst Rehabil Eng 18(3):303-310.

Flash T., Hogan N. (1985). The coordination of arm movements: an experimentally confirmed
mathematical model. J Neurosci 5(7):1688-1703 (minimum-jerk profiles).

Notes: differences to reality
-----------------------------
* One rigid trunk segment; no soft-tissue wobble of the sensor strap, no arm swing.
* Step patterns are periodic templates with random step-to-step variability, not a
  musculoskeletal simulation; heel-strike transients are Gaussian position blips.
* Turns in place are modelled as slow walking turns (steps continue).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

import numpy as np

__all__ = [
    "ALIASES",
    "GRAVITY_MPS2",
    "MOUNTS",
    "RECORDINGS",
    "SCENARIOS",
    "TEST_SCENARIOS",
    "TimedWalkOptions",
    "MotionData",
    "ScenarioSource",
    "ScenarioOptions",
    "Subject",
    "chair_stand_30s",
    "demo",
    "five_times_sts",
    "four_stage",
    "make_scenario",
    "mount_rotation",
    "quiet_stance",
    "random_mount",
    "single_leg_stance",
    "sit_to_stand",
    "slow_walk",
    "stand_to_sit",
    "ten_metre_walk",
    "turn_360",
    "SLOW_GAIT",
    "tug",
    "walk",
    "walk_2min",
    "walk_6min",
]

GRAVITY_MPS2 = 9.80665
_MIN_INTERNAL_RATE_HZ = 400.0

#: Named mounting rotations (sensor-from-body, rows are the sensor axes in body coordinates;
#: body axes are x forward, y left, z up).
MOUNTS: dict[str, np.ndarray] = {
    # body axes as the sensor axes
    "body": np.eye(3),
    # x up, y right, z forward (lower-back clip, right-handed; like the mobgap lab sensor
    # apart from the sign of the lateral axis)
    "lowerback": np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]),
    # strapped upside down: x down, y left, z forward
    "upside_down": np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
    # sideways: x forward, y up, z left... (right-handed: x fwd, y up, z right)
    "sideways": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}


# --------------------------------------------------------------------------- data types


@dataclass
class MotionData:
    """IMU signals of a scenario with their ground truth.

    Attributes
    ----------
    acc_mps2 : (n, 3) array
        Specific force in the sensor frame (gravity included), m/s^2.
    gyr_radps : (n, 3) array
        Angular velocity in the sensor frame, rad/s.
    sampling_rate_hz : float
    truth : dict
        Scenario, parameters and ground truth (event times in s from the first sample).
    """

    acc_mps2: np.ndarray
    gyr_radps: np.ndarray
    sampling_rate_hz: float
    truth: dict[str, Any] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.acc_mps2.shape[0])

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.n_samples / float(self.sampling_rate_hz)

    @property
    def t_s(self) -> np.ndarray:
        """Sample times from 0 (s)."""
        return np.arange(self.n_samples) / float(self.sampling_rate_hz)


@dataclass
class Subject:
    """Anthropometry used by the movement models.

    Parameters
    ----------
    height_m : float
        Body height.
    sensor_height_m : float or None
        Height of the L5 sensor above the ground when standing (pendulum length); default
        0.58 x body height.
    seat_height_m : float
        Chair seat height.
    age_y, sex, weight_kg
        Only copied into the truth (for predicted walk distances and norms).
    pendulum_factor : float
        The vertical trunk excursion of a step of length ``L`` is that of an inverted
        pendulum taking a step ``L / pendulum_factor``. Zijlstra & Hof (2003) found the pure
        pendulum underestimates step length and applied 1.25; with 1.0 the model follows the
        pure pendulum (vertical acceleration then ~40 % above real lower-back recordings).
    """

    height_m: float = 1.70
    sensor_height_m: float | None = None
    seat_height_m: float = 0.45
    age_y: float = 72.0
    sex: str = "f"
    weight_kg: float = 70.0
    pendulum_factor: float = 1.25

    @property
    def l_m(self) -> float:
        """Sensor (pendulum) height when standing."""
        return (
            float(self.sensor_height_m)
            if self.sensor_height_m is not None
            else 0.58 * float(self.height_m)
        )

    @property
    def sit_height_m(self) -> float:
        """Sensor height when seated (seat + ~0.18 m from the seat to L5; the real mobgap
        HA-001 trial rises by 0.28-0.33 m with a 0.96 m sensor height)."""
        return float(self.seat_height_m) + 0.18

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "height_m": self.height_m,
            "sensor_height_m": self.l_m,
            "seat_height_m": self.seat_height_m,
            "age_y": self.age_y,
            "sex": self.sex,
            "weight_kg": self.weight_kg,
            "pendulum_factor": self.pendulum_factor,
        }


# --------------------------------------------------------------------------- rotations


def _rx(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack(
        [np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2
    )


def _ry(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack(
        [np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2
    )


def _rz(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack(
        [np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2
    )


def mount_rotation(
    mount: str | np.ndarray | None = None,
    tilt_deg: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> np.ndarray:
    """Sensor-from-body rotation matrix (``v_sensor = M @ v_body``).

    Parameters
    ----------
    mount
        A name from :data:`MOUNTS` (default ``"lowerback"``) or a 3x3 rotation matrix.
    tilt_deg
        Extra rotation of the body about its x (roll), y (pitch), z (yaw) axes before
        mounting, e.g. ``(0, 15, 0)`` for a sensor tilted 15 degrees on a curved back.
    """
    if mount is None:
        mount = "lowerback"
    if isinstance(mount, str):
        if mount not in MOUNTS:
            raise ValueError(f"unknown mount {mount!r}; known: {sorted(MOUNTS)}")
        m = MOUNTS[mount]
    else:
        m = np.asarray(mount, dtype=float)
        if m.shape != (3, 3):
            raise ValueError(f"mount must be a 3x3 rotation matrix, got shape {m.shape}")
        if not np.allclose(m @ m.T, np.eye(3), atol=1e-6) or np.linalg.det(m) < 0:
            raise ValueError("mount must be a proper rotation matrix (orthonormal, det +1)")
    r, p, y = np.radians(np.asarray(tilt_deg, dtype=float))
    tilt = _rz(np.array(y)) @ _ry(np.array(p)) @ _rx(np.array(r))
    return m @ tilt.T


def random_mount(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random sensor-from-body rotation (any way the sensor may be strapped on)."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


# --------------------------------------------------------------------------- profiles


def _minjerk(u: np.ndarray) -> np.ndarray:
    """Minimum-jerk step 0 -> 1 for u in [0, 1] (clipped outside)."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)


def _pitch_profile(
    u: np.ndarray, split: float, start: float, peak: float, end: float
) -> np.ndarray:
    """Trunk pitch through a transition of phase ``u`` (0..1): minimum-jerk from ``start``
    to ``peak`` until ``split``, then from ``peak`` to ``end``."""
    return np.where(
        u < split,
        start + (peak - start) * _minjerk(u / split),
        peak + (end - peak) * _minjerk((u - split) / (1.0 - split)),
    )


def _taper(n: int, fs: float, ramp_s: float = 0.5) -> np.ndarray:
    """Window that rises from 0 to 1 over ``ramp_s`` at both ends (raised cosine)."""
    w = np.ones(n)
    k = min(int(ramp_s * fs), n // 2)
    if k > 0:
        r = 0.5 - 0.5 * np.cos(np.pi * np.arange(k) / k)
        w[:k] = r
        w[n - k :] = r[::-1]
    return w


def _lowpass_noise(n: int, fs: float, cutoff_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS Gaussian noise low-passed in the frequency domain (smooth roll-off)."""
    if n < 4:
        return np.zeros(n)
    x = rng.normal(size=n)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spec = np.fft.rfft(x) / np.sqrt(1.0 + (f / cutoff_hz) ** 8)
    spec[f > 8 * cutoff_hz] = 0.0
    spec[0] = 0.0
    y = np.fft.irfft(spec, n)
    s = np.std(y)
    return y / s if s > 0 else y


def _sway_signal(n: int, fs: float, rng: np.random.Generator, fmax_hz: float = 1.2) -> np.ndarray:
    """Unit-RMS sway displacement: multi-sine (1/f amplitudes) + low-pass noise, tapered ends."""
    n_out = n
    n = max(n, int(30 * fs))  # normalise over a long window: short holds get short sway
    t = np.arange(n) / fs
    freqs = rng.uniform(0.1, fmax_hz, 6)
    amps = 1.0 / freqs
    phases = rng.uniform(0, 2 * np.pi, 6)
    ms = (amps[None, :] * np.sin(2 * np.pi * freqs[None, :] * t[:, None] + phases)).sum(1)
    ms /= max(np.std(ms), 1e-12)
    y = 0.6 * ms + 0.8 * _lowpass_noise(n, fs, 0.5, rng)
    y -= y.mean()
    y /= max(np.std(y), 1e-12)
    y = y[:n_out]
    return (y - y[0]) * _taper(n_out, fs, 0.7)


def _turn_truth(t_start: float, t0: float, duration_s: float, angle: float) -> dict[str, float]:
    """A turn of a walk as truth: start and end (s), duration, angle (deg) and the peak yaw
    rate of the minimum-jerk profile (1.875 x the mean rate)."""
    return {
        "start_s": round(t_start + t0, 4),
        "end_s": round(t_start + t0 + duration_s, 4),
        "duration_s": round(duration_s, 4),
        "angle_deg": round(math.degrees(angle), 2),
        "peak_yaw_rate_dps": round(abs(math.degrees(angle)) * 1.875 / duration_s, 2),
    }


def _blip(t: np.ndarray, t0: float, sigma_s: float) -> np.ndarray:
    """Gaussian bump of unit height centred at t0 (a heel-strike position transient)."""
    return np.exp(-0.5 * ((t - t0) / sigma_s) ** 2)


# --------------------------------------------------------------------------- builder


class _Builder:
    """Accumulates the trunk trajectory segment by segment at the internal rate."""

    def __init__(self, fs: float, rng: np.random.Generator, subject: Subject) -> None:
        self.fs = fs
        self.rng = rng
        self.subject = subject
        self.pos: list[np.ndarray] = []
        self.ang: list[np.ndarray] = []  # yaw, pitch, roll
        self.n = 0
        self.x = 0.0
        self.y = 0.0
        self.heading = 0.0
        self.posture = "stand"
        self.sit_pitch = math.radians(-10.0)
        self.events: list[dict[str, Any]] = []
        self.truth: dict[str, Any] = {}

    @property
    def t(self) -> float:
        """Current time (s) at the end of what has been built."""
        return self.n / self.fs

    def _ns(self, duration_s: float) -> int:
        return max(int(round(duration_s * self.fs)), 1)

    def _base_z(self) -> float:
        return self.subject.l_m if self.posture == "stand" else self.subject.sit_height_m

    def _base_pitch(self) -> float:
        return 0.0 if self.posture == "stand" else self.sit_pitch

    def _append(self, pos: np.ndarray, ang: np.ndarray) -> None:
        self.pos.append(pos)
        self.ang.append(ang)
        self.n += pos.shape[0]

    def _local(self, fwd: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.heading), math.sin(self.heading)
        return self.x + c * fwd - s * lat, self.y + s * fwd + c * lat

    def event(self, name: str, t_s: float, **kw: Any) -> None:
        self.events.append({"type": name, "t_s": round(float(t_s), 4), **kw})

    # ---- still postures -------------------------------------------------------------
    def hold(self, duration_s: float, sway_scale: float = 1.0, ml_scale: float = 1.0) -> None:
        """Stand quietly (sway) or sit (breathing) for ``duration_s``."""
        n = self._ns(duration_s)
        z = np.full(n, self._base_z())
        if self.posture == "stand":
            ap = 0.004 * sway_scale * _sway_signal(n, self.fs, self.rng)
            ml = 0.003 * sway_scale * ml_scale * _sway_signal(n, self.fs, self.rng)
            l = self.subject.l_m  # noqa: E741
            pitch = ap / l
            roll = -ml / l
        else:
            tt = np.arange(n) / self.fs
            br = math.radians(0.4) * np.sin(2 * np.pi * 0.25 * tt + self.rng.uniform(0, 6.3))
            br *= _taper(n, self.fs, 0.5)
            ap = np.zeros(n)
            ml = np.zeros(n)
            pitch = self.sit_pitch + br
            roll = np.zeros(n)
        x, y = self._local(ap, ml)
        self._append(np.stack([x, y, z], 1), np.stack([np.full(n, self.heading), pitch, roll], 1))

    # ---- postural transitions ---------------------------------------------------------
    def _transfer(
        self,
        fwd: np.ndarray,
        z: np.ndarray,
        pitch: np.ndarray,
        posture: str,
        name: str,
        **truth: Any,
    ) -> None:
        """Move forward by ``fwd`` (m, along the heading) with height ``z`` and trunk
        ``pitch``, end in ``posture`` and log the transition ``name`` (start, end, duration
        and ``truth``)."""
        n = fwd.size
        x, y = self._local(fwd, np.zeros(n))
        t0 = self.t
        self._append(
            np.stack([x, y, z], 1), np.stack([np.full(n, self.heading), pitch, np.zeros(n)], 1)
        )
        self.x, self.y = float(x[-1]), float(y[-1])
        self.posture = posture
        self.event(
            name,
            t0,
            start_s=round(t0, 4),
            end_s=round(t0 + n / self.fs, 4),
            duration_s=round(n / self.fs, 4),
            **truth,
        )

    def _transition_start(
        self, posture: str, name: str, duration_s: float
    ) -> tuple[int, np.ndarray]:
        """Samples of a transition of ``duration_s`` from ``posture`` (else an error naming
        the transition) and its phase 0..1."""
        if self.posture != posture:
            raise RuntimeError(
                f"{name} needs a {'sitting' if posture == 'sit' else 'standing'} start"
            )
        n = self._ns(duration_s)
        return n, np.arange(n) / n

    def sit_to_stand(self, duration_s: float, peak_flexion_deg: float = 35.0) -> None:
        """Rise from the chair: trunk flexion, seat-off at ~30 %, extension to upright."""
        n, u = self._transition_start("sit", "sit_to_stand", duration_s)
        pk = math.radians(peak_flexion_deg)
        pitch = _pitch_profile(u, 0.4, self.sit_pitch, pk, 0.0)
        z0, z1 = self.subject.sit_height_m, self.subject.l_m
        z = z0 + (z1 - z0) * _minjerk((u - 0.3) / 0.7)
        fwd = 0.3 * _minjerk((u - 0.1) / 0.7)
        halfway_s = round(self.t + (0.3 + 0.7 * 0.5) * n / self.fs, 4)
        self._transfer(
            fwd,
            z,
            pitch,
            "stand",
            "sit-to-stand",
            halfway_s=halfway_s,
            peak_flexion_deg=peak_flexion_deg,
        )

    def stand_to_sit(self, duration_s: float, peak_flexion_deg: float = 30.0) -> None:
        """Sit down: flexion, controlled descent (ends at ~75 %), extension to the seated pose."""
        n, u = self._transition_start("stand", "stand_to_sit", duration_s)
        pk = math.radians(peak_flexion_deg)
        pitch = _pitch_profile(u, 0.5, 0.0, pk, self.sit_pitch)
        z0, z1 = self.subject.l_m, self.subject.sit_height_m
        z = z0 + (z1 - z0) * _minjerk(u / 0.75)
        tt = np.arange(n) / self.fs
        z -= 0.004 * _blip(tt, 0.75 * n / self.fs, 0.02)  # buttocks meet the seat
        fwd = -0.3 * _minjerk((u - 0.05) / 0.7)
        self._transfer(fwd, z, pitch, "sit", "stand-to-sit", peak_flexion_deg=peak_flexion_deg)

    # ---- balance events ---------------------------------------------------------------
    def reposition(self, duration_s: float = 3.0) -> None:
        """Move the feet into a new stance: two small weight shifts with foot placements."""
        n = self._ns(duration_s)
        tt = np.arange(n) / self.fs
        d = n / self.fs
        side = self.rng.choice([-1.0, 1.0])
        shift = np.zeros(n)
        zb = np.zeros(n)
        for k, (a, b) in enumerate(((0.1, 0.45), (0.55, 0.9))):
            s = side * (1 if k == 0 else -1)
            u = (tt / d - a) / (b - a)
            shift += s * 0.03 * np.sin(np.pi * np.clip(u, 0, 1)) ** 2
            zb -= 0.0012 * _blip(tt, (a + 0.8 * (b - a)) * d, 0.015)
        ap = 0.01 * np.sin(np.pi * tt / d) ** 2
        l = self.subject.l_m  # noqa: E741
        x, y = self._local(ap, shift)
        z = self._base_z() + zb
        ang = np.stack([np.full(n, self.heading), ap / l * 2, -shift / l * 2], 1)
        self._append(np.stack([x, y, z], 1), ang)
        self.event("reposition", self.t - d, end_s=round(self.t, 4))

    def loss_of_balance(self, after_s: float = 3.0) -> None:
        """A balance loss: trunk excursion, recovery step with impact, then wide stance."""
        n = self._ns(1.2)
        tt = np.arange(n) / self.fs
        side = self.rng.choice([-1.0, 1.0])
        exc = np.sin(np.pi * np.clip(tt / 0.9, 0, 1)) ** 2
        lat = side * 0.05 * exc
        tilt = math.radians(self.rng.uniform(6.0, 10.0)) * exc
        zb = -0.002 * _blip(tt, 0.4, 0.015) - 0.01 * exc
        x, y = self._local(0.01 * exc, lat)
        z = self._base_z() + zb
        ang = np.stack([np.full(n, self.heading), 0.3 * tilt, -side * tilt], 1)
        t0 = self.t
        self._append(np.stack([x, y, z], 1), ang)
        self.event("loss-of-balance", t0, step_s=round(t0 + 0.4, 4))
        self.hold(after_s, sway_scale=0.8)

    # ---- walking ----------------------------------------------------------------------
    def walk(
        self,
        distance_m: float | None = None,
        *,
        duration_s: float | None = None,
        cadence_spm: float = 105.0,
        step_length_m: float = 0.62,
        step_time_cv: float = 0.025,
        step_length_cv: float = 0.03,
        turns: list[tuple[float, float, float]] | None = None,
        end_turn: tuple[float, float] | None = None,
        fatigue: float = 0.0,
        turn_step_factor: float = 0.55,
        asymmetry: float = 0.0,
        impact_scale: float = 1.0,
        trunk_scale: float = 1.0,
        lean_deg: float = 0.0,
        loading_fraction: float = 0.0,
    ) -> dict[str, Any]:
        """Walk straight ahead for a distance or a duration, with optional turns.

        Parameters
        ----------
        distance_m, duration_s
            Stop after this straight-line distance travelled (including turns) or time.
        turns
            ``(at_distance_m, angle_deg, duration_s)``: start a turn when that distance has
            been walked (positive angle = left).
        end_turn
            ``(angle_deg, duration_s)``: a turn during the last steps (TUG turn-to-sit).
        fatigue
            Fractional speed decline from the start to the end (shared by cadence and step
            length), e.g. 0.15.
        asymmetry
            Step-time asymmetry: steps of one foot last ``1 + asymmetry / 2`` times the mean,
            of the other ``1 - asymmetry / 2`` (hemiparetic or MS gait: 0.1-0.4).
        impact_scale
            Heel-strike transients scaled (shuffling: 0.2-0.4, the foot lands flat).
        trunk_scale
            Trunk motion of walking scaled: vertical pendulum excursion, lateral weight
            shift, pelvic yaw/roll/pitch oscillations (walker users: 0.3-0.6, the arms
            carry part of the weight and damp the trunk).
        lean_deg
            Forward trunk lean held while walking (walker users lean 10-20 degrees),
            reached over the first step and released over the last.
        loading_fraction
            Fraction of each step from the heel strike to the trunk's lowest point (and
            fastest forward speed): the middle of double support, half of the
            double-support time (0 puts the lowest point at the heel strike, as the
            scenarios made before slow gait was modelled do).
        """
        if self.posture != "stand":
            raise RuntimeError("walk needs a standing start")
        step_t, step_l, turn_windows = self._walk_steps(
            distance_m,
            duration_s,
            cadence_spm=cadence_spm,
            step_length_m=step_length_m,
            step_time_cv=step_time_cv,
            step_length_cv=step_length_cv,
            turns=sorted(turns or []),
            end_turn=end_turn,
            fatigue=fatigue,
            turn_step_factor=turn_step_factor,
            asymmetry=asymmetry,
        )
        sl = np.asarray(step_l)
        xw, yw, z, yaw, pitch, roll, head, s, ic_t = self._walk_motion(
            np.asarray(step_t),
            sl,
            turn_windows,
            impact_scale=impact_scale,
            trunk_scale=trunk_scale,
            lean_deg=lean_deg,
            loading_fraction=loading_fraction,
        )
        t_start = self.t
        self._append(np.stack([xw, yw, z], 1), np.stack([yaw, pitch, roll], 1))
        self.x, self.y = float(xw[-1]), float(yw[-1])
        self.heading = float(head[-1])
        info = {
            "start_s": round(t_start, 4),
            "end_s": round(t_start + xw.size / self.fs, 4),
            "n_steps": int(len(ic_t)),
            "initial_contacts_s": [round(t_start + float(c), 4) for c in ic_t],
            "step_lengths_m": [round(float(x), 4) for x in sl],
            "distance_m": round(float(s[-1]), 3),
            "turns": [_turn_truth(t_start, *w) for w in turn_windows],
        }
        self.events.append({"type": "walk", "t_s": info["start_s"], **info})
        return info

    def _walk_steps(
        self,
        distance_m: float | None,
        duration_s: float | None,
        *,
        cadence_spm: float,
        step_length_m: float,
        step_time_cv: float,
        step_length_cv: float,
        turns: list[tuple[float, float, float]],
        end_turn: tuple[float, float] | None,
        fatigue: float,
        turn_step_factor: float,
        asymmetry: float,
    ) -> tuple[list[float], list[float], list[tuple[float, float, float]]]:
        """The step plan of :meth:`walk`: step durations (s), step lengths (m) and the turns
        as ``(start s from the walk's start, duration s, angle rad)``."""
        rng = self.rng
        total_time = duration_s if duration_s is not None else 1e9
        total_dist = distance_m if distance_m is not None else 1e9
        step_t: list[float] = []
        step_l: list[float] = []
        turn_windows: list[tuple[float, float, float]] = []  # (t_start, dur, angle)
        t_rel, dist = 0.0, 0.0
        ti = 0
        turning_until = -1.0
        # which foot takes the longer steps (drawn only when asked: other scenarios keep
        # their random streams)
        side_sign = rng.choice([-1.0, 1.0]) if asymmetry else 1.0
        while True:
            frac = t_rel / total_time if duration_s is not None else dist / total_dist
            slow = math.sqrt(max(1.0 - fatigue * frac, 0.3))
            d = 60.0 / (cadence_spm * slow) * (1 + step_time_cv * rng.standard_normal())
            d *= 1.0 + side_sign * (-1) ** len(step_t) * asymmetry / 2.0
            L = step_length_m * slow * (1 + step_length_cv * rng.standard_normal())
            if ti < len(turns) and dist >= turns[ti][0]:
                _, ang, tdur = turns[ti]
                turn_windows.append((t_rel, tdur, math.radians(ang)))
                turning_until = t_rel + tdur
                ti += 1
            if t_rel < turning_until:
                L *= turn_step_factor
            if len(step_t) == 0:
                L *= 0.6  # gait initiation
            step_t.append(d)
            step_l.append(L)
            t_rel += d
            dist += L
            if t_rel >= total_time or dist >= total_dist - 1e-9:
                break
            if len(step_t) > 20000:
                raise RuntimeError("walk: too many steps")
        if end_turn is not None:
            # turn over the last steps (add steps until the turn is covered)
            ang, tdur = end_turn
            t_start = t_rel
            turn_windows.append((t_start, tdur, math.radians(ang)))
            while t_rel < t_start + tdur:
                d = 60.0 / cadence_spm * (1 + step_time_cv * rng.standard_normal())
                step_t.append(d)
                step_l.append(step_length_m * turn_step_factor * 0.6)
                t_rel += d
        step_l[-1] *= 0.6  # gait termination: closing step
        return step_t, step_l, turn_windows

    def _walk_motion(
        self,
        dur: np.ndarray,
        sl: np.ndarray,
        turn_windows: list[tuple[float, float, float]],
        *,
        impact_scale: float,
        trunk_scale: float,
        lean_deg: float,
        loading_fraction: float,
    ) -> tuple[np.ndarray, ...]:
        """The trunk's path for a step plan: ``(x, y, z, yaw, pitch, roll, heading,
        distance along the path, initial contacts in s from the start)``, one row a sample
        at the internal rate."""
        rng = self.rng
        l = self.subject.l_m  # noqa: E741
        b = np.concatenate([[0.0], np.cumsum(dur)])  # step boundaries; ICs at b[1:]
        T = b[-1]
        n = self._ns(T + 0.25)  # let the closing heel strike settle inside the segment
        tt = np.arange(n) / self.fs
        k = np.clip(np.searchsorted(b, tt, side="right") - 1, 0, len(dur) - 1)
        phi = (tt - b[k]) / dur[k]
        mid = 0.5 * (b[:-1] + b[1:])
        # envelope: gait initiation over the first step, termination over the last
        env = np.ones(n)
        env *= 0.5 - 0.5 * np.cos(np.pi * np.clip(tt / dur[0], 0, 1))
        env *= 0.5 - 0.5 * np.cos(np.pi * np.clip((T - tt) / dur[-1], 0, 1))
        v_step = sl / dur
        v = np.interp(tt, mid, v_step)
        # real trunks move less than the pendulum: Zijlstra & Hof's factor 1.25
        sl_p = sl / self.subject.pendulum_factor
        h_step = l - np.sqrt(np.maximum(l * l - (sl_p / 2) ** 2, 0.0))
        h = trunk_scale * np.interp(tt, mid, h_step)
        a_speed = 0.1
        psi = phi - loading_fraction  # pendulum phase: 0 at the trunk's lowest point
        speed = env * v * (1 + a_speed * np.cos(2 * np.pi * psi))
        # rescale so that each step covers its length exactly (envelope changes the integral)
        s = np.concatenate([[0.0], np.cumsum(speed[:-1]) / self.fs])
        # heading profile
        head = np.full(n, self.heading)
        for t0, tdur, ang in turn_windows:
            head += ang * _minjerk((tt - t0) / tdur)
        ds = np.diff(s, prepend=0.0)
        xw = self.x + np.cumsum(ds * np.cos(head))
        yw = self.y + np.cumsum(ds * np.sin(head))
        side0 = rng.choice([-1.0, 1.0])
        stride_phase = np.pi * (k + phi)
        lat = side0 * 0.035 * trunk_scale * env * np.sin(stride_phase)
        xw = xw - np.sin(head) * lat
        yw = yw + np.cos(head) * lat
        z = l - env * h * (1 + np.cos(2 * np.pi * psi)) / 2
        ic_t = b[1:]
        amp = impact_scale * rng.uniform(0.8, 1.2, len(ic_t))
        blip_v = np.zeros(n)
        blip_ap = np.zeros(n)
        for tc, a in zip(ic_t, amp):
            lo, hi = np.searchsorted(tt, [tc - 0.1, tc + 0.1])
            g = _blip(tt[lo:hi], tc, 0.012) * a
            blip_v[lo:hi] += g
            g2 = _blip(tt[lo:hi], tc + 0.01, 0.015) * a
            blip_ap[lo:hi] += g2
        z = z - 0.001 * blip_v
        xw = xw + 0.0008 * blip_ap * np.cos(head)
        yw = yw + 0.0008 * blip_ap * np.sin(head)
        ph = rng.uniform(-0.3, 0.3)
        osc = trunk_scale * env
        yaw = head + side0 * osc * math.radians(4.0) * np.sin(stride_phase + ph)
        pitch = env * math.radians(3.0 + lean_deg) + osc * math.radians(1.5) * np.cos(
            2 * np.pi * phi + 0.5
        )
        roll = side0 * osc * math.radians(4.0) * np.sin(stride_phase + 0.3)
        return xw, yw, z, yaw, pitch, roll, head, s, ic_t

    # ---- output -------------------------------------------------------------------------
    def kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """Body-frame specific force and angular velocity at the internal rate."""
        pos = np.concatenate(self.pos)
        ang = np.concatenate(self.ang)
        fs = self.fs
        pp = np.concatenate([pos[:1], pos, pos[-1:]])
        acc_w = (pp[2:] - 2 * pp[1:-1] + pp[:-2]) * fs * fs
        acc_w[:, 2] += GRAVITY_MPS2
        R = _rz(ang[:, 0]) @ _ry(ang[:, 1]) @ _rx(ang[:, 2])  # body -> world
        f_body = np.einsum("nji,nj->ni", R, acc_w)
        dR = np.einsum("nji,njk->nik", R[:-1], R[1:])
        vee = 0.5 * np.stack(
            [dR[:, 2, 1] - dR[:, 1, 2], dR[:, 0, 2] - dR[:, 2, 0], dR[:, 1, 0] - dR[:, 0, 1]], 1
        )
        s = np.linalg.norm(vee, axis=1)
        ang_step = np.arcsin(np.clip(s, 0, 1))
        scale = np.where(s > 1e-12, ang_step / np.maximum(s, 1e-12), 1.0)
        w_mid = vee * scale[:, None] * fs
        if len(w_mid) == 0:
            w = np.zeros_like(f_body)
        else:
            w = np.empty_like(f_body)
            w[1:-1] = 0.5 * (w_mid[1:] + w_mid[:-1])
            w[0] = w_mid[0]
            w[-1] = w_mid[-1]
        return f_body, w


def _smooth_decimate(x: np.ndarray, k: int) -> np.ndarray:
    """Triangular (two boxcars of k samples) low-pass, then keep every k-th sample."""
    if k <= 1:
        return x.copy()
    y = x
    for _ in range(2):
        c = np.concatenate([np.zeros((1, y.shape[1])), np.cumsum(y, axis=0)])
        lo = np.clip(np.arange(len(y)) - k // 2, 0, len(y))
        hi = np.clip(lo + k, 0, len(y))
        y = (c[hi] - c[lo]) / np.maximum(hi - lo, 1)[:, None]
    return y[::k]


def _finish(
    b: _Builder,
    name: str,
    sampling_rate_hz: float,
    k: int,
    mount: np.ndarray,
    noise: bool,
    rng: np.random.Generator,
    params: dict[str, Any],
) -> MotionData:
    f_body, w_body = b.kinematics()
    acc = _smooth_decimate(f_body, k) @ mount.T
    gyr = _smooth_decimate(w_body, k) @ mount.T
    truth: dict[str, Any] = {
        "scenario": name,
        "sampling_rate_hz": float(sampling_rate_hz),
        "duration_s": round(acc.shape[0] / sampling_rate_hz, 4),
        "mount_sensor_from_body": np.round(mount, 6).tolist(),
        "body_axes": "x forward, y left, z up",
        "subject": b.subject.to_dict(),
        "params": params,
        "events": b.events,
    }
    truth.update(b.truth)
    if noise:
        acc, gyr = _add_noise(acc, gyr, rng)
    return MotionData(acc, gyr, float(sampling_rate_hz), truth)


def _add_noise(
    acc: np.ndarray, gyr: np.ndarray, rng: np.random.Generator, bias: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """White noise (acc 0.015 m/s^2, gyro 0.004 rad/s RMS) and a constant bias per axis."""
    acc = acc + 0.015 * rng.standard_normal(acc.shape)
    gyr = gyr + 0.004 * rng.standard_normal(gyr.shape)
    if bias:
        acc = acc + rng.uniform(-0.05, 0.05, 3)
        gyr = gyr + rng.uniform(-0.005, 0.005, 3)
    return acc, gyr


class ScenarioOptions(TypedDict, total=False):
    """The keywords every scenario takes besides its own (all optional).

    Attributes
    ----------
    sampling_rate_hz
        Output rate in Hz (default 100); the model runs at a multiple of it, at least
        400 Hz, and is low-pass filtered and decimated to it.
    seed
        Seed of the motion and of the noise (default 0; ``None`` for a fresh one).
    subject
        Body dimensions (default :class:`Subject`).
    mount
        Mounting rotation: a name of :data:`MOUNTS`, a 3x3 sensor-from-body matrix, or
        ``None`` (the lower-back clip).
    tilt_deg
        Extra tilt of the sensor, degrees about x, y, z (default none).
    noise
        Add sensor noise and bias (default ``True``).
    """

    sampling_rate_hz: float
    seed: int | None
    subject: Subject | None
    mount: str | np.ndarray | None
    tilt_deg: tuple[float, float, float]
    noise: bool


@dataclass
class _Take:
    """A scenario being built: the model at its internal rate and what turns it into
    :class:`MotionData` (decimation factor, mounting rotation, noise)."""

    name: str
    b: _Builder
    k: int
    mount: np.ndarray
    rng: np.random.Generator
    noise_rng: np.random.Generator
    sampling_rate_hz: float
    noise: bool

    def finish(self, params: dict[str, Any], noise: bool | None = None) -> MotionData:
        """The sensor's data at the output rate, with noise unless ``noise`` says otherwise
        (default: the scenario's ``noise`` option); ``params`` go into the truth."""
        add_noise = self.noise if noise is None else noise
        return _finish(
            self.b,
            self.name,
            self.sampling_rate_hz,
            self.k,
            self.mount,
            add_noise,
            self.noise_rng,
            params,
        )


def _setup(name: str, options: ScenarioOptions) -> _Take:
    """Start scenario ``name`` with its :class:`ScenarioOptions` (defaults filled in)."""
    unknown = sorted(set(options) - ScenarioOptions.__optional_keys__)
    if unknown:
        raise TypeError(f"{name}() got unexpected keyword arguments {unknown}")
    sampling_rate_hz = options.get("sampling_rate_hz", 100.0)
    fs = float(sampling_rate_hz)
    if not math.isfinite(fs) or fs <= 0:
        raise ValueError(f"sampling_rate_hz must be positive, got {sampling_rate_hz!r}")
    k = max(1, int(math.ceil(_MIN_INTERNAL_RATE_HZ / fs)))
    ss = np.random.SeedSequence(options.get("seed", 0))
    motion_rng, noise_rng = (np.random.default_rng(s) for s in ss.spawn(2))
    b = _Builder(fs * k, motion_rng, options.get("subject") or Subject())
    mount = mount_rotation(options.get("mount"), options.get("tilt_deg", (0.0, 0.0, 0.0)))
    noise = options.get("noise", True)
    return _Take(name, b, k, mount, motion_rng, noise_rng, sampling_rate_hz, noise)


# --------------------------------------------------------------------------- scenarios

_SWAY_SCALE = {
    ("eo", "firm"): 1.0,
    ("ec", "firm"): 1.4,
    ("eo", "foam"): 1.6,
    ("ec", "foam"): 2.6,
}


def quiet_stance(
    duration_s: float = 30.0,
    *,
    eyes: str = "eo",
    surface: str = "firm",
    sway_scale: float = 1.0,
    **options: Unpack[ScenarioOptions],
) -> MotionData:
    """Quiet standing (mCTSIB condition ``eyes`` in {eo, ec}, ``surface`` in {firm, foam}).

    Truth: ``condition``, ``sway_scale`` (relative amplitude), and the RMS of the noise-free
    horizontal (AP, ML) body-frame acceleration with the mean removed (``sway_rms_*_mps2``).
    """
    key = (eyes.lower(), surface.lower())
    if key not in _SWAY_SCALE:
        raise ValueError(f"eyes must be eo/ec and surface firm/foam, got {eyes!r}, {surface!r}")
    take = _setup("quiet_stance", options)
    scale = _SWAY_SCALE[key] * sway_scale
    take.b.hold(duration_s, sway_scale=scale)
    md = take.finish({}, noise=False)
    body = md.acc_mps2 @ take.mount  # noise-free body frame (x fwd, y left, z up)
    h = body[:, :2] - body[:, :2].mean(0)
    md.truth.update(
        condition=f"{key[0]}-{key[1]}",
        eyes=key[0],
        surface=key[1],
        sway_scale=scale,
        sway_rms_ap_mps2=round(float(np.sqrt(np.mean(h[:, 0] ** 2))), 5),
        sway_rms_ml_mps2=round(float(np.sqrt(np.mean(h[:, 1] ** 2))), 5),
        sway_rms_mps2=round(float(np.sqrt(np.mean(np.sum(h * h, 1)))), 5),
    )
    if take.noise:
        md.acc_mps2, md.gyr_radps = _add_noise(md.acc_mps2, md.gyr_radps, take.noise_rng)
    return md


_STAGES = ("feet-together", "semi-tandem", "tandem", "one-leg")
_STAGE_SWAY = (1.0, 1.3, 1.8, 3.0)
_STAGE_ML = (1.0, 1.3, 1.6, 1.8)


def four_stage(
    *,
    fail_stage: int | None = 3,
    fail_time_s: float = 6.0,
    stage_duration_s: float = 10.0,
    reposition_s: float = 3.0,
    **options: Unpack[ScenarioOptions],
) -> MotionData:
    """STEADI 4-stage balance test (stages 1-4), stopping at the first failure.

    ``fail_stage`` (1-based, or None for no failure) loses balance ``fail_time_s`` after the
    stage started (a step). Before each stage the feet are repositioned (``reposition_s``).

    Truth: ``stages`` (name, start_s, end_s, held_s, failed), ``stage_reached`` (1-based last
    stage attempted), ``failed_stage``, ``held_s`` (per attempted stage).
    """
    if fail_stage is not None and not 1 <= fail_stage <= 4:
        raise ValueError(f"fail_stage must be 1..4 or None, got {fail_stage}")
    if fail_stage is not None and not 0 < fail_time_s < stage_duration_s:
        raise ValueError("fail_time_s must be within the stage")
    take = _setup("four_stage", options)
    b = take.b
    b.hold(2.0, 0.8)
    stages = []
    for i, name in enumerate(_STAGES, start=1):
        b.reposition(reposition_s)
        t0 = b.t
        failed = fail_stage == i
        held = fail_time_s if failed else stage_duration_s
        b.hold(held, _STAGE_SWAY[i - 1], _STAGE_ML[i - 1])
        stages.append(
            {
                "stage": i,
                "name": name,
                "start_s": round(t0, 4),
                "end_s": round(b.t, 4),
                "held_s": round(b.t - t0, 4),
                "failed": failed,
            }
        )
        if failed:
            b.loss_of_balance(3.0)
            break
    else:
        b.reposition(reposition_s)
        b.hold(3.0, 0.8)
    b.truth.update(
        stages=stages,
        stage_reached=len(stages),
        failed_stage=fail_stage,
        held_s=[s["held_s"] for s in stages],
        tandem_held_s=stages[2]["held_s"] if len(stages) >= 3 else 0.0,
    )
    params = {"fail_stage": fail_stage, "fail_time_s": fail_time_s}
    return take.finish(params)


def single_leg_stance(
    held_s: tuple[float, ...] = (12.0, 4.0),
    *,
    max_s: float = 30.0,
    lift_s: float = 1.5,
    standing_s: float = 5.0,
    **options: Unpack[ScenarioOptions],
) -> MotionData:
    """Single-leg stance on the left leg, then the right: per side the foot is lifted (a
    weight shift of ``lift_s``), the patient holds with one-leg sway for ``held_s`` (at most
    ``max_s``), then the foot touches down (a balance loss) or, after ``max_s``, is put down.

    Truth: ``sides`` (side, start_s = foot off, end_s = touch-down, held_s), ``left_s``,
    ``right_s``.
    """
    take = _setup("single_leg_stance", options)
    b = take.b
    b.hold(standing_s)
    sides = []
    for side, held in zip(("left", "right"), held_s):
        b.reposition(lift_s)
        t0 = b.t
        b.hold(min(held, max_s), _STAGE_SWAY[3], _STAGE_ML[3])
        sides.append({"side": side, "start_s": round(t0, 4), "end_s": round(b.t, 4)})
        sides[-1]["held_s"] = round(b.t - t0, 4)
        b.truth[f"{side}_s"] = sides[-1]["held_s"]
        if held < max_s:
            b.loss_of_balance(2.0)
        else:
            b.reposition(lift_s)
        b.hold(3.0)
    b.truth["sides"] = sides
    params = {"held_s": list(held_s), "max_s": max_s, "lift_s": lift_s}
    return take.finish(params)


def turn_360(
    turns: tuple[tuple[float, float, float], ...] = ((360.0, 3.0, 100.0), (-360.0, 3.6, 90.0)),
    *,
    standing_s: float = 5.0,
    between_s: float = 6.0,
    step_length_m: float = 0.2,
    **options: Unpack[ScenarioOptions],
) -> MotionData:
    """Timed 360° turn: standing, full turns on the spot, standing between them; ``turns``
    are (angle deg, positive = left; duration s; cadence steps/min).

    Truth: ``trials`` (direction, start_s, end_s, time_s, angle_deg, steps: the contacts
    from 0.2 s before the turn to 0.2 s after it), ``time_s`` and ``steps`` (their means).
    """
    take = _setup("turn_360", options)
    b = take.b
    b.hold(standing_s)
    trials = []
    for i, (angle, dur, cadence) in enumerate(turns):
        if i:
            b.hold(between_s)
        info = b.walk(
            duration_s=dur + 0.2,
            cadence_spm=cadence,
            step_length_m=step_length_m,
            turns=[(0.01, angle, dur)],
            turn_step_factor=1.0,
        )
        t = info["turns"][0]
        ic = np.asarray(info["initial_contacts_s"])
        steps = int(np.sum((ic >= t["start_s"] - 0.2) & (ic <= t["end_s"] + 0.2)))
        direction = "left" if angle > 0 else "right"
        trials.append({"direction": direction, "time_s": t["duration_s"], "steps": steps})
        trials[-1].update({k: t[k] for k in ("start_s", "end_s", "angle_deg")})
    b.hold(3.0)
    b.truth.update(
        trials=trials,
        time_s=round(float(np.mean([t["time_s"] for t in trials])), 4),
        steps=float(np.mean([t["steps"] for t in trials])),
    )
    params = {"turns": [list(t) for t in turns], "step_length_m": step_length_m}
    return take.finish(params)


def walk(
    distance_m: float = 20.0,
    *,
    cadence_spm: float = 105.0,
    step_length_m: float = 0.62,
    turns: list[tuple[float, float, float]] | None = None,
    standing_s: float = 3.0,
    **options: Unpack[ScenarioOptions],
) -> MotionData:
    """Stand, walk ``distance_m`` (optional turns), stand.

    Truth: ``walk`` (start/end, initial contacts, step lengths, distance, turns),
    ``cadence_spm``, ``speed_mps``, ``step_length_m`` (mean of the steady steps).
    """
    take = _setup("walk", options)
    b = take.b
    b.hold(standing_s)
    info = b.walk(distance_m, cadence_spm=cadence_spm, step_length_m=step_length_m, turns=turns)
    b.hold(standing_s)
    _walk_summary(b, info)
    params = {"distance_m": distance_m, "cadence_spm": cadence_spm, "step_length_m": step_length_m}
    return take.finish(params)


def _walk_summary(b: _Builder, info: dict[str, Any]) -> None:
    ic = np.asarray(info["initial_contacts_s"])
    cad = 60.0 * (len(ic) - 1) / (ic[-1] - ic[0]) if len(ic) > 1 else float("nan")
    dur = info["end_s"] - info["start_s"]
    b.truth.update(
        walk=info,
        cadence_spm=round(float(cad), 3),
        speed_mps=round(info["distance_m"] / dur, 4),
        distance_m=info["distance_m"],
        n_steps=info["n_steps"],
    )


def sit_to_stand(
    *,
    sit_s: float = 4.0,
    stand_s: float = 4.0,
    sts_duration_s: float = 2.0,
    sit_again: bool = True,
    **options: Unpack[ScenarioOptions],
) -> MotionData:
    """Sit, stand up, stand, (sit down, sit). Truth: ``transitions`` (type, start/end)."""
    take = _setup("sit_to_stand", options)
    b, rng = take.b, take.rng
    b.posture = "sit"
    b.hold(sit_s)
    b.sit_to_stand(sts_duration_s, rng.uniform(30, 40))
    b.hold(stand_s)
    if sit_again:
        b.stand_to_sit(sts_duration_s * 1.1, rng.uniform(25, 35))
        b.hold(sit_s)
    _transition_truth(b)
    return take.finish({})


stand_to_sit = sit_to_stand  # one scenario covers both directions


def _transition_truth(b: _Builder) -> None:
    b.truth["transitions"] = [
        {key: e[key] for key in ("type", "start_s", "end_s", "duration_s")}
        for e in b.events
        if e["type"] in ("sit-to-stand", "stand-to-sit")
    ]


def tug(
    *,
    walk_distance_m: float = 3.0,
    cadence_spm: float = 105.0,
    step_length_m: float = 0.6,
    sts_duration_s: float = 1.7,
    turn_duration_s: float = 2.0,
    sit_s: float = 4.0,
    **options: Unpack[ScenarioOptions],
) -> MotionData:
    """Timed Up and Go: sit, stand up, walk 3 m, turn 180, walk back, turn, sit down.

    Truth: ``total_time_s`` (start of the sit-to-stand to the end of the stand-to-sit) and
    the phases of Salarian et al. (2010): ``sit_to_stand_s``, ``walk_out_s``, ``turn_s``,
    ``walk_back_s``, ``turn_to_sit_s``; ``n_steps``, ``cadence_spm``, turn durations and
    peak yaw rates.
    """
    take = _setup("tug", options)
    b, rng = take.b, take.rng
    b.posture = "sit"
    b.hold(sit_s)
    sts_start = b.t
    b.sit_to_stand(sts_duration_s, rng.uniform(30, 40))
    sts_end = b.t
    side = rng.choice([-1.0, 1.0])
    walk_out = b.walk(
        2 * walk_distance_m,
        cadence_spm=cadence_spm,
        step_length_m=step_length_m,
        turns=[(walk_distance_m - 0.3, 180.0 * side, turn_duration_s)],
        end_turn=(180.0 * side, turn_duration_s * 0.8),
    )
    stsi_start = b.t + 0.1
    b.hold(0.1)
    b.stand_to_sit(sts_duration_s * 1.1, rng.uniform(25, 35))
    end = b.t
    b.hold(sit_s)
    t1, t2 = walk_out["turns"]
    ic = np.asarray(walk_out["initial_contacts_s"])
    b.truth.update(
        total_time_s=round(end - sts_start, 4),
        start_s=round(sts_start, 4),
        end_s=round(end, 4),
        sit_to_stand_s=round(sts_end - sts_start, 4),
        walk_out_s=round(t1["start_s"] - sts_end, 4),
        turn_s=t1["duration_s"],
        walk_back_s=round(t2["start_s"] - t1["end_s"], 4),
        turn_to_sit_s=round(end - t2["start_s"], 4),
        stand_to_sit_start_s=round(stsi_start, 4),
        n_steps=len(ic),
        cadence_spm=round(float(60.0 * (len(ic) - 1) / (ic[-1] - ic[0])), 3),
        turns=walk_out["turns"],
        walk=walk_out,
    )
    _transition_truth(b)
    params = {"walk_distance_m": walk_distance_m, "cadence_spm": cadence_spm}
    return take.finish(params)


def _timed_middle(info: dict[str, Any], start_m: float, end_m: float) -> dict[str, float]:
    """Time and speed over ``start_m``-``end_m`` of a walk (the trunk's distance at each
    initial contact is the sum of the steps before it)."""
    ic = np.asarray(info["initial_contacts_s"])
    cum = np.concatenate([[0.0], np.cumsum(info["step_lengths_m"])])[: len(ic)]
    t0, t1 = np.interp([start_m, end_m], cum, ic)
    return {
        "time_s": round(float(t1 - t0), 4),
        "speed_mps": round((end_m - start_m) / (t1 - t0), 4),
    }


def ten_metre_walk(
    *,
    comfortable: tuple[float, float] = (105.0, 0.62),
    fast: tuple[float, float] | None = (125.0, 0.72),
    path_m: float = 14.0,
    standing_s: float = 5.0,
    **options: Unpack[ScenarioOptions],
) -> MotionData:
    """10-metre walk test: a comfortable and a fast walk along a ``path_m`` path, standing
    between them; ``comfortable``/``fast`` are (cadence steps/min, step length m), ``fast``
    ``None`` for one walk.

    Truth: ``trials`` (pace, start_s, end_s, distance_m and the ``time_s``/``speed_mps`` of
    the middle 10 m: 2 m to speed up and 2 m to slow down are not timed),
    ``comfortable_speed_mps``, ``fast_speed_mps``.
    """
    take = _setup("ten_metre_walk", options)
    b = take.b
    trials = []
    paces = [("comfortable", comfortable)] + ([("fast", fast)] if fast else [])
    for pace, (cadence, step) in paces:
        b.hold(standing_s)
        info = b.walk(path_m, cadence_spm=cadence, step_length_m=step)
        timed = _timed_middle(info, 2.0, min(12.0, path_m - 0.5)) if path_m > 4.0 else {}
        trials.append({"pace": pace, **{k: info[k] for k in ("start_s", "end_s", "distance_m")}})
        trials[-1].update(timed)
        b.truth[f"{pace}_speed_mps"] = timed.get("speed_mps")
    b.hold(standing_s)
    b.truth["trials"] = trials
    params = {"comfortable": comfortable, "fast": fast, "path_m": path_m}
    return take.finish(params)


def _chair_cycles(
    b: _Builder,
    rng: np.random.Generator,
    n_stands: int,
    sts_s: float,
    slowing: float,
    stand_pause_s: float = 0.25,
    sit_pause_s: float = 0.2,
) -> list[dict[str, Any]]:
    stands = []
    for i in range(n_stands):
        f = 1.0 + slowing * i / max(n_stands - 1, 1)
        d_up = sts_s * f * rng.uniform(0.92, 1.08)
        b.sit_to_stand(d_up, rng.uniform(25, 35))
        stands.append(b.events[-1])
        b.hold(stand_pause_s * rng.uniform(0.7, 1.3))
        b.stand_to_sit(d_up * rng.uniform(1.0, 1.15), rng.uniform(20, 30))
        b.hold(sit_pause_s * rng.uniform(0.7, 1.3))
    return stands


def chair_stand_30s(
    *,
    sts_duration_s: float = 1.2,
    slowing: float = 0.3,
    **options: Unpack[ScenarioOptions],
) -> MotionData:
    """30-second chair stand: as many full stands as possible in 30 s (arms crossed).

    The test clock starts at the onset of the first rise. A stand counts when the person is
    more than half-way up by 30 s (CDC STEADI instructions). The cycle after the last counted
    one is stopped seated; the generator keeps every half-way point at least 0.5 s away
    from the 30-s mark so the count is unambiguous.

    Truth: ``n_stands`` (counted within 30 s), ``start_s``, ``window_end_s``, ``stands``.
    """
    take = _setup("chair_stand_30s", options)
    b, rng = take.b, take.rng
    b.posture = "sit"
    b.hold(3.0)
    start = b.t
    stands: list[dict[str, Any]] = []
    i = 0
    while True:
        f = 1.0 + slowing * min(b.t - start, 30.0) / 30.0
        d_up = sts_duration_s * f * rng.uniform(0.92, 1.08)
        # keep the half-way point away from the 30-s boundary
        half = b.t + 0.65 * d_up
        if abs(half - (start + 30.0)) < 0.5:
            b.hold(abs(half - (start + 30.0)) + 0.55)
            half = b.t + 0.65 * d_up
        if half > start + 30.0:
            break
        b.sit_to_stand(d_up, rng.uniform(25, 35))
        stands.append(b.events[-1])
        b.hold(0.25 * rng.uniform(0.7, 1.3))
        b.stand_to_sit(d_up * rng.uniform(1.0, 1.15), rng.uniform(20, 30))
        b.hold(0.2 * rng.uniform(0.7, 1.3))
        i += 1
    b.hold(3.0)
    b.truth.update(
        n_stands=len(stands),
        start_s=round(start, 4),
        window_end_s=round(start + 30.0, 4),
        stands=[
            {"start_s": s["start_s"], "end_s": s["end_s"], "halfway_s": s["halfway_s"]}
            for s in stands
        ],
    )
    _transition_truth(b)
    params = {"sts_duration_s": sts_duration_s, "slowing": slowing}
    return take.finish(params)


def five_times_sts(
    *,
    sts_duration_s: float = 1.2,
    slowing: float = 0.2,
    **options: Unpack[ScenarioOptions],
) -> MotionData:
    """Five-times sit-to-stand: five rises as fast as possible, timed to the fifth stand.

    Timing follows Guralnik et al. (1994, SPPB): from the onset of the first rise to the end
    of the fifth rise (standing). The person then stands 2 s and sits down.

    Truth: ``time_s``, ``start_s``, ``end_s``, ``n_stands`` (5), ``stands``.
    """
    take = _setup("five_times_sts", options)
    b, rng = take.b, take.rng
    b.posture = "sit"
    b.hold(3.0)
    start = b.t
    stands = _chair_cycles(b, rng, 4, sts_duration_s, slowing)
    d_up = sts_duration_s * (1 + slowing) * rng.uniform(0.92, 1.08)
    b.sit_to_stand(d_up, rng.uniform(25, 35))
    stands.append(b.events[-1])
    end = b.t
    b.hold(2.0)
    b.stand_to_sit(d_up * 1.1, 25.0)
    b.hold(3.0)
    b.truth.update(
        time_s=round(end - start, 4),
        start_s=round(start, 4),
        end_s=round(end, 4),
        n_stands=5,
        stands=[{"start_s": s["start_s"], "end_s": s["end_s"]} for s in stands],
    )
    _transition_truth(b)
    params = {"sts_duration_s": sts_duration_s, "slowing": slowing}
    return take.finish(params)


class TimedWalkOptions(ScenarioOptions, total=False):
    """The keywords of the timed walks (:func:`walk_2min`, :func:`walk_6min`), with the
    :class:`ScenarioOptions`.

    Attributes
    ----------
    course_m
        Length of the corridor (default 30 m, ATS 2002), a 180-degree turn at each end.
    cadence_spm, step_length_m
        Steps per minute and step length in m at the start.
    fatigue
        Relative decline of the speed by the end (0 = none).
    turn_duration_s
        Duration of each turn (default 2 s).
    """

    course_m: float
    cadence_spm: float
    step_length_m: float
    fatigue: float
    turn_duration_s: float


def _timed_walk(
    name: str, minutes: float, defaults: TimedWalkOptions, options: TimedWalkOptions
) -> MotionData:
    """Walk ``minutes`` up and down the course: the gait keywords given in ``options``,
    otherwise ``defaults``, otherwise a 30-m course with 2-s turns."""
    gait: TimedWalkOptions = {"course_m": 30.0, "turn_duration_s": 2.0, **defaults, **options}
    course_m = gait.pop("course_m")
    cadence_spm = gait.pop("cadence_spm")
    step_length_m = gait.pop("step_length_m")
    fatigue = gait.pop("fatigue")
    turn_duration_s = gait.pop("turn_duration_s")
    take = _setup(name, gait)
    b, rng = take.b, take.rng
    b.hold(3.0)
    duration = 60.0 * minutes
    # turn around the cone at each end of the course (alternating direction as on a loop)
    approx_steps = duration * cadence_spm / 60.0
    n_turns = int(approx_steps * step_length_m / course_m) + 2
    side = rng.choice([-1.0, 1.0])
    turns = [(course_m * (j + 1), 180.0 * side, turn_duration_s) for j in range(n_turns)]
    info = b.walk(
        duration_s=duration,
        cadence_spm=cadence_spm,
        step_length_m=step_length_m,
        turns=turns,
        fatigue=fatigue,
    )
    b.hold(3.0)
    _walk_summary(b, info)
    # per-minute truth from the initial contacts and step lengths
    ic = np.asarray(info["initial_contacts_s"]) - info["start_s"]
    sl = np.asarray(info["step_lengths_m"])
    per_min = []
    for j in range(int(math.ceil(minutes))):
        sel = (ic >= 60 * j) & (ic < 60 * (j + 1))
        dist = float(sl[sel].sum())
        per_min.append(
            {
                "minute": j + 1,
                "n_steps": int(sel.sum()),
                "cadence_spm": float(sel.sum()),
                "distance_m": round(dist, 3),
                "speed_mps": round(dist / 60.0, 4),
            }
        )
    b.truth.update(
        minutes=minutes,
        course_m=course_m,
        per_minute=per_min,
        n_turns=len(info["turns"]),
        fatigue=fatigue,
    )
    params = {
        "minutes": minutes,
        "course_m": course_m,
        "cadence_spm": cadence_spm,
        "step_length_m": step_length_m,
        "fatigue": fatigue,
    }
    return take.finish(params)


def walk_2min(**options: Unpack[TimedWalkOptions]) -> MotionData:
    """Two-minute walk on a ``course_m`` corridor with 180-degree turns at the ends
    (defaults: 108 steps/min, 0.64-m steps, no fatigue).

    Truth: ``distance_m``, ``per_minute`` (steps, distance, speed), ``walk`` details.
    """
    defaults: TimedWalkOptions = {"cadence_spm": 108.0, "step_length_m": 0.64, "fatigue": 0.0}
    return _timed_walk("walk_2min", 2.0, defaults, options)


def walk_6min(**options: Unpack[TimedWalkOptions]) -> MotionData:
    """Six-minute walk (ATS 2002 course of 30 m) with optional fatigue (speed decline;
    defaults: 110 steps/min, 0.66-m steps, 15 % slower by the end).

    Truth: ``distance_m``, ``per_minute`` (steps, distance, speed), ``fatigue``.
    """
    defaults: TimedWalkOptions = {"cadence_spm": 110.0, "step_length_m": 0.66, "fatigue": 0.15}
    return _timed_walk("walk_6min", 6.0, defaults, options)


#: Named slow-gait presets for :func:`slow_walk` (speed m/s, step time s and trunk/impact
#: settings). Numbers are of the order reported for these groups, not fitted to any
#: recording: older adults and people after spinal-tumour treatment walk at 0.4-0.8 m/s;
#: people with MS (EDSS 6) or after stroke at 0.15-0.5 m/s with asymmetric steps
#: (step-time asymmetry 0.1-0.4: Patterson et al. 2008); walker users at 0.2-0.4 m/s with
#: a damped, forward-leaning trunk; shuffling (Parkinson's disease) with short steps and
#: flat-foot landings (Morris et al. 1994).
SLOW_GAIT: dict[str, dict[str, float]] = {
    "slow": {"speed_mps": 0.5, "step_time_s": 0.75},
    "very-slow": {"speed_mps": 0.25, "step_time_s": 1.1, "trunk_scale": 0.8},
    "crawl": {"speed_mps": 0.15, "step_time_s": 1.5, "trunk_scale": 0.7, "impact_scale": 0.7},
    "longest-steps": {"speed_mps": 0.15, "step_time_s": 2.0, "trunk_scale": 0.8},
    "asymmetric": {"speed_mps": 0.3, "step_time_s": 1.0, "asymmetry": 0.35},
    "shuffle": {
        "speed_mps": 0.25,
        "step_time_s": 0.8,
        "impact_scale": 0.3,
        "trunk_scale": 0.6,
    },
    "walker": {
        "speed_mps": 0.3,
        "step_time_s": 1.0,
        "trunk_scale": 0.45,
        "impact_scale": 0.6,
        "lean_deg": 15.0,
    },
}


_SLOW_DEFAULTS = {
    "speed_mps": 0.3,
    "step_time_s": 1.0,
    "asymmetry": 0.0,
    "impact_scale": 1.0,
    "trunk_scale": 1.0,
    "lean_deg": 0.0,
}


def slow_walk(
    preset: str | None = None,
    *,
    speed_mps: float | None = None,
    step_time_s: float | None = None,
    walk_s: float = 30.0,
    pauses_s: tuple[float, ...] = (),
    asymmetry: float | None = None,
    impact_scale: float | None = None,
    trunk_scale: float | None = None,
    lean_deg: float | None = None,
    step_time_cv: float = 0.05,
    step_length_cv: float = 0.06,
    standing_s: float = 4.0,
    **options: Unpack[ScenarioOptions],
) -> MotionData:
    """Slow, short-stepped or impaired walking with known truth; optional pauses inside.

    Stand ``standing_s``, then walk ``walk_s`` seconds in ``len(pauses_s) + 1`` equal
    stretches separated by standing pauses of the given durations, then stand. A preset
    (:data:`SLOW_GAIT`) sets the gait parameters; a keyword given overrides it; the rest
    default to 0.3 m/s, 1.0-s steps, symmetric, full impacts and trunk motion, upright.

    Truth: ``walks`` (one per stretch: start/end, initial contacts, step lengths, distance),
    ``bouts`` (one per stretch as a walking-bout reference: first to last contact, cadence,
    speed), ``initial_contacts_s`` (all), ``cadence_spm`` (mean over stretches, from the contacts),
    ``speed_mps`` (distance / walking time), ``step_length_m``, ``step_time_s``,
    ``pauses`` (start/end of each pause).
    """
    if preset is not None and preset not in SLOW_GAIT:
        raise ValueError(f"unknown slow-gait preset {preset!r}; known: {sorted(SLOW_GAIT)}")
    given = {
        "speed_mps": speed_mps,
        "step_time_s": step_time_s,
        "asymmetry": asymmetry,
        "impact_scale": impact_scale,
        "trunk_scale": trunk_scale,
        "lean_deg": lean_deg,
    }
    kw = {**_SLOW_DEFAULTS, **SLOW_GAIT.get(preset or "", {})}
    kw.update({k: float(v) for k, v in given.items() if v is not None})
    if kw["speed_mps"] <= 0 or kw["step_time_s"] <= 0:
        raise ValueError("speed_mps and step_time_s must be positive")
    take = _setup("slow_walk", options)
    b = take.b
    b.hold(standing_s)
    cadence = 60.0 / kw["step_time_s"]
    step_len = kw["speed_mps"] * kw["step_time_s"]
    # double support lasts about 20 % of the gait cycle at ordinary speed and grows, in time
    # and as a share of the cycle, as walking slows (Williams & Martin 2019, J Biomech); the
    # model takes 20 % at 1.2 m/s rising linearly to 45 % at rest (an assumption of the
    # model, not a fit); one double-support period per step, the trunk lowest in its middle
    ds = float(np.clip(0.2 + 0.25 * (1.0 - kw["speed_mps"] / 1.2), 0.2, 0.45))
    parts = len(pauses_s) + 1
    walks, pauses = [], []
    for j in range(parts):
        info = b.walk(
            duration_s=walk_s / parts,
            cadence_spm=cadence,
            step_length_m=step_len,
            step_time_cv=step_time_cv,
            step_length_cv=step_length_cv,
            asymmetry=kw["asymmetry"],
            impact_scale=kw["impact_scale"],
            trunk_scale=kw["trunk_scale"],
            lean_deg=kw["lean_deg"],
            loading_fraction=ds / 2.0,
        )
        walks.append(info)
        if j < len(pauses_s):
            t0 = b.t
            b.hold(float(pauses_s[j]))
            pauses.append({"start_s": round(t0, 4), "end_s": round(b.t, 4)})
    b.hold(standing_s)
    b.truth.update(_walks_truth(walks))
    b.truth.update(step_length_m=round(step_len, 4), step_time_s=kw["step_time_s"], pauses=pauses)
    params = {"preset": preset, "walk_s": walk_s, "pauses_s": list(pauses_s), **kw}
    return take.finish(params)


def _walks_truth(walks: list[dict[str, Any]]) -> dict[str, Any]:
    """Truth of walking stretches (:meth:`_Builder.walk` infos): the stretches, one
    walking-bout reference a stretch with two contacts or more (first to last contact,
    cadence from the contacts, speed = distance / walking time), every contact, mean
    cadence, speed and distance."""
    ics = [t for w in walks for t in w["initial_contacts_s"]]
    bouts = []
    for w in walks:
        c = w["initial_contacts_s"]
        if len(c) > 1:
            bouts.append(
                {
                    "start_s": c[0],
                    "end_s": c[-1],
                    "cadence_spm": 60.0 * (len(c) - 1) / (c[-1] - c[0]),
                    "speed_mps": w["distance_m"] / (w["end_s"] - w["start_s"]),
                }
            )
    cads = [bout["cadence_spm"] for bout in bouts]
    dist = sum(w["distance_m"] for w in walks)
    dur = sum(w["end_s"] - w["start_s"] for w in walks)
    return {
        "walks": walks,
        "bouts": bouts,
        "initial_contacts_s": ics,
        "n_steps": len(ics),
        "cadence_spm": round(float(np.mean(cads)), 3) if cads else float("nan"),
        "speed_mps": round(dist / dur, 4),
        "distance_m": round(dist, 3),
    }


def demo(**options: Unpack[ScenarioOptions]) -> MotionData:
    """A loop for the demo: sit, stand up, stand, walk 10 m, turn, walk back, turn, stand, sit.

    Starts and ends seated in the same posture, so :class:`ScenarioSource` can loop it
    seamlessly.
    """
    take = _setup("demo", options)
    b = take.b
    b.posture = "sit"
    b.hold(4.0)
    b.sit_to_stand(2.0, 35.0)
    b.hold(5.0)
    info = b.walk(
        20.0,
        cadence_spm=106.0,
        step_length_m=0.62,
        turns=[(10.0, 180.0, 2.0)],
        end_turn=(-180.0, 2.0),
    )
    b.hold(5.0)
    b.stand_to_sit(2.2, 30.0)
    b.hold(3.0)
    _walk_summary(b, info)
    _transition_truth(b)
    return take.finish({})


SCENARIOS: dict[str, Callable[..., MotionData]] = {
    "quiet_stance": quiet_stance,
    "four_stage": four_stage,
    "walk": walk,
    "sit_to_stand": sit_to_stand,
    "tug": tug,
    "chair_stand_30s": chair_stand_30s,
    "five_times_sts": five_times_sts,
    "walk_2min": walk_2min,
    "walk_6min": walk_6min,
    "slow_walk": slow_walk,
    "ten_metre_walk": ten_metre_walk,
    "single_leg_stance": single_leg_stance,
    "turn_360": turn_360,
    "demo": demo,
}


#: Other accepted spellings (hyphens work too: ``"quiet-stance"``).
ALIASES: dict[str, str] = {
    "quiet": "quiet_stance",
    "stance": "quiet_stance",
    "sway": "quiet_stance",
    "sit_stand": "sit_to_stand",
    "chair_stand": "chair_stand_30s",
    "five_sts": "five_times_sts",
    "5xsts": "five_times_sts",
    "walk_6": "walk_6min",
    "walk_2": "walk_2min",
    "repeated_sit_to_stand": "five_times_sts",
}

#: The clinical test each test scenario is a run of (test key -> scenario name). The
#: scenario recordings (``recordings/make_scenarios.py``) and the recording fuzzer take the
#: test keys from here: sensors may not import the clinical-test registry
#: (:mod:`analysis.clinical.registry`), so a test key is spelled in its analysis module and
#: here only.
TEST_SCENARIOS: dict[str, str] = {
    "sway": "quiet_stance",
    "four-stage": "four_stage",
    "tug": "tug",
    "chair-stand-30s": "chair_stand_30s",
    "five-times-sts": "five_times_sts",
    "walk-2min": "walk_2min",
    "walk-6min": "walk_6min",
    "ten-metre-walk": "ten_metre_walk",
    "single-leg-stance": "single_leg_stance",
    "turn-360": "turn_360",
}

#: The shipped scenario recordings (``recordings/scenarios/<name>.poise``): name -> (test
#: key, the scenario's keyword arguments). Mounts and rates vary on purpose; ``"random:N"``
#: is :func:`random_mount` with seed N.
RECORDINGS: dict[str, tuple[str, dict[str, Any]]] = {
    # the four mCTSIB conditions in the order of _SWAY_SCALE, seeds 101-104
    **{
        f"stance-{eyes}-{surface}": (
            "sway",
            {
                "duration_s": 30.0,
                "eyes": eyes,
                "surface": surface,
                "seed": 101 + i,
                "tilt_deg": (0, 12, 0),
            },
        )
        for i, (eyes, surface) in enumerate(_SWAY_SCALE)
    },
    "four-stage-fail-tandem": (
        "four-stage",
        {"fail_stage": 3, "fail_time_s": 6.4, "seed": 105, "mount": "upside_down"},
    ),
    "tug": (
        "tug",
        {"seed": 106, "sampling_rate_hz": 200.0, "mount": "sideways", "tilt_deg": (5, 10, 0)},
    ),
    "chair-stand-30s": (
        "chair-stand-30s",
        {"seed": 107, "sts_duration_s": 1.1, "tilt_deg": (0, 15, 0)},
    ),
    "five-times-sts": (
        "five-times-sts",
        {"seed": 108, "sampling_rate_hz": 50.0, "sts_duration_s": 1.3, "mount": "random:8"},
    ),
    "walk-2min": ("walk-2min", {"seed": 109, "mount": "random:9"}),
    "walk-6min-fatigue": ("walk-6min", {"seed": 110, "fatigue": 0.18, "tilt_deg": (0, 8, 0)}),
}


def make_scenario(name: str, **kwargs: Any) -> MotionData:
    """Build a scenario by name (see :data:`SCENARIOS` and :data:`ALIASES`)."""
    key = str(name).strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    try:
        fn = SCENARIOS[key]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {sorted(SCENARIOS)}") from None
    return fn(**kwargs)


# --------------------------------------------------------------------------- streaming


class ScenarioSource:
    """Stream a scenario block by block (the virtual wearable's motion source).

    The noise-free motion is built once; every ``read`` adds fresh sensor noise from the
    source's own generator, so a looping source never repeats its noise.

    Parameters
    ----------
    name
        Scenario name (see :data:`SCENARIOS`).
    sampling_rate_hz
        Output rate.
    seed
        Seed for the motion and the noise (deterministic).
    loop
        Start again at the end (the demo loop starts and ends in the same posture).
    **params
        Passed to the scenario function (e.g. ``mount=``, ``eyes=``).

    Examples
    --------
    >>> src = ScenarioSource("demo", 100.0, seed=1)
    >>> acc, gyr = src.read(50)
    >>> acc.shape
    (50, 3)
    """

    def __init__(
        self,
        name: str = "demo",
        sampling_rate_hz: float = 100.0,
        seed: int | None = 0,
        *,
        loop: bool = True,
        **params: Any,
    ) -> None:
        self.name = name
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.seed = seed
        self.loop = loop
        md = make_scenario(
            name, sampling_rate_hz=self.sampling_rate_hz, seed=seed, noise=False, **params
        )
        self._acc = md.acc_mps2
        self._gyr = md.gyr_radps
        self.truth = md.truth
        self._rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])
        self._bias_acc = self._rng.uniform(-0.05, 0.05, 3)
        self._bias_gyr = self._rng.uniform(-0.005, 0.005, 3)
        self._pos = 0
        self.samples_read = 0

    @property
    def n_samples(self) -> int:
        """Samples in one pass of the scenario."""
        return int(self._acc.shape[0])

    @property
    def duration_s(self) -> float:
        """Duration of one pass (s)."""
        return self.n_samples / self.sampling_rate_hz

    @property
    def finished(self) -> bool:
        """True when a non-looping source has delivered everything."""
        return not self.loop and self._pos >= self.n_samples

    def read(self, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """Next ``n_samples`` rows of (acc_mps2, gyr_radps); fewer at the end if not looping."""
        n = int(n_samples)
        if n < 0:
            raise ValueError(f"n_samples must be >= 0, got {n_samples}")
        N = self.n_samples
        if self.loop:
            idx = (self._pos + np.arange(n)) % N
            self._pos = (self._pos + n) % N
        else:
            idx = np.arange(self._pos, min(self._pos + n, N))
            self._pos += len(idx)
        m = len(idx)
        acc = self._acc[idx] + self._bias_acc + 0.015 * self._rng.standard_normal((m, 3))
        gyr = self._gyr[idx] + self._bias_gyr + 0.004 * self._rng.standard_normal((m, 3))
        self.samples_read += m
        return acc, gyr

    def reset(self) -> None:
        """Go back to the start (noise continues from the generator)."""
        self._pos = 0
