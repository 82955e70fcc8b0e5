# The Poise wearable: GATT server, control point, status and the streaming loop.
#
# Talks to MicroPython's low-level `bluetooth.BLE` API (docs: library/bluetooth.rst):
# gatts_register_services, gatts_write/gatts_read, gatts_notify(conn, handle, data),
# gatts_indicate(conn, handle) with _IRQ_GATTS_INDICATE_DONE, gap_advertise(interval_us,
# adv_data, resp_data=...), and the IRQ events below. Everything is passed in (the BLE
# object, bluetooth.UUID, the IMU, the board, the clock), so the same code runs on a
# board (main.py) and under CPython with a Bumble stand-in (sensors/firmware_host/).
#
# Threading: the IRQ handler only records what happened (a connection, an MTU, a
# control point write); App.step(), called from the main loop every few ms, does the
# work: FIFO burst reads, packets, commands, status. One request at a time (SPEC 4.1):
# a write that arrives while one is pending is answered BUSY.
#
# Streaming path (App._pump): per FIFO read one I2C count read, one INT_STATUS read
# and one burst read per packet into a preallocated buffer; samples are byte-swapped
# into the preallocated packet, header and CRC written with struct.pack_into. No heap
# allocation per sample or per packet (checked under the unix port with heap_lock).

import poise_proto as P
from micropython import const
from poise_clock import SampleGrid
from poise_imu import ImuError, fifo_to_samples

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_INDICATE_DONE = const(20)
_IRQ_MTU_EXCHANGED = const(21)

_FLAG_READ = const(0x0002)
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)
_FLAG_INDICATE = const(0x0020)

ADV_INTERVAL_US = const(50000)  # SPEC 1.2: 20-100 ms
LOW_BATTERY_PERCENT = const(15)
_HOUSEKEEPING_MS = const(1000)
_INDICATE_TIMEOUT_MS = const(3000)
_DEFAULT_MTU = const(23)


