"""Recordings with valid CRCs but hostile contents (issue 11, items 7 and 8): an invalid
record is damage at its offset and the rest is recovered; memory stays in proportion to
the samples whatever the times say; a damaged preamble is recovered from the records."""

from __future__ import annotations

import json
import struct
import tracemalloc

import numpy as np
import pytest

from firmware_protocol import codec
from firmware_protocol.types import SensorConfig
from sensors.recording import (
    FORMAT_VERSION,
    MAGIC,
    PREAMBLE_SIZE,
    RecordingError,
    RecordType,
    _frame,
    load_recording,
)

CFG = SensorConfig(100, 8, 2000)
N_PACKETS = 200
PER = 10  # samples per packet
HEADER = {
    "format": "poise-recording",
    "format_version": FORMAT_VERSION,
    "patient": "P-1",
    "notes": "",
    "start": {"utc": None},
    "sensors": [{"id": "lower-back", "placement": "lower-back", "config": CFG.to_dict()}],
}


def _packet(i: int, host_s: float | None = None, t_us: int | None = None) -> bytes:
    acc = np.zeros((PER, 3), np.int16)
    acc[:, 2] = 4096
    t = i * PER * CFG.sample_period_us if t_us is None else t_us
    pk = codec.encode_data(i % 65536, t % 2**32, acc, np.zeros((PER, 3), np.int16), config=CFG)
    host = (t + (PER - 1) * CFG.sample_period_us) * 1e-6 if host_s is None else host_s
    return _frame(RecordType.PACKET, struct.pack("<Bd", 0, host) + pk)


def build(
    *,
    hosts: dict[int, float] | None = None,
    times_us: dict[int, int] | None = None,
    extra: list[bytes] = (),
    headers: list[bytes] | None = None,
    preamble: bytes | None = None,
) -> tuple[bytes, dict[str, int]]:
    """A recording of N_PACKETS packets (plus ``extra`` records after packet 100) and the
    offsets of interesting records: ``packet<i>``, ``extra<j>``."""
    hdr = json.dumps(HEADER).encode()
    out = bytearray(preamble or struct.pack("<8sHH", MAGIC, FORMAT_VERSION, 0))
    for h in headers if headers is not None else [hdr, hdr]:
        out += _frame(RecordType.HEADER, h)
    where: dict[str, int] = {}
    for i in range(N_PACKETS):
        if i == 100:
            for j, rec in enumerate(extra):
                where[f"extra{j}"] = len(out)
                out += rec
        where[f"packet{i}"] = len(out)
        out += _packet(i, (hosts or {}).get(i), (times_us or {}).get(i))
    out += _frame(RecordType.END, b'{"t_s":20.1}')
    return bytes(out), where


def _json(obj) -> bytes:
    return json.dumps(obj).encode()


def _damage_at(rec, offset: int) -> str:
    hits = [d.reason for d in rec.damage if d.offset == offset]
    assert hits, (offset, rec.damage)
    return hits[0]


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# -- item 7: every record's contents are validated ---------------------------------------


@pytest.mark.parametrize("rtype", [RecordType.EVENT, RecordType.GAP, RecordType.END])
def test_json_nested_100000_deep_is_damage_at_its_record(rtype):
    payload = b'{"kind":"note","sensor":0,"samples":1,"t_s":1.0,"x":' + _nested(100_000) + b"}"
    data, at = build(extra=[_frame(rtype, payload)])
    rec = load_recording(data)
    assert "nested" in _damage_at(rec, at["extra0"])
    assert rec.sensors[0].n_samples == N_PACKETS * PER


def test_a_header_nested_100000_deep_falls_back_to_the_second_copy():
    deep = _json(HEADER)[:-1] + b',"x":' + _nested(100_000) + b"}"
    data, _ = build(headers=[deep, _json(HEADER)])
    rec = load_recording(data)
    assert "nested" in _damage_at(rec, PREAMBLE_SIZE)
    assert rec.sensors[0].n_samples == N_PACKETS * PER
    data, _ = build(headers=[deep, deep])
    with pytest.raises(RecordingError, match="no valid header") as info:
        load_recording(data)
    assert "\n" not in str(info.value) and "nested" in str(info.value)


def test_optional_header_fields_of_the_wrong_type_are_left_out_not_the_file():
    hdr = {**HEADER, "notes": 5, "demographics": {"sex": 0, "age": "old", "height_m": 1.6}}
    hdr["sensors"] = [{**HEADER["sensors"][0], "id": ["x"]}]
    data, _ = build(headers=[_json(hdr), _json(hdr)])
    rec = load_recording(data)
    reasons = [d.reason for d in rec.damage if d.offset == PREAMBLE_SIZE]
    assert len(reasons) == 4, reasons  # the copy in use; notes, sex, age, the sensor id
    assert all(r.startswith("HEADER record: ") and r.endswith("ignored") for r in reasons)
    assert rec.metadata["demographics"] == {"height_m": 1.6} and "notes" not in rec.metadata
    assert rec.sensors[0].id == "sensor-0" and rec.sensors[0].n_samples == N_PACKETS * PER
    bad_config = {**HEADER, "sensors": [{"id": "a", "config": {"sampling_rate_hz": 7}}]}
    data, _ = build(headers=[_json(bad_config)])
    with pytest.raises(RecordingError, match="sensor 0 has an invalid config"):
        load_recording(data)


