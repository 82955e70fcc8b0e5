"""Run virtual sensors (Poise wearables and vendor twins) on a virtual BLE link, in this
process or for another one.

::

    async with Emulator(count=4, rate_hz=200) as emu:
        devices = await BleakScanner.discover(**scanner_kwargs(emu.transport))
        ...
        emu.truth()["Poise-0001"].samples_produced

    specs = TwinSpec.from_demo(parse_demo_spec("polar-verity-sense:1,metamotion:1,poise:1"))
    async with Emulator(specs=specs, rate_hz=100) as emu:
        ...

``emu.transport`` is the :class:`~sensors.bumble_backend.VirtualLink` (same process).
``await emu.serve(port)`` additionally serves controllers on loopback TCP and returns the
Bumble transport string (``"tcp-client:127.0.0.1:PORT"``) another process passes to the
Bumble backend (``poise scan --transport ...``); every TCP client gets its own controller on
the same link.

A twin of kind ``K`` is made by the factory registered for ``K``
(:func:`sensors.devices.register_twin`); this module names no device. The ``firmware``
kind is the MicroPython firmware (``firmware_protocol/micropython/``) on a simulated IMU
(:mod:`sensors.firmware_host`), a Poise wearable whose code is the firmware's own;
``Emulator(..., firmware="micropython")`` is shorthand for making every Poise wearable of
the emulator such a twin.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sensors import devices
from sensors.bumble_backend.link import ControllerServer, VirtualLink
from sensors.virtual_wearable import (
    FaultConfig,
    SourceFactory,
    WearableTruth,
    scenario_source_factory,
)

#: Advertised names of the twins per demo kind: ``{n}`` is the 1-based number of the twin
#: of that kind; a twin's own module may give a ``name_pattern`` attribute instead.
_DEFAULT_NAME = "{kind}-{n:04d}"

#: Demo kind of the MicroPython firmware on a simulated IMU (``sensors.firmware_host``).
FIRMWARE_KIND = "firmware"


@dataclass(frozen=True)
class TwinSpec:
    """How to build one virtual sensor of an emulator (defaults come from the emulator).

    Attributes
    ----------
    kind
        Demo kind (``"poise"``, ``"polar-verity-sense"``, ``"metamotion"``,
        ``"firmware"``, ...).
    name
        Advertised name (default: the kind's usual name, e.g. ``Poise-0001``).
    source_factory, faults, config, battery_percent
        Motion, fault injection, initial configuration (Poise wearables: a
        ``SensorConfig``) and battery of this sensor.
    """

    kind: str = "poise"
    name: str | None = None
    source_factory: SourceFactory | None = None
    faults: FaultConfig | None = None
    config: Any = None
    battery_percent: float = 100.0

    @staticmethod
    def from_demo(pairs: list[tuple[str, int]]) -> list[TwinSpec]:
        """Specs for ``--demo`` pairs, each named like its real device (numbered per kind)."""
        out: list[TwinSpec] = []
        numbers: dict[str, int] = {}
        for kind, count in pairs:
            for _ in range(count):
                numbers[kind] = numbers.get(kind, 0) + 1
                out.append(TwinSpec(kind=kind, name=twin_name(kind, numbers[kind])))
        return out


#: Earlier name of :class:`TwinSpec` (Poise wearables only).
WearableSpec = TwinSpec


def twin_refuses_faults(kind: str) -> str | None:
    """Why the twins of a demo kind inject no faults (``--faults``), or ``None`` if they
    do: a factory refuses with a ``refuses_faults`` attribute giving the reason."""
    return getattr(devices.twin_factory(kind), "refuses_faults", None)


def twin_name(kind: str, n: int) -> str:
    """The advertised name of the ``n``-th twin of a kind (``Poise-0001``, ...)."""
    factory = devices.twin_factory(kind)
    pattern = getattr(factory, "name_pattern", None) or _DEFAULT_NAME
    return pattern.format(kind=kind, n=n)


class Emulator:
    """Async context manager owning a virtual link and N virtual sensors.

    Parameters
    ----------
    count
        Number of Poise wearables (named ``Poise-0001`` ... with distinct addresses), when
        ``specs`` is not given.
    rate_hz
        Initial sampling rate of every sensor (clients may change it).
    source_factory
        Motion source for every sensor; default: scenario ``"quiet"``. Sensor ``i``
        gets its own seed (``seed + i``) when built from a scenario name.
    scenario
        Name of a synthetic scenario (alternative to ``source_factory``).
    faults
        Fault injection for every sensor, or a per-sensor list.
    seed
        Base seed (faults, clock offsets, scenario noise).
    specs
        Full per-sensor control (kinds, names...; overrides ``count``).
    record_send_times
        Record the host send time of every packet (latency benchmarks).
    link
        Join an existing link instead of creating one.
    name_prefix
        Name prefix of the Poise wearables made from ``count``.
    firmware
        ``"micropython"``: every Poise wearable (kind ``poise``) becomes a ``firmware``
        twin, the MicroPython firmware on a simulated IMU; ``faults`` are refused then.
    firmware_options
        Extra keyword arguments of the ``firmware`` twins
        (:class:`sensors.firmware_host.wearable.FirmwareWearable`: ``chip``,
        ``ticks_start_us``, ``clock_start_us``).

    Raises
    ------
    ValueError
        An unknown ``firmware``, or faults asked of a twin kind that cannot inject them
        (:func:`twin_refuses_faults`).
    """

    def __init__(
        self,
        count: int = 1,
        rate_hz: float = 100,
        *,
        source_factory: SourceFactory | None = None,
        scenario: str | None = None,
        faults: FaultConfig | list[FaultConfig] | None = None,
        seed: int = 0,
        specs: list[TwinSpec] | None = None,
        record_send_times: bool = False,
        link: VirtualLink | None = None,
        name_prefix: str = "Poise-",
        firmware: str | None = None,
        firmware_options: dict[str, Any] | None = None,
    ) -> None:
        if firmware not in (None, "micropython"):
            raise ValueError(f"unknown firmware {firmware!r} (known: micropython)")
        if specs is None:
            if not 1 <= count <= 64:
                raise ValueError(f"count must be 1..64, got {count}")
            specs = [TwinSpec(name=f"{name_prefix}{i + 1:04d}") for i in range(count)]
        if firmware:
            specs = [replace(s, kind=FIRMWARE_KIND) if s.kind == "poise" else s for s in specs]
        if isinstance(faults, list) and len(faults) != len(specs):
            raise ValueError(f"{len(faults)} fault configs for {len(specs)} sensors")
        for i, spec in enumerate(specs):
            f = spec.faults
            if f is None:
                f = faults[i] if isinstance(faults, list) else faults
            why = twin_refuses_faults(spec.kind)
            if why and f is not None and f != FaultConfig():
                raise ValueError(f"no fault injection for {spec.kind!r} twins: {why}")
        self.rate_hz = float(rate_hz)
        self._specs = [
            s if s.name else replace(s, name=twin_name(s.kind, i + 1)) for i, s in enumerate(specs)
        ]
        self._scenario = scenario
        self._source_factory = source_factory
        if scenario is not None and source_factory is None:
            scenario_source_factory(scenario, seed)  # fail early on an unknown name
        self._faults = faults
        self.seed = seed
        self._record_send_times = record_send_times
        self._firmware_options = dict(firmware_options or {})
        self._external_link = link
        self.link: VirtualLink | None = link
        self.wearables: list[Any] = []
        self._servers: list[ControllerServer] = []

    @staticmethod
    def addresses(specs: list[TwinSpec], seed: int = 0) -> list[str]:
        """The addresses :meth:`start` gives these specs (deterministic)."""
        return [_address(seed, i) for i in range(len(specs))]

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> Emulator:
        """Create the link (if needed) and start advertising every sensor."""
        if self.link is None:
            self.link = VirtualLink()
        for i, spec in enumerate(self._specs):
            faults = spec.faults
            if faults is None:
                faults = self._faults[i] if isinstance(self._faults, list) else self._faults
            factory = spec.source_factory or self._source_factory
            if factory is None:
                factory = scenario_source_factory(self._scenario or "quiet", self.seed + i)
            make = devices.twin_factory(spec.kind)
            kw: dict[str, Any] = {}
            if spec.config is not None:
                kw["config"] = spec.config
            if spec.kind == FIRMWARE_KIND:
                kw.update(self._firmware_options)
            twin = make(
                self.link,
                name=spec.name,
                address=_address(self.seed, i),
                rate_hz=self.rate_hz,
                source_factory=factory,
                faults=faults,
                seed=self.seed * 1000 + i,
                battery_percent=spec.battery_percent,
                record_send_times=self._record_send_times,
                rssi_dbm=-45 - 4 * (i % 10),
                **kw,
            )
            await twin.start()
            self.wearables.append(twin)
        return self

    async def close(self) -> None:
        """Stop serving, stop every sensor and leave the link."""
        for server in self._servers:
            await server.close()
        self._servers.clear()
        for twin in self.wearables:
            await twin.close()

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- access ------------------------------------------------------------------------

    @property
    def transport(self) -> VirtualLink:
        """Transport for a Bumble-backed bleak scanner/client in this process."""
        if self.link is None:
            raise RuntimeError("Emulator not started (use 'async with Emulator(...)')")
        return self.link

    async def serve(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve controllers on TCP for other processes; returns the transport string."""
        server = ControllerServer(self.transport, host=host, port=port)
        await server.start()
        self._servers.append(server)
        return server.transport

    def wearable(self, name: str) -> Any:
        """The sensor with this advertised name (or address)."""
        for w in self.wearables:
            if name in (w.name, w.address):
                return w
        raise KeyError(
            f"no virtual sensor named {name!r} (have {[w.name for w in self.wearables]})"
        )

    def truth(self) -> dict[str, WearableTruth]:
        """Ground truth per sensor name (names of several MetaWear twins are equal: the
        address is appended to the second and later ones)."""
        out: dict[str, WearableTruth] = {}
        for w in self.wearables:
            key = w.name if w.name not in out else f"{w.name} ({w.address})"
            out[key] = w.truth
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-ready ground truth of all sensors."""
        out = {}
        for (name, t), w in zip(self.truth().items(), self.wearables):
            out[name] = {"kind": getattr(w, "kind", "poise"), **t.to_dict()}
        return out


def _address(seed: int, i: int) -> str:
    return (
        f"D0:50:{(seed >> 8) & 0xFF:02X}:{seed & 0xFF:02X}:{(i + 1) >> 8:02X}:{(i + 1) & 0xFF:02X}"
    )
