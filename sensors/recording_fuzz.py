"""Random recordings with valid CRCs and hostile contents, for robustness tests.

:func:`hostile_recording` builds the bytes of a ``.poise`` file from a
:class:`random.Random`: every record is framed with a correct CRC-32, so the reader's
checksum gives no protection and only the validation of the contents does. What varies:

- the preamble (a flipped bit, a wrong version now and then);
- the header (one or two copies; random keys replaced by hostile values: wrong types,
  huge numbers, deep nesting, broken sensor configurations);
- PACKET records of one to three sensors: valid data packets (1-41 samples, full or
  compact layout) whose sensor and host clocks advance normally, jump (1e7 s, minutes,
  backwards), restart, or carry impossible host times (-1e300, inf, NaN); garbage packets,
  other configurations, sensor indices outside the header;
- GAP, EVENT, END and unknown records with random fields: plausible, wrong types, huge
  counts, times out of range, JSON nested up to 100,000 deep, ``NaN``, ``1e400``,
  integers of 5000 digits, invalid UTF-8, arrays instead of objects.

Used by ``tests/poise/test_hostile_recordings.py`` (with hypothesis' ``st.randoms()``,
which shrinks the choices) and ``bench/hostile.py`` (10,000 files).
"""

from __future__ import annotations

import json
import random
import struct
from typing import Any

import numpy as np

from firmware_protocol import codec
from firmware_protocol.types import ACC_RANGES_G, GYRO_RANGES_DPS, SAMPLE_RATES_HZ, SensorConfig
from sensors.recording import FORMAT_VERSION, MAGIC, RecordType, _frame
from sensors.scenarios import TEST_SCENARIOS

__all__ = ["hostile_recording", "hostile_value"]

_KINDS = ("note", "marker", "connection", "test_start", "test_stop", "test_result", "x", "")
_TESTS = (*TEST_SCENARIOS, "nope")
_HOST_JUMPS = (1e7, -1e7, 600.0, 3600.0, -5.0, 1e9, 9.9e9, -1e300, float("inf"), float("nan"))


def hostile_value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value: often plausible, often of the wrong type or size."""
    r = rng.random()
    if r < 0.15:
        return rng.choice([0, 1, -1, 7, 2**31, 2**63, -(2**40), 10**30])
    if r < 0.3:
        return rng.choice([0.0, 0.5, -1.5, 1e-300, 1e300, -1e308, 12.3, 1e10, 1e11])
    if r < 0.45:
        return rng.choice(["", "a", _TESTS[2], "x" * 10_000, "é\u202e\x00\n\t", "1.5", "nan"])
    if r < 0.55:
        return rng.choice([True, False, None])
    if depth > 40 or r < 0.7:
        return rng.choice([[], {}, [1, 2], {"a": 1}])
    if r < 0.85:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(["a", "t_s", "kind", "result", "validity"]): hostile_value(rng, depth + 1)}


def _raw_json(rng: random.Random, obj: dict) -> bytes:
    """``obj`` as JSON, or now and then raw hostile JSON text."""
    r = rng.random()
    if r < 0.04:
        depth = rng.choice([33, 1000, 100_000])
        return b'{"kind":"note","t_s":1,"x":' + b"[" * depth + b"]" * depth + b"}"
    if r < 0.06:
        return rng.choice(
            [
                b'{"kind":"note","t_s":NaN}',
                b'{"kind":"note","t_s":1e400}',
                b'{"kind":"note","t_s":' + b"9" * 5000 + b"}",
                b'{"kind":"n\xffote","t_s":1}',
                b"[1,2,3]",
                b"",
                b'{"kind":"note"',
            ]
        )
    return json.dumps(obj, allow_nan=True).encode()


def _mutate(rng: random.Random, d: dict, keys: tuple[str, ...], p: float) -> dict:
    d = dict(d)
    for k in keys:
        if rng.random() < p:
            d[k] = hostile_value(rng)
    return d


def _config(rng: random.Random) -> SensorConfig:
    return SensorConfig(
        rng.choice(SAMPLE_RATES_HZ), rng.choice(ACC_RANGES_G), rng.choice(GYRO_RANGES_DPS)
    )


def _header(rng: random.Random, configs: list[SensorConfig]) -> dict:
    sensors = []
    for i, cfg in enumerate(configs):
        s: dict[str, Any] = {"id": f"s{i}", "placement": "lower-back" if i == 0 else "left-shank"}
        s["config"] = cfg.to_dict()
        if rng.random() < 0.05:
            s["config"] = hostile_value(rng)
        sensors.append(_mutate(rng, s, ("id", "placement", "name"), 0.03))
    md = {
        "format": "poise-recording",
        "format_version": FORMAT_VERSION,
        "software": "fuzz",
        "patient": "P-1",
        "notes": "",
        "start": {"utc": None, "epoch_s": 1.7e9, "monotonic_s": 100.0},
        "demographics": {"age": 70, "sex": "f", "height_m": 1.6},
        "sensors": sensors,
    }
    if rng.random() < 0.3:
        md = _mutate(
            rng, md, ("patient", "notes", "start", "demographics", "format_version", "test"), 0.15
        )
        demographics = md.get("demographics")
        if isinstance(demographics, dict):
            md["demographics"] = _mutate(rng, demographics, ("age", "height_m", "sex"), 0.3)
    if rng.random() < 0.02:
        md["sensors"] = hostile_value(rng)
    return md


class _Clock:
    """One sensor's clocks: sensor microseconds and host seconds, advancing together."""

    def __init__(self, rng: random.Random, cfg: SensorConfig) -> None:
        self.rng = rng
        self.cfg = cfg
        self.t_us = rng.randrange(2**32)
        self.host_s = rng.uniform(0.0, 2.0)
        self.seq = rng.randrange(65536)

    def packet(self, p_jump: float) -> tuple[float, bytes]:
        rng, cfg = self.rng, self.cfg
        compact = rng.random() < 0.1
        n = 1 if compact else rng.randint(1, codec.MAX_SAMPLES_PER_PACKET)
        if rng.random() < p_jump:  # the clocks jump: together, or only one of them
            jump = rng.choice(_HOST_JUMPS)
            what = rng.random()
            if what < 0.4 or not np.isfinite(jump) or abs(jump) > 1e9:
                self.host_s += jump
            if what >= 0.2 and np.isfinite(jump) and abs(jump) < 4e3:
                self.t_us += int(jump * 1e6)
            if what > 0.9:
                self.t_us = rng.randrange(2**32)  # the sensor restarted
        if rng.random() < 0.6:
            acc = np.zeros((n, 3), np.int16)
            acc[:, 2] = int(32768 / cfg.acc_range_g)
            gyr = np.zeros((n, 3), np.int16)
        else:
            gen = np.random.default_rng(rng.randrange(2**32))
            acc = gen.integers(-32768, 32768, (n, 3)).astype(np.int16)
            gyr = gen.integers(-32768, 32768, (n, 3)).astype(np.int16)
        pk_cfg = _config(rng) if rng.random() < 0.03 else cfg
        pk = codec.encode_data(
            self.seq, self.t_us % 2**32, acc, gyr, compact=compact, config=pk_cfg
        )
        if rng.random() < 0.03:
            pk = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
        self.seq = (self.seq + 1) % 65536
        self.t_us += n * cfg.sample_period_us
        self.host_s += n * cfg.sample_period_us * 1e-6
        return self.host_s, pk


