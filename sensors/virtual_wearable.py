"""Virtual sensors: Bumble GATT servers that behave like the real devices.

:class:`VirtualSensor` is the machinery every virtual twin shares: its own virtual
controller on a :class:`~sensors.bumble_backend.VirtualLink`, real ATT/GATT to whatever
central connects (a bleak client through the Bumble backend, in this process or through a
served controller in another one), advertising, one central at a time, re-advertising
after a link loss, the sampling clock, the motion source, fault injection and the ground
truth. :class:`VirtualWearable` is the Poise wearable (``firmware_protocol/SPEC.md``); the
vendor twins (``sensors/devices/polar/twin.py``, ``sensors/devices/metawear/twin.py``)
subclass the same base with their vendor's services, commands and frame encoding.

The Poise wearable advertises the Poise service UUID and a ``Poise-XXXX`` name, exposes
Device Information, Battery and the Poise service (data, control point, status, info),
answers control point commands with indications, and streams data notifications sized
to the negotiated MTU.

Timing. Samples are paced by the sensor's own simulated clock, which runs
``drift_ppm`` parts per million fast (or slow) against the host clock. Sample ``i`` of a
stream is taken at sensor time ``t0 + i / rate``; a packet leaves when its last sample
exists. One timer per packet interval sends the packets that are due (a burst if the loop
was late): there is no per-sample Python loop, the samples are read, scaled and packed
with numpy. Poise packets hold ``k`` samples with ``k`` chosen so that a packet interval
is at most :data:`TARGET_PACKET_INTERVAL_S` (4 samples = 20 ms at 200 Hz), never more
than fit the MTU; at MTU 23 the compact one-sample packet is used.

Link loss model (what a client sees, documented in docs/bumble-backend.md). Streaming is
a sensor state, not a connection state: after START_STREAM the sensor samples, numbers
packets and advances its clock until STOP_STREAM, whether or not a central is connected
and subscribed. Packets produced while nobody listens are counted (``undelivered`` in the
ground truth, ``dropped_samples`` in the status characteristic) and discarded. A client
that reconnects subscribes and sends START_STREAM again; the sensor answers SUCCESS and
keeps its sequence numbers and timestamps running, so the jump in ``seq`` and timestamp
tells the client exactly how many samples it missed.

Fault injection (:class:`FaultConfig`): dropped packets (lost "in the air", the sensor
does not know), corrupted bytes (CRC fails at the client), clock drift, forced link loss
at given times or periodically, battery drain. Every injected fault and every produced
sample is recorded in :class:`WearableTruth` for tests.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from bumble.att import ATT_READ_NOT_PERMITTED_ERROR, ATT_WRITE_NOT_PERMITTED_ERROR, ATT_Error
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service

from firmware_protocol import codec, gatt
from firmware_protocol.gatt import DEFAULT_ATT_MTU
from firmware_protocol.types import STANDARD_GRAVITY_MPS2, SensorConfig
from sensors.bumble_backend.link import REASON_CONNECTION_TIMEOUT, VirtualLink, cancel_tasks

logger = logging.getLogger(__name__)

#: Longest packet interval the wearable aims for (latency vs packets per second).
TARGET_PACKET_INTERVAL_S = 0.020
#: Motion read ahead from the source per refill, seconds of samples.
COUNTS_CHUNK_S = 0.5
#: Advertising interval in ms (a reconnect waits at most this long for an advertisement).
ADVERTISING_INTERVAL_MS = 50.0
#: Battery level at or below which the status carries LOW_BATTERY.
LOW_BATTERY_PERCENT = 15
#: ATT opcode of a Handle Value Notification and the ATT L2CAP channel id.
_ATT_NOTIFY = 0x1B
_ATT_CID = 0x0004
_TS_MASK = 0xFFFFFFFF


# ----------------------------------------------------------------------------- sources


class MotionSource(Protocol):
    """Anything that yields consecutive IMU samples at a fixed rate."""

    def read(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Next ``n`` samples: ``(acc_mps2 (n, 3), gyr_radps (n, 3))``."""
        ...