@pytest.mark.parametrize(
    "event, field",
    [
        ({"kind": "note", "t_s": "abc"}, "t_s"),
        ({"kind": "note", "t_s": [1]}, "t_s"),
        ({"kind": 5, "t_s": 1.0}, "kind"),
        ({"t_s": 1.0}, "kind"),
        ({"kind": "test_start", "test": ["tug"], "t_s": 1.0}, "test"),  # was unhashable
        ({"kind": "test_stop", "test": "tug", "t_s": None}, "t_s"),  # float(None)
        ({"kind": "test_result", "test": "tug", "t_s": 1.0, "result": [1]}, "result"),
        ({"kind": "marker", "marker": {"lost": 1}, "t_s": 1.0}, "marker"),
    ],
)
def test_an_event_with_a_wrong_field_type_is_damage_and_the_others_stay(event, field):
    good = [{"kind": "note", "t_s": 2.0}, {"kind": "marker", "t_s": 1.0}]
    data, at = build(extra=[_frame(RecordType.EVENT, _json(e)) for e in [good[0], event, good[1]]])
    rec = load_recording(data)
    reason = _damage_at(rec, at["extra1"])
    assert field in reason and "EVENT" in reason
    assert [e["t_s"] for e in rec.events] == [1.0, 2.0]


@pytest.mark.parametrize("host", [-1e300, float("inf"), float("-inf"), float("nan"), 1e300])
def test_a_packet_with_an_impossible_host_time_is_damage(host):
    data, at = build(hosts={50: host})
    rec = load_recording(data)
    assert "host time" in _damage_at(rec, at["packet50"])
    s = rec.sensors[0]
    assert s.n_samples == (N_PACKETS - 1) * PER and s.t_s.size == N_PACKETS * PER


@pytest.mark.parametrize(
    "gap, field",
    [
        ({"sensor": 0, "samples": "many", "reason": "x", "t_s": 1.0}, "samples"),
        ({"sensor": 0, "samples": -3, "reason": "x", "t_s": 1.0}, "samples"),
        ({"sensor": "zero", "samples": 3, "reason": "x", "t_s": 1.0}, "sensor"),
        ({"sensor": 0, "samples": 3, "start_us": 2**40}, "start_us"),
        ({"sensor": 0, "samples": 3, "start_s": 1e300}, "start_s"),
    ],
)
def test_a_gap_with_a_wrong_field_is_damage_at_its_offset(gap, field):
    data, at = build(extra=[_frame(RecordType.GAP, _json(gap))])
    rec = load_recording(data)  # was: the whole file unreadable, no record named
    reason = _damage_at(rec, at["extra0"])
    assert field in reason and "GAP" in reason
    assert rec.sensors[0].n_samples == N_PACKETS * PER


def _peak_mb(fn) -> tuple[object, float]:
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_a_host_time_jump_to_1e7_s_does_not_allocate_the_span():
    """One packet at host time 1e7 s (its sensor time unwrapped to match) asked for 22 GiB."""
    data, at = build(hosts={50: 1e7})
    rec, peak = _peak_mb(lambda: load_recording(data))
    assert peak < 50, peak
    assert "time" in _damage_at(rec, at["packet50"])
    s = rec.sensors[0]
    assert s.n_samples == (N_PACKETS - 1) * PER and s.t_s.size == N_PACKETS * PER
    assert s.clock_resets == 0  # the outlier is gone, the clock is fitted again without it


def test_consistent_sensor_and_host_times_far_apart_keep_the_larger_part():
    """Both clocks jump by 1e9 s after packet 150: a valid-looking file spanning 31 years."""
    jump_us = 10**15
    hosts, times = {}, {}
    for i in range(150, N_PACKETS):
        t = i * PER * CFG.sample_period_us + jump_us
        times[i] = t
        hosts[i] = (t + (PER - 1) * CFG.sample_period_us) * 1e-6
    data, at = build(hosts=hosts, times_us=times)
    rec, peak = _peak_mb(lambda: load_recording(data))
    assert peak < 50, peak
    reason = _damage_at(rec, at["packet150"])
    assert "50 packet(s)" in reason and "500 samples" in reason
    assert rec.sensors[0].n_samples == 150 * PER


