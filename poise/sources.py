"""Sources a :class:`poise.session.Session` can own: BLE sensors, virtual wearables, a file.

Every source implements ``kind`` (``"live"`` or ``"replay"``), ``description``,
``start(sink)``, ``stop()`` and ``now_s()``, and feeds the sink (the session) from its own
thread through the thread-safe sink methods. Samples go to ``push_samples`` (views and
analysis), the raw packets to ``push_packets`` (the recording).

- :class:`ReplaySource`: a recording through :class:`poise.player.Player`.
- :class:`BleSource`: sensors of any supported kind through :mod:`sensors.stream` (bleak;
  the Bumble backend with virtual sensors for ``--demo``), on a background asyncio loop.
- :class:`ScriptedSource`: synthetic wearables without BLE (motion from
  :mod:`sensors.scenarios`, encoded into real packets by the codec): home mode's demo and
  tests that need a scripted motion at a known time.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from firmware_protocol.types import SensorConfig
from poise.errors import PoiseError
from poise.player import Player
from poise.sinks import NullSink, SampleSink, SensorDeclaration
from sensors.placements import DEFAULT_ORDER, normalise_placement
from sensors.scenarios import ScenarioSource

log = logging.getLogger(__name__)


#: Where the ``demo`` loop starts (s into :func:`sensors.scenarios.demo`): standing, 3 s
#: before the walk. The window then shows quiet-stance sway within ~3 s and steps, cadence
#: and speed within ~7 s (sit, stand-up and sit-down follow later in the loop), instead of
#: opening on 6 s of sitting and standing up with empty gait tiles.
DEMO_START_S = 8.0


def demo_source_factory(seed: int, start_s: float = DEMO_START_S) -> Any:
    """Motion factory of the ``demo`` scenario started ``start_s`` into its loop."""

    def make(rate_hz: int) -> Any:
        src = ScenarioSource("demo", rate_hz, seed)
        src.read(int(round(start_s * rate_hz)) % src.n_samples)  # skip ahead (public API)
        return src

    return make


class ReplaySource:
    """Replays a recording (a path or a loaded ``Recording``) as the session's source.

    Parameters
    ----------
    recording
        Path of a ``.poise`` file (or of a CSV that :func:`poise.inputs.load_input` reads,
        e.g. ``recordings/mobgap-lab/*/imu_lowerback.csv``) or a loaded recording.
    speed
        Initial replay speed (0.5-10).
    autoplay
        Start playing at once.
    rate_hz
        Sampling rate of a CSV without a time column.
    """

    kind = "replay"

    def __init__(
        self,
        recording: Any,
        *,
        speed: float = 1.0,
        autoplay: bool = True,
        rate_hz: float | None = None,
    ) -> None:
        from poise.inputs import NotImuCsv, integrity_text, load_input

        if isinstance(recording, str | Path):
            path = Path(recording)
            if not path.is_file():
                raise PoiseError(f"{path}: no such recording")
            try:  # a .poise recording, or a CSV (imported in memory like poise import-csv)
                recording = load_input(
                    path, rate_hz=rate_hz, warn=lambda msg: log.warning("%s", msg)
                )
            except NotImuCsv as exc:
                raise PoiseError(
                    f"{path.name}: not a Poise recording or an IMU CSV ({exc.reason})"
                ) from exc
            except (ValueError, PoiseError) as exc:
                raise PoiseError(f"{path}: can not be replayed: {exc}") from exc
            self.path: Path | None = path
        else:
            self.path = None
        if not recording.sensors or not any(len(s.t_s) for s in recording.sensors):
            raise PoiseError(f"{self.path or 'recording'}: holds no samples to replay")
        #: what is damaged in the file (the intact part is replayed), or ``None``
        self.warning = integrity_text(recording)
        self.recording = recording
        self.player = Player(recording, speed=speed)
        self.autoplay = autoplay
        self.description = f"replay of {self.path or 'a recording'}"

    def start(self, sink: SampleSink) -> None:
        """Attach the player, deliver the start and start its clock thread."""
        self.player.attach(sink)
        self.player.seek(0.0)
        self.player.start()
        if self.autoplay:
            self.player.play()

    def stop(self) -> None:
        """Stop the player thread."""
        self.player.stop()

    def now_s(self) -> float:
        """The replay position."""
        return self.player.position_s


class ScriptedSource:
    """Virtual wearables without the BLE stack: scripted motion, real packets, real clock.

    Parameters
    ----------
    count
        Number of sensors (1-4).
    sampling_rate_hz
        50, 100 or 200.
    scenario
        Name of a :mod:`sensors.scenarios` scenario (e.g. ``"quiet_stance"``, ``"walk"``,
        ``"slow_walk"``); one per sensor or one for all.
    seed
        Random seed of the scenario.
    block_s
        Seconds of samples per delivered block (one packet per block).
    time_scale
        Data seconds per wall second (tests run faster than real time).
    """

    kind = "live"

    def __init__(
        self,
        count: int = 1,
        *,
        sampling_rate_hz: int = 100,
        scenario: str | list[str] = "quiet_stance",
        seed: int = 0,
        block_s: float = 0.05,
        time_scale: float = 1.0,
    ) -> None:
        if not 1 <= count <= 4:
            raise PoiseError(f"between 1 and 4 demo sensors, got {count}")
        self.count = count
        self.config = SensorConfig(sampling_rate_hz=sampling_rate_hz)
        self.scenarios = [scenario] * count if isinstance(scenario, str) else list(scenario)
        self.seed = seed
        self.block = max(1, int(round(block_s * sampling_rate_hz)))
        self.time_scale = float(time_scale)
        self.description = f"{count} scripted sensor(s) ({', '.join(self.scenarios)}), no BLE"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # (wall time, data time there, data seconds per wall second): one tuple, replaced
        # whole, so the streaming thread never reads half of a change of speed
        self._clock = (0.0, 0.0, self.time_scale)
        self._sink: SampleSink = NullSink()
        self.disconnected: set[int] = set()

    def _make_generators(self) -> list[Any]:
        gens = []
        for i, name in enumerate(self.scenarios):
            gens.append(ScenarioSource(name, self.config.sampling_rate_hz, self.seed + i))
        return gens

    def start(self, sink: SampleSink) -> None:
        """Declare the sensors and start streaming on a thread."""
        self._sink = sink
        self._gens = self._make_generators()
        for i in range(self.count):
            sink.add_sensor(
                SensorDeclaration(
                    f"demo-{i + 1}",
                    placement=DEFAULT_ORDER[i],
                    sampling_rate_hz=self.config.sampling_rate_hz,
                    config=self.config,
                    name=f"Poise demo {i + 1}",
                )
            )
            sink.push_state(f"demo-{i + 1}", "streaming")
        self._clock = (time.monotonic(), 0.0, self.time_scale)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="poise-scenario", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop streaming."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def now_s(self) -> float:
        """Data seconds since start (wall seconds x ``time_scale``): the session clock."""
        t0, data0_s, scale = self._clock
        return data0_s + (time.monotonic() - t0) * scale

    def set_time_scale(self, time_scale: float) -> None:
        """Run faster or slower from now on; the data clock goes on without a jump.

        Tests start the scripted patient at real speed, press a button at a known data time
        and only then speed up, so a loaded machine cannot make the press late in data time.
        """
        now = time.monotonic()
        t0, data0_s, scale = self._clock
        self.time_scale = float(time_scale)
        self._clock = (now, data0_s + (now - t0) * scale, self.time_scale)

    def disconnect(self, index: int, duration_s: float) -> None:
        """Fault injection: sensor ``index`` stops sending for ``duration_s`` (data lost)."""
        self.disconnected.add(index)
        sid = f"demo-{index + 1}"
        self._sink.push_state(sid, "reconnecting", reason="link lost (injected)")

        def back() -> None:
            self.disconnected.discard(index)

        threading.Timer(duration_s / self.time_scale, back).start()

    def _run(self) -> None:
        from firmware_protocol.codec import encode_data, to_counts

        fs = self.config.sampling_rate_hz
        period_us = self.config.sample_period_us
        sent = 0  # samples per sensor so far
        lost_from: dict[int, int] = {}
        seq = [0] * self.count
        sink = self._sink
        t_start = 0.0
        while not self._stop.is_set():
            due = int(self.now_s() * fs)
            if due - sent < self.block:
                self._stop.wait(self.block / fs / self.time_scale / 2)
                continue
            n = self.block
            t = t_start + (sent + np.arange(n)) / fs
            for i, gen in enumerate(self._gens):
                sid = f"demo-{i + 1}"
                acc, gyr = gen.read(n)
                if i in self.disconnected:
                    lost_from.setdefault(i, sent)
                    continue
                if i in lost_from:
                    k0 = lost_from.pop(i)
                    sink.push_gap(sid, t_start + k0 / fs, float(t[0]), sent - k0, "link lost")
                    sink.push_state(sid, "streaming")
                ac, gc = to_counts(acc, gyr, self.config)
                pkt = encode_data(
                    seq[i] & 0xFFFF,
                    (sent * period_us) & 0xFFFFFFFF,
                    ac,
                    gc,
                    config=self.config,
                )
                seq[i] += 1
                # what the sensor really sent: the quantised values
                sink.push_samples(
                    sid, t, ac * self.config.acc_scale_mps2, gc * self.config.gyro_scale_radps
                )
                sink.push_packets(sid, [pkt], float(t[-1]))
            sent += n


class BleSource:
    """Sensors over BLE through :class:`sensors.stream.StreamHub` on a background loop.

    With ``demo`` the sensors are virtual ones (:class:`sensors.emulator.Emulator`) on an
    in-process Bumble link: the full stack (GATT servers, ATT notifications, bleak client
    through Poise's Bumble backend, each kind's driver, clock model, gap tracker,
    recorder).

    Parameters
    ----------
    specs
        Sensors to stream: dicts with ``name`` or ``address``, ``placement`` and ``kind``
        (from a scan; ignored with ``demo``).
    demo
        Virtual sensors: ``N`` Poise wearables or a ``KIND:N,...`` spec
        (:func:`sensors.devices.parse_demo_spec`); 0: real sensors.
    sampling_rate_hz
        Rate asked of every sensor (each takes its nearest supported rate).
    transport
        ``None`` (the computer's Bluetooth) or a Bumble transport string.
    scenario
        Motion of the virtual wearables (a :mod:`sensors.scenarios` name).
    faults
        Fault injection of the virtual wearables (``FaultConfig.parse`` text), e.g.
        ``"disconnect-at=5s"``.
    """

    kind = "live"

    def __init__(
        self,
        specs: list[dict] | None = None,
        *,
        demo: int | str = 0,
        sampling_rate_hz: float = 100,
        transport: Any = None,
        scenario: str = "demo",
        faults: str | None = None,
        seed: int = 0,
    ) -> None:
        from sensors import devices, stream

        self.twins: list[Any] = []
        if demo:
            from sensors.emulator import Emulator, TwinSpec

            try:
                pairs = devices.parse_demo_spec(demo)
            except ValueError as exc:
                raise PoiseError(f"demo sensors: {exc}") from None
            self.twins = TwinSpec.from_demo(pairs)
            addresses = Emulator.addresses(self.twins, seed)
            specs = [
                {
                    "name": t.name,
                    "address": addresses[i],
                    "kind": devices.twin_driver_kind(t.kind),
                    "placement": DEFAULT_ORDER[i],
                    "sensor_id": t.name,
                }
                for i, t in enumerate(self.twins)
            ]
        if not specs:
            raise PoiseError("no sensors to connect")
        self.demo = demo
        self.scenario = scenario
        self.faults = faults
        self.seed = seed
        self.transport = transport
        self.config = stream.StreamSettings(sampling_rate_hz=float(sampling_rate_hz))
        self.specs = [
            stream.SensorSpec(
                name=s.get("name"),
                address=s.get("address"),
                device=s.get("device"),
                placement=normalise_placement(s.get("placement")) or None,
                sensor_id=s.get("sensor_id") or s.get("name"),
                kind=s.get("kind"),
            )
            for s in specs
        ]
        for i, spec in enumerate(self.specs):
            if spec.sensor_id is None or spec.sensor_id in {x.sensor_id for x in self.specs[:i]}:
                spec.sensor_id = f"{spec.kind or 'sensor'}-{i + 1}"
        kinds = ", ".join(sorted({s.kind or "poise" for s in self.specs}))
        self.description = (
            f"{len(self.specs)} demo sensor(s) ({kinds}) over the Bumble BLE stack"
            if demo
            else f"{len(specs)} BLE sensor(s) ({kinds})"
        )
        self.hub: Any = None
        self.runner: Any = None
        self.emulator: Any = None
        self._sink: SampleSink = NullSink()
        self._starter: threading.Thread | None = None
        self._t0 = time.monotonic()

    def start(self, sink: SampleSink) -> None:
        """Declare the sensors, open the recording, start the hub thread (non-blocking)."""
        from sensors import stream

        self._sink = sink
        self.hub = stream.StreamHub(
            self.specs, config=self.config, transport=self.transport, recorder=None
        )
        writer = sink.open_recording(self.hub.recording_metadata())
        if writer is not None:
            self.hub.recorder = writer
            self.hub.t0_monotonic = float(writer.metadata["start"]["monotonic_s"])
        self._t0 = self.hub.t0_monotonic
        for i, (sid, config) in enumerate(zip(self.hub.sensor_ids, self.hub.configs())):
            spec = self.specs[i]
            drv = self.hub.driver(i)
            sink.add_sensor(
                SensorDeclaration(
                    sid,
                    placement=spec.placement or "",
                    sampling_rate_hz=float(config.sampling_rate_hz),
                    config=config,
                    name=spec.name or sid,
                )
            )
            sink.push_state(sid, "connecting", kind=drv.kind, model=drv.default_model)
        self.hub.subscribe(
            on_block=self._on_block,
            on_state=self._on_state,
            on_gap=self._on_gap,
            on_stats=self._on_stats,
        )
        setup = self._setup_emulator if self.demo else None
        self.runner = stream.HubThread(self.hub, setup=setup)
        self._starter = threading.Thread(target=self._start_runner, name="poise-ble-start")
        self._starter.daemon = True
        self._starter.start()

    async def _setup_emulator(self, hub: Any) -> Any:
        from dataclasses import replace

        from sensors.emulator import Emulator
        from sensors.virtual_wearable import FaultConfig

        specs = list(self.twins)
        demo_motion = self.scenario == "demo"
        if demo_motion:
            # each sensor its own seed, as the emulator does for a scenario name
            specs = [
                replace(t, source_factory=demo_source_factory(self.seed + i))
                for i, t in enumerate(specs)
            ]
        self.emulator = Emulator(
            rate_hz=self.config.sampling_rate_hz,
            scenario=None if demo_motion else self.scenario,
            specs=specs,
            faults=FaultConfig.parse(self.faults) if self.faults else None,
            seed=self.seed,
        )
        await self.emulator.start()
        hub.transport = self.emulator.transport
        return self.emulator.close

    def _start_runner(self) -> None:
        try:
            self.runner.start(timeout_s=30.0)
        except Exception as exc:
            log.exception("BLE start failed")
            for sid in self.hub.sensor_ids:
                self._sink.push_state(sid, "failed", reason=str(exc))
            self._sink.push_error(f"Could not start the sensors: {exc}")

    def stop(self) -> None:
        """Stop streaming and the loop thread (the session closes the recording after)."""
        if self._starter is not None:
            self._starter.join(timeout=30.0)
        if self.runner is not None:
            self.runner.stop()

    def now_s(self) -> float:
        """Hub timeline (seconds since the recording start)."""
        return time.monotonic() - self._t0

    # -- hub callbacks (hub loop thread) ---------------------------------------------
    def _on_block(self, sb: Any) -> None:
        self._sink.push_samples(sb.sensor_id, sb.t_s, sb.acc_mps2, sb.gyr_radps)

    def _on_state(self, ev: Any) -> None:
        self._sink.push_state(ev.sensor_id, str(ev.state.value), reason=ev.reason)

    def _on_gap(self, ev: Any) -> None:
        self._sink.push_gap(
            ev.sensor_id, ev.start_s, ev.end_s, ev.samples, getattr(ev.gap, "cause", "")
        )

    def _on_stats(self, stats: list) -> None:
        for st in stats:
            info = self.hub.device_info(st.sensor_index)
            self._sink.push_stats(
                st.sensor_id,
                battery_pct=st.battery_pct,
                rssi_dbm=st.rssi_dbm,
                loss_pct=st.loss_pct,
                packets_per_s=st.packets_per_s,
                kind=st.kind,
                model=info.get("model") or self.hub.driver(st.sensor_index).default_model,
                firmware=info.get("firmware_version"),
            )


def make_demo_source(count: int | str, sampling_rate_hz: float = 100, **kw: Any) -> Any:
    """Demo sensors (``N`` Poise wearables or a ``KIND:N,...`` spec) through the full BLE
    stack."""
    return BleSource(demo=count, sampling_rate_hz=sampling_rate_hz, **kw)


def kind_label(kind: str) -> str:
    """A sensor kind as people name it: the driver's maker and model (``"Polar Verity
    Sense"``), or the kind itself if no driver knows it."""
    from sensors import devices

    try:
        drv = devices.driver_for(kind)
    except KeyError:
        return kind
    model = drv.default_model or kind
    return model if not drv.vendor or model.startswith(drv.vendor) else f"{drv.vendor} {model}"


def demo_choices() -> list[tuple[str, str]]:
    """``(label, --demo spec)`` for every kind of virtual sensor, then one of each kind of
    device.

    A twin that another kind's driver talks to (``firmware``: the MicroPython firmware, a
    Poise wearable) is labelled with that driver's model and its own kind, and is left
    out of the mix (one sensor per kind of device).
    """
    from sensors import devices

    kinds = devices.demo_kinds()
    kinds.sort(key=lambda k: (devices.twin_driver_kind(k) != "poise", k != "poise", k))
    out = []
    for k in kinds:
        driver = devices.twin_driver_kind(k)
        out.append((kind_label(driver) + ("" if driver == k else f" ({k})"), k))
    own = [k for k in kinds if devices.twin_driver_kind(k) == k]
    if len(own) > 1:
        mix = own[: min(len(own), 4)]
        out.append(("Mixed: one of each", ",".join(f"{k}:1" for k in mix)))
    return out


def scan_sensors(timeout_s: float = 4.0, transport: Any = None) -> list:
    """Scan for supported sensors of every kind (blocking; runs its own event loop in a
    thread)."""
    import asyncio

    from sensors import stream

    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["found"] = asyncio.run(stream.scan(timeout_s, transport=transport))
        except BaseException as exc:  # reported to the caller
            result["error"] = exc

    th = threading.Thread(target=run, name="poise-scan", daemon=True)
    th.start()
    th.join(timeout_s + 10.0)
    if "error" in result:
        from poise.errors import bluetooth_problem

        problem = bluetooth_problem(result["error"])
        raise PoiseError(problem[0].upper() + problem[1:])
    return list(result.get("found") or [])
