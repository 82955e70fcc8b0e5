"""MetaWear protocol: commands and decoding against MbientLab's own published packets.

Packets and expected values are facts from mbientlab/MetaWear-SDK-Cpp's tests
(``test/test_accelerometer_bmi270.py``, ``test_accelerometer_bmi160.py``,
``test_gyro_bmi160.py``, ``test_dataprocessor.py``, ``test_settings.py``, ``common.py``);
each test names its source. The vendor compares floats to three decimals.
"""

from __future__ import annotations

import numpy as np
import pytest

from sensors.devices.base import DeviceConfig
from sensors.devices.metawear import MetaMotionDriver, MetaWearDecoder
from sensors.devices.metawear import protocol as mw

G = 9.80665


def test_accelerometer_config_bmi270_test_accelerometer_bmi270():
    """TestAccBmi270Config: ODR byte A6..A9 for 25-200 Hz; range 8 g = 02, 16 g = 03."""
    assert mw.acc_config(mw.ACC_BMI270, 100, 8) == bytes([0x03, 0x03, 0xA8, 0x02])
    assert mw.acc_config(mw.ACC_BMI270, 200, 8) == bytes([0x03, 0x03, 0xA9, 0x02])
    assert mw.acc_config(mw.ACC_BMI270, 100, 16) == bytes([0x03, 0x03, 0xA8, 0x03])
    assert mw.acc_config(mw.ACC_BMI270, 50, 8)[2] == 0xA7
    assert mw.acc_config(mw.ACC_BMI270, 25, 8)[2] == 0xA6
    assert mw.sampling(mw.ACC, True) == bytes([0x03, 0x02, 0x01, 0x00])
    assert mw.sampling(mw.ACC, False) == bytes([0x03, 0x02, 0x00, 0x01])


def test_accelerometer_config_bmi160_test_accelerometer_bmi160():
    """TestAccBmi160Config: 200 Hz 8 g = 29 08; 100 Hz 16 g = 28 0c."""
    assert mw.acc_config(mw.ACC_BMI160, 200, 8) == bytes([0x03, 0x03, 0x29, 0x08])
    assert mw.acc_config(mw.ACC_BMI160, 100, 16) == bytes([0x03, 0x03, 0x28, 0x0C])


def test_gyroscope_config_test_gyro_bmi160():
    """TestGyroBmi160Config: 200 Hz 2000 dps = 29 00; 100 Hz 250 dps = 28 03; 50 Hz
    125 dps = 27 04; active/standby; data interrupt."""
    assert mw.gyro_config(200, 2000) == bytes([0x13, 0x03, 0x29, 0x00])
    assert mw.gyro_config(100, 250) == bytes([0x13, 0x03, 0x28, 0x03])
    assert mw.gyro_config(50, 125) == bytes([0x13, 0x03, 0x27, 0x04])
    assert mw.power(mw.GYRO, True) == bytes([0x13, 0x01, 0x01])
    assert mw.power(mw.GYRO, False) == bytes([0x13, 0x01, 0x00])
    assert mw.sampling(mw.GYRO, True) == bytes([0x13, 0x02, 0x01, 0x00])


def test_acceleration_data_test_accelerometer_bmi270():
    """TestBmi270AccelerationData: 03 04 16 c4 94 a2 2a d0 at 4 g = (-1.872, -2.919, -1.495) g."""
    g = mw.decode_data(bytes.fromhex("03 04 16 c4 94 a2 2a d0"), mw.acc_counts_per_g(4))
    np.testing.assert_allclose(g, [[-1.872, -2.919, -1.495]], atol=5e-4)


def test_packed_acceleration_test_accelerometer_bmi270():
    """TestBmi270HighFreqAccData: one packed notification = 3 samples at 8 g."""
    data = bytes.fromhex("03 05 62 b7 53 0d e9 fd 16 d0 4d 0e 57 02 8a ff a1 05 0a 01")
    g = mw.decode_data(data, mw.acc_counts_per_g(8))
    expected = [[-4.539, 0.833, -0.131], [-2.995, 0.894, 0.146], [-0.029, 0.352, 0.065]]
    np.testing.assert_allclose(g, expected, atol=5e-4)


def test_rotation_data_test_gyro_bmi160():
    """TestGyroBmi160DataHandler: 13 05 3e 43 ff 7f 00 80 at 500 dps = (262.409, 499.497,
    -499.512) deg/s; the packed notification at 1000 dps holds 3 samples. (BMI160 register
    numbers; a BMI270 uses 04/05 with the same layout and scale, gyro_bosch.cpp.)"""
    dps = mw.decode_data(bytes.fromhex("13 05 3e 43 ff 7f 00 80"), mw.GYRO_COUNTS_PER_DPS[500])
    np.testing.assert_allclose(dps, [[262.409, 499.497, -499.512]], atol=5e-4)
    packed = bytes.fromhex("13 07 09 15 ad 26 08 de 8a 1a 0d 26 65 e4 8d 20 ac 27 73 ec")
    dps = mw.decode_data(packed, mw.GYRO_COUNTS_PER_DPS[1000])
    expected = [[164.177, 301.860, -265.122], [207.134, 296.982, -215.457]]
    expected += [[254.055, 309.634, -152.591]]
    np.testing.assert_allclose(dps, expected, atol=5e-4)


