# Runs under the MicroPython unix port (`micropython`), not CPython: the firmware's
# pure parts against the protocol's test vectors, the ticks_us wrap, FIFO parsing and
# the no-allocation rule of the streaming path (micropython.heap_lock).
#
#   MICROPYPATH=firmware_protocol/micropython micropython \
#       tests/firmware_protocol/mp_unix_checks.py firmware_protocol/vectors
#
# Prints one JSON object per line; tests/firmware_protocol/test_micropython_firmware.py
# runs it and checks every line. A line {"check": ..., "ok": false, ...} is a failure.

import json
import struct
import sys

import micropython
import poise_proto as P
from poise_app import App
from poise_clock import Clock32, SampleGrid
from poise_imu import CHIPS, Imu, fifo_to_samples

VECTORS = sys.argv[1]


def out(**kw):
    print(json.dumps(kw))


def load(name):
    with open(VECTORS + "/" + name) as f:
        return json.load(f)["vectors"]


def codes(cfg):
    return (
        P.RATES_HZ.index(cfg["sampling_rate_hz"]),
        P.ACC_RANGES_G.index(cfg["acc_range_g"]),
        P.GYRO_RANGES_DPS.index(cfg["gyro_range_dps"]),
    )


def hexs(b):
    return "".join("%02x" % x for x in b)


# ---------------------------------------------------------------- vectors: packets
for v in load("data.json") + load("compact.json"):
    f = v["fields"]
    samples = [tuple(a) + tuple(g) for a, g in zip(f["acc_counts"], f["gyr_counts"])]
    cfg = v.get("config")
    cid = P.config_id(*codes(cfg)) if cfg else P.DEFAULT_CONFIG_ID
    pkt = P.encode_data(f["seq"], f["timestamp_us"], samples, cid, v["kind"] == "compact")
    out(check="vector", name=v["name"], hex=hexs(pkt))

# --------------------------------------------------------- vectors: control/status
OPS = {"START_STREAM": 1, "STOP_STREAM": 2, "SET_CONFIG": 3, "TIME_SYNC": 4}
OPS.update({"IDENTIFY": 5, "GET_INFO": 6})
RESULTS = {"SUCCESS": 1, "UNSUPPORTED_OPCODE": 2, "INVALID_PARAMETER": 3}
RESULTS.update({"INVALID_STATE": 4, "BUSY": 5, "OPERATION_FAILED": 6})
STATES = {"IDLE": 0, "STREAMING": 1, "ERROR": 2}
for v in load("control.json") + load("status.json"):
    f = v["fields"]
    raw = bytes.fromhex(v["hex"])
    if v["kind"] == "command":
        op, res = P.parse_command(raw)
        out(check="command", name=v["name"], opcode=op, result=res)
    elif v["kind"] == "response":
        op = f["opcode"] if isinstance(f["opcode"], int) else OPS[f["opcode"]]
        res = RESULTS[f["result"]]
        if res != P.SUCCESS or op in (1, 2, 3, 5):
            b = P.response(op, res)
        elif op == 4:
            s = f["sensor_time_us"]
            req = bytearray(9)
            req[0] = 4
            struct.pack_into("<Q", req, 1, f["host_time_us"])
            b = P.time_sync_response(req, s >> 16, s & 0xFFFF)
        else:
            i = f["info"]
            fw = tuple(int(x) for x in i["firmware_version"].split("."))
            if fw != P.FIRMWARE_VERSION:  # the vector's firmware version, not ours
                b = P.get_info_response(
                    P.config_id(*codes(i["config"])),
                    255 if i.get("battery_percent") is None else i["battery_percent"],
                    i["max_samples_per_packet"],
                    i["serial"],
                )
                b = b[:4] + bytes(fw) + b[7:]
            else:
                b = P.get_info_response(0, 0, 0, "")
        out(check="vector", name=v["name"], hex=hexs(b))
    else:
        buf = bytearray(8)
        batt = f.get("battery_percent")
        P.encode_status_into(
            buf,
            STATES[f["state"]],
            255 if batt is None else batt,
            f["flags"],
            f["dropped_samples"],
            P.config_id(*codes(f["config"])),
        )
        out(check="vector", name=v["name"], hex=hexs(buf))

