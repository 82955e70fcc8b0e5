"""Crash safety: a writer process killed with SIGKILL loses at most the last second.

The child writes real data packets continuously and reports, on a pipe flushed after
every write, which packet it wrote and when (``time.monotonic`` is system-wide on
Linux, so the parent can compare with its own kill time).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sensors.recording import RecordingReader, RecordType, load_recording

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import sys, time
import numpy as np
from firmware_protocol import codec
from firmware_protocol.types import SensorConfig
from sensors.recording import RecordingWriter

path, mode = sys.argv[1], sys.argv[2]
cfg = SensorConfig(100, 8, 2000)
w = RecordingWriter(path, {"patient": "kill-test",
                           "sensors": [{"id": "a", "placement": "lower-back", "config": cfg}]})
acc = np.zeros((19, 3), np.int16)
out = sys.stdout
i = 0
while True:
    acc[:, 0] = i % 30000
    pk = codec.encode_data(i % 65536, (i * 190000) % 2**32, acc, acc, config=cfg)
    w.write_packet(0, pk, host_time_s=w.time_s())
    out.write(f"{i} {time.monotonic():.6f}\n")
    out.flush()
    i += 1
    if mode == "idle" and i == 50:
        out.write("idle\n")
        out.flush()
        time.sleep(3600)
    time.sleep(0.002)
"""


def _run_and_kill(tmp_path: Path, mode: str, run_s: float) -> tuple[dict[int, float], float, Path]:
    target = tmp_path / f"{mode}.poise"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(target), mode],
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        written: dict[int, float] = {}
        t_end = None
        assert proc.stdout is not None
        for line in proc.stdout:  # blocks until the child writes; read everything live
            parts = line.decode().split()
            if parts == ["idle"]:
                t_end = time.monotonic() + run_s
                break
            written[int(parts[0])] = float(parts[1])
            if t_end is None:
                t_end = time.monotonic() + run_s
            if time.monotonic() >= t_end:
                break
        while time.monotonic() < t_end:
            time.sleep(0.01)
        kill_time = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read().decode().split("\n")
        for line in rest:
            parts = line.split()
            if len(parts) == 2:
                written[int(parts[0])] = float(parts[1])
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    return written, kill_time, target


def _recovered(target: Path) -> tuple[list[int], list]:
    reader = RecordingReader(target)
    ids = []
    for rec in reader.records():
        if rec.type == RecordType.PACKET:
            ids.append(int.from_bytes(rec.packet[2:4], "little"))
    return ids, reader.damage


@pytest.mark.timeout(60)
def test_sigkill_mid_recording_loses_at_most_the_last_second(tmp_path):
    written, kill_time, target = _run_and_kill(tmp_path, "busy", run_s=2.5)
    ids, damage = _recovered(target)
    assert len(written) > 200  # the child really was writing when killed
    assert ids == list(range(len(ids)))  # a clean prefix, in order
    assert len(damage) <= 1  # at most one torn record at the very end
    if damage:
        assert damage[0].offset >= target.stat().st_size - 300
    must_have = [i for i, t in written.items() if t < kill_time - 1.0]
    assert set(must_have) <= set(ids)
    lost = [kill_time - t for i, t in written.items() if i not in set(ids)]
    oldest_lost_s = max(lost, default=0.0)
    print(f"written {len(written)}, recovered {len(ids)}, oldest lost record {oldest_lost_s:.3f} s")
    assert oldest_lost_s < 1.0
    rec = load_recording(target)  # the same file decodes through the codec
    assert not rec.closed_cleanly
    s = rec.sensors[0]
    assert s.n_samples == 19 * len(ids)
    assert np.all(np.isfinite(s.acc_mps2))


@pytest.mark.timeout(60)
def test_sigkill_of_an_idle_writer_loses_nothing(tmp_path):
    written, kill_time, target = _run_and_kill(tmp_path, "idle", run_s=0.8)
    ids, damage = _recovered(target)
    assert len(written) == 50 and max(written.values()) < kill_time - 0.7
    assert ids == list(range(50))
    assert damage == []