class QuietStanceSource:
    """Built-in synthetic quiet standing: gravity on +x (up) plus small smooth sway.

    Sway is a sum of three low-frequency sinusoids (0.1-1 Hz, a few cm/s^2) on the AP (z)
    and ML (y) axes and white sensor noise; deterministic for a seed. It exists so the
    emulator works without ``sensors.scenarios``; richer motions come from there.
    """

    def __init__(self, sampling_rate_hz: float, seed: int = 0) -> None:
        self.sampling_rate_hz = float(sampling_rate_hz)
        rng = np.random.default_rng(seed)
        self._freqs = rng.uniform(0.1, 1.0, size=(3, 2))
        self._phases = rng.uniform(0, 2 * np.pi, size=(3, 2))
        self._amps = rng.uniform(0.01, 0.05, size=(3, 2))
        self._rng = rng
        self._i = 0

    def read(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Next ``n`` samples (vectorised)."""
        t = (self._i + np.arange(n)) / self.sampling_rate_hz
        self._i += n
        arg = 2 * np.pi * self._freqs[None] * t[:, None, None] + self._phases[None]
        sway = (self._amps[None] * np.sin(arg)).sum(axis=1)  # (n, 2): ML, AP
        dsway = (self._amps[None] * 2 * np.pi * self._freqs[None] * np.cos(arg)).sum(axis=1)
        acc = np.empty((n, 3))
        acc[:, 0] = STANDARD_GRAVITY_MPS2
        acc[:, 1:] = sway
        acc += self._rng.normal(0.0, 0.01, size=(n, 3))
        gyr = np.zeros((n, 3))
        gyr[:, 1] = dsway[:, 1] * 0.1  # pitch rate follows AP sway
        gyr[:, 2] = dsway[:, 0] * 0.1  # roll rate follows ML sway
        gyr += self._rng.normal(0.0, 0.002, size=(n, 3))
        return acc, gyr


class ArraySource:
    """Replays recorded arrays (looping), resampled to the wearable's rate.

    Parameters
    ----------
    acc_mps2, gyr_radps
        (n, 3) arrays at ``source_rate_hz``; NaN rows (gaps) are filled by linear
        interpolation between the valid neighbours.
    source_rate_hz
        Rate of the arrays.
    sampling_rate_hz
        Rate the wearable streams at; if it differs, the arrays are linearly resampled
        once, at construction.
    """

    def __init__(
        self,
        acc_mps2: np.ndarray,
        gyr_radps: np.ndarray,
        source_rate_hz: float,
        sampling_rate_hz: float,
    ) -> None:
        acc = np.asarray(acc_mps2, dtype=np.float64)
        gyr = np.asarray(gyr_radps, dtype=np.float64)
        if acc.ndim != 2 or acc.shape[1] != 3 or acc.shape != gyr.shape:
            raise ValueError(
                f"source arrays must both be (n, 3), got acc {acc.shape} and gyr {gyr.shape}"
            )
        data = np.hstack([acc, gyr])
        valid = ~np.isnan(data).any(axis=1)
        if valid.sum() < 2:
            raise ValueError("source recording has fewer than 2 complete samples to replay")
        t_src = np.arange(len(data)) / float(source_rate_hz)
        duration = t_src[-1]
        t_out = np.arange(0.0, duration, 1.0 / float(sampling_rate_hz))
        out = np.empty((len(t_out), 6))
        for j in range(6):  # 6 columns, not a per-sample loop
            out[:, j] = np.interp(t_out, t_src[valid], data[valid, j])
        self._data = out
        self._i = 0
        self.sampling_rate_hz = float(sampling_rate_hz)

    @property
    def n_samples(self) -> int:
        """Samples in one pass of the (resampled) recording."""
        return len(self._data)

    def read(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Next ``n`` samples, wrapping around at the end of the recording."""
        idx = (self._i + np.arange(n)) % len(self._data)
        self._i = (self._i + n) % len(self._data)
        block = self._data[idx]
        return block[:, :3], block[:, 3:]


SourceFactory = Callable[[float], MotionSource]
"""Makes a motion source for a sampling rate (called again when the rate changes)."""


def scenario_source_factory(name: str, seed: int = 0) -> SourceFactory:
    """Source factory for a named synthetic scenario.

    A ``sensors.scenarios.ScenarioSource`` (names as in ``sensors.scenarios.SCENARIOS``;
    ``-`` may replace ``_``, ``quiet`` and ``stance`` mean ``quiet_stance``).
    The motion is built when the factory is called, i.e. at START_STREAM.

    Raises
    ------
    ValueError
        If the scenario name is unknown (the message lists the known ones).
    """
    from sensors.scenarios import SCENARIOS, ScenarioSource

    key = name.strip().lower().replace("-", "_")
    key = {"quiet": "quiet_stance", "stance": "quiet_stance"}.get(key, key)
    if key not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    return lambda rate: ScenarioSource(key, rate, seed)


def array_source_factory(
    acc_mps2: np.ndarray, gyr_radps: np.ndarray, source_rate_hz: float
) -> SourceFactory:
    """Source factory replaying arrays (e.g. one sensor of a recording)."""
    ArraySource(acc_mps2, gyr_radps, source_rate_hz, source_rate_hz)  # validate early
    return lambda rate: ArraySource(acc_mps2, gyr_radps, source_rate_hz, rate)


# ------------------------------------------------------------------------------ faults

_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|min)?\s*$")


def _parse_duration_s(text: str, key: str) -> float:
    m = _DURATION_RE.match(text)
    if not m:
        raise ValueError(f"fault {key}={text!r}: expected a duration like 3s, 500ms or 1min")
    value = float(m.group(1))
    unit = m.group(2) or "s"
    return value * {"ms": 1e-3, "s": 1.0, "min": 60.0}[unit]


def _parse_fraction(text: str, key: str) -> float:
    try:
        value = float(text.strip().rstrip("%")) / (100.0 if text.strip().endswith("%") else 1.0)
    except ValueError:
        raise ValueError(f"fault {key}={text!r}: expected a fraction like 0.05 or 5%") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"fault {key}={text!r}: fraction must be within 0..1")
    return value


