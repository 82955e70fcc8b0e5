"""Stream 1-4 Poise wearables over BLE through bleak, on one timeline, losing nothing silently.

The public pieces:

* :func:`scan` lists Poise wearables (filtered by the Poise service UUID): name, address,
  RSSI, battery, and the ``BLEDevice`` to connect with.
* :class:`StreamHub` connects several sensors, configures them by control point, starts
  the stream, delivers :class:`StreamBlock` s to subscribers (callbacks and async
  iterators), writes raw packets, gaps and connection events to a
  :class:`~sensors.recording.RecordingWriter`, reconnects with backoff after a link loss,
  and publishes :class:`~sensors.stats.LinkStats` once a second.
* :class:`HubThread` runs a hub on an asyncio loop in a background thread (for the GUI).

BLE goes through bleak's public API only (``BleakScanner``, ``BleakClient``). ``transport``
selects the radio: ``None`` is bleak's platform backend (the computer's Bluetooth), a
:class:`~sensors.bumble_backend.VirtualLink` or a Bumble transport string
(``"usb:0"``, ``"tcp-client:127.0.0.1:PORT"``) selects Poise's Bumble backend, passed as
``backend=`` to every bleak call.

Data path (per packet; no per-sample Python loop)::

    notification -> codec.decode (in the bleak callback; ProtocolError is counted)
      -> asyncio.Queue -> consumer task: unwrap timestamp, GapTracker (gap / duplicate),
         ClockModel (sensor -> host time), recorder, subscribers

Times: ``t_s`` on the hub timeline is seconds since ``StreamHub.t0_monotonic`` (the
recording start when a recorder is given, so live and replayed times agree).
"""

from __future__ import annotations

import asyncio
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

from firmware_protocol import codec, gatt
from firmware_protocol.types import SampleBlock, SensorConfig
from sensors.clock import ClockModel, TimestampUnwrapper
from sensors.gaps import Gap, GapTracker
from sensors.stats import LinkMeter, LinkStats

logger = logging.getLogger(__name__)

#: Placement labels the app knows (free text is accepted too).
PLACEMENTS = ("lower-back", "left-shank", "right-shank", "sternum")
MAX_SENSORS = 4


# ----------------------------------------------------------------------------- errors


class StreamError(Exception):
    """Root of the streaming errors (what went wrong and with which sensor)."""


class SensorNotFound(StreamError):
    """A requested sensor did not show up in the scan."""


class ControlPointError(StreamError):
    """The sensor refused or did not answer a control point command."""


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
class ScanResult:
    """One Poise wearable seen in a scan.

    Attributes
    ----------
    name, address, rssi_dbm
        From the advertisement.
    battery_pct
        From the advertising data (Battery service data) if present, else read from the
        Battery Level characteristic when ``scan(read_battery=True)``, else ``None``.
    device
        The ``BLEDevice`` to connect with (keeps the backend's address details).
    """

    name: str
    address: str
    rssi_dbm: int | None
    battery_pct: int | None
    device: BLEDevice

    def to_dict(self) -> dict:
        """JSON-ready form (without the device handle)."""
        return {
            "name": self.name,
            "address": self.address,
            "rssi_dbm": self.rssi_dbm,
            "battery_pct": self.battery_pct,
        }


def _battery_from_adv(adv: AdvertisementData) -> int | None:
    for key in (gatt.BATTERY_SERVICE_UUID, gatt.SERVICE_UUID):
        data = adv.service_data.get(key)
        if data:
            b = data[0]
            return None if b == gatt.BATTERY_UNKNOWN or b > 100 else int(b)
    return None


def _is_poise(adv: AdvertisementData, name: str | None) -> bool:
    uuids = [u.lower() for u in adv.service_uuids]
    return gatt.SERVICE_UUID in uuids or bool(name and name.startswith(gatt.NAME_PREFIX))


