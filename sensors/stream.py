"""Stream 1-4 sensors of any supported kind over BLE through bleak, on one timeline,
losing nothing silently.

The public pieces:

* :func:`scan` lists the supported sensors in range (every registered driver's
  advertisement match, :mod:`sensors.devices`): kind, model, name, address, RSSI,
  battery, and the ``BLEDevice`` to connect with.
* :class:`StreamHub` connects several sensors, has each one's driver configure and start
  it, delivers :class:`StreamBlock` s to subscribers (callbacks and async iterators),
  writes raw notifications, gaps and connection events to a
  :class:`~sensors.recording.RecordingWriter`, reconnects with backoff after a link loss,
  and publishes :class:`~sensors.stats.LinkStats` once a second.
* :class:`HubThread` runs a hub on an asyncio loop in a background thread (for the GUI).

Everything that differs between devices (scan match, GATT layout, commands, frame
decoding, sample index, clock) is the driver's (:class:`sensors.devices.SensorDriver`);
this module never names a device.

BLE goes through bleak's public API only (``BleakScanner``, ``BleakClient``). ``transport``
selects the radio: ``None`` is bleak's platform backend (the computer's Bluetooth), a
:class:`~sensors.bumble_backend.VirtualLink` or a Bumble transport string
(``"usb:0"``, ``"tcp-client:127.0.0.1:PORT"``) selects Poise's Bumble backend, passed as
``backend=`` to every bleak call.

Data path (per notification; no per-sample Python loop)::

    notification -> driver.on_notification (command responses) -> pending deque
      -> one drain per event-loop turn (every notification that arrived in the turn,
         in arrival order): driver's decoder -> frames on the device's sample index
         -> GapTracker (gap / duplicate / reset), ClockModel (device -> host time),
            recorder (the raw notification), subscribers

Times: ``t_s`` on the hub timeline is seconds since ``StreamHub.t0_monotonic`` (the
recording start when a recorder is given, so live and replayed times agree).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from sensors import devices
from sensors.clock import ClockModel
from sensors.devices.base import DecodeError, DriverError, Frame, SensorDriver
from sensors.gaps import Gap, GapTracker
from sensors.placements import DEFAULT_ORDER
from sensors.stats import LinkMeter, LinkStats

logger = logging.getLogger(__name__)

#: Placement labels the app knows (free text is accepted too).
MAX_SENSORS = 4


# ----------------------------------------------------------------------------- errors


class StreamError(Exception):
    """Root of the streaming errors (what went wrong and with which sensor)."""


class SensorNotFound(StreamError):
    """A requested sensor did not show up in the scan."""


class ControlPointError(StreamError):
    """The sensor refused or did not answer a command."""


# --------------------------------------------------------------------------- transport


def _backend_kwargs(transport: Any, mtu: int | None = None) -> tuple[dict, dict]:
    """(scanner kwargs, client kwargs) for bleak: platform backend or Bumble."""
    if transport is None:
        return {}, {}
    from sensors.bumble_backend import client_kwargs, scanner_kwargs

    ck = client_kwargs(transport) if mtu is None else client_kwargs(transport, mtu=mtu)
    return scanner_kwargs(transport), ck


# -------------------------------------------------------------------------------- scan


@dataclass(frozen=True)
class StreamSettings:
    """What the user asks of every sensor; each driver picks its nearest supported values
    (a Polar Verity Sense streams 104 Hz when asked for 100)."""

    sampling_rate_hz: float = 100.0
    acc_range_g: float = 8.0
    gyro_range_dps: float = 2000.0


@dataclass(frozen=True)
class ScanResult:
    """One supported sensor seen in a scan.

    Attributes
    ----------
    name, address, rssi_dbm
        From the advertisement.
    battery_pct
        From the advertising data if the device puts it there, else read from the
        Battery Level characteristic when ``scan(read_battery=True)``, else ``None``.
    device
        The ``BLEDevice`` to connect with (keeps the backend's address details).
    kind, model
        The driver that recognised it (:mod:`sensors.devices`) and the model it names.
    """

    name: str
    address: str
    rssi_dbm: int | None
    battery_pct: int | None
    device: BLEDevice
    kind: str = "poise"
    model: str = ""

    def to_dict(self) -> dict:
        """JSON-ready form (without the device handle)."""
        return {
            "kind": self.kind,
            "model": self.model,
            "name": self.name,
            "address": self.address,
            "rssi_dbm": self.rssi_dbm,
            "battery_pct": self.battery_pct,
        }


async def scan(
    timeout_s: float = 5.0,
    *,
    transport: Any = None,
    read_battery: bool = False,
    names: list[str] | None = None,
    count: int | None = None,
    kinds: list[str] | None = None,
) -> list[ScanResult]:
    """Scan for every supported sensor (or only ``kinds``).

    Parameters
    ----------
    timeout_s
        Maximal scan time; the scan ends early once every name in ``names`` (or ``count``
        devices) was seen.
    transport
        ``None`` (platform Bluetooth), a ``VirtualLink`` or a Bumble transport string.
    read_battery
        Connect briefly to read the Battery Level of devices that do not advertise it.
    names
        Stop as soon as all of these names (or addresses) were seen.
    count
        Stop as soon as this many sensors were seen.
    kinds
        Only these driver kinds (default: all).

    Returns
    -------
    list of ScanResult
        Sorted by kind, name and address.
    """
    scanner_kw, client_kw = _backend_kwargs(transport)
    found: dict[str, ScanResult] = {}
    done = asyncio.Event()
    wanted = {n for n in (names or [])}

    def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
        name = adv.local_name or device.name or ""
        prev = found.get(device.address)
        drv = devices.match_advertisement(
            name or (prev.name if prev else None),
            list(adv.service_uuids),
            dict(adv.manufacturer_data),
        )
        if drv is None and prev is not None:
            drv = devices.driver_for(prev.kind)
        if drv is None or (kinds and drv.kind not in kinds):
            return
        battery = drv.battery_from_advertisement(dict(adv.service_data))
        if battery is None and prev is not None:
            battery = prev.battery_pct
        name = name or (prev.name if prev else device.address)
        found[device.address] = ScanResult(
            name=name,
            address=device.address,
            rssi_dbm=adv.rssi,
            battery_pct=battery,
            device=device,
            kind=drv.kind,
            model=drv.model_from_advertisement(name),
        )
        seen = {r.name for r in found.values()} | set(found)
        if (wanted and wanted <= seen) or (count is not None and len(found) >= count):
            done.set()

    # No service filter: not every device advertises a service UUID (Polar advertises its
    # manufacturer id and name); each driver's match decides.
    scanner = BleakScanner(on_adv, **scanner_kw)
    async with scanner:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout_s)
    results = sorted(found.values(), key=lambda r: (r.kind != "poise", r.kind, r.name, r.address))
    if read_battery:
        from sensors.devices.base import read_battery_level

        out = []
        for r in results:
            if r.battery_pct is None:
                with contextlib.suppress(BleakError, TimeoutError, OSError):
                    async with BleakClient(r.device, timeout=5.0, **client_kw) as client:
                        level = await read_battery_level(client)
                        if level is not None:
                            r = replace(r, battery_pct=level)
            out.append(r)
        results = out
    return results


# ------------------------------------------------------------------------- data types


class LinkState(StrEnum):
    """Connection state of one sensor."""

    IDLE = "idle"
    SCANNING = "scanning"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass
class SensorSpec:
    """Which sensor to stream and where it is worn.

    Give a ``device`` from :func:`scan`, or a ``name``/``address`` the hub scans for.
    ``kind`` is the driver (:mod:`sensors.devices`); ``None`` takes the one that
    recognises the device in the scan (a Poise wearable when no scan tells).
    """

    name: str | None = None
    address: str | None = None
    placement: str | None = None
    device: BLEDevice | None = None
    sensor_id: str | None = None
    kind: str | None = None

    @property
    def label(self) -> str:
        """Human name: id, name, address or device address."""
        return (
            self.sensor_id
            or self.name
            or self.address
            or (self.device.name if self.device else None)
            or "?"
        )


@dataclass(frozen=True)
class StreamBlock:
    """Decoded samples of one frame, placed on the hub timeline.

    Attributes
    ----------
    sensor_index, sensor_id, placement
        Which sensor (index into the hub's sensors and the recording header).
    kind
        The sensor's driver kind.
    t_s
        Host time of every sample, seconds since the hub's ``t0_monotonic``, from the
        sensor's clock model (so sensors line up).
    acc_mps2, gyr_radps
        (n, 3) acceleration (m/s^2) and angular velocity (rad/s), sensor frame
        (duplicated leading samples already removed).
    first_index
        The device's sample index of the first sample.
    sensor_time_s
        Device time of every sample (seconds; the driver's clock, see
        :attr:`sensors.devices.SensorDriver.timestamps`).
    received_s
        Host receive time of the notification on the hub timeline.
    seq
        The packet's sequence number, when the protocol has one.
    """

    sensor_index: int
    sensor_id: str
    placement: str | None
    kind: str
    t_s: np.ndarray
    acc_mps2: np.ndarray
    gyr_radps: np.ndarray
    first_index: int
    sensor_time_s: np.ndarray
    received_s: float
    seq: int | None = None

    @property
    def n_samples(self) -> int:
        """Samples in the block."""
        return int(self.acc_mps2.shape[0])

    @property
    def sensor_time_us(self) -> np.ndarray:
        """Device time of every sample in integer microseconds."""
        return np.rint(self.sensor_time_s * 1e6).astype(np.int64)


@dataclass(frozen=True)
class StateEvent:
    """A sensor changed connection state."""

    sensor_index: int
    sensor_id: str
    state: LinkState
    previous: LinkState
    t_s: float
    reason: str = ""
    attempt: int = 0

    def to_dict(self) -> dict:
        """JSON-ready (the recording's ``connection`` EVENT)."""
        return {
            "kind": "connection",
            "sensor": self.sensor_index,
            "sensor_id": self.sensor_id,
            "state": self.state.value,
            "previous": self.previous.value,
            "t_s": self.t_s,
            "reason": self.reason,
            "attempt": self.attempt,
        }


@dataclass(frozen=True)
class GapEvent:
    """Samples of a sensor were lost (see :class:`sensors.gaps.Gap`); times on the hub timeline."""

    sensor_index: int
    sensor_id: str
    gap: Gap
    start_s: float
    end_s: float

    @property
    def samples(self) -> int:
        """Number of lost samples."""
        return self.gap.samples


Subscriber = Callable[[Any], None]


@dataclass
class _Subscription:
    on_block: Subscriber | None = None
    on_state: Subscriber | None = None
    on_gap: Subscriber | None = None
    on_stats: Subscriber | None = None
    queue: asyncio.Queue | None = None
    kinds: frozenset[str] = frozenset()


# ----------------------------------------------------------------------- one sensor link


@dataclass
class _Link:
    """Everything the hub keeps per sensor."""

    index: int
    spec: SensorSpec
    sensor_id: str
    driver: SensorDriver | None = None
    state: LinkState = LinkState.IDLE
    client: BleakClient | None = None
    meter: LinkMeter = field(default_factory=LinkMeter)
    tracker: GapTracker | None = None
    clock: ClockModel = field(default_factory=ClockModel)
    info: dict = field(default_factory=dict)
    task: asyncio.Task | None = None
    disconnected: asyncio.Event | None = None
    streaming_once: bool = False
    last_n: int = 0
    stop_index: int | None = None


# -------------------------------------------------------------------------------- hub


class StreamHub:
    """Connect, configure and stream 1-4 sensors; deliver blocks, gaps, states, stats.

    Parameters
    ----------
    sensors
        What to stream (:class:`SensorSpec`, at most :data:`MAX_SENSORS`).
    config
        Rate and ranges asked of every sensor (:class:`StreamSettings`, or a Poise
        ``SensorConfig``); each driver picks its nearest supported configuration
        (:meth:`configs`).
    transport
        ``None`` (platform Bluetooth), a ``VirtualLink`` or a Bumble transport string.
    recorder
        A :class:`~sensors.recording.RecordingWriter` whose header lists the sensors in
        the same order (see :meth:`recording_metadata`), or ``None``. The hub writes
        notifications, gaps and events; the owner closes it.
    mtu
        ATT MTU to request (Bumble backend; platform backends negotiate themselves).
    scan_timeout_s, connect_timeout_s
        Timeouts of the initial scan and of one connection attempt.
    reconnect_timeout_s
        Give up (state ``failed``) after trying this long to get a lost sensor back.
    backoff_s
        Waits between reconnection attempts (the last one repeats).
    stats_interval_s
        How often :class:`LinkStats` are published.
    t0_monotonic
        Origin of the hub timeline (``time.monotonic()`` seconds); default the recorder's
        start, else the hub's creation.

    Examples
    --------
    ::

        hub = StreamHub([SensorSpec(name="Poise-0001", placement="lower-back")],
                        config=StreamSettings(200), transport=link)
        async with hub:
            async for sb in hub.blocks():
                print(sb.sensor_id, sb.t_s[0], sb.acc_mps2.shape)
    """

    def __init__(
        self,
        sensors: list[SensorSpec],
        *,
        config: Any = None,
        transport: Any = None,
        recorder: Any = None,
        mtu: int | None = None,
        scan_timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        reconnect_timeout_s: float = 30.0,
        backoff_s: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0),
        stats_interval_s: float = 1.0,
        t0_monotonic: float | None = None,
    ) -> None:
        if not 1 <= len(sensors) <= MAX_SENSORS:
            raise ValueError(f"StreamHub takes 1 to {MAX_SENSORS} sensors, got {len(sensors)}")
        self.config = config or StreamSettings()
        self.transport = transport
        self.recorder: Any = None
        self._rec_shift_s = 0.0  # hub timeline -> recorder timeline
        self.mtu = mtu
        self.scan_timeout_s = scan_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_timeout_s = reconnect_timeout_s
        self.backoff_s = tuple(backoff_s) or (0.5,)
        self.stats_interval_s = stats_interval_s
        if t0_monotonic is None and recorder is not None:
            t0_monotonic = recorder.metadata.get("start", {}).get("monotonic_s")
        self.t0_monotonic = time.monotonic() if t0_monotonic is None else float(t0_monotonic)
        ids: list[str] = []
        for i, s in enumerate(sensors):
            sid = s.sensor_id or s.placement or s.name or f"sensor-{i}"
            if sid in ids:
                sid = f"{sid}-{i}"
            ids.append(sid)
        self._links = [_Link(i, s, ids[i]) for i, s in enumerate(sensors)]
        for lk in self._links:
            if lk.spec.kind is not None:
                self._make_driver(lk)
        if recorder is not None:
            self.attach_recorder(recorder)
        self._subs: list[_Subscription] = []
        # notifications waiting for the drain (lk, monotonic arrival, channel, bytes)
        self._pending: collections.deque[tuple[_Link, float, int, bytes]] = collections.deque()
        self._drain_handle: asyncio.Handle | None = None
        self._drained_for_stop = False
        self._stats_task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._started = False
        self.subscriber_errors = 0

    def _make_driver(self, lk: _Link) -> SensorDriver:
        """The link's driver (once its kind is known), tracker and clock model."""
        cls = devices.driver_for(lk.spec.kind)
        cfg = self.config
        config = cls.choose_config(
            float(cfg.sampling_rate_hz), float(cfg.acc_range_g), float(cfg.gyro_range_dps)
        )
        lk.driver = cls(config)
        lk.tracker = GapTracker(
            float(config.sampling_rate_hz), seq_modulus=lk.driver.decoder.seq_modulus
        )
        lk.clock = ClockModel(max_drift_ppm=cls.max_drift_ppm)
        return lk.driver

    # -- public API ------------------------------------------------------------------

    @property
    def sensor_ids(self) -> list[str]:
        """Sensor ids in index order."""
        return [lk.sensor_id for lk in self._links]

    @property
    def states(self) -> dict[str, LinkState]:
        """Current state per sensor id."""
        return {lk.sensor_id: lk.state for lk in self._links}

    def now_s(self) -> float:
        """Current host time on the hub timeline."""
        return time.monotonic() - self.t0_monotonic

    def driver(self, sensor_index: int) -> SensorDriver:
        """The driver of a sensor (its kind must be known: given, or found by the scan)."""
        lk = self._links[sensor_index]
        return lk.driver if lk.driver is not None else self._make_driver(lk)

    def configs(self) -> list[Any]:
        """The configuration each sensor's driver chose (rate, ranges), in index order."""
        return [self.driver(i).config for i in range(len(self._links))]

    def recording_metadata(self) -> list[dict]:
        """The ``sensors`` list for a recording header (same order as the hub)."""
        out = []
        for lk in self._links:
            drv = self.driver(lk.index)
            dev = lk.spec.device
            out.append(
                {
                    "id": lk.sensor_id,
                    "name": lk.spec.name or (dev.name if dev else None),
                    "address": lk.spec.address or (dev.address if dev else None),
                    "placement": lk.spec.placement,
                    "config": drv.header_config(),
                    "firmware": lk.info.get("firmware_version"),
                    "driver": drv.kind,
                    "device": {
                        "kind": drv.kind,
                        "model": lk.info.get("model") or drv.default_model,
                        "firmware": lk.info.get("firmware_version"),
                    },
                }
            )
        return out

    def subscribe(
        self,
        on_block: Subscriber | None = None,
        on_state: Subscriber | None = None,
        on_gap: Subscriber | None = None,
        on_stats: Subscriber | None = None,
    ) -> Callable[[], None]:
        """Register callbacks; returns a function that unsubscribes.

        Callbacks run on the hub's event loop thread (with :class:`HubThread`: not the GUI
        thread; marshal with a Qt signal). ``on_block(StreamBlock)``,
        ``on_state(StateEvent)``, ``on_gap(GapEvent)``, ``on_stats(list[LinkStats])``.
        An exception in a callback is logged and counted, the stream goes on.
        """
        sub = _Subscription(on_block, on_state, on_gap, on_stats)
        self._subs.append(sub)

        def unsubscribe() -> None:
            if sub in self._subs:
                self._subs.remove(sub)

        return unsubscribe

    async def blocks(self) -> AsyncIterator[StreamBlock]:
        """Async iterator over every delivered :class:`StreamBlock` until the hub stops."""
        async for _kind, item in self.events(kinds=("block",)):
            yield item

    async def events(
        self, kinds: tuple[str, ...] = ("block", "state", "gap", "stats")
    ) -> AsyncIterator[tuple[str, Any]]:
        """Async iterator of ``(kind, item)`` for the chosen kinds, until the hub stops.

        The queue is unbounded: a consumer that falls behind costs memory, never data.
        """
        q: asyncio.Queue = asyncio.Queue()
        sub = _Subscription(queue=q, kinds=frozenset(kinds))
        self._subs.append(sub)
        try:
            while True:
                kind, item = await q.get()
                if kind == "_end":
                    return
                yield kind, item
        finally:
            if sub in self._subs:
                self._subs.remove(sub)

    async def __aenter__(self) -> StreamHub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, wait_streaming: bool = True) -> StreamHub:
        """Find the sensors (scan if needed), connect, configure, start streaming.

        Returns when every sensor streams (or raises the first sensor's error if
        ``wait_streaming``; sensors that are found keep trying in the background).

        Raises
        ------
        SensorNotFound
            A named sensor was not seen within ``scan_timeout_s``.
        StreamError
            A sensor could not be connected or configured.
        """
        if self._started:
            raise StreamError("StreamHub.start called twice")
        self._started = True
        self._loop = asyncio.get_running_loop()
        try:
            await self._resolve_devices()
        except BaseException:
            await self.stop()
            raise
        ready: list[asyncio.Future] = []
        for lk in self._links:
            if lk.driver is None:
                self._make_driver(lk)
            fut: asyncio.Future = self._loop.create_future()
            ready.append(fut)
            lk.task = asyncio.create_task(self._run_link(lk, fut), name=f"poise-{lk.sensor_id}")
        self._stats_task = asyncio.create_task(self._stats_loop(), name="poise-stream-stats")
        if wait_streaming:
            try:
                await asyncio.gather(*ready)
            except BaseException:
                await self.stop()
                raise
        return self

    async def stop(self) -> None:
        """Stop streaming (each driver's stop, unsubscribe, disconnect), drain, end iterators."""
        if self._stopping:
            return
        self._stopping = True
        for lk in self._links:
            if lk.disconnected is not None:
                lk.disconnected.set()
        tasks = [lk.task for lk in self._links if lk.task is not None]
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=5.0)
            for t in pending:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._stats_task is not None:
            self._stats_task.cancel()
            await asyncio.gather(self._stats_task, return_exceptions=True)
        if self._drain_handle is not None:
            self._drain_handle.cancel()
        self._drain()  # what arrived before the links stopped; later arrivals are not taken
        self._drained_for_stop = True
        for lk in self._links:
            if lk.state != LinkState.STREAMING:
                self._close_open_gap(lk)
            else:
                self._close_trailing_gap(lk)
        self._publish_stats()
        for lk in self._links:
            self._set_state(lk, LinkState.STOPPED, "stopped by the user")
        self.detach_recorder()
        for sub in list(self._subs):
            if sub.queue is not None:
                sub.queue.put_nowait(("_end", None))

    def stats(self) -> list[LinkStats]:
        """Current :class:`LinkStats` of every sensor."""
        now = time.monotonic()
        out = []
        for lk in self._links:
            tr = lk.tracker
            p50, p99 = lk.meter.latency_ms()
            self._update_min_latency(lk)
            if lk.driver is not None and lk.driver.battery_pct is not None:
                lk.meter.battery_pct = lk.driver.battery_pct
            out.append(
                LinkStats(
                    sensor_index=lk.index,
                    sensor_id=lk.sensor_id,
                    placement=lk.spec.placement,
                    state=lk.state.value,
                    packets_received=tr.packets_received if tr else 0,
                    samples_received=tr.samples_received if tr else 0,
                    packets_per_s=lk.meter.packets_per_s(now),
                    samples_lost=tr.samples_lost if tr else 0,
                    packets_lost=tr.packets_lost if tr else 0,
                    loss_pct=100.0 * tr.loss_fraction if tr else 0.0,
                    crc_errors=lk.meter.crc_errors,
                    duplicates=tr.duplicates if tr else 0,
                    latency_ms=p50,
                    latency_p99_ms=p99,
                    drift_ppm=lk.clock.drift_ppm,
                    battery_pct=lk.meter.battery_pct,
                    rssi_dbm=lk.meter.rssi_dbm,
                    reconnects=lk.meter.reconnects,
                    mtu=lk.meter.mtu,
                    kind=lk.driver.kind if lk.driver is not None else (lk.spec.kind or ""),
                    rate_hz=float(lk.driver.config.sampling_rate_hz) if lk.driver else 0.0,
                )
            )
        return out

    def gaps(self, sensor_index: int) -> list[Gap]:
        """Every gap reported for a sensor so far."""
        tr = self._links[sensor_index].tracker
        return list(tr.gaps) if tr else []

    def clock_fit(self, sensor_index: int):
        """The sensor's current :class:`~sensors.clock.ClockFit` (``None`` before data)."""
        return self._links[sensor_index].clock.fit_

    def device_info(self, sensor_index: int) -> dict:
        """What the sensor's driver read from the device (model, firmware, serial...)."""
        return dict(self._links[sensor_index].info)

    # -- discovery -------------------------------------------------------------------

    async def _resolve_devices(self) -> None:
        missing = [lk for lk in self._links if lk.spec.device is None]
        if not missing:
            return
        for lk in missing:
            self._set_state(lk, LinkState.SCANNING)
        wanted = [w for lk in missing if (w := lk.spec.name or lk.spec.address) is not None]
        if len(wanted) < len(missing):
            raise StreamError("a SensorSpec needs a device, a name or an address")
        results = await scan(self.scan_timeout_s, transport=self.transport, names=wanted)
        by_key: dict[str | None, ScanResult] = {}
        for r in results:
            by_key.setdefault(r.address, r)
            by_key.setdefault(r.name, r)
        absent: list[str] = []
        for lk in missing:
            found = by_key.get(lk.spec.address or "") or by_key.get(lk.spec.name or "")
            if found is None:
                absent.append(lk.spec.label)
                self._set_state(lk, LinkState.FAILED, "not found in the scan")
                continue
            lk.spec.device = found.device
            if lk.spec.kind is None:
                lk.spec.kind = found.kind
                self._make_driver(lk)
            lk.meter.rssi_dbm = found.rssi_dbm
            lk.meter.battery_pct = found.battery_pct
        if absent:
            seen = ", ".join(f"{r.name} ({r.address}, {r.kind})" for r in results) or "none"
            raise SensorNotFound(
                f"sensor(s) {', '.join(absent)} not found within {self.scan_timeout_s:g} s; "
                f"sensors seen: {seen}"
            )

    # -- connection state machine ----------------------------------------------------

    def _set_state(self, lk: _Link, state: LinkState, reason: str = "", attempt: int = 0) -> None:
        if lk.state == state:
            return
        ev = StateEvent(lk.index, lk.sensor_id, state, lk.state, self.now_s(), reason, attempt)
        lk.state = state
        logger.info("%s: %s -> %s %s", lk.sensor_id, ev.previous.value, state.value, reason)
        self._record_event(ev.to_dict())
        self._emit("state", ev)

    async def _run_link(self, lk: _Link, ready: asyncio.Future) -> None:
        """Connect / stream / reconnect loop of one sensor."""
        lost_at: float | None = None
        attempt = 0
        while not self._stopping:
            self._set_state(
                lk,
                LinkState.RECONNECTING if lk.streaming_once else LinkState.CONNECTING,
                attempt=attempt,
            )
            try:
                await self._connect_and_start(lk)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # BleakError, TimeoutError, DriverError, OSError
                await self._drop_client(lk)
                if self._stopping:
                    break
                reason = f"{type(exc).__name__}: {exc}"
                logger.info("%s: attempt %d failed: %s", lk.sensor_id, attempt, reason)
                if not lk.streaming_once and attempt >= 2:
                    self._set_state(lk, LinkState.FAILED, reason)
                    if not ready.done():
                        ready.set_exception(
                            StreamError(f"sensor {lk.sensor_id}: cannot start streaming: {reason}")
                        )
                    return
                if lost_at is not None and time.monotonic() - lost_at > self.reconnect_timeout_s:
                    self._set_state(lk, LinkState.FAILED, f"gave up reconnecting: {reason}")
                    return
                delay = self.backoff_s[min(attempt, len(self.backoff_s) - 1)]
                attempt += 1
                await self._sleep_unless_stopping(max(delay, 0.05))
                continue
            if self._stopping:  # connected while the hub was being stopped
                await self._stop_sensor(lk)
                break
            # streaming
            if lk.streaming_once and lost_at is not None:
                lk.meter.reconnects += 1
            lk.streaming_once = True
            attempt = 0
            lost_at = None
            self._set_state(lk, LinkState.STREAMING, f"MTU {lk.meter.mtu}")
            if not ready.done():
                ready.set_result(None)
            assert lk.disconnected is not None
            await lk.disconnected.wait()
            if self._stopping:
                await self._stop_sensor(lk)
                break
            # link lost
            lost_at = time.monotonic()
            if lk.tracker is not None:
                lk.tracker.mark_link_lost()
            self._set_state(lk, LinkState.DISCONNECTED, "link lost")
            await self._drop_client(lk)
            delay = self.backoff_s[0]
            if delay > 0:
                await self._sleep_unless_stopping(delay)
        if not ready.done():
            ready.set_exception(StreamError(f"sensor {lk.sensor_id}: stopped before streaming"))

    async def _sleep_unless_stopping(self, delay: float) -> None:
        end = time.monotonic() + delay
        while not self._stopping and time.monotonic() < end:
            await asyncio.sleep(min(0.05, end - time.monotonic()))

    async def _connect_and_start(self, lk: _Link) -> None:
        _, client_kw = _backend_kwargs(self.transport, self.mtu)
        lk.disconnected = asyncio.Event()
        loop = self._loop
        assert loop is not None
        ev = lk.disconnected
        drv = lk.driver
        assert drv is not None and lk.spec.device is not None

        def on_disconnect(_client: BleakClient) -> None:
            loop.call_soon_threadsafe(ev.set)

        client = BleakClient(
            lk.spec.device,
            disconnected_callback=on_disconnect,
            timeout=self.connect_timeout_s,
            **client_kw,
        )
        lk.client = client
        await asyncio.wait_for(client.connect(), self.connect_timeout_s + 1.0)
        lk.meter.mtu = int(client.mtu_size)
        if not lk.info:
            await self._read_device_info(lk, client)
        try:
            await drv.start(client, self._notify_callback(lk), resume=lk.streaming_once)
        except DriverError as exc:
            raise ControlPointError(f"sensor {lk.sensor_id}: {exc}") from None
        if not lk.streaming_once and lk.tracker is not None:
            how = drv.fresh_start()
            if how is not None:
                lk.tracker.expect_fresh_start(how)
        if ev.is_set():
            raise BleakError("disconnected while starting the stream")

    async def _read_device_info(self, lk: _Link, client: BleakClient) -> None:
        drv = lk.driver
        assert drv is not None
        info = await drv.read_info(client)
        info = dict(info)
        info.setdefault("model", drv.default_model)
        lk.info = info
        if drv.battery_pct is not None:
            lk.meter.battery_pct = drv.battery_pct
        self._record_event(
            {
                "kind": "device_info",
                "sensor": lk.index,
                "sensor_id": lk.sensor_id,
                "t_s": self.now_s(),
                "device_kind": drv.kind,
                **{k: v for k, v in info.items() if k != "info"},
            }
        )

    async def _stop_sensor(self, lk: _Link) -> None:
        client = lk.client
        if client is not None and client.is_connected and lk.driver is not None:
            with contextlib.suppress(Exception):
                lk.stop_index = await asyncio.wait_for(lk.driver.stop(client), 5.0)
        await self._drop_client(lk)

    async def _drop_client(self, lk: _Link) -> None:
        client, lk.client = lk.client, None
        if lk.driver is not None:
            lk.driver.disconnected()
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2.0)

    # -- notification callback (enqueue only) ----------------------------------------

    def _notify_callback(self, lk: _Link) -> Callable[[int, bytes], None]:
        pending = self._pending
        drv = lk.driver
        loop = self._loop
        assert drv is not None and loop is not None

        def on_notify(channel: int, data: bytes) -> None:
            t = time.monotonic()
            try:
                drv.on_notification(channel, data)
            except Exception:  # a driver bug must not kill the BLE callback
                logger.exception("%s: driver failed on a notification", lk.sensor_id)
            if self._drained_for_stop:
                return
            pending.append((lk, t, channel, data))
            if self._drain_handle is None:  # the first of this turn: one drain for all
                self._drain_handle = loop.call_soon(self._drain)

        return on_notify

    # -- consumer: decode, gaps, clock, recorder, subscribers ------------------------

    def _drain(self) -> None:
        """Process every pending notification, in arrival order (one loop callback for
        all that arrived in an event-loop turn: no task wake-up or future per packet)."""
        self._drain_handle = None
        pending = self._pending
        while pending:
            item = pending.popleft()
            try:
                self._process(*item)
            except Exception:  # never let one notification kill the stream
                logger.exception("stream consumer failed on a notification")

    def _process(self, lk: _Link, t_mono: float, channel: int, raw: bytes) -> None:
        drv = lk.driver
        assert drv is not None
        try:
            frames = drv.decoder.feed(channel, raw)
        except DecodeError as exc:
            lk.meter.crc_errors += 1
            logger.debug("%s: notification rejected: %s", lk.sensor_id, exc)
            return
        recv_s = t_mono - self.t0_monotonic
        blocks = []
        for frame in frames:
            sb = self._accept_frame(lk, t_mono, frame)
            if sb is not None:
                blocks.append(sb)
        how = drv.record_as(channel)
        if how is not None and (blocks or not frames):
            self._record_notification(lk, how, channel, raw, recv_s)
        while drv.events:
            ev = drv.events.pop(0)
            self._record_event({"sensor": lk.index, "t_s": self.now_s(), **ev})
        if drv.battery_pct is not None:
            lk.meter.battery_pct = drv.battery_pct
        for sb in blocks:
            if self._subs:
                self._emit("block", sb)

    def _accept_frame(self, lk: _Link, t_mono: float, frame: Frame) -> StreamBlock | None:
        drv, tr = lk.driver, lk.tracker
        assert drv is not None and tr is not None
        n = frame.n_samples
        if n == 0:
            return None
        rate = float(drv.config.sampling_rate_hz)
        verdict = tr.accept(frame.seq, frame.first_index, n)
        if verdict.action == "duplicate":
            return None
        gap = verdict.gap
        if verdict.action == "reset":
            lost = 0
            fit = lk.clock.fit_
            nxt = tr.next_expected
            expected_host = None
            if fit is not None and nxt is not None:
                expected_host = float(fit.to_host(drv.decoder.sensor_time_s(nxt)))
                first_host = t_mono - (n - 1) / rate
                lost = max(0, round((first_host - expected_host) * rate))
            frame = drv.decoder.rebase(frame, (nxt or 0) + lost)
            lk.clock.reset()
            gap = tr.restart(frame.seq, frame.first_index, n, lost)
            if gap is not None and expected_host is not None:
                gap = replace(
                    gap,
                    sampling_rate_hz=rate,
                    start_host_s=expected_host,
                    end_host_s=expected_host + gap.samples / rate,
                )
            logger.warning("%s: device counter restarted; %d samples lost", lk.sensor_id, lost)
        lk.last_n = n
        lk.clock.update(float(frame.sensor_time_s[-1]), t_mono)
        fit = lk.clock.fit_
        assert fit is not None
        host = np.asarray(fit.to_host(frame.sensor_time_s), dtype=np.float64)
        lk.meter.on_packet(t_mono, t_mono - float(host[-1]))
        t0 = self.t0_monotonic
        if gap is not None:
            dec = drv.decoder
            if math.isnan(gap.start_host_s):
                s0 = dec.sensor_time_s(gap.start_index)
                s1 = dec.sensor_time_s(gap.end_index)
                gs, ge = fit.to_host(np.array([s0, s1]))
                gap = replace(
                    gap,
                    start_sensor_s=s0,
                    sampling_rate_hz=rate,
                    start_host_s=float(gs),
                    end_host_s=float(ge),
                )
            if tr.gaps and tr.gaps[-1].start_index == gap.start_index:
                tr.gaps[-1] = gap
            ev = GapEvent(lk.index, lk.sensor_id, gap, gap.start_host_s - t0, gap.end_host_s - t0)
            self._record_gap(lk, ev)
            self._emit("gap", ev)
        k = verdict.skip
        acc, gyr, sensor_s = frame.acc_mps2, frame.gyr_radps, frame.sensor_time_s
        if k:  # a partly new packet: its new samples only
            host, acc, gyr, sensor_s = host[k:], acc[k:], gyr[k:], sensor_s[k:]
        return StreamBlock(
            sensor_index=lk.index,
            sensor_id=lk.sensor_id,
            placement=lk.spec.placement,
            kind=drv.kind,
            t_s=host - t0,
            acc_mps2=acc,
            gyr_radps=gyr,
            first_index=frame.first_index + k,
            sensor_time_s=sensor_s,
            received_s=t_mono - t0,
            seq=frame.seq,
        )

    def _close_trailing_gap(self, lk: _Link) -> None:
        """Packets lost at the very end of a stream, found from the device at stop.

        Drivers whose protocol can say which sample the device had taken just before it
        stopped (a Poise wearable's TIME_SYNC before STOP) return that index from
        ``stop``; once the queue is drained, complete packets (of the last packet size)
        between the next expected sample and that index never arrived. A lower bound: a
        packet completed between that query and the stop is not counted. Other devices
        cannot tell (see ``detects_loss_at_end`` and docs/using-sensors.md).
        """
        tr, fit, drv = lk.tracker, lk.clock.fit_, lk.driver
        stop = lk.stop_index
        if tr is None or fit is None or drv is None or stop is None or lk.last_n <= 0:
            return
        nxt = tr.next_expected
        if nxt is None:
            return
        rate = float(drv.config.sampling_rate_hz)
        n_pk = int((stop - nxt + 1) // lk.last_n)
        if n_pk <= 0 or n_pk * lk.last_n > 60 * rate:
            return
        samples = n_pk * lk.last_n
        s0 = drv.decoder.sensor_time_s(nxt)
        gs, ge = fit.to_host(np.array([s0, drv.decoder.sensor_time_s(nxt + samples)]))
        gap = Gap(nxt, samples, n_pk, "loss", s0, rate, float(gs), float(ge))
        self._book_gap(lk, tr, gap)

    def _book_gap(self, lk: _Link, tr: GapTracker, gap: Gap) -> None:
        """A gap the tracker could not see in the indices: count it, record it, emit it."""
        tr.book_external(gap)
        t0 = self.t0_monotonic
        ev = GapEvent(lk.index, lk.sensor_id, gap, gap.start_host_s - t0, gap.end_host_s - t0)
        self._record_gap(lk, ev)
        self._emit("gap", ev)

    def _close_open_gap(self, lk: _Link) -> None:
        """At stop, a sensor that is not streaming lost everything since its last frame.

        The device cannot tell how much (it is gone), so the span runs from the next
        expected sample to now on the host clock and the count is span x rate.
        """
        tr, fit, drv = lk.tracker, lk.clock.fit_, lk.driver
        if tr is None or fit is None or drv is None or tr.next_expected is None:
            return
        nxt = tr.next_expected
        rate = float(drv.config.sampling_rate_hz)
        s0 = drv.decoder.sensor_time_s(nxt)
        start_host = float(fit.to_host(s0))
        samples = int((time.monotonic() - start_host) * rate / fit.scale)
        if samples <= 0:
            return
        gap = Gap(
            start_index=nxt,
            samples=samples,
            packets=-1,
            cause="link",
            start_sensor_s=s0,
            sampling_rate_hz=rate,
            start_host_s=start_host,
            end_host_s=start_host + samples / rate * fit.scale,
        )
        self._book_gap(lk, tr, gap)

    # -- recorder ---------------------------------------------------------------------

    def attach_recorder(self, recorder: Any) -> None:
        """Start writing to ``recorder`` (a :class:`~sensors.recording.RecordingWriter`).

        May be called before :meth:`start` or while streaming (a "Record" button): from
        then on every accepted notification, gap and event goes to it, with times
        relative to the recorder's own start. Its header must list the hub's sensors in
        order (:meth:`recording_metadata`). Call on the hub's loop (``HubThread.call``)
        while streaming.
        """
        start = recorder.metadata.get("start", {}).get("monotonic_s")
        self._rec_shift_s = 0.0 if start is None else self.t0_monotonic - float(start)
        self.recorder = recorder
        for lk in self._links:
            if lk.info:
                self._record_event(
                    {
                        "kind": "device_info",
                        "sensor": lk.index,
                        "sensor_id": lk.sensor_id,
                        "t_s": self.now_s(),
                        "device_kind": lk.driver.kind if lk.driver else lk.spec.kind,
                        **{k: v for k, v in lk.info.items() if k != "info"},
                    }
                )
            if lk.state != LinkState.IDLE:
                self._record_event(
                    StateEvent(
                        lk.index, lk.sensor_id, lk.state, lk.state, self.now_s(), "recording"
                    ).to_dict()
                )

    def detach_recorder(self) -> Any:
        """Stop writing (after a final ``link_stats`` event); returns the recorder.

        The owner closes it. Called by :meth:`stop`.
        """
        rec = self.recorder
        if rec is not None:
            self._record_event(
                {
                    "kind": "link_stats",
                    "t_s": self.now_s(),
                    "sensors": [s.to_dict() for s in self.stats()],
                }
            )
        self.recorder = None
        return rec

    def _record_event(self, event: dict) -> None:
        rec = self.recorder
        if rec is None or getattr(rec, "closed", False):
            return
        ev = dict(event)
        if isinstance(ev.get("t_s"), float | int):
            ev["t_s"] = float(ev["t_s"]) + self._rec_shift_s
        try:
            rec.write_event(ev)
        except Exception:
            logger.exception("recorder refused an event")

    def _record_notification(
        self, lk: _Link, how: str, channel: int, raw: bytes, recv_s: float
    ) -> None:
        rec = self.recorder
        if rec is None or getattr(rec, "closed", False):
            return
        t = recv_s + self._rec_shift_s
        try:
            if how == "packet":
                rec.write_packet(lk.index, raw, t)
            else:
                rec.write_notification(lk.index, channel, raw, t)
        except Exception:
            logger.exception("%s: recorder refused a notification", lk.sensor_id)

    def _record_gap(self, lk: _Link, ev: GapEvent) -> None:
        rec = self.recorder
        if rec is None or getattr(rec, "closed", False):
            return
        g = ev.gap
        shift = self._rec_shift_s
        kw: dict[str, Any] = {
            "start_s": ev.start_s + shift,
            "end_s": ev.end_s + shift,
            "cause": g.cause,
            "packets": g.packets,
        }
        drv = lk.driver
        if drv is not None:
            kw.update(drv.gap_record_keys(g))
        try:
            rec.write_gap(lk.index, samples=g.samples, reason=g.cause, **kw)
        except Exception:
            logger.exception("%s: recorder refused a gap", lk.sensor_id)

    # -- delivery -------------------------------------------------------------------

    def _emit(self, kind: str, item: Any) -> None:
        for sub in list(self._subs):
            if sub.queue is not None:
                if kind in sub.kinds:
                    sub.queue.put_nowait((kind, item))
                continue
            cb = getattr(sub, f"on_{kind}")
            if cb is None:
                continue
            try:
                cb(item)
            except Exception:
                self.subscriber_errors += 1
                logger.exception("subscriber %r failed on %s", cb, kind)

    def _update_min_latency(self, lk: _Link) -> None:
        fit = lk.clock.fit_
        sync = lk.driver.latency_sync() if lk.driver is not None else None
        if sync is None or fit is None:
            return
        mid, device_s = sync
        env = float(fit.to_host(device_s))
        lk.meter.min_latency_s = max(0.0, env - mid)

    def _publish_stats(self) -> None:
        if any(s.on_stats or (s.queue and "stats" in s.kinds) for s in self._subs):
            self._emit("stats", self.stats())

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.stats_interval_s)
            self._publish_stats()


