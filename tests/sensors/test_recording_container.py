"""The .poise container: framing, checksums, recovery from damage, permissions, flushing."""

from __future__ import annotations

import io
import os
import stat
import struct
import threading
import time
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_protocol.types import SensorConfig
from sensors.recording import (
    MAGIC,
    PREAMBLE_SIZE,
    SYNC,
    RecordingError,
    RecordingReader,
    RecordingWriter,
    RecordType,
    append_event,
    load_recording,
)

META = {
    "patient": "P-007",
    "notes": "unit test",
    "sensors": [
        {"id": "a", "placement": "lower-back", "config": SensorConfig(100, 8, 2000)},
        {"id": "b", "placement": "left-shank", "config": SensorConfig(200, 16, 1000).to_dict()},
    ],
}


def _small_file() -> tuple[bytes, list[tuple[int, int]]]:
    """A short recording in memory and the (start, end) byte span of every record."""
    buf = io.BytesIO()
    w = RecordingWriter(buf, META)
    for i in range(5):
        w.write_packet(i % 2, bytes([i]) * (3 + i), host_time_s=0.1 * i)
    w.write_gap(0, samples=4, reason="loss", start_us=123, t_s=0.3)
    w.write_event({"kind": "marker", "label": "start", "t_s": 0.25})
    w.close(t_s=1.0)
    data = buf.getvalue()
    spans = []
    pos = PREAMBLE_SIZE
    while pos < len(data):
        assert data[pos : pos + 4] == SYNC
        (length,) = struct.unpack_from("<I", data, pos + 6)
        end = pos + 10 + length + 4
        spans.append((pos, end))
        pos = end
    return data, spans


def test_round_trip_of_every_record_type():
    data, spans = _small_file()
    reader = RecordingReader(data)
    recs = list(reader.records())
    assert reader.damage == [] and reader.notes == []
    assert [r.type_name for r in recs] == ["HEADER", "HEADER"] + ["PACKET"] * 5 + [
        "GAP",
        "EVENT",
        "END",
    ]
    assert [r.offset for r in recs] == [s for s, _ in spans]
    md = recs[0].info
    assert md["format_version"] == 1 and md["patient"] == "P-007"
    assert md["sensors"][0]["config"] == SensorConfig(100, 8, 2000).to_dict()
    assert md["sensors"][1]["placement"] == "left-shank"
    assert {"utc", "epoch_s", "monotonic_s"} <= set(md["start"])
    pk = [r for r in recs if r.type == RecordType.PACKET]
    assert [p.packet for p in pk] == [bytes([i]) * (3 + i) for i in range(5)]
    assert [p.sensor for p in pk] == [0, 1, 0, 1, 0]
    assert [p.host_time_s for p in pk] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert recs[-3].info["samples"] == 4 and recs[-3].info["reason"] == "loss"
    assert recs[-2].info == {"kind": "marker", "label": "start", "t_s": 0.25}
    assert recs[-1].info["t_s"] == 1.0


def test_truncation_at_every_byte_recovers_every_complete_record():
    data, spans = _small_file()
    boundaries = {s for s, _ in spans} | {len(data)}
    for cut in range(len(data) + 1):
        if cut < PREAMBLE_SIZE:
            with pytest.raises(RecordingError):
                RecordingReader(data[:cut])
            continue
        reader = RecordingReader(data[:cut])
        got = [r.offset for r in reader.records()]
        assert got == [s for s, e in spans if e <= cut], cut
        if cut in boundaries:
            assert reader.damage == [], cut
        else:
            (dmg,) = reader.damage
            partial = max(s for s, _ in spans if s < cut)
            assert dmg.offset == partial
            assert "truncated" in dmg.reason or "extends past" in dmg.reason


@pytest.mark.parametrize("field_offset", [0, 3, 4, 5, 6, 9, 10, 12, -1])
def test_flipped_byte_loses_only_that_record(field_offset):
    data, spans = _small_file()
    k = 4  # a PACKET record in the middle
    start, end = spans[k]
    pos = (end if field_offset < 0 else start) + field_offset
    assert start <= pos < end
    bad = bytearray(data)
    bad[pos] ^= 0x5A
    reader = RecordingReader(bytes(bad))
    got = [r.offset for r in reader.records()]
    assert got == [s for i, (s, _) in enumerate(spans) if i != k]
    assert len(reader.damage) == 1 and reader.damage[0].offset == start