async def scan(
    timeout_s: float = 5.0,
    *,
    transport: Any = None,
    read_battery: bool = False,
    names: list[str] | None = None,
    count: int | None = None,
) -> list[ScanResult]:
    """Scan for Poise wearables.

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
        Stop as soon as this many wearables were seen.

    Returns
    -------
    list of ScanResult
        Sorted by name.
    """
    scanner_kw, client_kw = _backend_kwargs(transport)
    found: dict[str, ScanResult] = {}
    done = asyncio.Event()
    wanted = {n for n in (names or [])}

    def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
        name = adv.local_name or device.name or ""
        if not _is_poise(adv, name):
            return
        prev = found.get(device.address)
        battery = _battery_from_adv(adv)
        if battery is None and prev is not None:
            battery = prev.battery_pct
        found[device.address] = ScanResult(
            name=name or (prev.name if prev else device.address),
            address=device.address,
            rssi_dbm=adv.rssi,
            battery_pct=battery,
            device=device,
        )
        seen = {r.name for r in found.values()} | set(found)
        if (wanted and wanted <= seen) or (count is not None and len(found) >= count):
            done.set()

    scanner = BleakScanner(on_adv, service_uuids=[gatt.SERVICE_UUID], **scanner_kw)
    async with scanner:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout_s)
    results = sorted(found.values(), key=lambda r: (r.name, r.address))
    if read_battery:
        out = []
        for r in results:
            if r.battery_pct is None:
                with contextlib.suppress(BleakError, TimeoutError, OSError):
                    async with BleakClient(r.device, timeout=5.0, **client_kw) as client:
                        v = await client.read_gatt_char(gatt.BATTERY_LEVEL_CHAR_UUID)
                        if v and v[0] <= 100:
                            r = replace(r, battery_pct=int(v[0]))
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
    """Which wearable to stream and where it is worn.

    Give a ``device`` from :func:`scan`, or a ``name``/``address`` the hub scans for.
    """

    name: str | None = None
    address: str | None = None
    placement: str | None = None
    device: BLEDevice | None = None
    sensor_id: str | None = None

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
    """Decoded samples of one packet, placed on the hub timeline.

    Attributes
    ----------
    sensor_index, sensor_id, placement
        Which sensor (index into the hub's sensors and the recording header).
    block
        The decoded :class:`SampleBlock` (duplicated leading samples already removed),
        with ``sensor_id`` and ``host_time_s`` (receive time on the hub timeline) set.
    t_s
        Host time of every sample, seconds since the hub's ``t0_monotonic``, from the
        sensor's clock model (so sensors line up).
    sensor_time_us
        Unwrapped sensor clock of every sample (int64).
    received_s
        Host receive time of the packet on the hub timeline.
    """

    sensor_index: int
    sensor_id: str
    placement: str | None
    block: SampleBlock
    t_s: np.ndarray
    sensor_time_us: np.ndarray
    received_s: float

    @property
    def acc_mps2(self) -> np.ndarray:
        """(n, 3) acceleration in m/s^2."""
        return self.block.acc_mps2

    @property
    def gyr_radps(self) -> np.ndarray:
        """(n, 3) angular velocity in rad/s."""
        return self.block.gyr_radps

    @property
    def n_samples(self) -> int:
        """Samples in the block."""
        return self.block.n_samples


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
    state: LinkState = LinkState.IDLE
    client: BleakClient | None = None
    meter: LinkMeter = field(default_factory=LinkMeter)
    tracker: GapTracker | None = None
    unwrapper: TimestampUnwrapper | None = None
    clock: ClockModel = field(default_factory=ClockModel)
    info: dict = field(default_factory=dict)
    task: asyncio.Task | None = None
    disconnected: asyncio.Event | None = None
    cp_waiters: dict[int, asyncio.Future] = field(default_factory=dict)
    sync: tuple[float, int] | None = None  # (host midpoint s, sensor time us as sent)
    sync_rtt_s: float = math.nan
    streaming_once: bool = False
    last_status: codec.Status | None = None
    last_n: int = 0
    stop_sensor_time_raw: int | None = None


# -------------------------------------------------------------------------------- hub