# invalid commands the firmware must refuse (SPEC 4.4)
for name, raw, want in (
    ("empty", b"", P.INVALID_PARAMETER),
    ("unknown_0x7f", b"\x7f", P.UNSUPPORTED_OPCODE),
    ("set_config_short", b"\x03\x01\x02", P.INVALID_PARAMETER),
    ("set_config_rate_3", b"\x03\x03\x00\x00", P.INVALID_PARAMETER),
    ("time_sync_short", b"\x04\x01\x02", P.INVALID_PARAMETER),
    ("identify_no_seconds", b"\x05", P.INVALID_PARAMETER),
    ("trailing_bytes_ignored", b"\x01\xff\xff", P.SUCCESS),
):
    out(check="refuse", name=name, ok=P.parse_command(raw)[1] == want)


# ------------------------------------------------------------- ticks wrap (ESP32)
class FakeTicks:
    """ticks_us with the ESP32's period 2**30 (and the port's ticks_diff/ticks_add)."""

    PERIOD = 1 << 30

    def __init__(self, t0):
        self.t = t0

    def ticks_us(self):
        return self.t & (self.PERIOD - 1)

    def ticks_diff(self, a, b):
        half = self.PERIOD >> 1
        return ((a - b + half) & (self.PERIOD - 1)) - half

    def ticks_add(self, a, d):
        return (a + d) & (self.PERIOD - 1)


ft = FakeTicks((1 << 30) - 5_000_000)  # ticks wrap 5 s in
start = (1 << 32) - 12_000_000  # the 32-bit clock wraps 12 s in
clk = Clock32(ft.ticks_us, ft.ticks_diff, ft.ticks_add, start >> 16, start & 0xFFFF)
elapsed = 0
worst = 0
step = 7_919
for i in range(4000):  # 4000 steps of ~8 ms with jitter: 32 s across both wraps
    d = step + (i * 7) % 3001
    ft.t += d
    elapsed += d
    clk.update()
    want = (start + elapsed) & 0xFFFFFFFF
    worst = max(worst, abs(clk.value() - want))
out(check="clock_wrap", ok=worst == 0, elapsed_us=elapsed, worst_error_us=worst)

# grid timestamps across both wraps: exactly t0 + k * period (mod 2**32)
ft2 = FakeTicks((1 << 30) - 20_000)
clk2 = Clock32(ft2.ticks_us, ft2.ticks_diff, ft2.ticks_add, 0xFFFF, 0xFF00)
grid = SampleGrid(clk2, 5000, clk2.update())
t0 = (grid.t_hi << 16) | grid.t_lo
bad = 0
for k in range(1, 2000):
    ft2.t += 5000
    clk2.update()
    grid.advance(1)
    if ((grid.t_hi << 16) | grid.t_lo) != (t0 + k * 5000) & 0xFFFFFFFF:
        bad += 1
out(check="grid_wrap", ok=bad == 0, bad=bad)

# overflow accounting: an IMU sampling at true instants T + m * p; the firmware reads
# at irregular times, then stalls; skip_to must count exactly the samples taken.
ft3 = FakeTicks((1 << 30) - 300_000)
clk3 = Clock32(ft3.ticks_us, ft3.ticks_diff, ft3.ticks_add)
p = 10_000
t_start = ft3.t
grid3 = SampleGrid(clk3, p, clk3.update())
phase = 3_217  # first sample 3.217 ms after the FIFO reset
consumed = 0
ok = True
for i in range(300):
    ft3.t += 4_000 + (i * 1_733) % 9_000
    taken = (ft3.t - t_start - phase) // p + 1  # samples taken so far
    grid3.observe(ft3.ticks_us(), taken - consumed)
    grid3.advance(taken - consumed)
    consumed = taken
ft3.t += 850_000  # stall: the FIFO overflows, the firmware resets it
taken = (ft3.t - t_start - phase) // p + 1
lost = grid3.skip_to(ft3.ticks_us())
out(check="overflow_count", ok=lost == taken - consumed, lost=lost, truth=taken - consumed)


# ------------------------------------------------------------------ FIFO parsing
def be_frame(frame, acc_off, gyr_off, s):
    b = bytearray(frame)
    struct.pack_into(">3h", b, acc_off, s[0], s[1], s[2])
    struct.pack_into(">3h", b, gyr_off, s[3], s[4], s[5])
    if frame == 14:
        struct.pack_into(">h", b, 6, 1234)  # MPU6886 temperature between accel and gyro
    return b


