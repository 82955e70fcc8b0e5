"""Fixtures of the analysis tests.

* ``mounted_scenario`` and ``run_on``: a scenario with the sensor strapped on at random, and
  an algorithm's result on a scenario (cut where a test wants it).
* ``lab_trial``: a mobgap-lab trial (``recordings/mobgap-lab``) by name, loaded by the gait
  validation's own loader (``bench/validate_gait.py:load_trial``).
* ``clinical_e2e``: end to end for a clinical test of the registry: the command line, the
  guided protocol in the therapist's window, the results page, the store with progress,
  the PDF and FHIR. A test module of a clinical test asks for the fixture and calls its
  methods with the test's key and its scenario (:data:`sensors.scenarios.TEST_SCENARIOS`);
  nothing here names a test.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis.clinical.registry import TestContext
from sensors import scenarios as sc

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
ROOT = Path(__file__).resolve().parents[2]
# the validation script's loader (bench/ is not a package; its gui.py must not shadow gui/)
_spec = importlib.util.spec_from_file_location(
    "_validate_gait", ROOT / "bench" / "validate_gait.py"
)
assert _spec is not None and _spec.loader is not None
_validate_gait = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_validate_gait)
#: The mobgap lab trials' folder.
MOBGAP_LAB: Path = _validate_gait.MOBGAP


def _lab_trial(name: str) -> dict[str, Any]:
    """Trial ``name`` of recordings/mobgap-lab: ``acc`` (m/s²), ``gyr`` (rad/s), ``fs``,
    ``sensor_height_m`` and the reference (``ref_ic_s``, ``ref_bouts``, ``ref_turns``, ...)."""
    return _validate_gait.load_trial(MOBGAP_LAB / name)


def _mounted_scenario(name: str, seed: int, **kwargs: Any) -> sc.MotionData:
    """Scenario ``name`` (seed ``seed``) with the sensor strapped on in a random way drawn
    from the same seed."""
    mount = sc.random_mount(np.random.default_rng(seed))
    return sc.make_scenario(name, seed=seed, mount=mount, **kwargs)


def _run_on(
    test: Any,
    md: sc.MotionData,
    *,
    until_s: float | None = None,
    demographics: dict[str, Any] | None = None,
) -> Any:
    """``test.analyze`` on a scenario's signals, cut at ``until_s`` (data time) when given,
    with the patient's ``demographics``; the ``result_``."""
    n = None if until_s is None else int(round(until_s * md.sampling_rate_hz))
    ctx = TestContext(demographics or {})
    fs = md.sampling_rate_hz
    return test.analyze(md.acc_mps2[:n], md.gyr_radps[:n], sampling_rate_hz=fs, context=ctx).result_


@pytest.fixture
def mounted_scenario():
    """``mounted_scenario(name, seed, **kwargs)``: a scenario, the sensor strapped on at
    random (drawn from the seed)."""
    return _mounted_scenario


@pytest.fixture(scope="session")
def lab_trial() -> Callable[[str], dict[str, Any]]:
    """``lab_trial(name)``: a mobgap-lab trial (e.g. ``"HA-001-Test5-Trial1"``), signals in
    SI units and its reference, as :func:`bench.validate_gait.load_trial` gives it."""
    return _lab_trial


@pytest.fixture
def run_on():
    """``run_on(test, md, until_s=None, demographics=None)``: a clinical test's result on a
    scenario."""
    return _run_on


@dataclass
class GuidedRun:
    """What the therapist saw and what was stored."""

    live: dict[str, Any]
    title: str
    measures: dict[str, str]
    factors: dict[str, str]
    recording: Path
    store: dict[str, Any] = field(default_factory=dict)

    def events_result(self) -> dict[str, Any]:
        """The result the therapist saw, checked valid and timed from the protocol's events."""
        res = self.live["result"]
        assert res["validity"]["valid"] and res["segmentation"] == "events", res["validity"]
        return res