class StreamHub:
    """Connect, configure and stream 1-4 Poise wearables; deliver blocks, gaps, states, stats.

    Parameters
    ----------
    sensors
        What to stream (:class:`SensorSpec`, at most :data:`MAX_SENSORS`).
    config
        Rate and ranges sent to every sensor by SET_CONFIG.
    transport
        ``None`` (platform Bluetooth), a ``VirtualLink`` or a Bumble transport string.
    recorder
        A :class:`~sensors.recording.RecordingWriter` whose header lists the sensors in
        the same order (see :meth:`recording_metadata`), or ``None``. The hub writes
        packets, gaps and events; the owner closes it.
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
                        config=SensorConfig(200, 8, 2000), transport=link)
        async with hub:
            async for sb in hub.blocks():
                print(sb.sensor_id, sb.t_s[0], sb.acc_mps2.shape)
    """

    def __init__(
        self,
        sensors: list[SensorSpec],
        *,
        config: SensorConfig | None = None,
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
        self.config = config or SensorConfig()
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
            lk.tracker = GapTracker(self.config.sample_period_us)
        if recorder is not None:
            self.attach_recorder(recorder)
        self._subs: list[_Subscription] = []
        self._queue: asyncio.Queue | None = None
        self._consumer: asyncio.Task | None = None
        self._stats_task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._started = False
        self.subscriber_errors = 0

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

    def recording_metadata(self) -> list[dict]:
        """The ``sensors`` list for a recording header (same order as the hub)."""
        out = []
        for lk in self._links:
            dev = lk.spec.device
            out.append(
                {
                    "id": lk.sensor_id,
                    "name": lk.spec.name or (dev.name if dev else None),
                    "address": lk.spec.address or (dev.address if dev else None),
                    "placement": lk.spec.placement,
                    "config": self.config.to_dict(),
                    "firmware": lk.info.get("firmware_version"),
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
        self._queue = asyncio.Queue()
        self._consumer = asyncio.create_task(self._consume(), name="poise-stream-consumer")
        try:
            await self._resolve_devices()
        except BaseException:
            await self.stop()
            raise
        ready: list[asyncio.Future] = []
        for lk in self._links:
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
        """Stop streaming (STOP_STREAM, unsubscribe, disconnect), drain, end iterators."""
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
        if self._queue is not None and self._consumer is not None:
            await self._queue.put(None)
            await asyncio.gather(self._consumer, return_exceptions=True)
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

    # -- discovery -------------------------------------------------------------------

    async def _resolve_devices(self) -> None:
        missing = [lk for lk in self._links if lk.spec.device is None]
        if not missing:
            return
        for lk in missing:
            self._set_state(lk, LinkState.SCANNING)
        wanted = [lk.spec.name or lk.spec.address for lk in missing]
        if any(w is None for w in wanted):
            raise StreamError("a SensorSpec needs a device, a name or an address")
        results = await scan(self.scan_timeout_s, transport=self.transport, names=wanted)
        by_key = {}
        for r in results:
            by_key.setdefault(r.name, r)
            by_key.setdefault(r.address, r)
        absent = []
        for lk in missing:
            r = by_key.get(lk.spec.name or "") or by_key.get(lk.spec.address or "")
            if r is None:
                absent.append(lk.spec.label)
                self._set_state(lk, LinkState.FAILED, "not found in the scan")
                continue
            lk.spec.device = r.device
            lk.meter.rssi_dbm = r.rssi_dbm
            lk.meter.battery_pct = r.battery_pct
        if absent:
            seen = ", ".join(f"{r.name} ({r.address})" for r in results) or "none"
            raise SensorNotFound(
                f"sensor(s) {', '.join(absent)} not found within {self.scan_timeout_s:g} s; "
                f"Poise wearables seen: {seen}"
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
            except Exception as exc:  # BleakError, TimeoutError, ControlPointError, OSError
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

        def on_disconnect(_client: BleakClient) -> None:
            loop.call_soon_threadsafe(ev.set)

        assert lk.spec.device is not None
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
        # Subscribe before START so no packet is missed.
        await client.start_notify(gatt.CONTROL_POINT_CHAR_UUID, self._cp_callback(lk))
        await client.start_notify(gatt.STATUS_CHAR_UUID, self._status_callback(lk))
        await client.start_notify(gatt.DATA_CHAR_UUID, self._data_callback(lk))
        if not lk.streaming_once and lk.tracker is not None:
            # An idle sensor starts afresh at seq 0: packets lost before the first one that
            # arrives are then visible (SPEC.md 4.2).
            with contextlib.suppress(BleakError, codec.ProtocolError):
                st = codec.decode_status(await client.read_gatt_char(gatt.STATUS_CHAR_UUID))
                if st.state == gatt.StreamState.IDLE:
                    lk.tracker.expect_fresh_start()
        await self._command(lk, codec.Command(gatt.Opcode.SET_CONFIG, config=self.config))
        t_send = time.monotonic()
        resp = await self._command(
            lk, codec.Command(gatt.Opcode.TIME_SYNC, host_time_us=int(t_send * 1e6))
        )
        t_recv = time.monotonic()
        if resp.sensor_time_us is not None:
            lk.sync = ((t_send + t_recv) / 2.0, int(resp.sensor_time_us))
            lk.sync_rtt_s = t_recv - t_send
        await self._command(lk, codec.Command(gatt.Opcode.START_STREAM))
        if ev.is_set():
            raise BleakError("disconnected while starting the stream")

    async def _read_device_info(self, lk: _Link, client: BleakClient) -> None:
        info: dict[str, Any] = {}
        for key, uuid in (
            ("manufacturer", gatt.MANUFACTURER_NAME_CHAR_UUID),
            ("model", gatt.MODEL_NUMBER_CHAR_UUID),
            ("serial", gatt.SERIAL_NUMBER_CHAR_UUID),
            ("firmware_version", gatt.FIRMWARE_REVISION_CHAR_UUID),
            ("hardware_revision", gatt.HARDWARE_REVISION_CHAR_UUID),
        ):
            with contextlib.suppress(BleakError, KeyError, ValueError):
                if client.services.get_characteristic(uuid) is not None:
                    v = await client.read_gatt_char(uuid)
                    info[key] = bytes(v).decode("utf-8", "replace")
        with contextlib.suppress(BleakError, codec.ProtocolError):
            if client.services.get_characteristic(gatt.INFO_CHAR_UUID) is not None:
                doc = codec.decode_info(await client.read_gatt_char(gatt.INFO_CHAR_UUID))
                info["info"] = doc
                info.setdefault("firmware_version", doc.get("firmware_version"))
                info.setdefault("serial", doc.get("serial"))
        with contextlib.suppress(BleakError):
            if client.services.get_characteristic(gatt.BATTERY_LEVEL_CHAR_UUID) is not None:
                v = await client.read_gatt_char(gatt.BATTERY_LEVEL_CHAR_UUID)
                if v and v[0] <= 100:
                    lk.meter.battery_pct = int(v[0])
        lk.info = info
        self._record_event(
            {
                "kind": "device_info",
                "sensor": lk.index,
                "sensor_id": lk.sensor_id,
                "t_s": self.now_s(),
                **{k: v for k, v in info.items() if k != "info"},
            }
        )

    async def _command(self, lk: _Link, cmd: codec.Command, timeout_s: float = 3.0):
        client = lk.client
        assert client is not None and self._loop is not None
        op = int(cmd.opcode)
        old = lk.cp_waiters.pop(op, None)
        if old is not None and not old.done():
            old.cancel()
        fut: asyncio.Future = self._loop.create_future()
        lk.cp_waiters[op] = fut
        await client.write_gatt_char(
            gatt.CONTROL_POINT_CHAR_UUID, codec.encode_command(cmd), response=True
        )
        try:
            resp = await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise ControlPointError(
                f"sensor {lk.sensor_id}: no response to {gatt.Opcode(op).name} within {timeout_s} s"
            ) from None
        if not resp.ok:
            raise ControlPointError(
                f"sensor {lk.sensor_id}: {gatt.Opcode(op).name} refused "
                f"({getattr(resp.result, 'name', resp.result)})"
            )
        return resp

    async def _stop_sensor(self, lk: _Link) -> None:
        client = lk.client
        if client is not None and client.is_connected:
            # Sensor clock just before STOP: packets complete by then that never arrive
            # were lost at the very end (see _close_trailing_gap).
            with contextlib.suppress(Exception):
                resp = await asyncio.wait_for(
                    self._command(
                        lk,
                        codec.Command(
                            gatt.Opcode.TIME_SYNC, host_time_us=int(time.monotonic() * 1e6)
                        ),
                        1.0,
                    ),
                    1.5,
                )
                lk.stop_sensor_time_raw = resp.sensor_time_us
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._command(lk, codec.Command(gatt.Opcode.STOP_STREAM), 1.0), 1.5
                )
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.stop_notify(gatt.DATA_CHAR_UUID), 1.0)
        await self._drop_client(lk)

    async def _drop_client(self, lk: _Link) -> None:
        client, lk.client = lk.client, None
        for fut in lk.cp_waiters.values():
            if not fut.done():
                fut.cancel()
        lk.cp_waiters.clear()
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2.0)

    # -- notification callbacks (decode and enqueue only) ----------------------------

    def _data_callback(self, lk: _Link) -> Callable[[Any, bytearray], None]:
        q = self._queue
        config = self.config
        meter = lk.meter
        assert q is not None

        def on_data(_char: Any, data: bytearray) -> None:
            t = time.monotonic()
            raw = bytes(data)
            try:
                block = codec.decode(raw, config)
            except codec.ProtocolError as exc:
                meter.crc_errors += 1
                logger.debug("%s: packet rejected: %s", lk.sensor_id, exc)
                return
            q.put_nowait((lk, t, raw, block))

        return on_data

    def _status_callback(self, lk: _Link) -> Callable[[Any, bytearray], None]:
        def on_status(_char: Any, data: bytearray) -> None:
            try:
                st = codec.decode_status(bytes(data))
            except codec.ProtocolError as exc:
                logger.warning("%s: bad status notification: %s", lk.sensor_id, exc)
                return
            lk.last_status = st
            if st.battery_percent is not None:
                lk.meter.battery_pct = st.battery_percent
            if st.flags:
                self._record_event(
                    {
                        "kind": "sensor_status",
                        "sensor": lk.index,
                        "t_s": self.now_s(),
                        "state": int(st.state),
                        "flags": int(st.flags),
                        "battery_pct": st.battery_percent,
                        "dropped_samples": st.dropped_samples,
                    }
                )

        return on_status

    def _cp_callback(self, lk: _Link) -> Callable[[Any, bytearray], None]:
        def on_response(_char: Any, data: bytearray) -> None:
            try:
                resp = codec.decode_response(bytes(data))
            except codec.ProtocolError as exc:
                logger.warning("%s: bad control point response: %s", lk.sensor_id, exc)
                return
            fut = lk.cp_waiters.pop(int(resp.opcode), None)
            if fut is not None and not fut.done():
                fut.set_result(resp)

        return on_response

    # -- consumer: gaps, clock, recorder, subscribers --------------------------------

    async def _consume(self) -> None:
        q = self._queue
        assert q is not None
        while True:
            item = await q.get()
            if item is None:
                return
            try:
                self._process(*item)
            except Exception:  # never let one packet kill the stream
                logger.exception("stream consumer failed on a packet")

    def _process(self, lk: _Link, t_mono: float, raw: bytes, block: SampleBlock) -> None:
        period = self.config.sample_period_us
        n = block.n_samples
        modulus = 1 << int(getattr(block, "timestamp_bits", 32))
        if lk.tracker is None:
            lk.tracker = GapTracker(period)
        if lk.unwrapper is None or lk.unwrapper.modulus_us != modulus:
            # first packet, or the layout changed (MTU 23 <-> full) after a reconnect
            # (continue the unwrapped axis; a 24 -> 32 bit switch shows up as a clock reset)
            prev = lk.unwrapper.last_us if lk.unwrapper is not None else None
            lk.unwrapper = TimestampUnwrapper(modulus)
            lk.unwrapper.last_us = prev
        tr, un = lk.tracker, lk.unwrapper
        ts0 = int(block.timestamp_us[0])
        first_us = un.peek(ts0)
        verdict = tr.accept(block.seq, first_us, n)
        if verdict.action == "duplicate":
            return
        gap = verdict.gap
        if verdict.action == "reset":
            lost = 0
            fit = lk.clock.fit_
            nxt = tr.next_expected_us
            if fit is not None and nxt is not None:
                first_host = t_mono - (n - 1) * period * 1e-6
                lost = max(0, round((first_host - fit.to_host_us(nxt)) / (period * 1e-6)))
            lk.unwrapper = un = TimestampUnwrapper(modulus)
            first_us = un.peek(ts0)
            lk.clock.reset()
            gap = tr.restart(block.seq, first_us, n, lost)
            if gap is not None and fit is not None:
                s = float(fit.to_host_us(np.array([nxt]))[0])
                gap = replace(gap, start_host_s=s, end_host_s=s + gap.duration_s)
            logger.warning("%s: sensor clock restarted; %d samples lost", lk.sensor_id, lost)
        last_us = first_us + (n - 1) * period
        un.commit(last_us)
        lk.last_n = n
        lk.clock.update(last_us * 1e-6, t_mono)
        fit = lk.clock.fit_
        assert fit is not None
        sensor_us = first_us + np.arange(n, dtype=np.int64) * period
        host = fit.to_host_us(sensor_us)
        lk.meter.on_packet(t_mono, t_mono - float(host[-1]))
        t0 = self.t0_monotonic
        recv_s = t_mono - t0
        if gap is not None:
            if math.isnan(gap.start_host_s):
                gs, ge = fit.to_host_us(np.array([gap.start_us, gap.end_us]))
                gap = replace(gap, start_host_s=float(gs), end_host_s=float(ge))
            if tr.gaps and tr.gaps[-1].start_us == gap.start_us:
                tr.gaps[-1] = gap
            ev = GapEvent(lk.index, lk.sensor_id, gap, gap.start_host_s - t0, gap.end_host_s - t0)
            self._record_gap(lk, ev, modulus)
            self._emit("gap", ev)
        rec = self.recorder
        if rec is not None:
            try:
                rec.write_packet(lk.index, raw, recv_s + self._rec_shift_s)
            except Exception:
                logger.exception("%s: recorder refused a packet", lk.sensor_id)
        if verdict.skip:
            k = verdict.skip
            block = replace(
                block,
                timestamp_us=block.timestamp_us[k:],
                acc_mps2=block.acc_mps2[k:],
                gyr_radps=block.gyr_radps[k:],
            )
            sensor_us = sensor_us[k:]
            host = host[k:]
        block.sensor_id = lk.sensor_id
        block.host_time_s = recv_s
        if self._subs:
            self._emit(
                "block",
                StreamBlock(
                    lk.index, lk.sensor_id, lk.spec.placement, block, host - t0, sensor_us, recv_s
                ),
            )

    def _close_trailing_gap(self, lk: _Link) -> None:
        """Packets lost at the very end of a stream, found from the sensor clock at STOP.

        Every packet the sensor completed before the TIME_SYNC that precedes STOP was sent
        before that response (one ordered ATT bearer) or flushed before the STOP response;
        once the queue is drained, complete packets (of the last packet size) between the
        next expected sample and that sensor time never arrived. A lower bound: a packet
        completed between the TIME_SYNC and the STOP is not counted.
        """
        tr, un, fit = lk.tracker, lk.unwrapper, lk.clock.fit_
        raw = lk.stop_sensor_time_raw
        if tr is None or un is None or fit is None or raw is None or lk.last_n <= 0:
            return
        nxt = tr.next_expected_us
        if nxt is None:
            return
        period = self.config.sample_period_us
        s_us = un.peek(raw % un.modulus_us)
        n_pk = int(((s_us - nxt) // period + 1) // lk.last_n)
        if n_pk <= 0 or n_pk * lk.last_n * period > 60e6:
            return
        samples = n_pk * lk.last_n
        gs, ge = fit.to_host_us(np.array([nxt, nxt + samples * period]))
        gap = Gap(nxt, samples, period, n_pk, "loss", float(gs), float(ge))
        tr.gaps.append(gap)
        tr.samples_lost += samples
        tr.packets_lost += n_pk
        t0 = self.t0_monotonic
        ev = GapEvent(lk.index, lk.sensor_id, gap, gap.start_host_s - t0, gap.end_host_s - t0)
        self._record_gap(lk, ev, un.modulus_us)
        self._emit("gap", ev)

    def _close_open_gap(self, lk: _Link) -> None:
        """At stop, a sensor that is not streaming lost everything since its last packet.

        The sensor clock cannot tell how much (it is gone), so the span runs from the next
        expected sample to now on the host clock and the count is span x rate.
        """
        tr, fit = lk.tracker, lk.clock.fit_
        if tr is None or fit is None or tr.next_expected_us is None:
            return
        period = self.config.sample_period_us
        start_host = float(fit.to_host_us(np.array([tr.next_expected_us]))[0])
        samples = int((time.monotonic() - start_host) // (period * 1e-6 * fit.scale))
        if samples <= 0:
            return
        gap = Gap(
            start_us=tr.next_expected_us,
            samples=samples,
            period_us=period,
            packets=-1,
            cause="link",
            start_host_s=start_host,
            end_host_s=start_host + samples * period * 1e-6 * fit.scale,
        )
        tr.gaps.append(gap)
        tr.samples_lost += samples
        t0 = self.t0_monotonic
        ev = GapEvent(lk.index, lk.sensor_id, gap, gap.start_host_s - t0, gap.end_host_s - t0)
        modulus = lk.unwrapper.modulus_us if lk.unwrapper is not None else 1 << 32
        self._record_gap(lk, ev, modulus)
        self._emit("gap", ev)

    # -- recorder ---------------------------------------------------------------------

    def attach_recorder(self, recorder: Any) -> None:
        """Start writing to ``recorder`` (a :class:`~sensors.recording.RecordingWriter`).

        May be called before :meth:`start` or while streaming (a "Record" button): from
        then on every accepted packet, gap and event goes to it, with times relative to the
        recorder's own start. Its header must list the hub's sensors in order
        (:meth:`recording_metadata`). Call on the hub's loop (``HubThread.call``) while
        streaming.
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

    def _record_gap(self, lk: _Link, ev: GapEvent, modulus: int) -> None:
        rec = self.recorder
        if rec is None or getattr(rec, "closed", False):
            return
        g = ev.gap
        shift = self._rec_shift_s
        kw: dict[str, Any] = {"start_s": ev.start_s + shift, "end_s": ev.end_s + shift}
        if modulus == 1 << 32:
            kw["start_us"] = g.start_us % modulus
            kw["end_us"] = g.end_us % modulus
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
        if lk.sync is None or fit is None or lk.unwrapper is None:
            return
        mid, sensor_raw = lk.sync
        s_us = lk.unwrapper.peek(sensor_raw % lk.unwrapper.modulus_us)
        env = float(fit.to_host_us(np.array([s_us]))[0])
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
        count: int = 1,
        *,
        config: SensorConfig | None = None,
        faults: str = "",
        scenario: str | None = None,
        placements: list[str] | None = None,
        recorder: Any = None,
        **hub_kw: Any,
    ) -> HubThread:
        """A hub on ``count`` built-in virtual wearables (the demo), in a thread.

        The :class:`~sensors.emulator.Emulator` is created on the hub's loop when
        :meth:`start` runs and closed by :meth:`stop`; the wearables are reached through
        the full BLE stack (Bumble backend, in-process virtual link).

        Parameters
        ----------
        count
            1-4 wearables, named ``Poise-0001`` ...
        config
            Rate and ranges (default 100 Hz, 8 g, 2000 dps).
        faults
            Fault spec for every wearable (``"drop=0.05,disconnect-every=3s"``).
        scenario
            Synthetic motion (``sensors.scenarios``; default quiet standing).
        placements
            Placement per wearable (default lower-back, left-shank, right-shank, sternum).
        recorder, hub_kw
            Passed to :class:`StreamHub`.
        """
        config = config or SensorConfig()
        placements = placements or list(PLACEMENTS[:count])
        specs = [
            SensorSpec(name=f"Poise-{i + 1:04d}", placement=placements[i]) for i in range(count)
        ]
        hub = StreamHub(specs, config=config, recorder=recorder, **hub_kw)

        async def setup(h: StreamHub):
            from sensors.emulator import Emulator
            from sensors.virtual_wearable import FaultConfig

            emu = Emulator(
                count=count,
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