@dataclass(frozen=True)
class FaultConfig:
    """Faults a virtual wearable injects.

    Attributes
    ----------
    drop
        Fraction of data packets lost in the air (0..1).
    corrupt
        Fraction of data packets with one byte flipped (the CRC catches it).
    disconnect_at_s
        Link losses at these times, seconds after the first START_STREAM.
    disconnect_every_s
        A link loss every so many seconds after the first START_STREAM (None: never).
    drift_ppm
        Sensor clock error in parts per million (positive: the sensor clock runs fast,
        so it takes more samples per host second than nominal).
    battery_drain_pct_per_min
        Battery drain while streaming, percent per minute.
    reconnect_delay_s
        Time after a link loss before the wearable advertises again.
    """

    drop: float = 0.0
    corrupt: float = 0.0
    disconnect_at_s: tuple[float, ...] = ()
    disconnect_every_s: float | None = None
    drift_ppm: float = 0.0
    battery_drain_pct_per_min: float = 0.0
    reconnect_delay_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("drop", "corrupt"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault {name} must be within 0..1, got {value}")
        if self.disconnect_every_s is not None and self.disconnect_every_s <= 0:
            raise ValueError(f"disconnect_every_s must be > 0, got {self.disconnect_every_s}")
        if abs(self.drift_ppm) > 10_000:
            raise ValueError(f"drift_ppm must be within +-10000, got {self.drift_ppm}")

    @classmethod
    def parse(cls, text: str | None) -> FaultConfig:
        """Parse ``"drop=0.05,disconnect-every=3s,corrupt=0.01,drift-ppm=100"``.

        Keys: ``drop``, ``corrupt`` (fractions or percent), ``disconnect-every`` (duration),
        ``disconnect-at`` (durations separated by ``;`` or ``+``), ``drift-ppm``,
        ``battery-drain`` (percent per minute), ``reconnect-delay`` (duration).

        Raises
        ------
        ValueError
            Naming the offending key and value.
        """
        if not text or not text.strip():
            return cls()
        kwargs: dict[str, Any] = {}
        for item in text.split(","):
            if not item.strip():
                continue
            if "=" not in item:
                raise ValueError(f"fault {item.strip()!r}: expected key=value")
            key, value = (s.strip() for s in item.split("=", 1))
            key = key.lower().replace("_", "-")
            if key == "drop":
                kwargs["drop"] = _parse_fraction(value, key)
            elif key == "corrupt":
                kwargs["corrupt"] = _parse_fraction(value, key)
            elif key == "disconnect-every":
                kwargs["disconnect_every_s"] = _parse_duration_s(value, key)
            elif key == "disconnect-at":
                parts = [p for p in re.split(r"[;+ ]", value) if p]
                kwargs["disconnect_at_s"] = tuple(_parse_duration_s(p, key) for p in parts)
            elif key in ("drift-ppm", "drift"):
                try:
                    kwargs["drift_ppm"] = float(value.removesuffix("ppm"))
                except ValueError:
                    raise ValueError(f"fault {key}={value!r}: expected a number (ppm)") from None
            elif key == "battery-drain":
                try:
                    kwargs["battery_drain_pct_per_min"] = float(value.removesuffix("%/min"))
                except ValueError:
                    raise ValueError(
                        f"fault {key}={value!r}: expected percent per minute"
                    ) from None
            elif key == "reconnect-delay":
                kwargs["reconnect_delay_s"] = _parse_duration_s(value, key)
            else:
                raise ValueError(
                    f"unknown fault {key!r} (known: drop, corrupt, disconnect-every, "
                    "disconnect-at, drift-ppm, battery-drain, reconnect-delay)"
                )
        return cls(**kwargs)


# ------------------------------------------------------------------------ ground truth


@dataclass
class WearableTruth:
    """What a virtual wearable really did (for tests and benchmarks).

    Packet lists hold ``(packet id, key of the first sample, n_samples)``: for a Poise
    wearable the 16-bit seq and the unwrapped (64-bit) sensor timestamp of the first
    sample; for the vendor twins the packet number in the session and the first
    sample's index in the session (see each twin's ``_packet_record``).

    Attributes
    ----------
    samples_produced, packets_produced
        Everything sampled while streaming (all sessions).
    sent
        Packets handed to the link intact or corrupted (``packets_sent``/``samples_sent``).
    dropped
        Packets lost in the air by fault injection (the sensor does not know).
    undelivered
        Packets produced while no central was connected and subscribed (the sensor
        knows: they count in the status' ``dropped_samples``).
    corrupted
        Packets sent with a flipped byte.
    disconnect_times_s
        Host (event loop) time of every forced link loss.
    first_key_sent, last_key_sent
        Key (the second item of a packet record) of the first and the last packet sent
        (``None`` before any): what a protocol without a start or end marker cannot see
        lies before and after them.
    send_times_s
        Optional: host time each sent packet left (``record_send_times=True``).
    max_timer_lag_s
        Optional (``record_send_times=True``): the longest the event loop ran the
        sensor's packet timer late, seconds (stalls: GC, other processes); a benchmark
        resets it to 0 to measure a window.
    """

    name: str
    address: str
    sampling_rate_hz: float = 0.0
    drift_ppm: float = 0.0
    clock_offset_us: int = 0
    samples_produced: int = 0
    packets_produced: int = 0
    packets_sent: int = 0
    samples_sent: int = 0
    dropped: list[tuple[int, int, int]] = field(default_factory=list)
    undelivered: list[tuple[int, int, int]] = field(default_factory=list)
    corrupted: list[tuple[int, int, int]] = field(default_factory=list)
    disconnect_times_s: list[float] = field(default_factory=list)
    connections: int = 0
    starts: int = 0
    stops: int = 0
    identify_count: int = 0
    send_times_s: dict[int, float] = field(default_factory=dict)
    max_timer_lag_s: float = 0.0
    first_key_sent: int | None = None
    last_key_sent: int | None = None

    @property
    def samples_dropped(self) -> int:
        """Samples in packets lost in the air."""
        return sum(n for _, _, n in self.dropped)

    @property
    def samples_undelivered(self) -> int:
        """Samples produced while nobody listened."""
        return sum(n for _, _, n in self.undelivered)

    @property
    def samples_corrupted(self) -> int:
        """Samples in corrupted packets."""
        return sum(n for _, _, n in self.corrupted)

    @property
    def dropped_seqs(self) -> list[int]:
        """Sequence numbers of packets lost in the air."""
        return [s for s, _, _ in self.dropped]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (lists of packets included)."""
        return {
            "name": self.name,
            "address": self.address,
            "sampling_rate_hz": self.sampling_rate_hz,
            "drift_ppm": self.drift_ppm,
            "clock_offset_us": self.clock_offset_us,
            "samples_produced": self.samples_produced,
            "packets_produced": self.packets_produced,
            "samples_sent": self.samples_sent,
            "packets_sent": self.packets_sent,
            "samples_dropped": self.samples_dropped,
            "samples_undelivered": self.samples_undelivered,
            "samples_corrupted": self.samples_corrupted,
            "dropped": [list(p) for p in self.dropped],
            "undelivered": [list(p) for p in self.undelivered],
            "corrupted": [list(p) for p in self.corrupted],
            "disconnect_times_s": list(self.disconnect_times_s),
            "connections": self.connections,
            "starts": self.starts,
            "stops": self.stops,
        }


# ----------------------------------------------------------------------- twin machinery


class VirtualSensor:
    """What every virtual twin shares: a Bumble device on a virtual controller, advertising,
    one central at a time, re-advertising after a link loss, the sampling clock, the
    motion source, fault injection and the ground truth.

    A twin of a device subclasses it and provides the vendor's GATT layout
    (:meth:`_build_gatt`, which sets :attr:`data_char`), advertisement
    (:meth:`_advertising_data`, :meth:`_scan_response_data`), command handling and frame
    encoding (:meth:`samples_per_packet`, :meth:`_quantise`, :meth:`_encode`). The base
    paces the samples: sample ``i`` of a session is taken at device time
    ``t0 + i / rate``; a packet (one or more notifications) leaves when its last sample
    exists; one timer per packet interval sends the packets that are due, vectorised (no
    per-sample Python loop).

    Streaming is a device state, not a connection state: after the host starts it, the
    twin samples until the host stops it, whether or not a central is connected and
    listening (:meth:`_listening`). Packets produced while nobody listens are counted as
    ``undelivered`` in the ground truth and discarded; a packet any of whose notifications
    is dropped by fault injection is ``dropped``.

    Parameters
    ----------
    link
        The virtual link the twin's controller joins.
    name, address
        Advertised name and random static address (``"D0:50:00:00:00:01"``).
    source_factory
        Makes the motion source for a rate (:func:`scenario_source_factory`,
        :func:`array_source_factory`); default: built-in quiet standing.
    rate_hz
        Initial sampling rate (the host's configuration may change it).
    faults, seed, battery_percent, record_send_times, rssi_dbm
        Fault injection, seed of fault decisions and clock offsets, initial battery,
        keep every packet's send time (latency benchmarks), RSSI scanners report.
    """

    #: Demo kind (``sensors.devices.register_twin``).
    kind: str = ""
    firmware_version = "1.0.0"

    def __init__(
        self,
        link: VirtualLink,
        name: str,
        address: str,
        *,
        source_factory: SourceFactory | None = None,
        rate_hz: float = 100.0,
        faults: FaultConfig | None = None,
        seed: int = 0,
        battery_percent: float = 100.0,
        record_send_times: bool = False,
        rssi_dbm: int = -55,
    ) -> None:
        self.link = link
        self.name = name
        self.address = address
        self.faults = faults or FaultConfig()
        self.seed = seed
        self._rate_hz = float(rate_hz)
        self._source_factory = source_factory or (lambda rate: QuietStanceSource(rate, seed))
        self._source: MotionSource | None = None
        self._source_rate: float | None = None
        self._rng = np.random.default_rng(seed)
        self._battery0 = float(battery_percent)
        self._record_send_times = record_send_times
        self.rssi_dbm = int(rssi_dbm)
        self.truth = WearableTruth(
            name=name,
            address=address,
            sampling_rate_hz=self._rate_hz,
            drift_ppm=self.faults.drift_ppm,
            clock_offset_us=int(self._rng.integers(0, 2**32)),
        )
        self._clock_rate = 1.0 + self.faults.drift_ppm * 1e-6
        self._t_clock_ref = 0.0  # host time where the device clock reads its offset
        self.device: Device | None = None
        self.controller: Any = None
        self.connection: Connection | None = None
        self.data_char: Characteristic | None = None
        self._data_subscribed = False
        self._last_mtu = DEFAULT_ATT_MTU
        self.streaming = False
        self._stream_t0 = 0.0  # host time of the first sample of the current session
        self._emitted = 0  # samples emitted in the current session
        self._packet_no = 0  # packets produced in the current session
        self._first_start_s: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0  # loop time the packet timer is due
        self._fault_timers: list[asyncio.TimerHandle] = []
        self._battery_timer: asyncio.TimerHandle | None = None
        self._readvertise: asyncio.TimerHandle | None = None
        self._streaming_seconds = 0.0
        self._streaming_since: float | None = None
        self._dropped_since_start = 0
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._q_acc: np.ndarray = np.empty((0, 3))
        self._q_gyr: np.ndarray = np.empty((0, 3))
        self._q_pos = 0

    # -- what a twin provides ---------------------------------------------------------

    def _build_gatt(self) -> None:
        """Add the vendor's services to :attr:`device`; set :attr:`data_char`."""
        raise NotImplementedError

    def _advertising_data(self) -> bytes:
        raise NotImplementedError

    def _scan_response_data(self) -> bytes:
        """The complete local name (a kind may answer more)."""
        return bytes(AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode())]))

    def samples_per_packet(self) -> int:
        """Samples per packet at the current rate and MTU."""
        raise NotImplementedError

    def _quantise(self, acc_mps2: np.ndarray, gyr_radps: np.ndarray) -> tuple[Any, Any]:
        """Motion in SI units -> what :meth:`_encode` packs (e.g. int16 counts)."""
        return acc_mps2, gyr_radps

    def _packet_record(self, first_sample: int, k: int) -> tuple[int, int, int]:
        """Ground-truth record of the next packet (advances the packet counter):
        ``(packet number or seq, first sample's key, samples)``."""
        no = self._packet_no
        self._packet_no += 1
        return (no, first_sample, k)

    def _encode(
        self, records: list[tuple[int, int, int]], acc_q: Any, gyr_q: Any
    ) -> list[list[bytes]]:
        """The notifications of each packet (``records`` and the quantised samples)."""
        raise NotImplementedError

    def _listening(self) -> bool:
        """Whether sent notifications reach a central (connected, subscribed, started)."""
        return self.connection is not None and self._data_subscribed

    def _link_down(self) -> None:
        """Hook: the link went down (a device may stop its measurement, e.g. Polar)."""

    # -- rate -----------------------------------------------------------------------------

    @property
    def rate_hz(self) -> float:
        """Current sampling rate."""
        return self._rate_hz

    def set_rate(self, rate_hz: float) -> None:
        """Change the sampling rate (not while streaming); the motion is rebuilt off-loop."""
        rate_hz = float(rate_hz)
        if rate_hz != self._rate_hz:
            self._rate_hz = rate_hz
            self._spawn(self._prepare_source(rate_hz))

    # -- setup ------------------------------------------------------------------------

    async def start(self) -> VirtualSensor:
        """Create the controller and GATT server, power on and advertise."""
        self._loop = asyncio.get_running_loop()
        self._t_clock_ref = self._loop.time()
        self.controller, self.device = self.link.create_peripheral(
            self.name, self.address, self.rssi_dbm
        )
        self._build_gatt()
        assert self.data_char is not None
        self.data_char.on("subscription", self._on_data_subscription)
        self._notify_prefix = bytes([_ATT_NOTIFY]) + self.data_char.handle.to_bytes(2, "little")
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)
        await self._prepare_source(self.rate_hz)
        await self.device.power_on()
        await self._advertise()
        self._battery_timer = self._loop.call_later(1.0, self._battery_tick)
        return self

    async def _advertise(self) -> None:
        if self.device is None or self._closed or self.connection is not None:
            return
        await self.device.start_advertising(
            advertising_data=self._advertising_data(),
            scan_response_data=self._scan_response_data(),
            advertising_interval_min=ADVERTISING_INTERVAL_MS,
            advertising_interval_max=ADVERTISING_INTERVAL_MS,
        )

    async def _prepare_source(self, rate: float) -> None:
        """Build the motion source for ``rate`` in a worker thread (scenarios take up to
        a few hundred ms to synthesise; the event loop keeps streaming meanwhile). The
        motion then continues across sessions at the same rate, like a real body."""
        source = await asyncio.to_thread(self._source_factory, rate)
        if not self.streaming and self.rate_hz == rate:
            self._source = source
            self._source_rate = rate

    def _spawn(self, coro: Any) -> None:
        if self._closed:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_task_error)

    async def close(self) -> None:
        """Stop streaming and advertising and leave the link."""
        self._closed = True
        self._cancel_timer()
        for handle in self._fault_timers:
            handle.cancel()
        if self._battery_timer is not None:
            self._battery_timer.cancel()
        if self._readvertise is not None:
            self._readvertise.cancel()
        # with the controller still answering, cancelled HCI commands wind down
        await cancel_tasks(self._tasks)
        if self.controller is not None:
            self.link.remove_controller(self.controller)

    # -- connection events -------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        if self.connection is not None:
            # One central at a time, like a real device.
            self._spawn(connection.disconnect())
            return
        self.connection = connection
        self._data_subscribed = False
        self.truth.connections += 1
        connection.on(
            connection.EVENT_DISCONNECTION,
            lambda reason: self._on_disconnection(connection, reason),
        )

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        if connection is not self.connection:
            return
        self.connection = None
        self._data_subscribed = False
        self._link_down()
        if not self._closed:
            delay = self.faults.reconnect_delay_s
            assert self._loop is not None
            self._readvertise = self._loop.call_later(delay, lambda: self._spawn(self._advertise()))

    def _on_data_subscription(
        self, bearer: Any, notify_enabled: bool, indicate_enabled: bool
    ) -> None:
        if bearer is self.connection or getattr(bearer, "connection", None) is self.connection:
            self._data_subscribed = bool(notify_enabled)

    @property
    def att_mtu(self) -> int:
        """ATT MTU of the current connection; while disconnected, that of the last one
        (packets keep their size across a link loss; 23 before the first connection)."""
        if self.connection is not None:
            self._last_mtu = int(self.connection.att_mtu)
        return self._last_mtu

    def force_disconnect(self, reason: int = REASON_CONNECTION_TIMEOUT) -> bool:
        """Simulate a link loss now (both ends see ``reason``); False if not connected."""
        if self.connection is None or self.controller is None:
            return False
        assert self._loop is not None
        self.truth.disconnect_times_s.append(self._loop.time())
        self.controller.drop_connections(reason)
        return True

    # -- clock --------------------------------------------------------------------------

    def device_time_s(self, host_time_s: float | None = None) -> float:
        """Seconds elapsed on the device clock since the twin started (runs ``drift_ppm``
        fast or slow against the host clock), at a host (event loop) time, default now."""
        assert self._loop is not None
        t = self._loop.time() if host_time_s is None else host_time_s
        return (t - self._t_clock_ref) * self._clock_rate

    # -- streaming -----------------------------------------------------------------------

    def _start_streaming(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        if self._first_start_s is None:
            self._first_start_s = now
            self._schedule_faults(now)
        self.streaming = True
        self._streaming_since = now
        self._emitted = 0
        self._packet_no = 0
        self._dropped_since_start = 0
        self._stream_t0 = now
        self._session_started(now)
        rate = self.rate_hz
        if self._source is None or self._source_rate != rate:
            # normally prepared off the loop already (_prepare_source); built here only if
            # the rate changed and the preparation has not finished
            self._source = self._source_factory(rate)
            self._source_rate = rate
        self._q_acc, self._q_gyr = self._quantise(np.empty((0, 3)), np.empty((0, 3)))
        self._q_pos = 0
        self.truth.sampling_rate_hz = rate
        self.truth.starts += 1
        self._schedule_next()

    def _session_started(self, host_time_s: float) -> None:
        """Hook: a session starts at this host time (e.g. note the clock of sample 0)."""

    def _stop_streaming(self) -> None:
        assert self._loop is not None
        self._emit_due()  # flush complete packets up to now
        self.streaming = False
        if self._streaming_since is not None:
            self._streaming_seconds += self._loop.time() - self._streaming_since
            self._streaming_since = None
        self.truth.stops += 1
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sample_host_time(self, i: int) -> float:
        """Host time at which sample ``i`` of the session is taken."""
        return self._stream_t0 + i / (self.rate_hz * self._clock_rate)

    def _schedule_next(self) -> None:
        assert self._loop is not None
        k = self.samples_per_packet()
        when = self._sample_host_time(self._emitted + k - 1)
        self._timer = self._loop.call_at(when, self._tick)
        self._timer_when = when

    def _tick(self) -> None:
        self._timer = None
        if not self.streaming or self._closed:
            return
        if self._record_send_times:
            assert self._loop is not None
            lag = self._loop.time() - self._timer_when
            if lag > self.truth.max_timer_lag_s:
                self.truth.max_timer_lag_s = lag
        try:
            self._emit_due()
        finally:
            if self.streaming and not self._closed:
                self._schedule_next()

    def _emit_due(self) -> None:
        """Emit every complete packet whose last sample exists by now (vectorised)."""
        if not self.streaming or self._source is None:
            return
        assert self._loop is not None
        now = self._loop.time()
        available = math.floor((now - self._stream_t0) * self.rate_hz * self._clock_rate + 1e-9)
        available += 1
        k = self.samples_per_packet()
        n_packets = (available - self._emitted) // k
        if n_packets <= 0:
            return
        n = n_packets * k
        acc_q, gyr_q = self._read_quantised(n)
        first = self._emitted
        self._emitted += n
        self.truth.samples_produced += n
        self.truth.packets_produced += n_packets
        records = [self._packet_record(first + p * k, k) for p in range(n_packets)]
        if not self._listening():
            self.truth.undelivered.extend(records)
            self._dropped_since_start += n
            return
        packets = self._encode(records, acc_q, gyr_q)
        faults = self.faults
        for record, notifications in zip(records, packets):
            lost = False
            corrupted = False
            for value in notifications:
                if faults.drop and self._rng.random() < faults.drop:
                    lost = True
                    continue
                if faults.corrupt and self._rng.random() < faults.corrupt:
                    buf = bytearray(value)
                    pos = int(self._rng.integers(0, len(buf)))
                    buf[pos] ^= int(self._rng.integers(1, 256))
                    value = bytes(buf)
                    corrupted = True
                self._send_notification(value)
            if lost:
                self.truth.dropped.append(record)
                continue
            if corrupted:
                self.truth.corrupted.append(record)
            self.truth.packets_sent += 1
            self.truth.samples_sent += record[2]
            if self.truth.first_key_sent is None:
                self.truth.first_key_sent = record[1]
            self.truth.last_key_sent = record[1]
            if self._record_send_times:
                self.truth.send_times_s[record[1]] = time.perf_counter()

    def _read_quantised(self, n: int) -> tuple[Any, Any]:
        """Next ``n`` samples, quantised, from a buffer refilled in large chunks.

        The motion is synthetic or recorded, so reading ahead changes nothing a client
        can observe (sample times come from the device clock) and saves a source read
        and a scaling per packet.
        """
        if self._q_pos + n > len(self._q_acc):
            assert self._source is not None
            chunk = max(n, int(self.rate_hz * COUNTS_CHUNK_S))
            acc, gyr = self._source.read(chunk)
            acc_q, gyr_q = self._quantise(acc, gyr)
            rest = slice(self._q_pos, None)
            self._q_acc = np.concatenate([self._q_acc[rest], acc_q])
            self._q_gyr = np.concatenate([self._q_gyr[rest], gyr_q])
            self._q_pos = 0
        sl = slice(self._q_pos, self._q_pos + n)
        self._q_pos += n
        return self._q_acc[sl], self._q_gyr[sl]

    def _send_notification(self, value: bytes) -> None:
        """Notify the data characteristic (direct ATT PDU: no coroutine per packet)."""
        connection = self.connection
        assert connection is not None and self.device is not None
        self.device.send_l2cap_pdu(connection.handle, _ATT_CID, self._notify_prefix + value)

    # -- faults ----------------------------------------------------------------------------

    def _schedule_faults(self, t0: float) -> None:
        assert self._loop is not None
        for t in self.faults.disconnect_at_s:
            self._fault_timers.append(self._loop.call_at(t0 + t, self.force_disconnect))
        if self.faults.disconnect_every_s:
            self._fault_timers.append(
                self._loop.call_at(t0 + self.faults.disconnect_every_s, self._periodic_disconnect)
            )

    def _periodic_disconnect(self) -> None:
        assert self._loop is not None and self.faults.disconnect_every_s
        self.force_disconnect()
        self._fault_timers.append(
            self._loop.call_later(self.faults.disconnect_every_s, self._periodic_disconnect)
        )

    # -- battery -----------------------------------------------------------------------------

    @property
    def battery_percent(self) -> int:
        """Battery level now, 0..100."""
        seconds = self._streaming_seconds
        if self._streaming_since is not None and self._loop is not None:
            seconds += self._loop.time() - self._streaming_since
        level = self._battery0 - self.faults.battery_drain_pct_per_min * seconds / 60.0
        return int(min(100, max(0, round(level))))

    def _battery_tick(self) -> None:
        if self._closed:
            return
        assert self._loop is not None
        self._on_battery_tick()
        self._battery_timer = self._loop.call_later(1.0, self._battery_tick)

    def _on_battery_tick(self) -> None:
        """Hook, once a second: notify battery or status changes."""

    def _notify(self, characteristic: Characteristic, value: bytes) -> None:
        if self.connection is not None and self.device is not None:
            self._spawn(
                self.device.gatt_server.notify_subscriber(self.connection, characteristic, value)
            )

    def _indicate_later(self, characteristic: Characteristic, value: bytes) -> None:
        if self.connection is not None and self.device is not None:
            self._spawn(
                self.device.gatt_server.indicate_subscriber(self.connection, characteristic, value)
            )


def read_only_characteristic(
    uuid: str, properties: Characteristic.Properties, read: Callable[[Any], bytes]
) -> Characteristic:
    """A readable characteristic that rejects writes with the ATT error a firmware sends.

    Bumble's GATT server does not check attribute permissions (and a value without a
    write handler fails without answering), so every characteristic rejects what its
    properties do not allow.
    """
    return Characteristic(
        uuid,
        properties,
        Characteristic.READABLE,
        CharacteristicValue(read=read, write=_write_not_permitted),
    )


def _constant(data: bytes) -> Callable[[Any], bytes]:
    """A read handler that always answers ``data``."""
    return lambda _connection: data


def device_information_service(strings: dict[str, str]) -> Service:
    """A standard Device Information service with these strings (keys as in
    ``sensors.devices.base.DIS_CHARACTERISTICS``)."""
    from sensors.devices.base import DIS_CHARACTERISTICS

    props = Characteristic.Properties
    chars = []
    for key, value in strings.items():
        data = value.encode()
        chars.append(
            read_only_characteristic(DIS_CHARACTERISTICS[key], props.READ, _constant(data))
        )
    return Service(gatt.DEVICE_INFORMATION_SERVICE_UUID, chars)


def writable_characteristic(
    uuid: str,
    properties: Characteristic.Properties,
    on_write: Callable[[Any, bytes], None],
    read: Callable[[Any], bytes] | None = None,
) -> Characteristic[bytes]:
    """A characteristic written to (a control point or command register): writes go to
    ``on_write``; reads to ``read`` if given, else refused."""
    permissions = Characteristic.WRITEABLE
    if read is not None:
        permissions |= Characteristic.READABLE
    return Characteristic(
        uuid,
        properties,
        permissions,
        CharacteristicValue(read=read or _read_not_permitted, write=on_write),
    )


def battery_level_characteristic(percent: Callable[[], int]) -> Characteristic:
    """The standard Battery Level characteristic (read and notify) reading ``percent()``."""
    props = Characteristic.Properties
    return read_only_characteristic(
        gatt.BATTERY_LEVEL_CHAR_UUID, props.READ | props.NOTIFY, lambda _c: bytes([percent()])
    )


def flagged_advertising(*fields: tuple[int, bytes]) -> bytes:
    """Advertising data: the flags (LE general discoverable, no BR/EDR), then ``fields``."""
    return bytes(AdvertisingData([(AdvertisingData.FLAGS, bytes([0x06])), *fields]))


def service_advertising(service_uuid: str) -> bytes:
    """Advertising data: the flags and the complete list of 128-bit service UUIDs holding
    ``service_uuid`` (3 + 18 bytes)."""
    uuid = bytes(UUID(service_uuid).to_bytes(force_128=True))
    return flagged_advertising((AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, uuid))


def notify_only_characteristic(uuid: str) -> Characteristic:
    """A notify-only characteristic (reads and writes refused)."""
    return Characteristic(
        uuid,
        Characteristic.Properties.NOTIFY,
        Characteristic.Permissions(0),
        CharacteristicValue(read=_read_not_permitted, write=_write_not_permitted),
    )


# ---------------------------------------------------------------------------- wearable


class VirtualWearable(VirtualSensor):
    """A Poise wearable on a virtual Bumble controller (``firmware_protocol/SPEC.md``).

    Parameters
    ----------
    link
        The virtual link the wearable's controller joins.
    name
        Advertised name; must start with ``"Poise-"``.
    address
        Random static address, e.g. ``"D0:50:00:00:00:01"``.
    source_factory
        Makes the motion source for a rate (:func:`scenario_source_factory`,
        :func:`array_source_factory`); default: built-in quiet standing.
    config
        Initial configuration (rate, ranges); clients change it with SET_CONFIG.
    faults
        Fault injection.
    seed
        Seeds fault decisions and the sensor clock offset.
    battery_percent
        Initial battery level.
    serial
        Serial number (<= 10 printable ASCII characters).
    record_send_times
        Keep the host send time of every packet in the truth (for latency benchmarks).
    rssi_dbm
        RSSI that scanners on the link report for this wearable.
    """

    kind = "poise"

    def __init__(
        self,
        link: VirtualLink,
        name: str,
        address: str,
        *,
        source_factory: SourceFactory | None = None,
        config: SensorConfig | None = None,
        faults: FaultConfig | None = None,
        seed: int = 0,
        battery_percent: float = 100.0,
        serial: str | None = None,
        record_send_times: bool = False,
        rssi_dbm: int = -55,
    ) -> None:
        if not name.startswith(gatt.NAME_PREFIX):
            raise ValueError(f"wearable name must start with {gatt.NAME_PREFIX!r}, got {name!r}")
        self.config = config or SensorConfig()
        super().__init__(
            link,
            name,
            address,
            source_factory=source_factory,
            rate_hz=self.config.sampling_rate_hz,
            faults=faults,
            seed=seed,
            battery_percent=battery_percent,
            record_send_times=record_send_times,
            rssi_dbm=rssi_dbm,
        )
        self.serial = (serial or name.removeprefix(gatt.NAME_PREFIX))[:10]
        self._seq = 0
        self._stream_ts0 = 0  # unwrapped sensor timestamp of sample 0 of the session
        self._last_battery_int = int(round(self._battery0))
        self._last_dropped_notified = 0
        self._layout_cache: tuple[tuple[int, int], tuple[bool, int]] | None = None
        self._q_packed: bytes | None = None  # the counts buffer packed for the wire

    # -- GATT ---------------------------------------------------------------------------

    def _build_gatt(self) -> None:
        assert self.device is not None
        props = Characteristic.Properties
        self.data_char = notify_only_characteristic(gatt.DATA_CHAR_UUID)
        self.control_char = writable_characteristic(
            gatt.CONTROL_POINT_CHAR_UUID, props.WRITE | props.INDICATE, self._on_control_write
        )
        self.status_char = read_only_characteristic(
            gatt.STATUS_CHAR_UUID, props.READ | props.NOTIFY, lambda _c: self._status_bytes()
        )
        self.info_char = read_only_characteristic(
            gatt.INFO_CHAR_UUID, props.READ, lambda _c: self._info_bytes()
        )
        self.battery_char = battery_level_characteristic(lambda: self.battery_percent)
        dis = device_information_service(
            {
                "manufacturer": "Poise (virtual)",
                "model_number": "Poise IMU v1 (Bumble emulator)",
                "serial": self.serial,
                "hardware_revision": "virtual",
                "firmware_version": self.firmware_version,
            }
        )
        battery = Service(gatt.BATTERY_SERVICE_UUID, [self.battery_char])
        poise = Service(
            gatt.SERVICE_UUID,
            [self.data_char, self.control_char, self.status_char, self.info_char],
        )
        for service in (dis, battery, poise):
            self.device.add_service(service)

    def _advertising_data(self) -> bytes:
        """Flags + the Poise service UUID (SPEC.md 1.2: 3 + 18 = 21 bytes)."""
        return service_advertising(gatt.SERVICE_UUID)

    def _scan_response_data(self) -> bytes:
        """Complete local name ``Poise-XXXX`` (SPEC.md 1.2) and the battery level as
        Battery Service data (16-bit UUID 0x180F + u8 percent; 12 + 5 of 31 bytes), so a
        scan can list the battery without connecting. Refreshed whenever advertising
        (re)starts."""
        battery = gatt.BATTERY_SERVICE_UUID16.to_bytes(2, "little") + bytes([self.battery_percent])
        return bytes(
            AdvertisingData(
                [
                    (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                    (AdvertisingData.SERVICE_DATA_16_BIT_UUID, battery),
                ]
            )
        )

    # -- clock and layout ----------------------------------------------------------------

    @property
    def rate_hz(self) -> float:
        """The configured rate (SET_CONFIG)."""
        return float(self.config.sampling_rate_hz)

    def sensor_time_us(self, host_time_s: float | None = None) -> int:
        """Unwrapped sensor clock (µs) at a host (event loop) time, default now."""
        return self.truth.clock_offset_us + int(round(self.device_time_s(host_time_s) * 1e6))

    def layout(self) -> tuple[bool, int]:
        """``(compact, samples per packet)`` the wearable uses at the current MTU."""
        key = (self.att_mtu, self.config.sampling_rate_hz)
        cached = self._layout_cache
        if cached is not None and cached[0] == key:
            return cached[1]  # asked up to three times per packet: worked out per MTU/rate
        compact, max_n = codec.choose_layout(key[0])
        if compact:
            out = (True, 1)
        else:
            target = max(1, int(key[1] * TARGET_PACKET_INTERVAL_S + 1e-9))
            out = (False, min(max_n, target))
        self._layout_cache = (key, out)
        return out

    def samples_per_packet(self) -> int:
        """From :meth:`layout`."""
        return self.layout()[1]

    # -- streaming -----------------------------------------------------------------------

    def _session_started(self, host_time_s: float) -> None:
        self._seq = 0
        self._stream_ts0 = self.sensor_time_us(host_time_s)

    def _quantise(self, acc_mps2: np.ndarray, gyr_radps: np.ndarray) -> tuple[Any, Any]:
        if len(acc_mps2) == 0:
            return np.empty((0, 3), dtype=np.int16), np.empty((0, 3), dtype=np.int16)
        return codec.to_counts(acc_mps2, gyr_radps, self.config)

    def _packet_record(self, first_sample: int, k: int) -> tuple[int, int, int]:
        """``(seq, unwrapped timestamp of the first sample, k)``."""
        seq = self._seq
        self._seq = (self._seq + 1) & 0xFFFF
        period_us = 1e6 / self.config.sampling_rate_hz  # in sensor time
        return (seq, self._stream_ts0 + int(round(first_sample * period_us)), k)

    def _read_quantised(self, n: int) -> tuple[Any, Any]:
        """The next ``n`` samples as sent (``(bytes, None)``): the counts buffer is packed
        for the wire once per refill (:data:`COUNTS_CHUNK_S`), not once per packet."""
        if self._q_packed is None or self._q_pos + n > len(self._q_acc):
            super()._read_quantised(n)  # refills the counts buffer and takes n samples
            self._q_packed = codec.pack_samples(self._q_acc, self._q_gyr)
        else:
            self._q_pos += n
        size = codec.SAMPLE_SIZE
        end = self._q_pos * size
        return self._q_packed[end - n * size : end], None

    def _encode(
        self, records: list[tuple[int, int, int]], samples: Any, _unused: Any
    ) -> list[list[bytes]]:
        compact, _ = self.layout()
        size = codec.SAMPLE_SIZE
        out = []
        pos = 0
        for seq, ts, k in records:
            end = pos + k * size
            out.append(
                [
                    codec.encode_packed(
                        seq, ts & _TS_MASK, samples[pos:end], compact=compact, config=self.config
                    )
                ]
            )
            pos = end
        return out

    # -- battery and status ------------------------------------------------------------------

    def _on_battery_tick(self) -> None:
        level = self.battery_percent
        status_due = self._dropped_since_start != self._last_dropped_notified
        if level != self._last_battery_int:
            self._last_battery_int = level
            self._notify(self.battery_char, bytes([level]))
            status_due = True
        if status_due:
            # SPEC.md 5: on battery change, and at most once per second while
            # dropped_samples grows.
            self._last_dropped_notified = self._dropped_since_start
            self._notify(self.status_char, self._status_bytes())

    # -- status, info, control point ---------------------------------------------------------

    def status(self) -> codec.Status:
        """The current status (what the Status characteristic reads)."""
        flags = gatt.StatusFlags.NONE
        if self.battery_percent <= LOW_BATTERY_PERCENT:
            flags |= gatt.StatusFlags.LOW_BATTERY
        return codec.Status(
            state=gatt.StreamState.STREAMING if self.streaming else gatt.StreamState.IDLE,
            battery_percent=self.battery_percent,
            flags=flags,
            dropped_samples=self._dropped_since_start & _TS_MASK,
            config=self.config,
        )

    def _status_bytes(self) -> bytes:
        return codec.encode_status(self.status())

    def device_info(self) -> codec.DeviceInfo:
        """What GET_INFO answers."""
        compact, max_n = codec.choose_layout(self.att_mtu)
        return codec.DeviceInfo(
            firmware_version=self.firmware_version,
            config=self.config,
            battery_percent=self.battery_percent,
            max_samples_per_packet=0 if compact else max_n,
            serial=self.serial,
        )

    def _info_bytes(self) -> bytes:
        return codec.encode_info(self.device_info(), model="Poise IMU v1 (virtual)")

    def _on_control_write(self, connection: Connection, value: bytes) -> None:
        response = self.handle_command(bytes(value))
        self._spawn(self._indicate(connection, codec.encode_response(response)))

    async def _indicate(self, connection: Connection, value: bytes) -> None:
        assert self.device is not None
        await self.device.gatt_server.indicate_subscriber(connection, self.control_char, value)

    def handle_command(self, data: bytes) -> codec.Response:
        """Execute one control point write and return the response to indicate."""
        try:
            command = codec.decode_command(data)
        except codec.CommandError as exc:
            logger.info("%s: rejected control point write %s: %s", self.name, data.hex(), exc)
            return codec.Response(exc.opcode if exc.opcode is not None else 0, exc.result)
        op = command.opcode
        ok = gatt.ResultCode.SUCCESS
        if op == gatt.Opcode.START_STREAM:
            if not self.streaming:
                self._start_streaming()
                self._notify(self.status_char, self._status_bytes())
            return codec.Response(op, ok)
        if op == gatt.Opcode.STOP_STREAM:
            if self.streaming:
                self._stop_streaming()
                self._notify(self.status_char, self._status_bytes())
            return codec.Response(op, ok)
        if op == gatt.Opcode.SET_CONFIG:
            assert command.config is not None
            if self.streaming and command.config != self.config:
                return codec.Response(op, gatt.ResultCode.INVALID_STATE)
            rate_changed = command.config.sampling_rate_hz != self.config.sampling_rate_hz
            self.config = command.config
            if rate_changed:
                self._spawn(self._prepare_source(command.config.sampling_rate_hz))
            self._notify(self.status_char, self._status_bytes())
            return codec.Response(op, ok)
        if op == gatt.Opcode.TIME_SYNC:
            return codec.Response(
                op,
                ok,
                host_time_us=command.host_time_us,
                sensor_time_us=self.sensor_time_us() & _TS_MASK,
            )
        if op == gatt.Opcode.IDENTIFY:
            self.truth.identify_count += 1
            return codec.Response(op, ok)
        if op == gatt.Opcode.GET_INFO:
            return codec.Response(op, ok, info=self.device_info())
        return codec.Response(op, gatt.ResultCode.UNSUPPORTED_OPCODE)  # pragma: no cover


def poise_twin(link: VirtualLink, *, name: str, address: str, rate_hz: float, **kw: Any):
    """Twin factory of the ``poise`` demo kind (:func:`sensors.devices.register_twin`)."""
    from sensors.devices.poise import PoiseDriver

    config = kw.pop("config", None) or PoiseDriver.choose_config(rate_hz, 8, 2000)
    return VirtualWearable(link, name, address, config=config, **kw)


poise_twin.name_pattern = "Poise-{n:04d}"  # type: ignore[attr-defined]


def _read_not_permitted(_connection: Any) -> bytes:
    raise ATT_Error(ATT_READ_NOT_PERMITTED_ERROR)


def _write_not_permitted(_connection: Any, _value: bytes) -> None:
    raise ATT_Error(ATT_WRITE_NOT_PERMITTED_ERROR)


def _log_task_error(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("virtual wearable task failed: %r", task.exception())