class ClinicalEndToEnd:
    """The consumers of one registry test, each through its public entry point."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture, request) -> None:
        self.tmp_path = tmp_path
        self.capsys = capsys
        self.request = request

    def cli(self, key: str, md, demographics: dict[str, Any]) -> dict[str, Any]:
        """``poise analyze CSV --test KEY --format json`` on a scenario (as a CSV file)."""
        from poise.cli import main

        path = self.tmp_path / f"{key}.csv"
        data = np.hstack([md.acc_mps2, np.degrees(md.gyr_radps)])
        np.savetxt(
            path, data, delimiter=",", header="acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", comments=""
        )
        argv = ["analyze", str(path), "--rate", str(md.sampling_rate_hz), "--test", key]
        for k, v in demographics.items():
            argv += [f"--{k.replace('_', '-')}", str(v)]
        self.capsys.readouterr()
        rc = main([*argv, "--format", "json"])
        out = self.capsys.readouterr()
        assert rc == 0, out.err
        return json.loads(out.out)

    def guided(
        self,
        key: str,
        scenario: str,
        plan: list[tuple[str, float | None]],
        demographics: dict[str, Any],
        *,
        start_at_s: float = 0.5,
        time_scale: float = 8.0,
    ) -> GuidedRun:
        """Run the test's guided protocol in the therapist's window on a scripted patient.

        ``plan``: per stage, the data time at which the therapist stops it (``None``: the
        stage ends by itself). Screenshots of the instructions, the running test and the
        results go to ``tests/artifacts/screenshots/<key>_*.png``.
        """
        pytest.importorskip("pytestqt")
        import gui  # noqa: F401  (the PySide6 work-around first)
        from gui.app import make_app, save_screenshot
        from gui.main_window import MainWindow
        from poise.session import Session
        from poise.sources import ScriptedSource

        qtbot = self.request.getfixturevalue("qtbot")
        make_app()
        session = Session(data_dir=self.tmp_path / "sessions")
        win = MainWindow(session)
        qtbot.addWidget(win)
        win.resize(1366, 768)
        win.show()
        win.show_page("tests")
        win.tests.pick.select(key)
        session.set_patient("P-E2E", demographics)
        qtbot.wait(100)  # the instructions' layout (word-wrapped labels) settles first
        save_screenshot(win, SHOTS / f"{key}_instructions.png")
        # the therapist presses start at real speed (a busy machine cannot make the press
        # seconds late in data time and the patient's first movement fall before it); the
        # rest of the test runs time_scale times faster than real time
        source = ScriptedSource(1, sampling_rate_hz=100, scenario=scenario, time_scale=1.0)
        win.set_source(source)
        qtbot.waitUntil(lambda: session.now_s() >= start_at_s, timeout=10000)
        win.tests.pick.start_btn.click()
        run = session.run
        assert run is not None and run.protocol.key == key
        source.set_time_scale(time_scale)
        for stage, stop_at_s in plan:
            qtbot.waitUntil(
                lambda s=stage: run.stage is not None and run.stage.key == s, timeout=30000
            )
            if stop_at_s is not None:
                # near a press the patient slows to real speed again, so it is on time
                qtbot.waitUntil(lambda t=stop_at_s: session.now_s() >= t - 1.0, timeout=30000)
                source.set_time_scale(1.0)
                qtbot.waitUntil(lambda t=stop_at_s: session.now_s() >= t, timeout=30000)
                win.tests.run_page.next_btn.click()
                source.set_time_scale(time_scale)
        qtbot.waitUntil(lambda: session.last_result is not None, timeout=30000)
        assert win.pages.currentWidget() is win.results
        save_screenshot(win, SHOTS / f"{key}_results.png")
        page = win.results
        measures = {
            page.measures.item(i, 0).text(): page.measures.item(i, 1).text()
            for i in range(page.measures.rowCount())
        }
        factors = {
            page.factors.item(i, 0).text(): page.factors.item(i, 3).text()
            for i in range(page.factors.rowCount())
        }
        out = GuidedRun(session.last_result, page.title.text(), measures, factors, Path())
        out.recording = Path(session.recording_path)
        win.end_session()
        win.close()
        return out

    def stored(self, key: str, recording: Path, demographics: dict[str, Any]) -> dict[str, Any]:
        """Import the session into a store; its progress, session report, PDF and FHIR."""
        from gui.report_pdf import write_pdf
        from poise.fhir import observation_bundle
        from poise.progress import patient_progress
        from poise.reports import session_report
        from poise.service import import_recording
        from poise.store import Store

        store = Store(self.tmp_path / "store")
        year = time.gmtime().tm_year - int(demographics.get("age", 70))
        store.add_patient(
            "P-E2E",
            birth_year=year,
            sex=demographics.get("sex"),
            height_m=demographics.get("height_m"),
            weight_kg=demographics.get("weight_kg"),
        )
        session = import_recording(store, recording, patient="P-E2E", reassign=True)
        progress = patient_progress(store, "P-E2E")
        report = session_report(session, store.patient("P-E2E"))
        pdf = self.tmp_path / f"{key}.pdf"
        pages = write_pdf(report, pdf, "a4")
        bundle = observation_bundle(store, "P-E2E")
        store.close()
        observations = [
            e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
        ]
        return {
            "session": session,
            "progress": {s.metric.key: s for s in progress.series},
            "report": report,
            "pdf_pages": pages,
            "pdf_bytes": pdf.stat().st_size,
            "observations": observations,
            "codes": {c["code"] for o in observations for c in o["code"]["coding"]},
        }


@pytest.fixture
def clinical_e2e(tmp_path: Path, capsys: pytest.CaptureFixture, request) -> ClinicalEndToEnd:
    """The consumers of a registry test, end to end (see :class:`ClinicalEndToEnd`)."""
    return ClinicalEndToEnd(tmp_path, capsys, request)