def test_garbage_between_records_is_reported_and_skipped():
    data, spans = _small_file()
    cut = spans[3][0]
    bad = data[:cut] + b"\x00garbage" + SYNC + b"\x01" + data[cut:]
    reader = RecordingReader(bad)
    recs = list(reader.records())
    assert len(recs) == len(spans)
    assert [d.offset for d in reader.damage] == [cut]
    assert "skipped 13 bytes" in reader.damage[0].reason


def test_damaged_first_header_uses_the_second_copy():
    data, spans = _small_file()
    bad = bytearray(data)
    bad[spans[0][0] + 20] ^= 0xFF
    rec = load_recording(bytes(bad))
    assert rec.metadata["patient"] == "P-007"
    assert rec.damage[0].offset == spans[0][0]
    reader = RecordingReader(bytes(bad))
    assert len(list(reader.records())) == len(spans) - 1
    assert [d.offset for d in reader.damage] == [spans[0][0]]


def test_unknown_record_types_are_skipped_with_a_note():
    buf = io.BytesIO()
    w = RecordingWriter(buf, META)
    w.write_record(200, b"future stuff")
    w.write_event({"kind": "note", "text": "after"})
    w.close()
    reader = RecordingReader(buf.getvalue())
    names = [r.type_name for r in reader.records()]
    assert names == ["HEADER", "HEADER", "EVENT", "END"]
    assert reader.damage == []
    assert any("unknown type 200" in n for n in reader.notes)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"acc_x,acc_y\n1,2\n", "bad magic"),
        (b"", "empty file"),
        (MAGIC[:5], "truncated"),
        (MAGIC + struct.pack("<HH", 99, 0), "newer"),
    ],
)
def test_not_a_recording(tmp_path, content, message):
    p = tmp_path / "x.csv"
    p.write_bytes(content)
    with pytest.raises(RecordingError, match=message) as info:
        load_recording(p)
    assert str(p) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_no_valid_header_is_a_recording_error():
    data, spans = _small_file()
    bad = bytearray(data)
    for s, _ in spans[:2]:
        bad[s + 12] ^= 0xFF
    with pytest.raises(RecordingError, match="no valid header"):
        load_recording(bytes(bad))