# ------------------------------------------------------------------------- thread host


class HubThread:
    """Run a :class:`StreamHub` on its own asyncio loop in a daemon thread (for the GUI).

    Callbacks given to :meth:`StreamHub.subscribe` run on that thread; a Qt view must
    forward them with a signal (queued connection) and never touch widgets there.

    Examples
    --------
    ::

        hub = StreamHub(specs, config=cfg, transport=link_factory)
        runner = HubThread(hub)
        hub.subscribe(on_block=bridge.block_signal.emit, on_state=bridge.state_signal.emit)
        runner.start()        # blocks until streaming (or raises the start error)
        ...
        runner.stop()         # stops the hub, closes the loop, joins the thread

    ``setup`` (optional coroutine function taking the hub) runs on the loop before
    :meth:`StreamHub.start`, e.g. to create an emulator's ``VirtualLink`` there.
    """

    def __init__(self, hub: StreamHub, setup: Callable[[StreamHub], Any] | None = None) -> None:
        self.hub = hub
        self.setup = setup
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._teardown: list[Callable[[], Any]] = []

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the thread and the hub; raise what :meth:`StreamHub.start` raised."""
        self._thread = threading.Thread(target=self._main, name="poise-hub", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise StreamError(f"hub did not start within {timeout_s} s")
        if self._error is not None:
            err, self._error = self._error, None
            self._thread.join(timeout=5.0)
            raise err

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            if self.setup is not None:
                res = self.setup(self.hub)
                if asyncio.iscoroutine(res):
                    res = await res
                if callable(res):
                    self._teardown.append(res)
            await self.hub.start()

        try:
            loop.run_until_complete(boot())
        except BaseException as exc:  # report to the starting thread
            self._error = exc
            self._started.set()
            self._close_loop(loop)
            return
        self._started.set()
        loop.run_forever()
        self._close_loop(loop)

    def _close_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Tear down, then end what is left (as ``asyncio.run`` does) and close the loop.

        Bumble and the wearables leave short-lived tasks (a re-advertise after a link
        loss, a host's delayed close); closed with the loop still pending they printed
        "Task was destroyed but it is pending" at exit.
        """
        try:
            loop.run_until_complete(self._run_teardown())
            left = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    async def _run_teardown(self) -> None:
        for fn in reversed(self._teardown):
            with contextlib.suppress(Exception):
                res = fn()
                if asyncio.iscoroutine(res):
                    await res
        if self.hub.transport is not None:
            from sensors.bumble_backend import close_hosts

            with contextlib.suppress(Exception):
                await close_hosts()

    @classmethod
    def demo(
        cls,
        count: int | str | list[tuple[str, int]] = 1,
        *,
        config: Any = None,
        faults: str = "",
        scenario: str | None = None,
        placements: list[str] | None = None,
        recorder: Any = None,
        **hub_kw: Any,
    ) -> HubThread:
        """A hub on built-in virtual sensors (the demo), in a thread.

        The :class:`~sensors.emulator.Emulator` is created on the hub's loop when
        :meth:`start` runs and closed by :meth:`stop`; the sensors are reached through
        the full BLE stack (Bumble backend, in-process virtual link).

        Parameters
        ----------
        count
            ``N`` Poise wearables, or a ``--demo`` spec (``"polar-verity-sense:1,poise:1"``)
            or its parsed ``(kind, count)`` pairs (:func:`sensors.devices.parse_demo_spec`).
        config
            Rate and ranges asked of every sensor (default 100 Hz, 8 g, 2000 dps).
        faults
            Fault spec for every sensor (``"drop=0.05,disconnect-every=3s"``).
        scenario
            Synthetic motion (``sensors.scenarios``; default quiet standing).
        placements
            Placement per sensor (default lower-back, left-shank, right-shank, sternum).
        recorder, hub_kw
            Passed to :class:`StreamHub`.
        """
        from sensors.emulator import Emulator, TwinSpec

        pairs = count if isinstance(count, list) else devices.parse_demo_spec(count)
        config = config or StreamSettings()
        twin_specs = TwinSpec.from_demo(pairs)
        n = len(twin_specs)
        placements = placements or list(DEFAULT_ORDER[:n])
        addresses = Emulator.addresses(twin_specs)
        specs = [
            SensorSpec(
                name=ts.name,
                address=addresses[i],
                placement=placements[i],
                kind=devices.twin_driver_kind(ts.kind),
            )
            for i, ts in enumerate(twin_specs)
        ]
        hub = StreamHub(specs, config=config, recorder=recorder, **hub_kw)

        async def setup(h: StreamHub):
            from sensors.virtual_wearable import FaultConfig

            emu = Emulator(
                specs=twin_specs,
                rate_hz=config.sampling_rate_hz,
                scenario=scenario,
                faults=FaultConfig.parse(faults),
            )
            await emu.start()
            h.transport = emu.transport
            return emu.close

        runner = cls(hub, setup=setup)
        return runner

    def call(self, coro: Any) -> Future:
        """Run a coroutine on the hub's loop from any thread (a ``concurrent.futures.Future``)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def attach_recorder(self, recorder: Any, timeout_s: float = 5.0) -> None:
        """Start recording while streaming (thread-safe :meth:`StreamHub.attach_recorder`)."""

        async def go() -> None:
            self.hub.attach_recorder(recorder)

        self.call(go()).result(timeout_s)

    def detach_recorder(self, timeout_s: float = 5.0) -> Any:
        """Stop recording (thread-safe :meth:`StreamHub.detach_recorder`); close it after."""

        async def go() -> Any:
            return self.hub.detach_recorder()

        return self.call(go()).result(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the hub and the loop; join the thread (idempotent)."""
        loop, th = self.loop, self._thread
        if loop is None or th is None or not th.is_alive():
            return
        with contextlib.suppress(Exception):
            self.call(self.hub.stop()).result(timeout_s)
        loop.call_soon_threadsafe(loop.stop)
        th.join(timeout_s)
