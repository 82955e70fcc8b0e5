# InvenSense MPU6886 / MPU6050 / MPU6500-family IMU over I2C, read through its FIFO.
#
# Sources (register addresses and bits used here):
# - MPU-6000/MPU-6050 Register Map and Descriptions, RM-MPU-6000A-00 rev 4.2 (2013):
#   SMPLRT_DIV 0x19 (sample rate = gyro output rate / (1 + SMPLRT_DIV); the gyro output
#   rate is 1 kHz with the DLPF on), CONFIG 0x1A (DLPF_CFG bits 2:0), GYRO_CONFIG 0x1B
#   (FS_SEL bits 4:3), ACCEL_CONFIG 0x1C (AFS_SEL bits 4:3), FIFO_EN 0x23 (XG/YG/ZG bits
#   6:4, ACCEL bit 3), INT_ENABLE 0x38 (FIFO_OFLOW_EN bit 4), INT_STATUS 0x3A
#   (FIFO_OFLOW_INT bit 4, cleared by reading), USER_CTRL 0x6A (FIFO_EN bit 6,
#   FIFO_RESET bit 2), PWR_MGMT_1 0x6B (DEVICE_RESET bit 7, CLKSEL 2:0), FIFO_COUNT_H/L
#   0x72/0x73 (read H first), FIFO_R_W 0x74, WHO_AM_I 0x75 (0x68). Data are written to
#   the FIFO in register order: ACCEL_XOUT_H .. ACCEL_ZOUT_L, then GYRO_XOUT_H ..
#   GYRO_ZOUT_L, big-endian; "When the FIFO buffer has overflowed, the oldest data will
#   be lost and new data will be written to the FIFO" (4.31). FIFO size 1024 bytes
#   (MPU-6000/6050 Product Specification PS-MPU-6000A-00 rev 3.4, 7.17).
# - MPU-6500 Register Map RM-MPU-6500A-00 rev 2.1 and Product Specification
#   PS-MPU-6500A-01 rev 1.1: the same registers, ACCEL_CONFIG2 0x1D (A_DLPF_CFG), GYRO
#   FCHOICE_B bits 1:0 of GYRO_CONFIG (00 = DLPF in use), WHO_AM_I 0x70 (MPU-9250:
#   0x71), a 512-byte FIFO.
# - MPU-6886 datasheet (TDK InvenSense DS-000193 rev 1.1, the IMU of the M5StickC
#   Plus): the same register addresses and bits, CONFIG bit 6 FIFO_MODE (0: oldest data
#   overwritten when full), FIFO_EN 0x23 GYRO_FIFO_EN bit 4 / ACC_FIFO_EN bit 3, and
#   with both on each FIFO record is accel (6) + temperature (2) + gyro (6) = 14 bytes;
#   WHO_AM_I 0x19; 1 KB FIFO.
#
# Full-scale codes are the protocol's codes (SPEC 2: acc 2/4/8/16 g, gyro
# 250/500/1000/2000 dps, full scale = 32768 counts, exactly the chips' sensitivity
# 16384/code LSB/g and 131/code LSB/dps), so the counts go into packets unscaled: the
# only conversion is big-endian -> little-endian (fifo_to_samples).

from micropython import const

REG_SMPLRT_DIV = const(0x19)
REG_CONFIG = const(0x1A)
REG_GYRO_CONFIG = const(0x1B)
REG_ACCEL_CONFIG = const(0x1C)
REG_ACCEL_CONFIG2 = const(0x1D)
REG_FIFO_EN = const(0x23)
REG_INT_ENABLE = const(0x38)
REG_INT_STATUS = const(0x3A)
REG_USER_CTRL = const(0x6A)
REG_PWR_MGMT_1 = const(0x6B)
REG_FIFO_COUNTH = const(0x72)
REG_FIFO_R_W = const(0x74)
REG_WHO_AM_I = const(0x75)

INT_FIFO_OFLOW = const(0x10)
USER_CTRL_FIFO_EN = const(0x40)
USER_CTRL_FIFO_RESET = const(0x04)
PWR_RESET = const(0x80)
PWR_CLK_PLL = const(0x01)

# WHO_AM_I -> (name, FIFO bytes, bytes per FIFO record, accel offset, gyro offset,
#              FIFO_EN value, has ACCEL_CONFIG2)
CHIPS = {
    0x19: ("MPU6886", 1024, 14, 0, 8, 0x18, True),
    0x68: ("MPU6050", 1024, 12, 0, 6, 0x78, False),
    0x70: ("MPU6500", 512, 12, 0, 6, 0x78, True),
    0x71: ("MPU9250", 512, 12, 0, 6, 0x78, True),
}

# rate code (50/100/200 Hz) -> SMPLRT_DIV at the 1 kHz internal rate, and the digital
# low-pass setting whose bandwidth is below the Nyquist frequency: DLPF_CFG 4 (about
# 20 Hz), 3 (about 42 Hz), 2 (about 92-98 Hz) on all four chips.
SMPLRT_DIV = (19, 9, 4)
DLPF_CFG = (4, 3, 2)


class ImuError(Exception):
    pass


