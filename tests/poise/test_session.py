"""The session model without Qt: sources, recording, guided tests, replay."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from poise.errors import PoiseError
from poise.session import Session, _json_equal
from poise.sinks import SampleSink, SensorDeclaration
from poise.sources import ReplaySource, ScriptedSource
from sensors.recording import load_recording


def poll_until(session: Session, cond, timeout_s: float = 20.0, step_s: float = 0.01) -> None:
    t0 = time.monotonic()
    while not cond():
        session.poll()
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError("condition not reached in time")
        time.sleep(step_s)
    session.poll()


@pytest.fixture(autouse=True)
def _warm_imports() -> None:
    # the first poll imports the analysis; do it before the clock runs at 10x
    import analysis.sway  # noqa: F401
    import poise.assessments  # noqa: F401
    import poise.live  # noqa: F401


def test_live_session_streams_records_and_emits_events(tmp_path: Path) -> None:
    s = Session(data_dir=tmp_path)
    s.events.set_raise_errors(True)
    got: dict[str, list] = {"added": [], "samples": [], "metrics": [], "recording": []}
    s.events.sensor_added.connect(got["added"].append)
    s.events.samples.connect(got["samples"].append)
    s.events.metrics.connect(got["metrics"].append)
    s.events.recording.connect(got["recording"].append)
    src = ScriptedSource(2, sampling_rate_hz=100, scenario="quiet_stance", time_scale=10)
    s.set_source(src)
    poll_until(s, lambda: any(m.get("sway_rms_mps2") for m in got["metrics"][2:]))
    src.stop()  # the session still holds the source; no more samples now
    s.poll()
    assert [i.id for i in got["added"]] == ["demo-1", "demo-2"]
    seen = sum(b["demo-1"].n_samples for b in got["samples"] if "demo-1" in b)
    assert seen == s.sensors["demo-1"].samples > 200
    # the event carries the samples themselves, every one in time order (an output such as
    # a Lab Streaming Layer outlet subscribes to it without touching the session)
    blocks = [b["demo-1"] for b in got["samples"] if "demo-1" in b]
    t = np.concatenate([b.t_s for b in blocks])
    assert np.all(np.diff(t) > 0) and all(b.acc_mps2.shape == (b.n_samples, 3) for b in blocks)
    np.testing.assert_array_equal(
        np.concatenate([b.rows() for b in blocks])[-100:], s.latest("demo-1", seconds=1.0)
    )
    assert isinstance(s, SampleSink)
    m = got["metrics"][-1]
    assert m["sway_rms_mps2"] > 0 and m["sensor"] == "demo-1"
    rows = s.latest("demo-2", seconds=2.0)
    assert rows.shape == (200, 7) and np.all(np.diff(rows[:, 0]) > 0)
    assert s.sway_trail().shape[1] == 2
    path = s.recording_path
    n_live = {sid: info.samples for sid, info in s.sensors.items()}
    s.close()
    assert s.source is None
    assert path is not None and got["recording"] == [path]
    assert (path.stat().st_mode & 0o777) == 0o600
    assert ((tmp_path / "recordings").stat().st_mode & 0o777) == 0o700
    rec = load_recording(path)
    assert rec.closed_cleanly and not rec.damage
    for sd in rec.sensors:
        # everything delivered live is in the file
        assert np.isfinite(sd.acc_mps2).all(axis=1).sum() == n_live[sd.id]


def test_errors_are_clear_and_a_broken_listener_does_not_stop_the_stream(tmp_path: Path) -> None:
    s = Session(data_dir=tmp_path)
    with pytest.raises(PoiseError, match="connect a sensor"):
        s.start_test("four-stage")
    s.set_source(ScriptedSource(1, time_scale=10))
    with pytest.raises(PoiseError, match="unknown test"):
        s.start_test("juggling")
    failures = []
    s.events.set_error_handler(lambda exc, name: failures.append((name, str(exc))))

    def broken(_counts) -> None:
        raise RuntimeError("view bug")

    s.events.samples.connect(broken)
    poll_until(s, lambda: len(failures) >= 3)
    n = s.sensors["demo-1"].samples
    poll_until(s, lambda: s.sensors["demo-1"].samples > n)
    assert failures[0] == ("samples", "view bug")
    s.close()
    with pytest.raises(PoiseError, match="no such recording"):
        ReplaySource(tmp_path / "missing.poise")
    bad = tmp_path / "bad.poise"
    bad.write_bytes(b"not a recording at all")
    with pytest.raises(PoiseError, match="can not be replayed"):
        ReplaySource(bad)


def test_disconnect_mid_test_marks_the_test_and_keeps_earlier_data(tmp_path: Path) -> None:
    s = Session(data_dir=tmp_path)
    warnings: list[str] = []
    s.events.warning.connect(warnings.append)
    src = ScriptedSource(2, sampling_rate_hz=100, scenario="quiet_stance", time_scale=10)
    s.set_source(src)
    poll_until(s, lambda: s.now_s() > 1.0)
    run = s.start_test("chair-stand-30s")
    poll_until(s, lambda: run.state == "running" and run.phase_elapsed_s > 2.0)
    before = s.sensors["demo-2"].samples
    src.disconnect(1, duration_s=2.0)
    poll_until(s, lambda: s.sensors["demo-2"].state == "reconnecting")
    poll_until(s, lambda: bool(run.gaps))
    assert run.gaps[0]["sensor"] == "demo-2" and run.gaps[0]["samples"] >= 150
    assert any("demo-2" in w and "during the test" in w for w in warnings)
    s.stop_test()
    poll_until(s, lambda: s.last_result is not None)
    assert s.last_result["run"]["gaps"], "the result carries the gap"
    path = s.recording_path
    s.close()
    rec = load_recording(path)
    sd = rec.sensor("demo-2")
    assert np.isfinite(sd.acc_mps2).all(axis=1).sum() >= before  # nothing before was lost
    assert sd.gaps and sd.gaps[0].samples == run.gaps[0]["samples"]
    kinds = [e["kind"] for e in rec.events]
    assert "test_gap" in kinds and "test_result" in kinds


def test_four_stage_live_results_are_saved_and_replay_gives_the_same(tmp_path: Path) -> None:
    s = Session(data_dir=tmp_path, demographics={"age": 72, "sex": "f"})
    results: list[dict] = []
    s.events.test_result.connect(results.append)
    cues: list[tuple] = []
    s.events.cue.connect(lambda kind, rem: cues.append((kind, rem)))
    s.set_source(ScriptedSource(1, sampling_rate_hz=100, scenario="four_stage", time_scale=8))
    # the scenario stands 2 s, then repositions 3 s before each 10-s stage (= our countdown);
    # it loses balance 6 s into tandem stance
    poll_until(s, lambda: s.now_s() >= 2.0, step_s=0.005)
    run = s.start_test("four-stage")
    poll_until(
        s,
        lambda: run.state == "running" and run.stage.key == "tandem" and run.phase_elapsed_s > 6.3,
        step_s=0.005,
    )
    s.add_marker("lost_balance")
    poll_until(s, lambda: bool(results))
    live = results[0]
    assert "error" not in live, live.get("error")
    res = live["result"]
    assert res["validity"]["valid"]
    assert res["stage_reached"] == "tandem"
    assert res["feet_together_time_s"] == pytest.approx(10.0, abs=1.0)
    assert res["tandem_time_s"] == pytest.approx(6.0, abs=1.0)
    assert res["increased_risk"] is True
    statuses = {f["key"]: f["status"] for f in live["fall_risk"]["factors"]}
    assert statuses.get("tandem_time_s") == "at_risk"
    assert ("start", 0) in cues and ("tick", 3) in cues
    path = s.recording_path
    s.close()
    saved = [e for e in load_recording(path).events if e["kind"] == "test_result"]
    assert len(saved) == 1 and _json_equal(saved[0]["result"], res)

    r = Session(data_dir=tmp_path)
    replayed: list[dict] = []
    r.events.test_result.connect(replayed.append)
    r.set_source(ReplaySource(path, speed=10.0))
    assert r.recording_path is None  # a replay is not re-recorded
    poll_until(r, lambda: bool(replayed))
    r.close()
    again = replayed[0]
    _diff(again["result"], res)
    assert again["source"] == "replay" and again["matches_saved"] is True
    assert again["result"]["stage_reached"] == res["stage_reached"]
    assert again["result"]["tandem_time_s"] == pytest.approx(res["tandem_time_s"], rel=1e-4)
    assert not _json_equal({"a": 1.0}, {"a": 1.1})


def _diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in set(a) | set(b):
            _diff(a.get(k), b.get(k), path + "." + k)
    elif isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]")
    elif not _json_equal(a, b):
        print("DIFF", path, a, b)


@pytest.mark.parametrize("scenario", ["walk", "quiet_stance"])
def test_live_metrics_follow_the_scenario_truth(scenario: str) -> None:
    from poise.live import LiveMetricsEngine
    from sensors.scenarios import make_scenario

    md = make_scenario(scenario, sampling_rate_hz=100, seed=2)
    eng = LiveMetricsEngine(100)
    t = np.arange(md.acc_mps2.shape[0]) / 100
    for i in range(0, len(t), 7):  # odd block size: no alignment luck
        m = eng.update(t[i : i + 7], md.acc_mps2[i : i + 7], md.gyr_radps[i : i + 7])
    if scenario == "walk":
        assert abs(m["steps"] - md.truth["n_steps"]) <= 2
        assert m["cadence_spm"] == pytest.approx(md.truth["cadence_spm"], rel=0.05)
        assert m["sway_valid"] is False  # walking is not quiet stance
    else:
        assert m.get("steps", 0) == 0
        assert m["sway_valid"] is True and m["sway_rms_mps2"] > 0
        trail = eng.trail()
        assert trail.shape[0] > 100 and np.allclose(trail.mean(axis=0), 0, atol=1e-9)
    eng.reset()
    assert eng.trail().shape == (0, 2)


def test_stopping_the_source_mid_test_still_saves_the_result(tmp_path: Path) -> None:
    s = Session(data_dir=tmp_path)
    s.set_source(ScriptedSource(1, scenario="quiet_stance", time_scale=10))
    poll_until(s, lambda: s.now_s() > 1.0)
    s.start_test("sway")
    poll_until(s, lambda: s.run.state == "running" and s.run.phase_elapsed_s > 12.0)
    path = s.recording_path
    s.stop()
    assert s.source is None and s.last_result is not None
    assert s.last_result["run"]["ended_by"] == "source stopped"
    assert s.last_result["end_s"] > s.last_result["start_s"] + 12.0
    rec = load_recording(path)
    assert rec.closed_cleanly and rec.end["t_s"] >= s.last_result["end_s"]
    kinds = [e["kind"] for e in rec.events]
    assert kinds.count("test_stop") == 1 and kinds.count("test_result") == 1


def test_live_sway_is_not_valid_while_standing_up() -> None:
    from poise.live import LiveMetricsEngine
    from sensors.scenarios import make_scenario

    md = make_scenario("sit_to_stand", sampling_rate_hz=100, seed=3)
    stand_end = md.truth["transitions"][0]["end_s"]
    eng = LiveMetricsEngine(100)
    valid_at: dict[float, bool] = {}
    for i in range(0, md.acc_mps2.shape[0], 10):
        m = eng.update(
            np.arange(i, i + 10) / 100, md.acc_mps2[i : i + 10], md.gyr_radps[i : i + 10]
        )
        if "sway_valid" in m:
            valid_at[round((i + 10) / 100, 1)] = m["sway_valid"]
    assert valid_at[3.5] is True  # seated still: the window is at rest
    assert valid_at[round(stand_end + 1.0, 1)] is False


def test_live_step_count_restarts_after_a_reset() -> None:
    # a replay seek resets the engine: the step tile must count the new data only, not
    # carry on from the steps before the seek
    from poise.live import LiveMetricsEngine
    from sensors.scenarios import make_scenario

    md = make_scenario("walk", sampling_rate_hz=100, seed=2)
    eng = LiveMetricsEngine(100)
    t = np.arange(md.acc_mps2.shape[0]) / 100

    def feed() -> dict:
        m = {}
        for i in range(0, len(t), 50):
            m = eng.update(t[i : i + 50], md.acc_mps2[i : i + 50], md.gyr_radps[i : i + 50])
        return m

    first = feed()["steps"]
    assert first > 10
    eng.reset()
    assert feed()["steps"] == first


def test_live_speed_uses_the_patients_sensor_height(tmp_path: Path) -> None:
    # the live speed tile follows the demographics like the test results do, also when
    # the patient is picked during the session
    from sensors.scenarios import make_scenario

    md = make_scenario("walk", sampling_rate_hz=100, seed=2)

    def live_speed(demo_at_start: dict, demo_later: dict | None = None) -> float:
        s = Session(data_dir=tmp_path, record=False, demographics=demo_at_start)
        s.add_sensor(SensorDeclaration("a", placement="lower-back", sampling_rate_hz=100))
        t = np.arange(md.acc_mps2.shape[0]) / 100
        for i in range(0, len(t), 50):
            if demo_later is not None and i == 600:  # 6 s in: the patient is picked
                s.demographics = dict(demo_later)
            s.push_samples("a", t[i : i + 50], md.acc_mps2[i : i + 50], md.gyr_radps[i : i + 50])
            s.poll()
        return float(s.metrics["speed_mps"])

    low = live_speed({"sensor_height_m": 0.7})
    high = live_speed({"sensor_height_m": 1.2})
    assert high > 1.15 * low
    assert live_speed({}, {"sensor_height_m": 1.2}) == pytest.approx(high, rel=0.02)


def test_results_see_the_data_just_after_the_stop(tmp_path: Path) -> None:
    # the result of a replayed run is computed on its window plus the post-run margin
    from firmware_protocol.types import SensorConfig
    from poise.assessments import POST_RUN_MARGIN_S
    from sensors.recording import Recording
    from sensors.timeline import SensorData

    fs = 100
    t = np.arange(20 * fs) / fs
    acc = np.tile([9.81, 0.0, 0.0], (len(t), 1))
    cfg = SensorConfig(sampling_rate_hz=fs, acc_range_g=8, gyro_range_dps=2000)
    run = {"test": "tug", "start_s": 2.0, "end_s": 10.0}
    rec = Recording(
        metadata={},
        sensors=[SensorData("a", "lower-back", cfg, t, acc, np.zeros_like(acc))],
        events=[{"kind": "test_result", "t_s": 10.0, **run, "run": run, "result": {}}],
    )
    seen: list[float] = []

    def assess(segment, test, demo):
        seen.append(float(segment.sensors[0].t_s[-1]))
        return {"validity": {"valid": True}}

    s = Session(data_dir=tmp_path, record=False, assess=assess)
    s.set_source(ReplaySource(rec, speed=10.0))
    poll_until(s, lambda: bool(seen))
    s.close()
    assert seen[0] == pytest.approx(10.0 + POST_RUN_MARGIN_S, abs=0.02)


def _tug_session(tmp_path: Path, patient: tuple[str | None, dict] | None) -> Path:
    """A live TUG on the scripted source for ``patient`` (pseudonym, demographics)."""
    s = Session(data_dir=tmp_path)
    # Start before the scripted stand-up at 4 s, the stop between the sit-down (~15.7 s)
    # and the next stand-up (~24 s): 6x leaves room for a stalled loop on a loaded machine
    s.set_source(ScriptedSource(1, sampling_rate_hz=100, scenario="tug", time_scale=6))
    if patient is not None:  # chosen after the recording opened: a ``patient`` event
        poll_until(s, lambda: s.recording_path is not None)
        s.set_patient(*patient)
    poll_until(s, lambda: s.now_s() >= 0.5, step_s=0.005)
    run = s.start_test("tug")
    assert run.start_s < 3.5, f"started at {run.start_s:.1f} s, after the stand-up"
    poll_until(s, lambda: s.now_s() >= 16.5, step_s=0.005)
    s.next_stage()
    poll_until(s, lambda: s.last_result is not None)
    assert "error" not in s.last_result, s.last_result.get("error")
    path = s.recording_path
    s.close()
    return path


def test_replay_recomputes_what_was_saved_and_names_what_differs_issue17_item3(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    path = _tug_session(tmp_path, ("P-7", {"age": 78, "sex": "f", "height_m": 1.62}))
    rec = load_recording(path)
    saved = next(e for e in rec.events if e["kind"] == "test_result")
    assert saved["result"]["norm_mean_s"] == 9.2  # Bohannon 70-79 y: the patient's age
    assert saved["demographics"]["age"] == 78 and saved["patient"] == "P-7"

    def replay(recording) -> dict:
        r = Session(data_dir=tmp_path)  # a later session: the app knows no patient now
        got: list[dict] = []
        r.events.test_result.connect(got.append)
        r.set_source(ReplaySource(recording, speed=10.0))
        poll_until(r, lambda: bool(got))
        r.close()
        return got[0]

    again = replay(path)
    assert again["matches_saved"] is True, again["differences"]
    assert again["result"]["norm_mean_s"] == 9.2 and again["demographics"]["age"] == 78
    assert again["fall_risk"]["level"] == saved["fall_risk"]["level"]
    # a saved value that differs is named, with the saved and the recomputed value
    bad = {**saved, "result": {**saved["result"], "total_time_s": 99.0}}
    tampered = replace(rec, events=[bad if e is saved else e for e in rec.events])
    diff = replay(tampered)
    assert diff["matches_saved"] is False
    assert {"key": "total_time_s", "saved": 99.0, "now": saved["result"]["total_time_s"]} in [
        {**d, "now": pytest.approx(d["now"])} for d in diff["differences"]
    ]


def test_live_step_count_never_goes_down_issue17_item12() -> None:
    # the demo walks 20 m and stops: a provisional stopping step that the stream later
    # withdraws made the Steps tile go 37 -> 36; the tile counts confirmed contacts only
    from poise.live import LiveMetricsEngine
    from sensors.scenarios import make_scenario

    md = make_scenario("demo", sampling_rate_hz=100, seed=0)
    eng = LiveMetricsEngine(100)
    t = np.arange(md.acc_mps2.shape[0]) / 100
    shown = []
    for i in range(0, len(t), 5):
        m = eng.update(t[i : i + 5], md.acc_mps2[i : i + 5], md.gyr_radps[i : i + 5])
        shown.append(m.get("steps", 0))
    assert np.all(np.diff(shown) >= 0), "the step count went down"
    # only real steps are counted; some shallow steps of the two 180-degree turns are
    # missed (the offline detector finds 34 of the 39)
    assert md.truth["walk"]["n_steps"] - 4 <= shown[-1] <= md.truth["walk"]["n_steps"]
