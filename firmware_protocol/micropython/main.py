# Poise open firmware: entry point on an ESP32 board (MicroPython runs main.py at boot).
#
# Wires the real hardware to the app: machine.I2C for the IMU (and the M5StickC Plus
# PMIC), bluetooth.BLE for the radio, time.ticks_* for the clock. See README.md.

import gc
import time

import bluetooth
import machine
import poise_board
from poise_app import App
from poise_clock import Clock32
from poise_imu import Imu

# Generic ESP32 boards: change to your wiring (the M5StickC Plus uses 21/22 internally).
I2C_SDA = 21
I2C_SCL = 22
IMU_ADDRESS = 0x68  # 0x69 when the breakout's AD0 pin is tied high
BATTERY_ADC_PIN = None  # e.g. 35 with a 1:2 divider from the cell (generic boards)
LOOP_SLEEP_MS = 5  # main loop period: < half a packet interval at 200 Hz


def main():
    machine.freq(240000000)
    i2c = machine.I2C(0, scl=machine.Pin(I2C_SCL), sda=machine.Pin(I2C_SDA), freq=400000)
    board = poise_board.detect(machine, i2c, BATTERY_ADC_PIN)
    imu = Imu(i2c, IMU_ADDRESS, time.sleep_ms)
    imu.probe()
    ble = bluetooth.BLE()
    ble.active(True)
    mac = bytes(ble.config("mac")[1])
    suffix = "%02X%02X" % (mac[4], mac[5])
    name = "Poise-" + suffix
    ble.config(gap_name=name, mtu=247)
    clock = Clock32(time.ticks_us, time.ticks_diff, time.ticks_add)
    app = App(
        ble,
        bluetooth.UUID,
        imu,
        board,
        clock,
        name=name,
        serial="PS%02X%02X%02X" % (mac[3], mac[4], mac[5]),
        ticks_ms=time.ticks_ms,
        ticks_diff=time.ticks_diff,
        ticks_add=time.ticks_add,
        collect=gc.collect,
    )
    app.start()
    gc.collect()
    while True:
        app.step()
        time.sleep_ms(LOOP_SLEEP_MS)


main()