def test_permissions_and_private_folders(tmp_path):
    os.chmod(tmp_path, 0o755)
    target = tmp_path / "patients" / "p7" / "s1.poise"
    old = os.umask(0)  # even a permissive umask must not open the data up
    try:
        with RecordingWriter(target, META) as w:
            w.write_event({"kind": "note"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(target.parent.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # existing folders untouched
    with pytest.raises(FileExistsError, match="already exists"):
        RecordingWriter(target, META)
    RecordingWriter(target, META, overwrite=True).close()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_idle_writer_flushes_within_the_interval(tmp_path):
    target = tmp_path / "idle.poise"
    w = RecordingWriter(target, META, flush_interval_s=0.5)
    try:
        before = target.stat().st_size
        w.write_event({"kind": "marker", "label": "x"})
        # the policy is 0.5 s; 0.4 s of slack for a loaded CI machine
        deadline = time.monotonic() + 0.9
        while time.monotonic() < deadline and target.stat().st_size == before:
            time.sleep(0.02)
        assert target.stat().st_size > before
        recs = list(RecordingReader(target).records())
        assert recs[-1].info["label"] == "x"
    finally:
        w.close()


def test_busy_writer_flushes_by_time_of_write(tmp_path):
    target = tmp_path / "busy.poise"
    w = RecordingWriter(target, META, flush_interval_s=0.2)
    w._stop.set()  # silence the timer: only the write path may flush now
    w._timer.join()
    try:
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 0.3:
            w.write_packet(0, b"\x01\x02\x03", host_time_s=0.0)
            n += 1
            time.sleep(0.001)
        got = sum(1 for r in RecordingReader(target).records() if r.type == RecordType.PACKET)
        assert got >= 1 and got <= n
    finally:
        w.close()


def test_concurrent_writers_interleave_whole_records(tmp_path):
    target = tmp_path / "threads.poise"
    w = RecordingWriter(target, META)

    def work(k: int) -> None:
        for i in range(300):
            if k == 3:
                w.write_event({"kind": "marker", "i": i})
            else:
                w.write_packet(k % 2, struct.pack("<HH", k, i) * 5, host_time_s=i * 0.01)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    reader = RecordingReader(target)
    recs = list(reader.records())
    assert reader.damage == []
    pk = [struct.unpack_from("<HH", r.packet) for r in recs if r.type == RecordType.PACKET]
    for k in range(3):
        assert [i for kk, i in pk if kk == k] == list(range(300))
    assert sum(r.type == RecordType.EVENT for r in recs) == 300
    assert recs[-1].type == RecordType.END and recs[-1].info["packets"] == 900


def test_append_event_after_close(tmp_path):
    target = tmp_path / "later.poise"
    RecordingWriter(target, META).close(t_s=2.0)
    append_event(target, {"kind": "note", "text": "patient reported dizziness", "t_s": 1.5})
    rec = load_recording(target)
    assert rec.closed_cleanly
    assert rec.events == [{"kind": "note", "text": "patient reported dizziness", "t_s": 1.5}]
    (tmp_path / "no.poise").write_bytes(b"hello world, certainly no magic")
    with pytest.raises(RecordingError, match="bad magic"):
        append_event(tmp_path / "no.poise", {"kind": "note"})


def test_record_checksum_is_crc32_of_type_flags_length_payload():
    data, spans = _small_file()
    s, e = spans[2]
    assert struct.unpack_from("<I", data, e - 4)[0] == zlib.crc32(data[s + 4 : e - 4])


def test_writer_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="config"):
        RecordingWriter(io.BytesIO(), {"sensors": [{"id": "x"}]})
    with pytest.raises(ValueError, match="sampling_rate_hz"):
        RecordingWriter(
            io.BytesIO(),
            {
                "sensors": [
                    {"config": {"sampling_rate_hz": 7, "acc_range_g": 8, "gyro_range_dps": 2000}}
                ]
            },
        )
    w = RecordingWriter(io.BytesIO(), META)
    with pytest.raises(ValueError, match="sensor index 2"):
        w.write_packet(2, b"x")
    with pytest.raises(ValueError, match="kind"):
        w.write_event({"t_s": 1.0})
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.write_packet(0, b"x")


def _real_file() -> bytes:
    import numpy as np

    from firmware_protocol import codec

    cfg = SensorConfig(100, 8, 2000)
    buf = io.BytesIO()
    w = RecordingWriter(buf, {"sensors": [{"id": "a", "config": cfg}]})
    acc = np.arange(57, dtype=np.int16).reshape(19, 3)
    for p in range(6):
        w.write_packet(
            0, codec.encode_data(p, p * 190_000, acc, -acc, config=cfg), host_time_s=p * 0.19
        )
    w.write_event({"kind": "marker"})
    w.close()
    return buf.getvalue()


REAL = _real_file()


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(REAL) - 1), st.integers(0, 3), st.binary(min_size=1, max_size=8)
        ),
        min_size=1,
        max_size=4,
    ),
    cut=st.integers(0, len(REAL)),
)
def test_mangled_files_never_raise_anything_but_recording_error(edits, cut):
    data = bytearray(REAL)
    for pos, op, blob in edits:
        if op == 0:
            data[pos % len(data)] ^= blob[0] or 1
        elif op == 1:
            data[pos:pos] = blob
        elif op == 2:
            del data[pos : pos + len(blob)]
        else:
            data[pos : pos + len(blob)] = blob
    data = bytes(data[: max(cut, len(data) // 2)])
    try:
        rec = load_recording(data)
    except RecordingError:
        return
    s = rec.sensors[0] if rec.sensors else None
    if s is not None and s.t_s.size:
        assert s.acc_mps2.shape == (s.t_s.size, 3)
    # every damaged region is reported inside the file
    assert all(0 <= d.offset < len(data) for d in rec.damage)


def test_flush_timer_survives_a_failed_fsync(tmp_path, monkeypatch):
    # a failing fsync (full or slow disk) must not kill the idle-flush thread silently:
    # later records are still synced within the interval
    target = tmp_path / "flaky.poise"
    w = RecordingWriter(target, META, flush_interval_s=0.1)
    real = os.fsync
    fails = {"n": 1}

    def flaky(fd):
        if fails["n"]:
            fails["n"] -= 1
            raise OSError(28, "No space left on device")
        return real(fd)

    try:
        monkeypatch.setattr(os, "fsync", flaky)
        w.write_event({"kind": "marker", "label": "a"})
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and w.sync_errors == 0:
            time.sleep(0.01)
        assert w.sync_errors == 1
        synced = []
        monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
        w.write_event({"kind": "marker", "label": "b"})
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and not synced:
            time.sleep(0.01)
        assert w._timer.is_alive() and synced
    finally:
        monkeypatch.setattr(os, "fsync", real)
        w.close()
