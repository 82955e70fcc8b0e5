"""Supported sensors: one driver (and one virtual twin) per kind of device.

The registry maps a *kind* (``"poise"``, ``"polar-verity-sense"``, ``"metamotion"``) to
its :class:`~sensors.devices.base.SensorDriver` class, and a demo kind to the factory of
its virtual twin (a Bumble GATT server speaking the vendor's protocol) and the driver
that talks to it (demo kind ``"firmware"``: the MicroPython firmware on a simulated IMU,
talked to by the ``"poise"`` driver). Scanning, the stream hub, the recorder, replay,
the CLI and the GUI look devices up here and never name one.

A new device is a package under ``sensors/devices/`` whose ``__init__`` calls
:func:`register_driver` (and :func:`register_twin`), plus one line in
:data:`DEVICE_MODULES`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from sensors.devices.base import (
    DecodeError,
    DeviceConfig,
    DriverError,
    Frame,
    SensorDriver,
    StreamDecoder,
)

__all__ = [
    "DEVICE_MODULES",
    "DecodeError",
    "DeviceConfig",
    "DriverError",
    "Frame",
    "SensorDriver",
    "StreamDecoder",
    "demo_kinds",
    "driver_for",
    "driver_kinds",
    "match_advertisement",
    "parse_demo_spec",
    "register_driver",
    "register_twin",
    "twin_driver_kind",
    "twin_factory",
]

#: Device packages imported at first use; each registers its driver and twin.
DEVICE_MODULES = (
    "sensors.devices.poise",
    "sensors.devices.polar",
    "sensors.devices.metawear",
)

_DRIVERS: dict[str, type[SensorDriver]] = {}
_TWINS: dict[str, str | Callable[..., Any]] = {}
_TWIN_DRIVERS: dict[str, str] = {}
_loaded = False


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in DEVICE_MODULES:
        importlib.import_module(name)


def register_driver(cls: type[SensorDriver]) -> type[SensorDriver]:
    """Register a driver class under its ``kind`` (usable as a decorator)."""
    if not getattr(cls, "kind", None):
        raise ValueError(f"{cls.__name__} has no kind")
    _DRIVERS[cls.kind] = cls
    return cls


def register_twin(
    kind: str, factory: str | Callable[..., Any], driver_kind: str | None = None
) -> None:
    """Register the virtual twin of a demo kind: a callable, or ``"module:attribute"``
    imported when first used (twins need Bumble; drivers do not).

    The factory is called as ``factory(link, name=..., address=..., rate_hz=...,
    source_factory=..., faults=..., seed=..., battery_percent=...,
    record_send_times=..., rssi_dbm=...)`` and returns an object with ``start()``,
    ``close()``, ``name``, ``address``, ``kind`` and ``truth``. ``driver_kind`` is the
    driver that talks to the twin (default: the same kind; e.g. a twin running other
    firmware that speaks the Poise protocol names ``"poise"``).
    """
    _TWINS[kind] = factory
    _TWIN_DRIVERS[kind] = driver_kind or kind


def driver_kinds() -> list[str]:
    """Every registered driver kind."""
    _load()
    return sorted(_DRIVERS)


def driver_for(kind: str | None) -> type[SensorDriver]:
    """The driver class of a kind (``None`` means a Poise wearable, as in v1 recordings).

    Raises
    ------
    KeyError
        Naming the kind and the ones this Poise knows.
    """
    _load()
    key = kind or "poise"
    try:
        return _DRIVERS[key]
    except KeyError:
        raise KeyError(
            f"unknown sensor kind {key!r} (this Poise knows: {', '.join(sorted(_DRIVERS))})"
        ) from None


def match_advertisement(
    name: str | None, service_uuids: list[str], manufacturer_data: Mapping[int, bytes]
) -> type[SensorDriver] | None:
    """The driver whose :meth:`~SensorDriver.matches` accepts an advertisement."""
    _load()
    uuids = [u.lower() for u in service_uuids]
    for cls in _DRIVERS.values():
        if cls.matches(name, uuids, manufacturer_data):
            return cls
    return None


def demo_kinds() -> list[str]:
    """Every kind that has a virtual twin (for ``--demo KIND:N``)."""
    _load()
    return sorted(_TWINS)


def twin_driver_kind(kind: str) -> str:
    """The driver kind that talks to a demo kind's twin."""
    _load()
    return _TWIN_DRIVERS.get(kind, kind)


def twin_factory(kind: str) -> Callable[..., Any]:
    """The factory of a demo kind's virtual twin (imported on first use)."""
    _load()
    try:
        factory = _TWINS[kind]
    except KeyError:
        raise KeyError(
            f"no virtual twin for {kind!r} (known: {', '.join(sorted(_TWINS))})"
        ) from None
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
        _TWINS[kind] = factory
    return factory


_DEMO_ITEM = re.compile(r"^\s*([a-z][a-z0-9-]*)\s*(?::\s*(\d+))?\s*$")


def parse_demo_spec(text: str | int, max_total: int = 4) -> list[tuple[str, int]]:
    """Parse ``--demo``: ``"N"`` (N Poise wearables) or ``"KIND:N,KIND:N,..."``.

    Returns ``(kind, count)`` pairs in the order given (a kind without ``:N`` counts 1).

    Raises
    ------
    ValueError
        Unknown kind (the message lists the known ones), a count below 1, or more than
        ``max_total`` sensors in all.
    """
    s = str(text).strip()
    if re.fullmatch(r"\d+", s):
        pairs = [("poise", int(s))]
    else:
        pairs = []
        known = demo_kinds()
        for item in s.split(","):
            if not item.strip():
                continue
            m = _DEMO_ITEM.match(item.lower())
            if not m:
                raise ValueError(f"--demo item {item.strip()!r}: expected KIND:N, e.g. poise:2")
            kind, count = m.group(1), int(m.group(2) or 1)
            if kind not in known:
                raise ValueError(f"--demo: unknown kind {kind!r} (known: {', '.join(known)})")
            pairs.append((kind, count))
    if not pairs:
        raise ValueError("--demo: no sensors given")
    if any(c < 1 for _, c in pairs):
        raise ValueError(f"--demo: every count must be at least 1, got {s!r}")
    total = sum(c for _, c in pairs)
    if total > max_total:
        raise ValueError(f"--demo takes 1 to {max_total} sensors in all, got {total}")
    return pairs
