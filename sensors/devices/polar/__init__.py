"""Polar Verity Sense over Polar Measurement Data (PMD), in SDK mode: accelerometer and
gyroscope at 26-416 Hz with nanosecond sensor timestamps.

Connection (PMD spec; SdkModeExplained.md):

1. subscribe to the control point (indications) and the data characteristic; read the
   features from the control point (ACC, GYRO and SDK mode must be there);
2. start SDK mode (``[0x02, 0x09]``; it disables the sensor's own algorithms and offers
   the full rates and ranges); on a reconnect it is still on;
3. query the ACC and GYRO settings (``[0x01, type]``) and check the chosen rate and range
   are offered;
4. start ACC and GYRO (``[0x02, type, settings]`` with rate, 16-bit resolution, range,
   3 channels); a start response may carry the conversion factor;
5. at the end: stop both (``[0x03, type]``) and stop SDK mode (``[0x03, 0x09]``).

Time: every frame carries the sensor-clock time of its last sample in nanoseconds since
2000-01-01 (TimeSystemExplained.md). A Verity Sense stops measuring when the link drops
and is started again after the reconnect; its clock keeps running, so the outage is
measured by the timestamps.

Sample index (the seam's loss accounting): consecutive frames of a stream are
``(t_last - t_prev_last) / period`` samples apart; the driver rounds that to a whole
number of samples, so a jump beyond the frame's own sample count is a loss, also across
a reconnect. The period is the nominal one refined from loss-free frames (it tracks a
sample clock that differs from the timestamp clock; the SDK likewise spaces samples by
``(t - t_prev) / n``). Accelerometer and gyroscope are separate frames with their own
timestamps; samples are paired by index (both streams run at one rate on one IMU);
samples whose partner frame was lost are lost as pairs.

What cannot be detected: PMD frames carry no sequence number and PMD has no time query,
so a frame lost before the first one that arrives, or after the last one before the
stop, leaves no trace (the first and last frames bound what the stream knows). Frames
carry no checksum: a corrupted frame that still parses is not detected (the BLE link
layer's CRC is all there is).

The model is read from Device Information; the scan match is the name ``Polar Sense``
(Verity Sense advertises as ``Polar Sense <device id>``) or Polar's manufacturer id
(0x006B) with "Sense" in the name.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sensors.devices import register_driver, register_twin
from sensors.devices.base import (
    BATTERY_LEVEL_CHAR_UUID,
    STANDARD_GRAVITY_MPS2,
    DecodeError,
    DeviceConfig,
    DriverError,
    Frame,
    Notify,
    SensorDriver,
    StreamDecoder,
    read_battery_level,
    read_device_information,
    subscribe,
)
from sensors.devices.polar import pmd

if TYPE_CHECKING:
    from bleak import BleakClient

logger = logging.getLogger(__name__)

#: Notification channels (the driver's numbering, kept in recordings).
DATA, CONTROL, BATTERY = 0, 1, 2
#: Samples of one stream buffered for pairing before the oldest are given up (s).
PAIR_BUFFER_S = 10.0
_MG_TO_MPS2 = STANDARD_GRAVITY_MPS2 * 1e-3
_DEG = np.pi / 180.0


class _Stream:
    """Index bookkeeping and pairing buffer of one measurement stream (ACC or GYRO)."""

    def __init__(self, period_ns: float) -> None:
        self.nominal_ns = float(period_ns)
        self.period_ns = float(period_ns)
        self.last_ts: int | None = None
        self.last_index: int | None = None
        # samples waiting for their partner (indices ascending, not always contiguous)
        self.idx = np.empty(0, dtype=np.int64)
        self.values = np.empty((0, 3))
        self.times = np.empty(0)

    def place(self, ts_last: int, n: int, origin: int) -> tuple[int, np.ndarray]:
        """First index of a frame of ``n`` samples ending at ``ts_last``, and the sample
        times (ns); refines the period estimate on loss-free steps."""
        if self.last_ts is None or self.last_index is None:
            first_ts = ts_last - (n - 1) * self.period_ns
            first = int(round((first_ts - origin) / self.nominal_ns))
        else:
            total = int(round((ts_last - self.last_ts) / self.period_ns))
            first = self.last_index + total - n + 1
            if total == n:
                est = (ts_last - self.last_ts) / n
                if abs(est - self.nominal_ns) < 0.02 * self.nominal_ns:
                    self.period_ns += 0.1 * (est - self.period_ns)
        times = ts_last - (n - 1 - np.arange(n)) * self.period_ns
        self.last_ts = int(ts_last)
        self.last_index = first + n - 1
        return first, times

    def push(self, first: int, values: np.ndarray, times: np.ndarray, floor: int) -> None:
        """Buffer a frame's samples (those above ``floor`` and above what is buffered)."""
        idx = first + np.arange(len(values), dtype=np.int64)
        top = max(floor, int(self.idx[-1]) if self.idx.size else floor)
        keep = idx > top
        if not keep.any():
            return
        self.idx = np.concatenate([self.idx, idx[keep]])
        self.values = np.concatenate([self.values, values[keep]])
        self.times = np.concatenate([self.times, times[keep]])

    def take_upto(self, frontier: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Remove and return the buffered samples with index <= ``frontier``."""
        k = int(np.searchsorted(self.idx, frontier, side="right"))
        out = self.idx[:k], self.values[:k], self.times[:k]
        self.idx, self.values, self.times = self.idx[k:], self.values[k:], self.times[k:]
        return out


class PolarDecoder(StreamDecoder):
    """PMD notifications -> paired ACC + GYRO frames on one sample index.

    Control point responses feed the conversion factors (a START response may carry
    one); data frames go to their stream. A sample index is final once both streams have
    moved past it (frames of a stream arrive in order): indices both streams have are
    emitted as pairs (one frame per run of consecutive indices), the others are lost.
    """

    def __init__(self, config: DeviceConfig) -> None:
        self.config = config
        self.period_ns = 1e9 / float(config.sampling_rate_hz)
        self.factors: dict[int, float] = {
            int(k): float(v) for k, v in (config.options.get("factors") or {}).items()
        }
        self.acc = _Stream(self.period_ns)
        self.gyr = _Stream(self.period_ns)
        self.origin: int | None = None
        self.shift = 0  # index renumbering after a clock reset
        self.emitted = -(1 << 62)  # highest index settled (emitted or given up)

    def feed(self, channel: int, data: bytes) -> list[Frame]:
        """A START response -> factor; an ACC or GYRO frame -> pairs now complete."""
        if channel == CONTROL:
            self._control(data)
            return []
        if channel != DATA:
            return []
        try:
            f = pmd.decode_frame(data)
            if f.measurement == pmd.MeasurementType.ACC:
                factor = self.factors.get(pmd.MeasurementType.ACC, 1.0)
                vals = pmd.acc_mg(f, factor) * _MG_TO_MPS2
                st = self.acc
            elif f.measurement == pmd.MeasurementType.GYRO:
                vals = pmd.gyro_dps(f, self.factors.get(pmd.MeasurementType.GYRO, 1.0)) * _DEG
                st = self.gyr
            else:
                return []
        except pmd.PmdError as exc:
            raise DecodeError(str(exc)) from None
        n = len(vals)
        if n == 0:
            return []
        if self.origin is None:
            self.origin = int(f.timestamp_ns - (n - 1) * self.period_ns)
        first, times = st.place(f.timestamp_ns, n, self.origin)
        back = 5.0 * float(self.config.sampling_rate_hz)
        if first + self.shift < self.emitted - back:
            # the sensor clock went back (set, or reset): start over from this frame; the
            # stream sees the jump and renumbers through ``rebase``
            is_acc = st is self.acc
            self._restart()
            st = self.acc if is_acc else self.gyr
            self.origin = int(f.timestamp_ns - (n - 1) * self.period_ns)
            first, times = st.place(f.timestamp_ns, n, self.origin)
        st.push(first + self.shift, vals, times, self.emitted)
        return self._pairs()

    def _restart(self) -> None:
        self.acc = _Stream(self.period_ns)
        self.gyr = _Stream(self.period_ns)
        self.origin = None
        self.shift = 0
        self.emitted = -(1 << 62)

    def _control(self, data: bytes) -> None:
        try:
            r = pmd.decode_response(data)
        except pmd.PmdError:
            return
        if r.opcode == pmd.Opcode.START and r.ok and r.parameters:
            with contextlib.suppress(pmd.PmdError):
                factor = pmd.decode_settings(r.parameters).get(pmd.Setting.FACTOR)
                if factor:
                    self.factors[int(r.measurement)] = float(factor[0])

    def _pairs(self) -> list[Frame]:
        a, g = self.acc, self.gyr
        if a.last_index is None or g.last_index is None:
            self._trim()
            return []
        frontier = min(a.last_index, g.last_index) + self.shift
        if frontier <= self.emitted:
            return []
        ai, av, at = a.take_upto(frontier)
        gi, gv, _ = g.take_upto(frontier)
        self.emitted = frontier
        common, ka, kg = np.intersect1d(ai, gi, assume_unique=True, return_indices=True)
        if common.size == 0:
            return []
        breaks = np.flatnonzero(np.diff(common) != 1) + 1
        out = []
        for s, e in zip(np.r_[0, breaks], np.r_[breaks, common.size]):
            out.append(Frame(int(common[s]), av[ka[s:e]], gv[kg[s:e]], at[ka[s:e]] * 1e-9))
        return out

    def _trim(self) -> None:
        """One stream alone for long (its partner never started): give up its oldest."""
        limit = int(PAIR_BUFFER_S * float(self.config.sampling_rate_hz))
        for st in (self.acc, self.gyr):
            if st.idx.size > limit:
                drop = int(st.idx[st.idx.size - limit - 1])
                st.take_upto(drop)
                self.emitted = max(self.emitted, drop)

    def sensor_time_s(self, index: int) -> float:
        """Sensor time of a sample index (from the accelerometer stream's last frame)."""
        st = self.acc if self.acc.last_ts is not None else self.gyr
        if st.last_ts is None or st.last_index is None:
            return 0.0
        return (st.last_ts + (int(index) - self.shift - st.last_index) * st.period_ns) * 1e-9

    def rebase(self, frame: Frame, first_index: int) -> Frame:
        """The sensor clock was set (a jump): renumber from ``first_index`` on."""
        delta = int(first_index) - frame.first_index
        self.shift += delta
        for st in (self.acc, self.gyr):
            st.idx = st.idx + delta
        self.emitted += delta
        frame.first_index = int(first_index)
        return frame


@register_driver
class PolarVeritySenseDriver(SensorDriver):
    """Polar Verity Sense in SDK mode (see the module docstring)."""

    decoder: PolarDecoder  # what new_decoder makes

    kind = "polar-verity-sense"
    vendor = "Polar"
    default_model = "Polar Verity Sense"
    timestamps = "sensor clock"
    max_drift_ppm = 1000.0
    rates_hz = (26.0, 52.0, 104.0, 208.0, 416.0)
    acc_ranges_g = (2.0, 4.0, 8.0, 16.0)
    gyro_ranges_dps = (250.0, 500.0, 1000.0, 2000.0)
    detects_loss_at_end = False
    detects_loss_at_start = False
    scan_service_uuids: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: DeviceConfig) -> None:
        super().__init__(config)
        self._partial: dict[tuple[int, int], bytes] = {}

    @classmethod
    def matches(
        cls, name: str | None, service_uuids: list[str], manufacturer_data: Mapping[int, bytes]
    ) -> bool:
        """``Polar Sense ...``, or Polar's manufacturer id with "Sense" in the name."""
        nm = name or ""
        if nm.startswith("Polar Sense"):
            return True
        return pmd.POLAR_MANUFACTURER_ID in manufacturer_data and "Sense" in nm

    @classmethod
    def new_decoder(cls, config: DeviceConfig) -> PolarDecoder:
        """A PMD decoder for this configuration."""
        return PolarDecoder(config)

    def header_config(self) -> dict[str, Any]:
        """Rate, ranges and the conversion factors learned so far."""
        d = self.config.to_dict()
        if self.decoder.factors:
            d["factors"] = {str(k): v for k, v in self.decoder.factors.items()}
        return d

    async def read_info(self, client: BleakClient) -> dict[str, Any]:
        """Device Information and the Battery Level."""
        info = await read_device_information(client)
        info["model"] = info.pop("model_number", None) or self.default_model
        self.battery_pct = await read_battery_level(client)
        self.info = info
        return info

    async def start(self, client: BleakClient, notify: Notify, *, resume: bool) -> None:
        """SDK mode, settings check, start ACC and GYRO (module docstring)."""
        self._client = client
        await subscribe(client, pmd.PMD_CONTROL_POINT_UUID, CONTROL, notify)
        await subscribe(client, pmd.PMD_DATA_UUID, DATA, notify)
        with contextlib.suppress(Exception):
            if client.services.get_characteristic(BATTERY_LEVEL_CHAR_UUID) is not None:
                await subscribe(client, BATTERY_LEVEL_CHAR_UUID, BATTERY, notify)
        features = pmd.decode_features(await client.read_gatt_char(pmd.PMD_CONTROL_POINT_UUID))
        need = {pmd.MeasurementType.ACC, pmd.MeasurementType.GYRO, pmd.MeasurementType.SDK_MODE}
        if not need <= features:
            missing = ", ".join(t.name for t in need - features)
            raise DriverError(f"this Polar sensor does not offer {missing} (PMD features)")
        await self._command(pmd.Opcode.START, pmd.MeasurementType.SDK_MODE, ok_states=(6,))
        cfg = self.config
        for meas, rng in (
            (pmd.MeasurementType.ACC, cfg.acc_range_g),
            (pmd.MeasurementType.GYRO, cfg.gyro_range_dps),
        ):
            r = await self._command(pmd.Opcode.GET_SETTINGS, meas)
            offered = pmd.decode_settings(r.parameters)
            rates = offered.get(pmd.Setting.SAMPLE_RATE, [])
            ranges = offered.get(pmd.Setting.RANGE, [])
            if int(cfg.sampling_rate_hz) not in rates or (ranges and int(rng) not in ranges):
                raise DriverError(
                    f"{meas.name}: {cfg.sampling_rate_hz:g} Hz / range {rng:g} not offered "
                    f"(rates {rates}, ranges {ranges})"
                )
            settings = {
                pmd.Setting.SAMPLE_RATE: int(cfg.sampling_rate_hz),
                pmd.Setting.RESOLUTION: 16,
                pmd.Setting.RANGE: int(rng),
                pmd.Setting.CHANNELS: 3,
            }
            await self._command(pmd.Opcode.START, meas, settings, ok_states=(6,))

    async def stop(self, client: BleakClient) -> int | None:
        """Stop ACC, GYRO and SDK mode; PMD cannot tell what the sensor took last."""
        import asyncio  # here: reading a recording loads the drivers, not the loop

        for meas in (
            pmd.MeasurementType.ACC,
            pmd.MeasurementType.GYRO,
            pmd.MeasurementType.SDK_MODE,
        ):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._command(pmd.Opcode.STOP, meas, timeout_s=1.0), 1.5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.stop_notify(pmd.PMD_DATA_UUID), 1.0)
        return None

    async def _command(
        self,
        opcode: int,
        measurement: int,
        settings: dict | None = None,
        *,
        ok_states: tuple[int, ...] = (),
        timeout_s: float = 3.0,
    ) -> pmd.Response:
        key = (int(opcode), int(measurement))
        name = f"PMD {pmd.Opcode(opcode).name} {pmd.MeasurementType(measurement).name}"
        write = self._connected().write_gatt_char(
            pmd.PMD_CONTROL_POINT_UUID,
            pmd.encode_command(opcode, measurement, settings),
            response=True,
        )
        r = await self._round_trip(key, write, timeout_s, name)
        if not r.ok and r.status not in ok_states:
            raise DriverError(f"{name} refused: {r.status_name}")
        return r

    def on_notification(self, channel: int, data: bytes) -> None:
        """Control point responses resolve commands; battery notifications update it."""
        if channel == CONTROL:
            try:
                r = pmd.decode_response(data)
            except pmd.PmdError:
                if data[:1] == b"\x01":  # the sensor stopped a measurement itself
                    self.events.append(
                        {"kind": "sensor_status", "state": "measurement stopped by the sensor"}
                    )
                return
            key = (r.opcode, r.measurement)
            if r.more or key in self._partial:
                # parts of a long response: join the parameters until "more" is clear
                self._partial[key] = self._partial.get(key, b"") + r.parameters
                if r.more:
                    return
                r = pmd.Response(r.opcode, r.measurement, r.status, False, self._partial.pop(key))
            self._answer(key, r)
        elif channel == BATTERY and data and data[0] <= 100:
            self.battery_pct = int(data[0])


register_twin("polar-verity-sense", "sensors.devices.polar.twin:polar_twin")