def fifo_to_samples(src, frame, acc_off, gyr_off, n, dst, dst_off):
    """Copy ``n`` FIFO records (big-endian, ``frame`` bytes each) from ``src`` into
    ``dst`` at ``dst_off`` as protocol samples (ax ay az gx gy gz, little-endian
    int16, 12 bytes each). Byte copies only: no allocation."""
    s = 0
    d = dst_off
    for _ in range(n):
        a = s + acc_off
        g = s + gyr_off
        dst[d] = src[a + 1]
        dst[d + 1] = src[a]
        dst[d + 2] = src[a + 3]
        dst[d + 3] = src[a + 2]
        dst[d + 4] = src[a + 5]
        dst[d + 5] = src[a + 4]
        dst[d + 6] = src[g + 1]
        dst[d + 7] = src[g]
        dst[d + 8] = src[g + 3]
        dst[d + 9] = src[g + 2]
        dst[d + 10] = src[g + 5]
        dst[d + 11] = src[g + 4]
        s += frame
        d += 12


class Imu:
    """One IMU on an I2C bus (``machine.I2C`` or a stand-in with the same methods).

    Parameters
    ----------
    i2c
        Object with ``readfrom_mem_into(addr, reg, buf)`` and ``writeto_mem(addr, reg,
        buf)``.
    address
        0x68 (AD0 low; the M5StickC Plus) or 0x69.
    sleep_ms
        ``time.sleep_ms`` (waits after a device reset).
    """

    def __init__(self, i2c, address=0x68, sleep_ms=None):
        self.i2c = i2c
        self.address = address
        self.sleep_ms = sleep_ms
        self._b1 = bytearray(1)
        self._b2 = bytearray(2)
        self.chip = None
        self.name = "?"
        self.capacity = 0
        self.frame = 12
        self.acc_off = 0
        self.gyr_off = 6

    def _write(self, reg, value):
        self._b1[0] = value
        self.i2c.writeto_mem(self.address, reg, self._b1)

    def _read(self, reg):
        self.i2c.readfrom_mem_into(self.address, reg, self._b1)
        return self._b1[0]

    def probe(self):
        """Identify the chip from WHO_AM_I; raises ImuError if none answers."""
        try:
            who = self._read(REG_WHO_AM_I)
        except OSError as exc:
            raise ImuError("no IMU at I2C address 0x%02x (%s)" % (self.address, exc)) from None
        if who not in CHIPS:
            raise ImuError("WHO_AM_I 0x%02x: not an MPU6886/6050/6500/9250" % who)
        self.chip = who
        c = CHIPS[who]
        self.name = c[0]
        self.capacity = c[1]
        self.frame = c[2]
        self.acc_off = c[3]
        self.gyr_off = c[4]
        return self.name

    def configure(self, rate_code, acc_code, gyro_code):
        """Reset the chip and set sample rate, filters and full-scale ranges; the FIFO
        stays off until :meth:`start_fifo`."""
        if self.chip is None:
            self.probe()
        self._write(REG_PWR_MGMT_1, PWR_RESET)
        if self.sleep_ms is not None:
            self.sleep_ms(100)
        self._write(REG_PWR_MGMT_1, PWR_CLK_PLL)
        self._write(REG_USER_CTRL, 0)
        self._write(REG_FIFO_EN, 0)
        self._write(REG_CONFIG, DLPF_CFG[rate_code])  # FIFO_MODE 0, DLPF
        self._write(REG_SMPLRT_DIV, SMPLRT_DIV[rate_code])
        self._write(REG_GYRO_CONFIG, gyro_code << 3)  # FCHOICE_B = 00
        self._write(REG_ACCEL_CONFIG, acc_code << 3)
        if CHIPS[self.chip][6]:
            self._write(REG_ACCEL_CONFIG2, DLPF_CFG[rate_code])
        self._write(REG_INT_ENABLE, INT_FIFO_OFLOW)

    def start_fifo(self):
        """Empty the FIFO and start writing accel + gyro records into it."""
        self._write(REG_USER_CTRL, USER_CTRL_FIFO_RESET)
        self._write(REG_FIFO_EN, CHIPS[self.chip][5])
        self._read(REG_INT_STATUS)  # clears a stale overflow flag
        self._write(REG_USER_CTRL, USER_CTRL_FIFO_EN)

    def reset_fifo(self):
        """Drop the FIFO's content and go on sampling into it (after an overflow the
        records are no longer aligned to the record size)."""
        self._write(REG_USER_CTRL, USER_CTRL_FIFO_EN | USER_CTRL_FIFO_RESET)
        self._read(REG_INT_STATUS)

    def stop_fifo(self):
        self._write(REG_FIFO_EN, 0)
        self._write(REG_USER_CTRL, USER_CTRL_FIFO_RESET)

    def fifo_bytes(self):
        """Bytes in the FIFO (FIFO_COUNT_H first, as the register map requires)."""
        b = self._b2
        self.i2c.readfrom_mem_into(self.address, REG_FIFO_COUNTH, b)
        return ((b[0] << 8) | b[1]) & 0x1FFF

    def overflowed(self):
        """True if the FIFO overflowed since the last call (INT_STATUS FIFO_OFLOW_INT,
        cleared by the read)."""
        return bool(self._read(REG_INT_STATUS) & INT_FIFO_OFLOW)

    def read_fifo_into(self, buf):
        """One burst read of len(buf) bytes from FIFO_R_W (whole records)."""
        self.i2c.readfrom_mem_into(self.address, REG_FIFO_R_W, buf)
