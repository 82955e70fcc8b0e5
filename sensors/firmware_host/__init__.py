"""Run the MicroPython firmware (``firmware_protocol/micropython/``) under CPython.

The firmware's own files, unchanged, talk to stand-ins for what a board gives them:

* :class:`~sensors.firmware_host.ble.BumbleBLE`: MicroPython's ``bluetooth.BLE`` API on a
  Bumble device with a virtual controller on a :class:`~sensors.bumble_backend.VirtualLink`
  (real GATT server, advertising, ATT traffic, MTU exchange, notifications, indications);
* :class:`~sensors.firmware_host.imu.SimImuBus`: ``machine.I2C`` with an MPU6886 or MPU6050
  at register level (configuration registers, FIFO with its byte count, burst reads,
  overflow flag) fed by a motion source (:mod:`sensors.scenarios`), and an AXP192 PMIC for
  the M5StickC Plus battery;
* :class:`SimTicks`: ``time.ticks_us``/``ticks_ms`` wrapping at 2**30 as on the ESP32.

:class:`~sensors.firmware_host.wearable.FirmwareWearable` puts it together: what a Poise
client connects to is the firmware's code. :mod:`sensors.emulator` runs it for
``poise emulate --firmware micropython`` and ``--demo firmware:N``.

The firmware files are loaded from their directory by :func:`load_firmware` (they import
each other by flat module names, and ``micropython``); they are never imported as part of
the ``firmware_protocol`` package.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from importlib import resources
from pathlib import Path

#: The MicroPython firmware's directory.
FIRMWARE_DIR = Path(str(resources.files("firmware_protocol"))) / "micropython"

#: Firmware modules, in dependency order (main.py is the board entry point, not loaded).
FIRMWARE_MODULES = ("poise_proto", "poise_clock", "poise_imu", "poise_board", "poise_app")

#: ``time.ticks_us`` period on the ESP32 (MICROPY_PY_TIME_TICKS_PERIOD: 2**30).
ESP32_TICKS_PERIOD = 1 << 30

_load_lock = threading.Lock()
_loaded: types.SimpleNamespace | None = None


def _micropython_stub() -> types.ModuleType:
    """What the firmware uses of the ``micropython`` module: ``const`` (and the code
    emitters as identity decorators)."""
    mod = types.ModuleType("micropython")
    mod.const = lambda x: x  # type: ignore[attr-defined]
    mod.native = mod.viper = lambda f: f  # type: ignore[attr-defined]
    return mod


def load_firmware() -> types.SimpleNamespace:
    """Load the firmware modules (once per process) and return them by name.

    The modules are executed from their files with ``micropython`` and each other
    visible under their flat names only while loading; afterwards ``sys.modules`` holds
    none of them (they keep their references). The firmware keeps no module-level
    state, so several wearables share one load.
    """
    global _loaded
    with _load_lock:
        if _loaded is not None:
            return _loaded
        names = ("micropython", *FIRMWARE_MODULES)
        saved = {n: sys.modules.get(n) for n in names}
        modules: dict[str, types.ModuleType] = {}
        try:
            sys.modules["micropython"] = _micropython_stub()
            for name in FIRMWARE_MODULES:
                path = FIRMWARE_DIR / f"{name}.py"
                spec = importlib.util.spec_from_file_location(name, path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"can not load firmware module {path}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
                modules[name] = module
        finally:
            for n, m in saved.items():
                if m is None:
                    sys.modules.pop(n, None)
                else:
                    sys.modules[n] = m
        _loaded = types.SimpleNamespace(**modules)
        return _loaded


class SimTicks:
    """MicroPython's ``time.ticks_*`` on a host clock, wrapping like the ESP32's.

    Parameters
    ----------
    now_s
        Host clock in seconds (the event loop's ``time``).
    start_us
        Ticks value at ``now_s() == t_ref_s`` (choose it near 2**30 to make the ticks
        wrap a few seconds into a test).
    period
        Ticks period (2**30 on the ESP32).
    """

    def __init__(self, now_s, start_us: int = 0, period: int = ESP32_TICKS_PERIOD) -> None:
        self._now_s = now_s
        self._t_ref_s = now_s()
        self.start_us = int(start_us)
        self.period = int(period)
        self._mask = self.period - 1
        self._half = self.period >> 1

    def elapsed_us(self) -> int:
        """Unwrapped microseconds since construction."""
        return int(round((self._now_s() - self._t_ref_s) * 1e6))

    def ticks_us(self) -> int:
        return (self.start_us + self.elapsed_us()) & self._mask

    def ticks_ms(self) -> int:
        return ((self.start_us + self.elapsed_us()) // 1000) & self._mask

    def ticks_diff(self, a: int, b: int) -> int:
        return ((a - b + self._half) & self._mask) - self._half

    def ticks_add(self, a: int, delta: int) -> int:
        return (a + delta) & self._mask


__all__ = ["ESP32_TICKS_PERIOD", "FIRMWARE_DIR", "FIRMWARE_MODULES", "SimTicks", "load_firmware"]
