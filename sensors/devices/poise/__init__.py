"""The Poise wearable (``firmware_protocol/SPEC.md``) as one driver among others.

Everything Poise-specific that ``sensors/stream.py`` used to do itself: the scan match
(Poise service UUID or ``Poise-`` name), SET_CONFIG / TIME_SYNC / START_STREAM on the
control point, status notifications (battery, flags), the codec, the 32-bit (24-bit in
compact packets) microsecond sensor clock, 16-bit sequence numbers, and the TIME_SYNC
just before STOP that reveals packets lost at the very end.

Sample index: the sensor samples on a fixed grid of its own clock, so the index of a
sample is ``(unwrapped timestamp - first timestamp) / period``; sensor time is the
unwrapped timestamp. Recordings keep the data packets as PACKET records (format v1),
so Poise-only recordings stay readable by older versions.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from firmware_protocol import codec, gatt
from firmware_protocol.types import ACC_RANGES_G, GYRO_RANGES_DPS, SAMPLE_RATES_HZ, SensorConfig
from sensors.clock import TimestampUnwrapper
from sensors.devices import register_driver, register_twin
from sensors.devices.base import (
    DecodeError,
    DriverError,
    Frame,
    Notify,
    SensorDriver,
    StreamDecoder,
    nearest,
    read_battery_level,
    read_device_information,
    subscribe,
)

if TYPE_CHECKING:
    from bleak import BleakClient

logger = logging.getLogger(__name__)

#: Notification channels of a Poise wearable.
DATA, CONTROL, STATUS = 0, 1, 2


class PoiseDecoder(StreamDecoder):
    """Data packets -> frames on the sensor's sample index (see the module docstring)."""

    seq_modulus = 1 << 16

    def __init__(self, config: SensorConfig) -> None:
        self.config = config
        self.period_us = int(config.sample_period_us)
        self.unwrapper: TimestampUnwrapper | None = None
        self.origin_us: int | None = None
        self._last: tuple[int, int, int] | None = None  # raw first timestamp, n, modulus
        self._last_seq_us: tuple[int, int] = (0, 0)  # its seq and unwrapped first time
        self._offsets: dict[int, np.ndarray] = {}

    def _unwrapper(self, modulus: int) -> TimestampUnwrapper:
        un = self.unwrapper
        if un is None or un.modulus_us != modulus:
            # first packet, or the layout changed (MTU 23 <-> full) after a reconnect:
            # continue the unwrapped axis (a 24 -> 32 bit switch shows up as a reset)
            prev = un.last_us if un is not None else None
            un = self.unwrapper = TimestampUnwrapper(modulus)
            un.last_us = prev
        return un

    def feed(self, channel: int, data: bytes) -> list[Frame]:
        """A data packet -> one frame; other channels -> nothing."""
        if channel != DATA:
            return []
        try:
            hdr, si = codec.decode_samples(data, self.config)
        except codec.ProtocolError as exc:
            raise DecodeError(str(exc)) from None
        modulus = 1 << hdr.timestamp_bits
        un = self._unwrapper(modulus)
        raw = hdr.timestamp_us
        n = hdr.count
        first_us = un.peek(raw)
        last = self._last
        if last is not None and last[1] == 1 == n and last[2] == modulus:
            first_us = self._across_silence(first_us, hdr.seq, raw, modulus)
        un.commit(first_us + (n - 1) * self.period_us)
        if self.origin_us is None:
            self.origin_us = first_us
        self._last = (raw, n, modulus)
        self._last_seq_us = (hdr.seq, first_us)
        p = self.period_us
        index = (first_us - self.origin_us + p // 2) // p
        t = (first_us + self._offsets_us(n)) * 1e-6
        return [Frame(index, si[:, :3], si[:, 3:], t, seq=hdr.seq)]

    def _across_silence(self, first_us: int, seq: int, raw: int, modulus: int) -> int:
        """One-sample (compact) packets after a silence longer than half the 24-bit wrap.

        The signed unwrap (SPEC.md 3.5) takes a 12-s outage for a 4.8-s step back, so the
        packets after a reconnect would be dropped as duplicates, or placed 16.8 s early.
        The sensor keeps numbering packets while disconnected (SPEC.md 4.2): the sequence
        step says how many one-sample packets passed, i.e. the time step, whenever it
        agrees with the timestamps' low 24 bits (it does unless the sensor restarted).
        Valid up to 2^16 packets (328 s at 200 Hz); beyond, or on a restart, the signed
        unwrap stands and the stream's reset logic uses host time.
        """
        prev_seq, prev_us = self._last_seq_us
        step_us = ((seq - prev_seq) % self.seq_modulus) * self.period_us
        if step_us <= modulus // 2 or (raw - (prev_us + step_us)) % modulus:
            return first_us
        return prev_us + step_us

    def _offsets_us(self, n: int) -> np.ndarray:
        """``arange(n) * period_us`` (int64), made once per packet size."""
        offsets = self._offsets.get(n)
        if offsets is None:
            offsets = self._offsets[n] = np.arange(n, dtype=np.int64) * self.period_us
            offsets.flags.writeable = False
        return offsets

    def sensor_time_s(self, index: int) -> float:
        """Sensor clock (unwrapped) of sample ``index``, seconds."""
        return ((self.origin_us or 0) + int(index) * self.period_us) * 1e-6

    def rebase(self, frame: Frame, first_index: int) -> Frame:
        """The sensor clock restarted: a fresh unwrap from this packet on."""
        if self._last is None:
            return frame
        raw, n, modulus = self._last
        un = self.unwrapper = TimestampUnwrapper(modulus)
        first_us = un.peek(raw)
        un.commit(first_us + (n - 1) * self.period_us)
        self.origin_us = first_us - int(first_index) * self.period_us
        self._last_seq_us = (self._last_seq_us[0], first_us)
        frame.first_index = int(first_index)
        frame.sensor_time_s = (first_us + np.arange(n, dtype=np.int64) * self.period_us) * 1e-6
        return frame

    def index_at_raw_time(self, raw_us: int) -> int | None:
        """Index of the last sample taken by sensor time ``raw_us`` (as sent, wrapping)."""
        un = self.unwrapper
        if un is None or self.origin_us is None:
            return None
        us = un.peek(int(raw_us) % un.modulus_us)
        return int((us - self.origin_us) // self.period_us)


@register_driver
class PoiseDriver(SensorDriver):
    """A Poise wearable (SPEC.md): 50/100/200 Hz, sensor clock in microseconds."""

    decoder: PoiseDecoder  # what new_decoder makes

    kind = "poise"
    vendor = "Poise"
    default_model = "Poise IMU v1"
    timestamps = "sensor clock"
    max_drift_ppm = 500.0
    rates_hz = tuple(float(r) for r in SAMPLE_RATES_HZ)
    acc_ranges_g = tuple(float(r) for r in ACC_RANGES_G)
    gyro_ranges_dps = tuple(float(r) for r in GYRO_RANGES_DPS)
    detects_loss_at_end = True
    detects_loss_at_start = True
    scan_service_uuids: ClassVar[tuple[str, ...]] = (gatt.SERVICE_UUID,)

    def __init__(self, config: SensorConfig) -> None:
        super().__init__(config)
        self._fresh = False
        self._sync_raw: tuple[float, int] | None = None
        #: Sensor time (as sent) of the TIME_SYNC just before STOP (tests, diagnostics).
        self.stop_sensor_time_raw: int | None = None
        self.last_status: codec.Status | None = None

    # -- discovery --------------------------------------------------------------------

    @classmethod
    def matches(
        cls, name: str | None, service_uuids: list[str], manufacturer_data: Mapping[int, bytes]
    ) -> bool:
        """The Poise service UUID, or a ``Poise-`` name."""
        return gatt.SERVICE_UUID in service_uuids or bool(
            name and name.startswith(gatt.NAME_PREFIX)
        )

    @classmethod
    def battery_from_advertisement(cls, service_data: Mapping[str, bytes]) -> int | None:
        """Battery service data (SPEC.md 1.2)."""
        for key in (gatt.BATTERY_SERVICE_UUID, gatt.SERVICE_UUID):
            data = service_data.get(key)
            if data:
                b = data[0]
                return None if b == gatt.BATTERY_UNKNOWN or b > 100 else int(b)
        return None

    # -- configuration ----------------------------------------------------------------

    @classmethod
    def choose_config(cls, rate_hz: float, acc_range_g: float, gyro_range_dps: float) -> Any:
        """Nearest of 50/100/200 Hz, 2-16 g, 250-2000 deg/s."""
        return SensorConfig(
            int(nearest(rate_hz, cls.rates_hz)),
            int(nearest(acc_range_g, cls.acc_ranges_g)),
            int(nearest(gyro_range_dps, cls.gyro_ranges_dps)),
        )

    @classmethod
    def config_from_dict(cls, d: Mapping[str, Any]) -> SensorConfig:
        """A SET_CONFIG configuration from a header."""
        return SensorConfig.from_dict(dict(d))

    @classmethod
    def new_decoder(cls, config: SensorConfig) -> PoiseDecoder:
        """A packet decoder for this configuration."""
        return PoiseDecoder(config)

    @classmethod
    def build_sensor_data(cls, **kw: Any) -> Any:
        """Recorded PACKET records -> samples on a grid (``sensors.timeline``, format v1)."""
        from sensors.timeline import build_sensor_data

        records = kw.pop("records")
        kw.pop("driver_config", None)
        return build_sensor_data(packets=[data for _ch, data in records], **kw)

    def gap_record_keys(self, gap: Any) -> dict[str, Any]:
        """Sensor timestamps (as sent, 32-bit) of the first lost sample and of the first
        one after the gap, so replay places the gap exactly (format 1 GAP records)."""
        dec = self.decoder
        if dec.unwrapper is None or dec.unwrapper.modulus_us != 1 << 32:
            return {}
        m = 1 << 32
        return {
            "start_us": int(round(dec.sensor_time_s(gap.start_index) * 1e6)) % m,
            "end_us": int(round(dec.sensor_time_s(gap.end_index) * 1e6)) % m,
        }

    def record_as(self, channel: int) -> str | None:
        """Data packets as PACKET records (format v1); control/status are not recorded."""
        return "packet" if channel == DATA else None

    # -- connection -------------------------------------------------------------------

    async def read_info(self, client: BleakClient) -> dict[str, Any]:
        """Device Information strings, the Info JSON and the battery level."""
        from bleak.exc import BleakError

        info = await read_device_information(client)
        if "model_number" in info:
            info["model"] = info.pop("model_number")
        with contextlib.suppress(BleakError, codec.ProtocolError):
            if client.services.get_characteristic(gatt.INFO_CHAR_UUID) is not None:
                doc = codec.decode_info(await client.read_gatt_char(gatt.INFO_CHAR_UUID))
                info["info"] = doc
                info.setdefault("firmware_version", doc.get("firmware_version"))
                info.setdefault("serial", doc.get("serial"))
        level = await read_battery_level(client)
        if level is not None:
            self.battery_pct = level
        self.info = info
        return info

    async def start(self, client: BleakClient, notify: Notify, *, resume: bool) -> None:
        """Subscribe (data before START), SET_CONFIG, TIME_SYNC, START_STREAM."""
        from bleak.exc import BleakError

        self._client = client
        await subscribe(client, gatt.CONTROL_POINT_CHAR_UUID, CONTROL, notify)
        await subscribe(client, gatt.STATUS_CHAR_UUID, STATUS, notify)
        await subscribe(client, gatt.DATA_CHAR_UUID, DATA, notify)
        if not resume:
            # An idle sensor starts afresh at seq 0: packets lost before the first one
            # that arrives are then visible (SPEC.md 4.2).
            with contextlib.suppress(BleakError, codec.ProtocolError):
                st = codec.decode_status(await client.read_gatt_char(gatt.STATUS_CHAR_UUID))
                self._fresh = st.state == gatt.StreamState.IDLE
        await self._command(codec.Command(gatt.Opcode.SET_CONFIG, config=self.config))
        t_send = time.monotonic()
        resp = await self._command(
            codec.Command(gatt.Opcode.TIME_SYNC, host_time_us=int(t_send * 1e6))
        )
        t_recv = time.monotonic()
        if resp.sensor_time_us is not None:
            self._sync_raw = ((t_send + t_recv) / 2.0, int(resp.sensor_time_us))
        await self._command(codec.Command(gatt.Opcode.START_STREAM))

    def latency_sync(self) -> tuple[float, float] | None:
        """``(host s, device s)`` of the last TIME_SYNC on the decoder's unwrapped axis
        (the response's time is placed once packets have fixed the unwrap)."""
        raw = self._sync_raw
        dec = self.decoder
        if raw is None or dec.unwrapper is None:
            return None
        mid, ts = raw
        return mid, dec.unwrapper.peek(ts % dec.unwrapper.modulus_us) * 1e-6

    async def stop(self, client: BleakClient) -> int | None:
        """TIME_SYNC (the sensor clock just before STOP), STOP_STREAM, unsubscribe data.

        Every packet the sensor completed before the TIME_SYNC was sent before that
        response (one ordered ATT bearer), so the returned index tells the stream which
        packets at the very end never arrived (a lower bound: a packet completed between
        the TIME_SYNC and the STOP is not counted).
        """
        import asyncio  # here: reading a recording loads the drivers, not the loop

        stop_index = None
        with contextlib.suppress(Exception):
            resp = await asyncio.wait_for(
                self._command(
                    codec.Command(gatt.Opcode.TIME_SYNC, host_time_us=int(time.monotonic() * 1e6)),
                    1.0,
                ),
                1.5,
            )
            if resp.sensor_time_us is not None:
                self.stop_sensor_time_raw = int(resp.sensor_time_us)
                stop_index = self.decoder.index_at_raw_time(int(resp.sensor_time_us))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._command(codec.Command(gatt.Opcode.STOP_STREAM), 1.0), 1.5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.stop_notify(gatt.DATA_CHAR_UUID), 1.0)
        return stop_index

    def fresh_start(self) -> tuple[str, int] | None:
        """A sensor found idle starts at seq 0."""
        return ("seq", 0) if self._fresh else None

    async def _command(self, cmd: codec.Command, timeout_s: float = 3.0) -> codec.Response:
        op = int(cmd.opcode)
        write = self._connected().write_gatt_char(
            gatt.CONTROL_POINT_CHAR_UUID, codec.encode_command(cmd), response=True
        )
        resp = await self._round_trip(op, write, timeout_s, gatt.Opcode(op).name)
        if not resp.ok:
            raise DriverError(
                f"{gatt.Opcode(op).name} refused ({getattr(resp.result, 'name', resp.result)})"
            )
        return resp

    def on_notification(self, channel: int, data: bytes) -> None:
        """Control point responses resolve commands; status updates battery and flags."""
        if channel == CONTROL:
            resp = _decoded(codec.decode_response, data, "control point response")
            if resp is not None:
                self._answer(int(resp.opcode), resp)
        elif channel == STATUS:
            st = _decoded(codec.decode_status, data, "status notification")
            if st is None:
                return
            self.last_status = st
            if st.battery_percent is not None:
                self.battery_pct = st.battery_percent
            if st.flags:
                self.events.append(
                    {
                        "kind": "sensor_status",
                        "state": int(st.state),
                        "flags": int(st.flags),
                        "battery_pct": st.battery_percent,
                        "dropped_samples": st.dropped_samples,
                    }
                )


_Message = TypeVar("_Message", codec.Response, codec.Status)


def _decoded(decode: Callable[[bytes], _Message], data: bytes, what: str) -> _Message | None:
    """``decode(data)``, or ``None`` with a warning naming ``what`` if it is malformed."""
    try:
        return decode(data)
    except codec.ProtocolError as exc:
        logger.warning("bad %s: %s", what, exc)
        return None


register_twin("poise", "sensors.virtual_wearable:poise_twin")
# The MicroPython firmware (firmware_protocol/micropython/) on a simulated IMU: a Poise
# wearable whose code is the firmware's own (sensors.firmware_host); --demo firmware:N.
register_twin("firmware", "sensors.firmware_host.wearable:firmware_twin", driver_kind="poise")
