# Boards: what differs between an M5StickC Plus and a generic ESP32 + MPU breakout.
#
# M5StickC Plus (ESP32-PICO-D4, MPU6886 at 0x68 and AXP192 PMIC at 0x34 on the internal
# I2C bus SDA GPIO21 / SCL GPIO22, red LED on GPIO10, lit when the pin is low).
# AXP192 (X-Powers AXP192 datasheet, register descriptions): REG 01H bit 6 = battery
# charging; battery voltage ADC REG 78H (bits 11:4) and 79H (bits 3:0), 1.1 mV per LSB;
# the battery-voltage ADC is enabled by REG 82H bit 7 (on after M5's power-up set-up;
# written here again).
#
# Generic ESP32 dev board: the IMU on SDA GPIO21 / SCL GPIO22, LED on GPIO2 (most
# DevKitC / NodeMCU-32S clones); battery unknown unless BATTERY_ADC_PIN is wired through
# a 1:2 divider (a 100k/100k pair from the cell to an ADC1 pin such as GPIO35).

from micropython import const

AXP192_ADDR = const(0x34)
_AXP_CHARGE_STATUS = const(0x01)
_AXP_BAT_V_H8 = const(0x78)
_AXP_ADC_ENABLE1 = const(0x82)

# Li-ion cell under a light load: 3.30 V empty, 4.15 V full, linear in between. A rough
# gauge (the real curve is flat in the middle); enough for "charge before the session".
_EMPTY_MV = const(3300)
_FULL_MV = const(4150)


def percent_from_mv(mv):
    if mv <= _EMPTY_MV:
        return 0
    if mv >= _FULL_MV:
        return 100
    return (mv - _EMPTY_MV) * 100 // (_FULL_MV - _EMPTY_MV)


class M5StickCPlus:
    model = "M5StickC Plus (MPU6886)"
    hardware = "m5stickc-plus"
    manufacturer = "Poise open firmware"

    def __init__(self, i2c, led_pin):
        self.i2c = i2c
        self._led = led_pin
        self._b2 = bytearray(2)
        self._b1 = bytearray(1)
        self.led(False)
        try:
            self.i2c.readfrom_mem_into(AXP192_ADDR, _AXP_ADC_ENABLE1, self._b1)
            self._b1[0] |= 0x80
            self.i2c.writeto_mem(AXP192_ADDR, _AXP_ADC_ENABLE1, self._b1)
        except OSError:
            pass

    def led(self, on):
        self._led.value(0 if on else 1)

    def battery(self):
        """(percent 0..100 or 255 if unreadable, charging)."""
        try:
            self.i2c.readfrom_mem_into(AXP192_ADDR, _AXP_BAT_V_H8, self._b2)
            raw = (self._b2[0] << 4) | (self._b2[1] & 0x0F)
            self.i2c.readfrom_mem_into(AXP192_ADDR, _AXP_CHARGE_STATUS, self._b1)
        except OSError:
            return 255, False
        return percent_from_mv(raw * 11 // 10), bool(self._b1[0] & 0x40)


class GenericESP32:
    model = "ESP32 + MPU6050/6500"
    hardware = "esp32-generic"
    manufacturer = "Poise open firmware"

    def __init__(self, led_pin, adc=None, divider=2):
        self._led = led_pin
        self._adc = adc
        self._divider = divider
        self.led(False)

    def led(self, on):
        self._led.value(1 if on else 0)

    def battery(self):
        if self._adc is None:
            return 255, False
        mv = self._adc.read_uv() // 1000 * self._divider
        return percent_from_mv(mv), False


def detect(machine, i2c, battery_adc_pin=None):
    """The board this firmware runs on: an AXP192 on the bus means an M5StickC Plus."""
    Pin = machine.Pin
    if AXP192_ADDR in i2c.scan():
        return M5StickCPlus(i2c, Pin(10, Pin.OUT))
    adc = None
    if battery_adc_pin is not None:
        adc = machine.ADC(Pin(battery_adc_pin))
        adc.atten(machine.ADC.ATTN_11DB)
    return GenericESP32(Pin(2, Pin.OUT), adc)
