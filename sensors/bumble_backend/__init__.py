"""A bleak backend on Bumble, Google's pure-Python Bluetooth host stack.

Poise talks BLE only through bleak's public API (``BleakScanner``, ``BleakClient``). With
this backend the same calls run over Bumble: against virtual controllers on an in-process
link (tests, demo), against a controller served by ``poise emulate`` in another process
(``tcp-client:127.0.0.1:PORT``), or against a USB Bluetooth dongle driven directly
(``usb:0``). See ``docs/bumble-backend.md``.

Typical use::

    from bleak import BleakClient, BleakScanner
    from sensors.bumble_backend import client_kwargs, scanner_kwargs

    transport = "tcp-client:127.0.0.1:9001"      # or a VirtualLink, or "usb:0"
    device = await BleakScanner.find_device_by_name("Poise-0001", **scanner_kwargs(transport))
    async with BleakClient(device, **client_kwargs(transport)) as client:
        ...

Pass the kwargs everywhere (bleak 3 has no environment switch for custom backends).
"""

from __future__ import annotations

from typing import Any

from sensors.bumble_backend.client import DEFAULT_REQUESTED_MTU, BumbleClient
from sensors.bumble_backend.host import BumbleHost, close_hosts
from sensors.bumble_backend.link import (
    LE_ACL_PACKET_LENGTH,
    ControllerServer,
    PoiseController,
    VirtualLink,
)
from sensors.bumble_backend.scanner import BumbleScanner, parse_advertising_data


def is_bumble_transport(transport: Any) -> bool:
    """True when ``transport`` selects the Bumble backend (a VirtualLink or a non-empty string)."""
    return isinstance(transport, VirtualLink) or (isinstance(transport, str) and bool(transport))


def scanner_kwargs(transport: VirtualLink | str) -> dict[str, Any]:
    """Keyword arguments for ``BleakScanner(...)`` / ``BleakScanner.find_device_by_*(...)``.

    Parameters
    ----------
    transport
        A :class:`VirtualLink` (same process) or a Bumble transport string
        (``"tcp-client:127.0.0.1:PORT"``, ``"usb:0"``, ...).
    """
    return {"backend": BumbleScanner, "bumble": {"transport": transport}}


def client_kwargs(transport: VirtualLink | str, mtu: int = DEFAULT_REQUESTED_MTU) -> dict[str, Any]:
    """Keyword arguments for ``BleakClient(device, ...)``.

    Parameters
    ----------
    transport
        As for :func:`scanner_kwargs`.
    mtu
        ATT MTU to request after connecting; 23 skips the exchange (20-byte notifications).
    """
    return {"backend": BumbleClient, "bumble": {"transport": transport, "mtu": mtu}}


__all__ = [
    "BumbleClient",
    "BumbleHost",
    "BumbleScanner",
    "ControllerServer",
    "DEFAULT_REQUESTED_MTU",
    "LE_ACL_PACKET_LENGTH",
    "PoiseController",
    "VirtualLink",
    "client_kwargs",
    "close_hosts",
    "is_bumble_transport",
    "parse_advertising_data",
    "scanner_kwargs",
]