def _gap(rng: random.Random, n_sensors: int, host_s: float) -> dict:
    g: dict[str, Any] = {
        "sensor": rng.randrange(max(n_sensors, 1)),
        "samples": rng.choice([1, 5, 40, 1000]),
        "reason": "lost",
        "t_s": host_s,
    }
    r = rng.random()
    if r < 0.4:
        g["start_us"] = rng.randrange(2**32)
        g["end_us"] = (g["start_us"] + g["samples"] * 10_000) % 2**32
    elif r < 0.8:
        g["start_s"] = host_s - rng.uniform(0, 2)
        g["end_s"] = host_s
    return _mutate(rng, g, ("sensor", "samples", "reason", "t_s", "start_us", "start_s"), 0.08)


def _event(rng: random.Random, host_s: float) -> dict:
    e: dict[str, Any] = {"kind": rng.choice(_KINDS), "t_s": host_s}
    if e["kind"].startswith("test"):
        e["test"] = rng.choice(_TESTS)
    if e["kind"] == "test_result":
        e["result"] = rng.choice([{"validity": {"valid": True}}, hostile_value(rng)])
    if rng.random() < 0.3:
        e["data"] = hostile_value(rng)
    return _mutate(rng, e, ("kind", "t_s", "test", "result"), 0.08)


def hostile_recording(rng: random.Random, *, max_records: int = 80) -> bytes:
    """The bytes of one random recording with valid CRCs (see the module docstring)."""
    configs = [_config(rng) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
    header = _header(rng, configs)
    version = FORMAT_VERSION
    if rng.random() < 0.03:
        version = rng.choice([0, 2, 257, 65535])
    out = bytearray(struct.pack("<8sHH", MAGIC, version, 0))
    if rng.random() < 0.03:
        bit = rng.randrange(8 * len(out))
        out[bit // 8] ^= 1 << (bit % 8)
    out += _frame(RecordType.HEADER, _raw_json(rng, header))
    if rng.random() < 0.8:
        second = header if rng.random() < 0.9 else _header(rng, configs)
        out += _frame(RecordType.HEADER, json.dumps(second, allow_nan=True).encode())
    clocks = [_Clock(rng, cfg) for cfg in configs]
    p_jump = rng.choice([0.0, 0.0, 0.02, 0.1, 0.5])
    host_s = 0.0
    for _ in range(rng.randint(0, max_records)):
        r = rng.random()
        if r < 0.8:
            i = rng.randrange(len(clocks))
            host_s, pk = clocks[i].packet(p_jump)
            index = i if rng.random() > 0.02 else rng.randrange(256)
            out += _frame(RecordType.PACKET, struct.pack("<Bd", index, host_s) + pk)
        elif r < 0.87:
            out += _frame(RecordType.GAP, _raw_json(rng, _gap(rng, len(configs), host_s)))
        elif r < 0.96:
            out += _frame(RecordType.EVENT, _raw_json(rng, _event(rng, host_s)))
        elif r < 0.98:
            end = _mutate(rng, {"t_s": host_s, "records": 3, "packets": 2}, ("t_s", "records"), 0.2)
            out += _frame(RecordType.END, _raw_json(rng, end))
        else:
            out += _frame(rng.choice([0, 6, 9, 200]), bytes(rng.randint(0, 30)))
    return bytes(out)