rows = [(4096, -1, 2, 0, -32768, 32767), (-4096, 300, -300, 12, -12, 1), (1, 2, 3, 4, 5, 6)]
for chip in CHIPS.values():
    name, _, frame, ao, go = chip[0], chip[1], chip[2], chip[3], chip[4]
    src = bytearray()
    for r in rows:
        src += be_frame(frame, ao, go, r)
    dst = bytearray(12 * len(rows) + 4)
    fifo_to_samples(src, frame, ao, go, len(rows), dst, 2)
    want = b"".join(struct.pack("<6h", *r) for r in rows)
    out(check="fifo_parse", chip=name, ok=bytes(dst[2 : 2 + len(want)]) == want)


# ------------------------------------------ no allocation on the streaming path
class StubI2C:
    """Register-level enough for App._pump: a FIFO that always holds n records."""

    def __init__(self, frame, records):
        self.count = frame * records
        self.byte = 0

    def readfrom_mem_into(self, addr, reg, buf):
        if reg == 0x72:
            buf[0] = self.count >> 8
            buf[1] = self.count & 0xFF
        elif reg == 0x3A:
            buf[0] = 0
        elif reg == 0x75:
            buf[0] = 0x19
        else:
            for i in range(len(buf)):
                self.byte = (self.byte + 1) & 0xFF
                buf[i] = self.byte

    def writeto_mem(self, addr, reg, buf):
        pass


class StubBLE:
    def __init__(self):
        self.sent = 0
        self.n = 0

    def irq(self, handler):
        self.handler = handler

    def gatts_register_services(self, services):
        h = 10
        out_ = []
        for _, chars in services:
            hs = []
            for _c in chars:
                hs.append(h)
                h += 3
            out_.append(tuple(hs))
        return tuple(out_)

    def gatts_set_buffer(self, h, n, append=False):
        pass

    def gatts_write(self, h, v, send_update=False):
        pass

    def gatts_notify(self, conn, h, data=None):
        self.sent += 1
        self.n = len(data) if data is not None else 0

    def gatts_indicate(self, conn, h):
        pass

    def gap_advertise(self, interval, adv_data=None, resp_data=None, connectable=True):
        pass


class StubBoard:
    model = "stub"
    hardware = "stub"
    manufacturer = "stub"

    def battery(self):
        return 80, False

    def led(self, on):
        pass


def alloc_free(rate_code, mtu):
    ft4 = FakeTicks(123_456)
    imu = Imu(StubI2C(14, 60), 0x68)
    imu.probe()
    ble = StubBLE()
    clk4 = Clock32(ft4.ticks_us, ft4.ticks_diff, ft4.ticks_add)
    app = App(
        ble,
        lambda u: u,
        imu,
        StubBoard(),
        clk4,
        "Poise-TEST",
        "PSTEST",
        ft4.ticks_us,
        ft4.ticks_diff,
        ft4.ticks_add,
    )
    app.start()
    app._irq(1, (1, 0, b"\x00" * 6))
    app._irq(21, (1, mtu))
    app.cid = P.config_id(rate_code, 2, 3)
    app._handle(b"\x01")  # START
    app._pump(ft4.ticks_us())  # warm up
    before = ble.sent
    micropython.heap_lock()
    try:
        for _ in range(50):
            ft4.t += 20_000
            app._pump(clk4.update())
        err = None
    except MemoryError as exc:
        err = str(exc)
    micropython.heap_unlock()
    return err, ble.sent - before, ble.n


for rate_code in (0, 1, 2):
    for mtu in (23, 247):
        err, packets, size = alloc_free(rate_code, mtu)
        out(
            check="heap_locked_pump",
            rate_hz=P.RATES_HZ[rate_code],
            mtu=mtu,
            ok=err is None and packets > 0,
            error=err,
            packets=packets,
            packet_bytes=size,
        )
# negative control: heap_lock does catch an allocation on this build
micropython.heap_lock()
try:
    _ = [1, 2, 3]
    caught = False
except MemoryError:
    caught = True
micropython.heap_unlock()
out(check="heap_lock_catches_allocation", ok=caught)
out(check="done", ok=True)
