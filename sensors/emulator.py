"""Run N virtual Poise wearables on a virtual BLE link, in this process or for another one.

::

    async with Emulator(count=4, rate_hz=200) as emu:
        devices = await BleakScanner.discover(**scanner_kwargs(emu.transport))
        ...
        emu.truth()["Poise-0001"].samples_produced

``emu.transport`` is the :class:`~sensors.bumble_backend.VirtualLink` (same process).
``await emu.serve(port)`` additionally serves controllers on loopback TCP and returns the
Bumble transport string (``"tcp-client:127.0.0.1:PORT"``) another process passes to the
Bumble backend (``poise scan --transport ...``); every TCP client gets its own controller on
the same link.

``Emulator(..., firmware="micropython")`` runs the MicroPython firmware
(``firmware_protocol/micropython/``) instead of the Python virtual wearable, on a
simulated IMU (:mod:`sensors.firmware_host`). :func:`parse_demo` reads ``--demo`` values
such as ``2`` or ``firmware:1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from firmware_protocol.types import SensorConfig
from sensors.bumble_backend.link import ControllerServer, VirtualLink
from sensors.virtual_wearable import (
    FaultConfig,
    SourceFactory,
    VirtualWearable,
    WearableTruth,
    scenario_source_factory,
)


@dataclass(frozen=True)
class WearableSpec:
    """How to build one wearable of an emulator (defaults come from the emulator)."""

    name: str | None = None
    source_factory: SourceFactory | None = None
    faults: FaultConfig | None = None
    config: SensorConfig | None = None
    battery_percent: float = 100.0


class Emulator:
    """Async context manager owning a virtual link and N virtual wearables.

    Parameters
    ----------
    count
        Number of wearables (named ``Poise-0001`` ... with distinct addresses).
    rate_hz
        Initial sampling rate of every wearable (clients may change it).
    source_factory
        Motion source for every wearable; default: scenario ``"quiet"``. Wearable ``i``
        gets its own seed (``seed + i``) when built from a scenario name.
    scenario
        Name of a synthetic scenario (alternative to ``source_factory``).
    faults
        Fault injection for every wearable, or a per-wearable list.
    seed
        Base seed (faults, clock offsets, scenario noise).
    specs
        Full per-wearable control (overrides ``count``).
    record_send_times
        Record the host send time of every packet (latency benchmarks).
    link
        Join an existing link instead of creating one.
    firmware
        ``"micropython"``: every wearable runs the MicroPython firmware on a simulated
        IMU (``sensors.firmware_host``); ``faults`` are not supported then.
    firmware_options
        Extra keyword arguments of :class:`sensors.firmware_host.wearable.FirmwareWearable`
        (``chip``, ``ticks_start_us``, ``clock_start_us``).
    """

    def __init__(
        self,
        count: int = 1,
        rate_hz: int = 100,
        *,
        source_factory: SourceFactory | None = None,
        scenario: str | None = None,
        faults: FaultConfig | list[FaultConfig] | None = None,
        seed: int = 0,
        specs: list[WearableSpec] | None = None,
        record_send_times: bool = False,
        link: VirtualLink | None = None,
        name_prefix: str = "Poise-",
        firmware: str | None = None,
        firmware_options: dict[str, Any] | None = None,
    ) -> None:
        if firmware not in (None, "micropython"):
            raise ValueError(f"unknown firmware {firmware!r} (known: micropython)")
        if firmware and faults:
            raise ValueError("fault injection is not available for the MicroPython firmware")
        if specs is None:
            if not 1 <= count <= 64:
                raise ValueError(f"count must be 1..64, got {count}")
            specs = [WearableSpec() for _ in range(count)]
        if isinstance(faults, list) and len(faults) != len(specs):
            raise ValueError(f"{len(faults)} fault configs for {len(specs)} wearables")
        self.config = SensorConfig(sampling_rate_hz=rate_hz)
        self._specs = specs
        self._scenario = scenario
        self._source_factory = source_factory
        if scenario is not None and source_factory is None:
            scenario_source_factory(scenario, seed)  # fail early on an unknown name
        self._faults = faults
        self.seed = seed
        self._record_send_times = record_send_times
        self._external_link = link
        self._name_prefix = name_prefix
        self._firmware = firmware
        self._firmware_options = dict(firmware_options or {})
        self.link: VirtualLink | None = link
        self.wearables: list[Any] = []
        self._servers: list[ControllerServer] = []

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> Emulator:
        """Create the link (if needed) and start advertising every wearable."""
        if self.link is None:
            self.link = VirtualLink()
        for i, spec in enumerate(self._specs):
            name = spec.name or f"{self._name_prefix}{i + 1:04d}"
            faults = spec.faults
            if faults is None:
                faults = self._faults[i] if isinstance(self._faults, list) else self._faults
            factory = spec.source_factory or self._source_factory
            if factory is None:
                factory = scenario_source_factory(self._scenario or "quiet", self.seed + i)
            address = f"D0:50:{(self.seed >> 8) & 0xFF:02X}:{self.seed & 0xFF:02X}:{(i + 1) >> 8:02X}:{(i + 1) & 0xFF:02X}"
            if self._firmware:
                from sensors.firmware_host.wearable import FirmwareWearable

                firmware = FirmwareWearable(
                    self.link,
                    name,
                    address,
                    source_factory=factory,
                    config=spec.config or self.config,
                    battery_percent=spec.battery_percent,
                    seed=self.seed * 1000 + i,
                    rssi_dbm=-45 - 4 * (i % 10),
                    **self._firmware_options,
                )
                await firmware.start()
                self.wearables.append(firmware)
                continue
            wearable = VirtualWearable(
                self.link,
                name,
                address,
                source_factory=factory,
                config=spec.config or self.config,
                faults=faults,
                seed=self.seed * 1000 + i,
                battery_percent=spec.battery_percent,
                record_send_times=self._record_send_times,
                rssi_dbm=-45 - 4 * (i % 10),
            )
            await wearable.start()
            self.wearables.append(wearable)
        return self

    async def close(self) -> None:
        """Stop serving, stop every wearable and leave the link."""
        for server in self._servers:
            await server.close()
        self._servers.clear()
        for wearable in self.wearables:
            await wearable.close()

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

    def wearable(self, name: str) -> VirtualWearable:
        """The wearable with this advertised name."""
        for w in self.wearables:
            if w.name == name:
                return w
        raise KeyError(
            f"no virtual wearable named {name!r} (have {[w.name for w in self.wearables]})"
        )

    def truth(self) -> dict[str, WearableTruth | Any]:
        """Ground truth per wearable name."""
        return {w.name: w.truth for w in self.wearables}

    def summary(self) -> dict[str, Any]:
        """JSON-ready ground truth of all wearables."""
        return {name: t.to_dict() for name, t in self.truth().items()}


def parse_demo(text: str | int | None) -> list[tuple[str, int]]:
    """Read a ``--demo`` value: ``"2"`` (two virtual wearables) or ``"firmware:1"`` (one
    wearable running the MicroPython firmware), several joined by commas.

    Returns
    -------
    list of (kind, count)
        Kinds ``"poise"`` (the Python virtual wearable) and ``"firmware"``; counts >= 1.

    Raises
    ------
    ValueError
        Naming the part that is wrong.
    """
    if text is None:
        return []
    out: list[tuple[str, int]] = []
    for part in str(text).split(","):
        item = part.strip()
        kind, sep, count = item.rpartition(":")
        kind = kind.strip().lower() if sep else "poise"
        if kind not in ("poise", "firmware"):
            raise ValueError(f"--demo {item!r}: unknown kind {kind!r} (known: poise, firmware)")
        try:
            n = int(count)
        except ValueError:
            raise ValueError(f"--demo {item!r}: expected KIND:N or N with N a number") from None
        if n < 1:
            raise ValueError(f"--demo {item!r}: the count must be at least 1")
        out.append((kind, n))
    return out
