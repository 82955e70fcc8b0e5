"""Root of Poise's own exceptions (the CLI turns them into one-line messages)."""

from __future__ import annotations


class PoiseError(Exception):
    """Something the user can fix: a wrong file, option or state. The message says what and where."""


def bluetooth_alternatives(demo: str = "--demo N") -> str:
    """What to do without the computer's Bluetooth, for the command line."""
    return (
        "turn Bluetooth on in the system settings, drive a USB Bluetooth dongle directly "
        f"with --transport usb:0, or use virtual sensors ({demo})"
    )


def bluetooth_problem(exc: BaseException) -> str:
    """What is missing when the computer's Bluetooth stack fails, in words.

    bleak reaches the operating system's Bluetooth: on Linux BlueZ over the system D-Bus,
    whose absence shows as a bare ``[Errno 2] No such file or directory`` (the D-Bus
    socket); a stopped BlueZ as a D-Bus ``ServiceUnknown`` error; no adapter or a
    switched-off one as ``BleakError`` texts. Classes are matched by name, so this module
    imports no Bluetooth library.
    """
    text = str(exc)
    low = f"{type(exc).__name__} {text}".lower()
    if isinstance(exc, PermissionError) or "accessdenied" in low or "not authorized" in low:
        what = "no access to the Bluetooth service (on Linux the user needs the system D-Bus)"
    elif isinstance(exc, FileNotFoundError | ConnectionRefusedError) or "dbus" in low:
        what = "no Bluetooth service found (on Linux: BlueZ and the system D-Bus must run)"
    elif "serviceunknown" in low or "org.bluez" in low:
        what = "no Bluetooth service found (BlueZ, bluetoothd, is not running)"
    elif "adapter" in low:
        what = "no Bluetooth adapter found"
    elif "turned off" in low or "powered" in low or "poweredoff" in low:
        what = "Bluetooth is turned off"
    else:
        what = "the computer's Bluetooth failed"
    return f"{what} ({text or type(exc).__name__})"
