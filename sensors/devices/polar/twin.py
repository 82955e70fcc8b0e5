"""A virtual Polar Verity Sense: a Bumble GATT server speaking PMD (see ``pmd.py``).

Services: PMD (control point: read = features, write = command, indications =
responses; data: notify), Device Information, Battery. It advertises Polar's
manufacturer id (0x006B) and the name ``Polar Sense <8 hex digits>``.

Behaviour (from Polar's material where it says, else stated as the twin's choice):

* features: ECG no, PPG yes, ACC, PPI, GYRO, MAG, SDK mode;
* outside SDK mode ACC and GYRO offer 52 Hz only (8 g, 2000 deg/s); in SDK mode
  26/52/104/208/416 Hz, 2-16 g, 250-2000 deg/s, 16-bit, 3 channels
  (``documentation/products/PolarVeritySense.md``); other values are refused with the
  PMD error codes (INVALID_SAMPLE_RATE, INVALID_RANGE, ...);
* frames: ACC as delta-compressed type 1 in mG (the frame type Verity Sense users
  report, polar-ble-sdk issue #331), GYRO as delta-compressed type 0 whose conversion
  factor (range / 32768 deg/s per count: the twin's choice) comes in the GYRO start
  response; every frame holds 36 samples (one 16-bit block fits an ATT MTU of 232, the
  MTU Polar's SDK asks for; a smaller MTU is refused with INVALID_MTU);
* timestamps: nanoseconds since 2000-01-01 on the twin's clock (it runs ``drift_ppm``
  fast or slow), the time of each frame's last sample;
* ACC and GYRO are sampled together (one grid from the moment both run) and their frames
  cover the same samples; a link loss ends both measurements (the twin keeps its clock
  and sample grid, so samples of the outage are ``undelivered``); the host starts them
  again after reconnecting.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bumble.core import AdvertisingData
from bumble.device import Connection
from bumble.gatt import Characteristic, Service

from firmware_protocol import gatt
from sensors.devices.base import STANDARD_GRAVITY_MPS2
from sensors.devices.polar import pmd
from sensors.virtual_wearable import (
    VirtualSensor,
    battery_level_characteristic,
    device_information_service,
    flagged_advertising,
    notify_only_characteristic,
    writable_characteristic,
)

#: Samples per frame (36 x 3 16-bit deltas + headers = 228 bytes <= MTU 232 - 3).
SAMPLES_PER_FRAME = 36
MIN_MTU = 232
SDK_RATES = (26, 52, 104, 208, 416)
ACC_RANGES = (2, 4, 8, 16)
GYRO_RANGES = (250, 500, 1000, 2000)
#: 2025-01-01T00:00:00Z in ns since 2000-01-01 (the twin's clock starts near it).
_CLOCK_BASE_NS = 788_918_400 * 10**9


class PolarTwin(VirtualSensor):
    """A virtual Polar Verity Sense (module docstring)."""

    kind = "polar-verity-sense"
    firmware_version = "2.2.10"

    def __init__(self, link: Any, name: str, address: str, **kw: Any) -> None:
        kw.pop("config", None)
        super().__init__(link, name, address, **kw)
        self.sdk_mode = False
        self.active: dict[int, bool] = {
            pmd.MeasurementType.ACC: False,
            pmd.MeasurementType.GYRO: False,
        }
        self.acc_range_g = 8
        self.gyro_range_dps = 2000
        self.gyro_factor = self.gyro_range_dps / 32768.0
        self._stream_ns0 = 0
        self._last_battery = int(round(self._battery0))
        self._clock_offset_ns = _CLOCK_BASE_NS + int(self._rng.integers(0, 10**12))
        self.truth.clock_offset_us = self._clock_offset_ns // 1000

    # -- GATT -------------------------------------------------------------------------

    def _build_gatt(self) -> None:
        assert self.device is not None
        props = Characteristic.Properties
        self.data_char = notify_only_characteristic(pmd.PMD_DATA_UUID)
        self.control_char = writable_characteristic(
            pmd.PMD_CONTROL_POINT_UUID,
            props.READ | props.WRITE | props.INDICATE,
            self._on_control_write,
            read=self._read_features,
        )
        self.battery_char = battery_level_characteristic(lambda: self.battery_percent)
        dis = device_information_service(
            {
                "manufacturer": "Polar Electro Oy",
                "model_number": "Polar Verity Sense (virtual twin)",
                "serial": self.name.split()[-1],
                "hardware_revision": "virtual",
                "firmware_version": self.firmware_version,
            }
        )
        for service in (
            dis,
            Service(gatt.BATTERY_SERVICE_UUID, [self.battery_char]),
            Service(pmd.PMD_SERVICE_UUID, [self.control_char, self.data_char]),
        ):
            self.device.add_service(service)

    def _advertising_data(self) -> bytes:
        """Flags and Polar's manufacturer data (company id 0x006B)."""
        maker = pmd.POLAR_MANUFACTURER_ID.to_bytes(2, "little") + bytes([0x00, 0x00, 0x00])
        return flagged_advertising((AdvertisingData.MANUFACTURER_SPECIFIC_DATA, maker))

    # -- control point ----------------------------------------------------------------

    def _read_features(self, _connection: Any) -> bytes:
        T = pmd.MeasurementType
        return pmd.encode_features([T.PPG, T.ACC, T.PPI, T.GYRO, T.MAG, T.SDK_MODE])

    def _on_control_write(self, connection: Connection, value: bytes) -> None:
        response = self.handle_command(bytes(value))
        # a response longer than a notification goes out in parts with "more" set
        # (the SDK joins the parameters of consecutive parts)
        room = max(1, self.att_mtu - 3 - 5)
        params = response.parameters
        parts = [params[i : i + room] for i in range(0, len(params), room)] or [b""]
        for k, part in enumerate(parts):
            r = pmd.Response(
                response.opcode, response.measurement, response.status, k < len(parts) - 1, part
            )
            self._indicate_later(self.control_char, pmd.encode_response(r))

    def _offered(self, meas: int) -> dict[int, list]:
        S = pmd.Setting
        if meas == pmd.MeasurementType.ACC:
            rates, ranges = (SDK_RATES, ACC_RANGES) if self.sdk_mode else ((52,), (8,))
        else:
            rates, ranges = (SDK_RATES, GYRO_RANGES) if self.sdk_mode else ((52,), (2000,))
        return {
            S.SAMPLE_RATE: list(rates),
            S.RESOLUTION: [16],
            S.RANGE: list(ranges),
            S.CHANNELS: [3],
        }

    def handle_command(self, data: bytes) -> pmd.Response:
        """One control point write -> the response to indicate."""
        T, S, St = pmd.MeasurementType, pmd.Setting, pmd.Status
        try:
            cmd = pmd.decode_command(data)
        except pmd.PmdError:
            return pmd.Response(data[0] if data else 0, 0, St.INVALID_PARAMETER)
        meas = cmd.measurement if cmd.measurement is not None else 0
        if cmd.measurement is None:
            return pmd.Response(cmd.opcode, 0, St.INVALID_LENGTH)
        if cmd.offline:
            return pmd.Response(cmd.opcode, meas, St.NOT_SUPPORTED)
        if meas == T.SDK_MODE:
            if cmd.opcode == pmd.Opcode.START:
                if any(self.active.values()):
                    return pmd.Response(cmd.opcode, meas, St.INVALID_STATE)
                status = St.ALREADY_IN_STATE if self.sdk_mode else St.SUCCESS
                self.sdk_mode = True
                return pmd.Response(cmd.opcode, meas, status)
            if cmd.opcode == pmd.Opcode.STOP:
                self._stop_all()
                status = St.SUCCESS if self.sdk_mode else St.ALREADY_IN_STATE
                self.sdk_mode = False
                return pmd.Response(cmd.opcode, meas, status)
            return pmd.Response(cmd.opcode, meas, St.INVALID_OP_CODE)
        if meas not in (T.ACC, T.GYRO):
            return pmd.Response(cmd.opcode, meas, St.NOT_SUPPORTED)
        if cmd.opcode == pmd.Opcode.GET_SETTINGS:
            params = pmd.encode_settings(self._offered(meas))
            return pmd.Response(cmd.opcode, meas, St.SUCCESS, False, params)
        if cmd.opcode == pmd.Opcode.STOP:
            if not self.active[meas]:
                return pmd.Response(cmd.opcode, meas, St.ALREADY_IN_STATE)
            self.active[meas] = False
            if self.streaming:
                self._stop_streaming()
            return pmd.Response(cmd.opcode, meas, St.SUCCESS)
        if cmd.opcode != pmd.Opcode.START:
            return pmd.Response(cmd.opcode, meas, St.INVALID_OP_CODE)
        if self.active[meas]:
            return pmd.Response(cmd.opcode, meas, St.ALREADY_IN_STATE)
        offered = self._offered(meas)
        s = cmd.settings
        for key, code in (
            (S.SAMPLE_RATE, St.INVALID_SAMPLE_RATE),
            (S.RANGE, St.INVALID_RANGE),
            (S.RESOLUTION, St.INVALID_RESOLUTION),
            (S.CHANNELS, St.INVALID_NUMBER_OF_CHANNELS),
        ):
            if key not in s or s[key][0] not in offered[key]:
                return pmd.Response(cmd.opcode, meas, code)
        if self.att_mtu < MIN_MTU:
            return pmd.Response(cmd.opcode, meas, St.INVALID_MTU)
        rate = float(s[S.SAMPLE_RATE][0])
        other = T.GYRO if meas == T.ACC else T.ACC
        if self.streaming and rate != self.rate_hz:
            return pmd.Response(cmd.opcode, meas, St.INVALID_SAMPLE_RATE)
        if not self.streaming and not self.active[other]:
            self.set_rate(rate)
        elif not self.streaming and rate != self.rate_hz:
            return pmd.Response(cmd.opcode, meas, St.INVALID_SAMPLE_RATE)
        params = b""
        if meas == T.ACC:
            self.acc_range_g = int(s[S.RANGE][0])
        else:
            self.gyro_range_dps = int(s[S.RANGE][0])
            self.gyro_factor = self.gyro_range_dps / 32768.0
            params = pmd.encode_settings({S.FACTOR: self.gyro_factor})
        self.active[meas] = True
        if all(self.active.values()) and not self.streaming:
            self._start_streaming()
        return pmd.Response(cmd.opcode, meas, St.SUCCESS, False, params)

    def _stop_all(self) -> None:
        for k in self.active:
            self.active[k] = False
        if self.streaming:
            self._stop_streaming()

    # -- streaming ----------------------------------------------------------------------

    def device_time_ns(self, host_time_s: float | None = None) -> int:
        """The twin's clock: ns since 2000-01-01."""
        return self._clock_offset_ns + int(round(self.device_time_s(host_time_s) * 1e9))

    def _session_started(self, host_time_s: float) -> None:
        self._stream_ns0 = self.device_time_ns(host_time_s)

    def _listening(self) -> bool:
        return self.connection is not None and self._data_subscribed and all(self.active.values())

    def _link_down(self) -> None:
        # the measurements end with the link; the clock and the sample grid go on
        for k in self.active:
            self.active[k] = False

    def samples_per_packet(self) -> int:
        """36 samples per frame."""
        return SAMPLES_PER_FRAME

    def _quantise(self, acc_mps2: np.ndarray, gyr_radps: np.ndarray) -> tuple[Any, Any]:
        lim_mg = self.acc_range_g * 1000
        acc = np.clip(np.rint(acc_mps2 / (STANDARD_GRAVITY_MPS2 * 1e-3)), -lim_mg, lim_mg)
        gyr = np.clip(np.rint(np.rad2deg(gyr_radps) / self.gyro_factor), -32768, 32767)
        return acc.astype(np.int64), gyr.astype(np.int64)

    def _encode(
        self, records: list[tuple[int, int, int]], acc_q: Any, gyr_q: Any
    ) -> list[list[bytes]]:
        period_ns = 1e9 / self.rate_hz
        out = []
        pos = 0
        for _no, first, k in records:
            ts = self._stream_ns0 + int(round((first + k - 1) * period_ns))
            sl = slice(pos, pos + k)
            pos += k
            acc = pmd.encode_frame(
                pmd.MeasurementType.ACC, ts, 1, True, pmd.encode_delta(acc_q[sl])
            )
            gyr = pmd.encode_frame(
                pmd.MeasurementType.GYRO, ts, 0, True, pmd.encode_delta(gyr_q[sl])
            )
            out.append([acc, gyr])
        return out

    # -- battery ----------------------------------------------------------------------------

    def _on_battery_tick(self) -> None:
        level = self.battery_percent
        if level != self._last_battery:
            self._last_battery = level
            self._notify(self.battery_char, bytes([level]))


def polar_twin(link: Any, *, name: str, address: str, rate_hz: float, **kw: Any) -> PolarTwin:
    """Twin factory of the ``polar-verity-sense`` demo kind."""
    return PolarTwin(link, name, address, rate_hz=rate_hz, **kw)


polar_twin.name_pattern = "Polar Sense A7E0{n:04X}"  # type: ignore[attr-defined]