class App:
    """One Poise wearable.

    Parameters
    ----------
    ble
        ``bluetooth.BLE()`` (or a stand-in with the same methods).
    uuid
        ``bluetooth.UUID``.
    imu
        :class:`poise_imu.Imu` (probed).
    board
        A board from :mod:`poise_board` (``battery()``, ``led(on)``, ``model``,
        ``hardware``, ``manufacturer``).
    clock
        :class:`poise_clock.Clock32`.
    name, serial
        Advertised name (``Poise-XXXX``) and serial number (<= 10 printable ASCII).
    ticks_ms, ticks_diff, ticks_add
        ``time.ticks_ms`` etc. (housekeeping, identify blinking).
    collect
        ``gc.collect`` or None: run once per housekeeping second, while idle between
        packets, so garbage from the control path never piles up into a long pause.
    """

    def __init__(
        self,
        ble,
        uuid,
        imu,
        board,
        clock,
        name,
        serial,
        ticks_ms,
        ticks_diff,
        ticks_add,
        collect=None,
    ):
        self.ble = ble
        self.UUID = uuid
        self.imu = imu
        self.board = board
        self.model = board.model  # completed by start()
        self.clock = clock
        self.name = name
        self.serial = serial[:10]
        self.ticks_ms = ticks_ms
        self.ticks_diff = ticks_diff
        self.ticks_add = ticks_add
        self.collect = collect
        self.conn = None
        self.mtu = _DEFAULT_MTU
        self.cid = P.DEFAULT_CONFIG_ID
        self.streaming = False
        self.state = P.STATE_IDLE
        self.flags = 0
        self.seq = 0
        self.dropped = 0
        self.overflows = 0
        self.battery = P.BATTERY_UNKNOWN
        self.charging = False
        self.grid = None
        self.packer = None
        self.fifo_buf = None
        self.pending = None
        self.responses = []
        self.indicating = False
        self._indicate_ms = 0
        self._relayout = True
        self._status_due = False
        self._dropped_notified = 0
        self._status_buf = bytearray(8)
        self._identify_until = None
        self._next_housekeeping = ticks_ms()

    # -- set-up ------------------------------------------------------------------------

    def start(self):
        """Register the GATT services (SPEC 1.1), fill the values, advertise."""
        U = self.UUID
        ble = self.ble
        ble.irq(self._irq)
        poise = (
            U(P.SERVICE_UUID),
            (
                (U(P.DATA_UUID), _FLAG_NOTIFY),
                (U(P.CONTROL_POINT_UUID), _FLAG_WRITE | _FLAG_INDICATE),
                (U(P.STATUS_UUID), _FLAG_READ | _FLAG_NOTIFY),
                (U(P.INFO_UUID), _FLAG_READ),
            ),
        )
        dis = (
            U(P.DEVICE_INFORMATION_UUID16),
            (
                (U(P.MANUFACTURER_UUID16), _FLAG_READ),
                (U(P.MODEL_UUID16), _FLAG_READ),
                (U(P.SERIAL_UUID16), _FLAG_READ),
                (U(P.HARDWARE_REV_UUID16), _FLAG_READ),
                (U(P.FIRMWARE_REV_UUID16), _FLAG_READ),
            ),
        )
        bas = (
            U(P.BATTERY_SERVICE_UUID16),
            ((U(P.BATTERY_LEVEL_UUID16), _FLAG_READ | _FLAG_NOTIFY),),
        )
        handles = ble.gatts_register_services((poise, dis, bas))
        (self.h_data, self.h_cp, self.h_status, self.h_info) = handles[0]
        h_mfr, h_model, h_serial, h_hw, h_fw = handles[1]
        self.h_battery = handles[2][0]
        ble.gatts_set_buffer(self.h_info, 512)
        ble.gatts_set_buffer(self.h_cp, 20)
        fw = "%d.%d.%d" % P.FIRMWARE_VERSION
        # Model Number and the Info JSON's model: this firmware, the board and its IMU
        model = self.board.model
        if self.imu.name not in model:
            model = "%s %s" % (model, self.imu.name)
        self.model = "Poise MicroPython firmware on " + model
        for h, text in (
            (h_mfr, self.board.manufacturer),
            (h_model, self.model),
            (h_serial, self.serial),
            (h_hw, self.board.hardware),
            (h_fw, fw),
        ):
            ble.gatts_write(h, text.encode())
        self.battery, self.charging = self.board.battery()
        ble.gatts_write(self.h_battery, self._battery_value())
        self._write_status()
        self._write_info()
        self._advertise()

    def _battery_value(self):
        """Battery Level value: one byte, or empty while the level is unknown (no board
        gauge), which a client shows as unknown rather than as 0 %."""
        return b"" if self.battery == P.BATTERY_UNKNOWN else bytes((self.battery,))

    def _advertise(self):
        if self.battery == P.BATTERY_UNKNOWN:
            resp = P.scan_response_data(self.name, 0)[: len(self.name) + 2]  # name only
        else:
            resp = P.scan_response_data(self.name, self.battery)
        self.ble.gap_advertise(ADV_INTERVAL_US, P.advertising_data(), resp_data=resp)

    # -- IRQ (record only) -----------------------------------------------------------

    def _irq(self, event, data):
        if event == _IRQ_CENTRAL_CONNECT:
            conn = data[0]
            if self.conn is None:
                self.conn = conn
                self.mtu = _DEFAULT_MTU
                self._relayout = True
                self.indicating = False
                self.responses = []
                self.pending = None
            else:  # one central at a time
                self.ble.gap_disconnect(conn)
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] == self.conn:
                self.conn = None
                self.pending = None
                self.indicating = False
                self._advertise()
        elif event == _IRQ_GATTS_WRITE:
            if data[1] == self.h_cp:
                value = bytes(self.ble.gatts_read(self.h_cp))
                if self.pending is None:
                    self.pending = value
                else:
                    self.responses.append(P.response(value[0] if value else 0, P.BUSY))
        elif event == _IRQ_GATTS_INDICATE_DONE:
            self.indicating = False
        elif event == _IRQ_MTU_EXCHANGED:
            if data[0] == self.conn:
                self.mtu = data[1]
                self._relayout = True

    # -- main loop -------------------------------------------------------------------

    def step(self):
        """One pass of the main loop: FIFO, commands, responses, housekeeping."""
        now = self.clock.update()
        if self._relayout:
            self._layout()
        if self.streaming:
            self._pump(now)
        if self.pending is not None:
            cmd = self.pending
            self.pending = None
            self._handle(cmd)
        self._send_response()
        if self._status_due:
            self._notify_status()
        ms = self.ticks_ms()
        if self._identify_until is not None:
            if self.ticks_diff(self._identify_until, ms) <= 0:
                self._identify_until = None
                self.board.led(False)
            else:
                self.board.led((ms // 250) % 2 == 0)
        if self.ticks_diff(ms, self._next_housekeeping) >= 0:
            self._next_housekeeping = self.ticks_add(ms, _HOUSEKEEPING_MS)
            self._housekeeping()

    def _layout(self):
        """Packet size for the MTU and rate (SPEC 3.4); buffers allocated here only."""
        self._relayout = False
        k = P.samples_per_packet(self.mtu, self.cid & 3)
        compact = P.max_samples_per_packet(self.mtu) == 0
        p = self.packer
        if p is None or p.count != k or p.compact != compact:
            self.packer = P.Packer(k, compact)
            self.fifo_buf = bytearray(k * self.imu.frame)
        self._write_info()

    def _pump(self, now):
        """Read every complete packet's worth of samples from the FIFO and send it."""
        imu = self.imu
        try:
            if imu.overflowed():
                self._overflow()
                return
            n = imu.fifo_bytes()
            if n >= imu.capacity:
                self._overflow()
                return
            avail = n // imu.frame
            self.grid.observe(now, avail)
            k = self.packer.count
            while avail >= k:
                imu.read_fifo_into(self.fifo_buf)
                fifo_to_samples(
                    self.fifo_buf,
                    imu.frame,
                    imu.acc_off,
                    imu.gyr_off,
                    k,
                    self.packer.buf,
                    self.packer.first,
                )
                self._emit(k)
                avail -= k
        except OSError:
            self._sensor_error()

    def _emit(self, k):
        grid = self.grid
        if self.conn is not None:
            buf = self.packer.finish(self.cid, self.seq, grid.t_hi, grid.t_lo)
            try:
                self.ble.gatts_notify(self.conn, self.h_data, buf)
            except OSError:  # the stack's queue is full: the packet is lost at the source
                self.dropped += k
                self.flags |= P.FLAG_BUFFER_OVERFLOW
        else:  # streaming while disconnected (SPEC 4.2): numbered, counted, discarded
            self.dropped += k
        self.seq = (self.seq + 1) & 0xFFFF
        grid.advance(k)

    def _overflow(self):
        """FIFO overflow: its records are misaligned and the oldest lost; drop it all,
        go on from the next sample and count what was lost (SPEC 7: the client sees a
        timestamp gap without a seq gap, and dropped_samples grows)."""
        self.imu.reset_fifo()
        lost = self.grid.skip_to(self.clock.update())
        self.dropped += lost
        self.overflows += 1
        self.flags |= P.FLAG_BUFFER_OVERFLOW
        self._status_due = True

    def _sensor_error(self):
        self.streaming = False
        self.state = P.STATE_ERROR
        self.flags |= P.FLAG_SENSOR_ERROR
        self._status_due = True

    # -- control point ---------------------------------------------------------------

    def _handle(self, cmd):
        op, result = P.parse_command(cmd)
        if result != P.SUCCESS:
            self.responses.append(P.response(op, result))
            return
        if op == P.OP_START:
            if not self.streaming:
                try:
                    self._start()
                except (OSError, ImuError):
                    self._sensor_error()
                    result = P.OPERATION_FAILED
            out = P.response(op, result)
        elif op == P.OP_STOP:
            if self.streaming:
                self._stop()
            out = P.response(op, result)
        elif op == P.OP_SET_CONFIG:
            cid = P.config_id(cmd[1], cmd[2], cmd[3])
            if self.streaming and cid != self.cid:
                out = P.response(op, P.INVALID_STATE)
            else:
                if cid != self.cid:
                    self.cid = cid
                    self._relayout = True
                    self._status_due = True
                out = P.response(op, result)
        elif op == P.OP_TIME_SYNC:
            # the clock first, then every sample taken by then goes out before the
            # response (the client counts packets complete by this time as sent)
            now = self.clock.update()
            hi, lo = self.clock.hi, self.clock.lo
            if self.streaming:
                self._pump(now)
            out = P.time_sync_response(cmd, hi, lo)
        elif op == P.OP_IDENTIFY:
            seconds = cmd[1]
            if seconds:
                self._identify_until = self.ticks_add(self.ticks_ms(), seconds * 1000)
            else:
                self._identify_until = None
                self.board.led(False)
            out = P.response(op, result)
        else:  # GET_INFO
            out = P.get_info_response(self.cid, self.battery, self._max_samples(), self.serial)
        self.responses.append(out)

    def _start(self):
        r, a, g = P.config_codes(self.cid)
        self.imu.configure(r, a, g)
        self.imu.start_fifo()
        self.grid = SampleGrid(self.clock, P.PERIODS_US[r], self.clock.update())
        self.seq = 0
        self.dropped = 0
        self._dropped_notified = 0
        self.flags &= ~(P.FLAG_BUFFER_OVERFLOW | P.FLAG_SENSOR_ERROR)
        self.streaming = True
        self.state = P.STATE_STREAMING
        self._layout()
        self._status_due = True

    def _stop(self):
        self._pump(self.clock.update())
        self.streaming = False
        self.state = P.STATE_IDLE
        try:
            self.imu.stop_fifo()
        except OSError:
            pass
        self._status_due = True

    def _send_response(self):
        if not self.responses:
            return
        if self.conn is None:
            self.responses = []
            return
        if self.indicating:
            if self.ticks_diff(self.ticks_ms(), self._indicate_ms) < _INDICATE_TIMEOUT_MS:
                return
            self.indicating = False  # never confirmed: go on
        value = self.responses.pop(0)
        self.ble.gatts_write(self.h_cp, value)
        self.indicating = True
        self._indicate_ms = self.ticks_ms()
        self.ble.gatts_indicate(self.conn, self.h_cp)

    # -- status, info, battery -------------------------------------------------------

    def _max_samples(self):
        return P.max_samples_per_packet(self.mtu)

    def _status_flags(self):
        f = self.flags & ~(P.FLAG_LOW_BATTERY | P.FLAG_CHARGING)
        if self.battery != P.BATTERY_UNKNOWN and self.battery <= LOW_BATTERY_PERCENT:
            f |= P.FLAG_LOW_BATTERY
        if self.charging:
            f |= P.FLAG_CHARGING
        return f

    def _write_status(self):
        P.encode_status_into(
            self._status_buf, self.state, self.battery, self._status_flags(), self.dropped, self.cid
        )
        self.ble.gatts_write(self.h_status, self._status_buf)

    def _notify_status(self):
        """SPEC 5: on every change of state, flags, config, battery; at most once per
        second while dropped_samples grows (housekeeping)."""
        self._status_due = False
        self._dropped_notified = self.dropped
        self._write_status()
        if self.conn is not None:
            try:
                self.ble.gatts_notify(self.conn, self.h_status)
            except OSError:
                pass

    def _write_info(self):
        self.ble.gatts_write(
            self.h_info,
            P.info_json(self.cid, self.battery, self._max_samples(), self.serial, self.model),
        )

    def _housekeeping(self):
        battery, charging = self.board.battery()
        if battery != self.battery or charging != self.charging:
            self.battery = battery
            self.charging = charging
            self.ble.gatts_write(self.h_battery, self._battery_value())
            if self.conn is not None:
                try:
                    self.ble.gatts_notify(self.conn, self.h_battery)
                except OSError:
                    pass
            else:
                self._advertise()  # the scan response carries the battery
            self._write_info()
            self._status_due = True
        if self.dropped != self._dropped_notified:
            self._status_due = True
        if self._status_due:
            self._notify_status()
        if self.collect is not None:
            self.collect()

    def status_tuple(self):
        """(state, battery, flags, dropped, config id): what Status reads (tests)."""
        return self.state, self.battery, self._status_flags(), self.dropped, self.cid
