"""The sensor-driver seam: everything that differs between devices, behind one interface.

A :class:`SensorDriver` is what Poise knows about one kind of device (the shape copies
bleak's public class over platform backends: the stream hub, the recorder, gap
accounting, clock alignment, the CLI, the GUI and replay talk to this interface only):

* recognising the device in a scan (:meth:`SensorDriver.matches`: name, service UUIDs,
  manufacturer data) and naming its model;
* choosing the nearest supported configuration (:meth:`SensorDriver.choose_config`) and
  reading it back from a recording header (:meth:`SensorDriver.config_from_dict`);
* connecting work on a ``BleakClient`` (:meth:`read_info`, :meth:`start`, :meth:`stop`):
  GATT writes, command responses, subscriptions;
* decoding notifications into :class:`Frame` s (:meth:`SensorDriver.new_decoder`): samples
  in SI units, each on the device's own sample index (so lost samples are counted) with
  a sensor time (the device clock, or a documented arrival-time model).

A driver instance lives as long as one sensor's link (it survives reconnects). The same
:class:`StreamDecoder` class decodes live notifications and the raw notifications of a
recording, so replay equals live.

Adding a device: one package under ``sensors/devices/`` that calls
:func:`sensors.devices.register_driver` (and :func:`sensors.devices.register_twin` for its
virtual twin), plus its name in ``sensors.devices.DEVICE_MODULES``.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:  # asyncio: imported where a command waits (reading a file needs none)
    import asyncio

    from bleak import BleakClient

STANDARD_GRAVITY_MPS2 = 9.80665

#: ``notify(channel, data)``: the hub's callback a driver subscribes its characteristics with.
Notify = Callable[[int, bytes], None]


class DriverError(Exception):
    """A device refused or did not answer a command (the message names device and step)."""


class DecodeError(ValueError):
    """A notification that is not a valid frame of the device (counted, never fatal)."""


@dataclass(frozen=True)
class DeviceConfig:
    """What a (non-Poise) device was asked to stream: the nearest supported values.

    Attributes
    ----------
    sampling_rate_hz
        Output data rate of the accelerometer and gyroscope.
    acc_range_g, gyro_range_dps
        Full-scale ranges.
    options
        Driver-specific settings, JSON-ready (kept in the recording header).
    """

    sampling_rate_hz: float
    acc_range_g: float
    gyro_range_dps: float
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # 104 Hz, 8 g rather than 104.0 Hz, 8.0 g in headers and summaries
        for name in ("sampling_rate_hz", "acc_range_g", "gyro_range_dps"):
            object.__setattr__(self, name, _num(getattr(self, name)))

    @property
    def sample_period_s(self) -> float:
        """Nominal sample period in seconds."""
        return 1.0 / float(self.sampling_rate_hz)

    @property
    def sample_period_us(self) -> float:
        """Nominal sample period in microseconds (not an integer for e.g. 104 Hz)."""
        return 1e6 / float(self.sampling_rate_hz)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the recording header."""
        d: dict[str, Any] = {
            "sampling_rate_hz": _num(self.sampling_rate_hz),
            "acc_range_g": _num(self.acc_range_g),
            "gyro_range_dps": _num(self.gyro_range_dps),
        }
        d.update(dict(self.options))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeviceConfig:
        """Inverse of :meth:`to_dict` (other keys become ``options``)."""
        try:
            rate = float(d["sampling_rate_hz"])
            acc = float(d["acc_range_g"])
            gyro = float(d["gyro_range_dps"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"device config needs numeric rate and ranges ({exc})") from None
        if not (rate > 0 and acc > 0 and gyro > 0):
            raise ValueError(f"device config: rate and ranges must be > 0, got {dict(d)}")
        core = {"sampling_rate_hz", "acc_range_g", "gyro_range_dps"}
        return cls(rate, acc, gyro, {k: v for k, v in d.items() if k not in core})


def _num(x: float) -> int | float:
    """Integers stay integers in JSON (``100`` rather than ``100.0``)."""
    return int(x) if float(x).is_integer() else float(x)


def nearest(value: float, choices: tuple[float, ...]) -> float:
    """The choice closest to ``value`` (ties go to the larger one)."""
    return min(choices, key=lambda c: (abs(c - value), -c))


@dataclass
class Frame:
    """Consecutive samples decoded from a device's notifications.

    Attributes
    ----------
    first_index
        Index of the first sample on the device's own sample counter (int, unwrapped):
        consecutive samples have consecutive indices, so a jump is a loss.
    acc_mps2, gyr_radps
        (n, 3) float64 in the sensor frame, SI units.
    sensor_time_s
        (n,) float64: device time of every sample in seconds, on the device's clock (or
        the driver's arrival-time model, see :attr:`SensorDriver.timestamps`). Only
        differences matter; the stream maps it to host time with its clock model.
    seq
        Packet sequence number when the protocol has one (``None`` otherwise).
    """

    first_index: int
    acc_mps2: np.ndarray
    gyr_radps: np.ndarray
    sensor_time_s: np.ndarray
    seq: int | None = None

    @property
    def n_samples(self) -> int:
        """Samples in the frame."""
        return int(self.acc_mps2.shape[0])


class StreamDecoder(abc.ABC):
    """Stateful decoder of one sensor's notifications (live and replay use the same class).

    :meth:`feed` is called with every notification in arrival order. It returns the
    frames that became complete (none for command responses or half of a pair) and
    raises :class:`DecodeError` for a malformed data notification.
    """

    #: Modulus of :attr:`Frame.seq` (``None``: the protocol has no sequence number).
    seq_modulus: ClassVar[int | None] = None

    @abc.abstractmethod
    def feed(self, channel: int, data: bytes) -> list[Frame]:
        """Decode one notification."""

    @abc.abstractmethod
    def sensor_time_s(self, index: int) -> float:
        """Device time (seconds) of sample ``index`` (extrapolated for missing samples)."""

    def rebase(self, frame: Frame, first_index: int) -> Frame:
        """The device's counter restarted (reboot, clock set): renumber from ``first_index``.

        Called by the stream when :class:`sensors.gaps.GapTracker` sees an implausible
        jump; the frame and later ones continue from there.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot renumber after a reset")


class SensorDriver(abc.ABC):
    """One kind of device. Class attributes describe it; an instance drives one link.

    Parameters
    ----------
    config
        The configuration from :meth:`choose_config` (or a recording header).
    """

    #: Registry key, CLI ``--demo`` kind and ``"device": {"kind"}`` in recordings.
    kind: ClassVar[str]
    #: Maker and model shown before the device information has been read.
    vendor: ClassVar[str] = ""
    default_model: ClassVar[str] = ""
    #: ``"sensor clock"``: samples carry device times; ``"arrival times"``: the device
    #: sends no time, :attr:`Frame.sensor_time_s` is index x nominal period and the clock
    #: model fits it to arrival times (see the driver's docstring for its uncertainty).
    timestamps: ClassVar[str] = "sensor clock"
    #: Largest plausible difference between the device's sample rate and the host clock
    #: (ppm) for the clock model; wider for devices timed by the IMU's own oscillator.
    max_drift_ppm: ClassVar[float] = 500.0
    #: Supported output rates (Hz) and ranges, for the documentation and the choice.
    rates_hz: ClassVar[tuple[float, ...]] = ()
    acc_ranges_g: ClassVar[tuple[float, ...]] = ()
    gyro_ranges_dps: ClassVar[tuple[float, ...]] = ()
    #: Whether a packet lost at the very end of a stream can be found (a time sync
    #: before stop), and whether the first packets of a fresh start can.
    detects_loss_at_end: ClassVar[bool] = False
    detects_loss_at_start: ClassVar[bool] = False

    def __init__(self, config: Any) -> None:
        self.config = config
        self.decoder = self.new_decoder(config)
        #: Battery level in percent when known (updated from notifications/reads).
        self.battery_pct: int | None = None
        #: Device information once read: model, firmware, serial, manufacturer...
        self.info: dict[str, Any] = {}
        #: Events for the recording (e.g. a device status change), drained by the hub.
        self.events: list[dict[str, Any]] = []
        # command answers awaited, by the key the answer is recognised by
        self._waiters: dict[Hashable, asyncio.Future] = {}
        #: The connected client, set by :meth:`start` (commands are written through it).
        self._client: BleakClient | None = None

    # -- discovery --------------------------------------------------------------------

    @classmethod
    @abc.abstractmethod
    def matches(
        cls, name: str | None, service_uuids: list[str], manufacturer_data: Mapping[int, bytes]
    ) -> bool:
        """Whether an advertisement belongs to this kind of device."""

    @classmethod
    def model_from_advertisement(cls, name: str | None) -> str:
        """Model shown in a scan (before connecting)."""
        return cls.default_model

    @classmethod
    def battery_from_advertisement(cls, service_data: Mapping[str, bytes]) -> int | None:
        """Battery percent if the advertisement carries it."""
        return None

    #: Service UUIDs a scanner may filter on (empty: the device does not advertise one).
    scan_service_uuids: ClassVar[tuple[str, ...]] = ()

    # -- configuration ----------------------------------------------------------------

    @classmethod
    def choose_config(cls, rate_hz: float, acc_range_g: float, gyro_range_dps: float) -> Any:
        """The supported configuration nearest to what was asked for."""
        return DeviceConfig(
            nearest(rate_hz, cls.rates_hz),
            nearest(acc_range_g, cls.acc_ranges_g),
            nearest(gyro_range_dps, cls.gyro_ranges_dps),
        )

    @classmethod
    def config_from_dict(cls, d: Mapping[str, Any]) -> Any:
        """The configuration stored in a recording header."""
        return DeviceConfig.from_dict(d)

    @classmethod
    @abc.abstractmethod
    def new_decoder(cls, config: Any) -> StreamDecoder:
        """A fresh decoder for a stream with this configuration."""

    # -- recording --------------------------------------------------------------------

    def record_as(self, channel: int) -> str | None:
        """How a notification of ``channel`` is recorded: ``"notify"`` (raw, with its
        channel: NOTIFY record), ``"packet"`` (the Poise PACKET record) or ``None``."""
        return "notify"

    def gap_record_keys(self, gap: Any) -> dict[str, Any]:
        """Extra keys of a GAP record for this device (default: the sample indices)."""
        return {"start_index": int(gap.start_index), "end_index": int(gap.end_index)}

    def header_config(self) -> dict[str, Any]:
        """The configuration for the recording header (learned settings included)."""
        return self.config.to_dict()

    # -- connection -------------------------------------------------------------------

    async def read_info(self, client: BleakClient) -> dict[str, Any]:
        """Read device information (first connection only); default: Device Information."""
        self.info = await read_device_information(client)
        return self.info

    @abc.abstractmethod
    async def start(self, client: BleakClient, notify: Notify, *, resume: bool) -> None:
        """Subscribe, configure and start streaming on a connected client.

        ``resume`` is True after a link loss (the device may still be configured).
        Raises :class:`DriverError` (or a ``BleakError``/``TimeoutError``) on failure.
        """

    @abc.abstractmethod
    async def stop(self, client: BleakClient) -> int | None:
        """Stop streaming. Returns the index of the last sample the device had taken
        just before it stopped, when the protocol can tell (else ``None``)."""

    def on_notification(self, channel: int, data: bytes) -> None:
        """Called in the BLE callback before the notification is queued: resolve command
        responses, note battery changes. Must be quick and never raise."""
        return None

    def latency_sync(self) -> tuple[float, float] | None:
        """``(host monotonic s, device time s)`` of a command round trip's midpoint, when
        the protocol has a time query (for the latency estimate); ``None`` otherwise."""
        return None

    async def _round_trip(
        self, key: Hashable, write: Awaitable[Any], timeout_s: float, what: str
    ) -> Any:
        """Write a command and wait for its answer, which :meth:`_answer` delivers from
        :meth:`on_notification` under ``key``. Raises :class:`DriverError` on a timeout."""
        import asyncio

        old = self._waiters.pop(key, None)
        if old is not None and not old.done():
            old.cancel()
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiters[key] = fut
        try:
            await write
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise DriverError(f"{what}: no answer within {timeout_s} s") from None
        finally:
            if self._waiters.get(key) is fut:
                del self._waiters[key]

    def _connected(self) -> BleakClient:
        """The client :meth:`start` was given; a :class:`DriverError` before that."""
        if self._client is None:
            raise DriverError(f"{self.kind}: not connected (start was not called)")
        return self._client

    def _answer(self, key: Hashable, value: Any) -> bool:
        """Deliver an answer to the command waiting for ``key`` (False: none waits)."""
        fut = self._waiters.pop(key, None)
        if fut is None or fut.done():
            return False
        fut.set_result(value)
        return True

    def disconnected(self) -> None:
        """The link went down: pending commands fail at once."""
        for fut in self._waiters.values():
            if not fut.done():
                fut.cancel()
        self._waiters.clear()

    @classmethod
    def build_sensor_data(
        cls,
        *,
        sensor_id: str,
        placement: str | None,
        config: Any,
        records: list[tuple[int, bytes]],
        host_times_s: list[float],
        gap_records: list[dict],
    ) -> tuple[Any, list[tuple[int, str]]]:
        """A recording's raw notifications of one sensor -> samples on a time grid.

        ``records`` are ``(channel, data)`` in arrival order. Returns the
        :class:`sensors.timeline.SensorData` and ``(record index, reason)`` for
        notifications the decoder rejected. The default decodes with
        :meth:`new_decoder` (the live decoder) and places the frames by sample index.
        """
        from sensors.timeline import build_device_data

        return build_device_data(
            cls,
            sensor_id=sensor_id,
            placement=placement,
            config=config,
            records=records,
            host_times_s=host_times_s,
            gap_records=gap_records,
        )

    def fresh_start(self) -> tuple[str, int] | None:
        """How the first frame of a fresh start reveals earlier losses:
        ``("seq", 0)`` (its sequence number counts the packets before it) or
        ``("index", i)`` (the first sample has index ``i``); ``None``: not at all."""
        return None


# ------------------------------------------------------------------------ GATT helpers


def sig_uuid(short: int) -> str:
    """128-bit form of a Bluetooth SIG 16-bit UUID."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


DIS_CHARACTERISTICS = {
    "manufacturer": sig_uuid(0x2A29),
    "model_number": sig_uuid(0x2A24),
    "serial": sig_uuid(0x2A25),
    "hardware_revision": sig_uuid(0x2A27),
    "firmware_version": sig_uuid(0x2A26),
}
BATTERY_LEVEL_CHAR_UUID = sig_uuid(0x2A19)


async def subscribe(client: BleakClient, uuid: str, channel: int, notify: Notify) -> None:
    """Subscribe a characteristic; its notifications reach ``notify(channel, data)``."""
    await client.start_notify(uuid, lambda _char, data: notify(channel, bytes(data)))


async def read_device_information(client: BleakClient) -> dict[str, Any]:
    """Strings of the standard Device Information service that the device has."""
    from bleak.exc import BleakError

    info: dict[str, Any] = {}
    for key, uuid in DIS_CHARACTERISTICS.items():
        try:
            if client.services.get_characteristic(uuid) is not None:
                v = await client.read_gatt_char(uuid)
                info[key] = bytes(v).decode("utf-8", "replace").strip("\x00")
        except (BleakError, KeyError, ValueError):
            continue
    return info


async def read_battery_level(client: BleakClient) -> int | None:
    """The standard Battery Level (percent), ``None`` if absent or invalid."""
    from bleak.exc import BleakError

    try:
        if client.services.get_characteristic(BATTERY_LEVEL_CHAR_UUID) is None:
            return None
        v = await client.read_gatt_char(BATTERY_LEVEL_CHAR_UUID)
    except (BleakError, KeyError, ValueError):
        return None
    return int(v[0]) if v and v[0] <= 100 else None