def test_processor_chain_commands_test_dataprocessor():
    """TestFuserAccounter.test_commands: buffer on the gyroscope, fuser on the
    accelerometer (padded to 20 bytes), accounter in count mode on a 12-byte output."""
    assert mw.buffer_processor(mw.GYRO_BMI160) == bytes.fromhex("09 02 13 05 ff a0 0f 05")
    assert mw.buffer_processor(mw.GYRO_BMI270)[3] == 0x04  # BMI270 data register
    fuser = bytes.fromhex("09 02 03 04 ff a0 1b 01 00") + bytes(11)
    assert mw.fuser_processor(0) == fuser and len(fuser) == 20
    assert mw.accounter_count_processor(2) == bytes.fromhex("09 02 09 03 02 60 11 30 03")
    assert mw.processor_notify(3, True) == bytes([0x09, 0x07, 0x03, 0x01])
    assert mw.notify_subscribe() == bytes([0x09, 0x03, 0x01])


def test_fused_counted_notification_test_dataprocessor():
    """TestFuserAccounter.test_data_handling: the counted, fused notification carries count
    542 and the same acceleration and rotation as the plain notifications
    ``03 04 f4 0d 3c 39 99 11`` and ``13 05 01 80 d6 91 d3 67`` (board defaults: 2 g,
    2000 dps, i.e. 16384 counts/g and 16.4 counts/(deg/s), accelerometer_bosch.cpp,
    gyro_bosch.cpp)."""
    data = bytes.fromhex("09 03 03 1e 02 00 00 f4 0d 3c 39 99 11 01 80 d6 91 d3 67")
    pid, count, acc, gyr = mw.decode_counted(data)
    assert (pid, count) == (3, 542)
    plain_acc = mw.decode_data(bytes.fromhex("03 04 f4 0d 3c 39 99 11"), mw.acc_counts_per_g(2))
    plain_gyr = mw.decode_data(bytes.fromhex("13 05 01 80 d6 91 d3 67"), 16.4)
    cfg = DeviceConfig(100, 2, 2000)
    frames = MetaWearDecoder(cfg).feed(0, data)
    assert len(frames) == 1 and frames[0].first_index == 542
    np.testing.assert_allclose(frames[0].acc_mps2 / G, plain_acc)
    np.testing.assert_allclose(np.rad2deg(frames[0].gyr_radps), plain_gyr)
    np.testing.assert_array_equal(acc, plain_acc[0] * 16384)


def test_battery_module_info_and_connection_parameters_test_settings_and_common():
    """test_settings.py: battery ``11 8c 63 34 10`` = 99 %, 4148 mV; the read command;
    connection parameters (750, 1000 ms, 128, 16384 ms). common.py: MetaMotion S answers
    ``03 80 04 00`` (BMI270) and ``13 80 01 00``; MetaMotion R ``03 80 01 01`` (BMI160);
    an absent module answers two bytes."""
    assert mw.decode_battery(bytes.fromhex("11 8c 63 34 10")) == (99, 4148)
    assert mw.read_battery() == bytes([0x11, 0xCC])
    assert mw.connection_parameters(750, 1000, 128, 16384) == bytes.fromhex(
        "11 09 58 02 20 03 80 00 66 06"
    )
    assert mw.decode_module_info(bytes.fromhex("03 80 04 00")).implementation == mw.ACC_BMI270
    assert mw.decode_module_info(bytes.fromhex("13 80 01 00")).implementation == mw.GYRO_BMI270
    assert mw.decode_module_info(bytes.fromhex("03 80 01 01")).implementation == mw.ACC_BMI160
    assert not mw.decode_module_info(bytes.fromhex("14 80")).present


def test_decoder_counts_losses_and_wraps_the_counter():
    """The counter is the sample index: a missing count is a lost sample; it wraps at 2^32."""
    cfg = MetaMotionDriver.choose_config(100, 8, 2000)
    dec = MetaWearDecoder(cfg)
    counts = [2**32 - 2, 2**32 - 1, 0, 2, 3]  # 1 lost, across the wrap
    z = np.zeros((1, 3), dtype=np.int16)
    idx = []
    for c in counts:
        (pkt,) = mw.encode_counted(5, np.array([c]), z, z)
        idx += [f.first_index for f in dec.feed(0, pkt)]
    assert np.diff(idx).tolist() == [1, 1, 2, 1]
    assert dec.sensor_time_s(idx[-1]) == pytest.approx(idx[-1] / 100.0)
    with pytest.raises(ValueError, match="expected 19 bytes"):
        dec.feed(0, bytes.fromhex("09 03 05 00"))
    assert dec.feed(0, bytes.fromhex("03 80 04 00")) == []  # not a sample