def test_an_outage_within_the_limit_is_kept_as_a_gap():
    """Ten minutes without data between two 1-s parts is a real outage, not damage."""
    times = {i: i * PER * CFG.sample_period_us + 600_000_000 for i in range(100, N_PACKETS)}
    data, _ = build(times_us=times)
    rec = load_recording(data)
    s = rec.sensors[0]
    assert not rec.damage and s.n_samples == N_PACKETS * PER
    assert s.t_s.size == N_PACKETS * PER + 60_000


# -- item 8: the preamble ------------------------------------------------------------------


def test_every_single_bit_flip_in_the_preamble_is_recovered():
    data, _ = build()
    ref = load_recording(data).sensors[0].n_samples
    for bit in range(8 * PREAMBLE_SIZE):
        bad = bytearray(data)
        bad[bit // 8] ^= 1 << (bit % 8)
        rec = load_recording(bytes(bad))
        assert rec.sensors[0].n_samples == ref, bit
        if bit // 8 >= 10:  # the reserved field is ignored
            continue
        reason = _damage_at(rec, 0)
        assert "preamble" in reason, (bit, reason)
        if 8 <= bit // 8 < 10:
            assert "version" in reason and "newer" not in reason, reason


def test_a_genuinely_newer_file_still_asks_for_an_update():
    newer = {**HEADER, "format_version": FORMAT_VERSION + 1}
    data, _ = build(
        preamble=struct.pack("<8sHH", MAGIC, FORMAT_VERSION + 1, 0),
        headers=[_json(newer), _json(newer)],
    )
    with pytest.raises(RecordingError, match="newer than this reader"):
        load_recording(data)


def test_a_damaged_magic_is_recovered_from_the_files_records(tmp_path, capsys):
    from poise.cli import main

    data, _ = build()
    bad = bytearray(data)
    bad[:8] = b"\x00" * 8
    p = tmp_path / "x.poise"
    p.write_bytes(bytes(bad))
    assert main(["info", str(p), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sensors"][0]["samples"] == N_PACKETS * PER
    assert info["damage"][0]["offset"] == 0 and "preamble" in info["damage"][0]["reason"]
    csv_named = p.rename(tmp_path / "x.dat")  # analyze tells a recording by its records too
    assert main(["analyze", str(csv_named), "--format", "json"]) == 0


def test_the_writer_refuses_what_a_reader_would_refuse():
    import io

    from sensors.recording import RecordingWriter

    w = RecordingWriter(io.BytesIO(), {"sensors": HEADER["sensors"]})
    with pytest.raises(ValueError, match="t_s"):
        w.write_event({"kind": "note", "t_s": "abc"})
    with pytest.raises(ValueError, match="nested"):
        deep: list = []
        for _ in range(40):
            deep = [deep]
        w.write_event({"kind": "note", "t_s": 1.0, "x": deep})
    with pytest.raises(ValueError, match="host time"):
        w.write_packet(0, b"\x11", host_time_s=float("inf"))
    with pytest.raises(ValueError, match="samples"):
        w.write_gap(0, samples=-1)
    w.close(t_s=1.0)
    assert len(load_recording(w._fh.getvalue()).damage) == 0


def test_a_device_recording_whose_clock_jumps_stays_in_proportion():
    """Format 2 (NOTIFY records, the driver places samples by index): 20 Polar frame pairs
    each 50 minutes after the last (within the driver's 1-h continuity rule) asked for a
    grid of 16 hours at 104 Hz; now the densest window is kept and the rest is damage."""
    import io

    from sensors.devices.polar import pmd
    from sensors.recording import RecordingWriter

    polar = {
        "id": "shank",
        "placement": "left-shank",
        "driver": "polar-verity-sense",
        "config": {"sampling_rate_hz": 104, "acc_range_g": 8, "gyro_range_dps": 2000},
    }
    k, step_s = 36, 3000.0
    buf = io.BytesIO()
    w = RecordingWriter(buf, {"sensors": [polar]})
    offsets = []
    for j in range(20):
        ts = 800_000_000 * 10**9 + round(j * step_s * 1e9)
        acc = np.tile([0, 0, 1000], (k, 1))
        host = 0.5 + j * step_s
        offsets.append(buf.tell())
        w.write_notification(0, 0, pmd.encode_frame(2, ts, 1, True, pmd.encode_delta(acc)), host)
        w.write_notification(0, 0, pmd.encode_frame(5, ts, 0, True, pmd.encode_delta(acc)), host)
    w.close()
    rec, peak = _peak_mb(lambda: load_recording(buf.getvalue()))
    assert peak < 50, peak
    (sd,) = rec.sensors
    assert sd.n_samples == k and sd.t_s.size == k
    reasons = [d.reason for d in rec.damage]
    assert any("frame(s)" in r and "left out" in r for r in reasons), reasons
