"""Gait validation against reference data; prints its figures per data set (not a test).

Data sets (each scored with the same code and the same default parameters, no per-file
settings; rules in :mod:`analysis.gait.validation`):

* ``recordings/mobgap-lab``: five lab trials with the INDIP reference (Apache-2.0, shipped).
* ``../shared/data/ipol-l5``: 46 healthy 10 m + U-turn walks and one very slow MS walk with
  foot-sensor heel strikes (AGPL-3.0: read from outside the repository; the script says so
  when the folder is absent).
* synthetic slow gait (:func:`sensors.scenarios.slow_walk` presets, several seeds, random
  mountings): known truth from the motion model.

Per data set: initial-contact precision/recall/F1 over the whole recordings (and over
matched bouts), walking-bout recall, cadence MAE (and walking-speed and stride-length MAE
where the reference has them), side labels correct, median contact timing error; with
``--stream`` also whether :class:`analysis.gait.StreamingGait` gives the offline bouts; for
ipol-l5 the U-turns found and the step-time asymmetry against the reference's.

Run: ``.venv/bin/python bench/validate_gait.py [--stream] [--seeds N]``
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from analysis.gait import GaitAnalyzer, StreamingGait
from analysis.gait.validation import score_trial, summarise

ROOT = Path(__file__).resolve().parents[1]
MOBGAP = ROOT / "recordings" / "mobgap-lab"
IPOL = ROOT.parent / "shared" / "data" / "ipol-l5"


def load_trial(folder: Path) -> dict:
    """A folder in the mobgap-lab / ipol-l5 layout -> signals and reference (SI units)."""
    x = np.loadtxt(folder / "imu_lowerback.csv", delimiter=",", skiprows=1, ndmin=2)
    info = json.loads((folder / "info.json").read_text())
    fs = float(info["sampling_rate_hz"])

    def rows(which: str) -> list[dict]:
        p = folder / f"reference_{which}.csv"
        if not p.exists():
            return []
        with p.open() as f:
            return list(csv.DictReader(f))

    def num(r: dict, key: str) -> float:
        try:
            return float(r.get(key, "nan"))
        except ValueError:
            return float("nan")

    ics = rows("initial_contacts")
    return {
        "name": folder.name,
        "acc": x[:, :3],
        "gyr": np.deg2rad(x[:, 3:6]),
        "fs": fs,
        "sensor_height_m": info.get("participant", {}).get("sensor_height_m"),
        "ref_ic_s": np.array([float(r["ic"]) for r in ics]) / fs,
        "ref_lr": np.array([r.get("lr_label", "") for r in ics]),
        "ref_bouts": [
            {
                "start_s": float(r["start"]) / fs,
                "end_s": float(r["end"]) / fs,
                "cadence_spm": num(r, "avg_cadence_spm"),
                "speed_mps": num(r, "avg_walking_speed_mps"),
                "stride_length_m": num(r, "avg_stride_length_m"),
            }
            for r in rows("walking_bouts")
        ],
        "ref_turns": [
            (float(r["start"]) / fs, float(r["end"]) / fs, num(r, "angle_deg"))
            for r in rows("turns")
        ],
        "group": info.get("group", ""),
    }


def synthetic_trials(seeds: int) -> list[dict]:
    """The slow-gait presets with pauses and random mountings; truth from the model."""
    from sensors.scenarios import SLOW_GAIT, random_mount, slow_walk

    out = []
    for preset in SLOW_GAIT:
        for seed in range(seeds):
            pauses = (5.0,) if seed % 2 else ()
            md = slow_walk(
                preset,
                pauses_s=pauses,
                walk_s=36.0,
                seed=seed,
                mount=random_mount(np.random.default_rng(seed)) if seed % 3 else None,
            )
            t = md.truth
            out.append(
                {
                    "name": f"{preset}-{seed}",
                    "acc": md.acc_mps2,
                    "gyr": md.gyr_radps,
                    "fs": md.sampling_rate_hz,
                    "sensor_height_m": t["subject"]["sensor_height_m"],
                    "ref_ic_s": np.asarray(t["initial_contacts_s"]),
                    "ref_lr": None,
                    "ref_bouts": t["bouts"],
                    "ref_turns": [],
                    "group": preset,
                }
            )
    return out


def same_bouts(off: list, live: list) -> bool:
    """The streaming test's rule: same count, ends within 0.3 s, cadence within 1 step/min."""
    return len(off) == len(live) and all(
        abs(a.start_s - b.start_s) <= 0.3
        and abs(a.end_s - b.end_s) <= 0.3
        and abs(a.cadence_spm - b.cadence_spm) <= 1.0
        for a, b in zip(off, live)
    )


def stream(trial: dict, rng: np.random.Generator) -> list:
    sg = StreamingGait(trial["fs"], sensor_height_m=trial["sensor_height_m"])
    i, acc, gyr = 0, trial["acc"], trial["gyr"]
    while i < acc.shape[0]:
        k = int(rng.integers(1, 40))
        sg.update(acc[i : i + k], gyr[i : i + k])
        i += k
    sg.flush()
    return list(sg.bouts_)


def asymmetry(ic_s: np.ndarray, lr: np.ndarray) -> float:
    """The reference's step-time asymmetry ratio (longer / shorter mean step time by the foot
    that lands), as :func:`analysis.gait.pipeline.step_time_sides` computes it for a bout."""
    st = np.diff(ic_s)
    lab = np.asarray(lr)[1:]
    ok = st < 2.5
    left, right = st[ok & (lab == "left")], st[ok & (lab == "right")]
    if left.size < 3 or right.size < 3:
        return float("nan")
    a, b = float(np.mean(left)), float(np.mean(right))
    return max(a, b) / min(a, b)


def run(name: str, trials: list[dict], do_stream: bool, extra: bool) -> None:
    t0 = time.process_time()
    scores, parity, turns_found, turn_err, asym = [], [], 0, [], []
    results = {}
    for tr in trials:
        ga = GaitAnalyzer(sensor_height_m=tr["sensor_height_m"]).analyze(
            tr["acc"], tr["gyr"], tr["fs"]
        )
        res = ga.result_
        results[tr["name"]] = res
        scores.append(score_trial(res, tr["ref_ic_s"], tr["ref_bouts"], tr["ref_lr"]))
        if do_stream:
            parity.append(same_bouts(res.walking_bouts, stream(tr, np.random.default_rng(0))))
        for s, e, ang in tr["ref_turns"]:
            hit = [t for t in res.turns if t.end_s > s and t.start_s < e]
            if hit:
                turns_found += 1
                best = max(hit, key=lambda t: abs(t.angle_deg))
                if np.isfinite(ang):
                    turn_err.append(abs(abs(best.angle_deg) - abs(ang)))
        if extra and tr["ref_lr"] is not None and res.walking_bouts:
            ref_a = asymmetry(tr["ref_ic_s"], tr["ref_lr"])
            det_a = max(res.walking_bouts, key=lambda b: b.duration_s).step_time_asymmetry
            if np.isfinite(ref_a) and np.isfinite(det_a):
                asym.append((ref_a, det_a))
    cpu = time.process_time() - t0
    s = summarise(scores)
    print(f"\n== {name}: {len(trials)} recordings ({cpu:.1f} s CPU)")
    print(
        f"  initial contacts (whole recordings): precision {s['ic_precision']:.3f}  recall "
        f"{s['ic_recall']:.3f}  F1 {s['ic_f1']:.3f}   (over matched bouts: F1 "
        f"{s['ic_f1_matched_bouts']:.3f})"
    )
    print(
        f"  walking bouts found: {s['n_matched_bouts']}/{s['n_ref_bouts']} = "
        f"{s['bout_recall']:.3f}   cadence MAE {s['cadence_mae_spm']:.2f} steps/min"
    )
    if np.isfinite(s["speed_mae_mps"]):
        print(
            f"  walking speed MAE {s['speed_mae_mps']:.3f} m/s   stride length MAE "
            f"{s['stride_length_mae_m']:.3f} m"
        )
    if np.isfinite(s["side_correct"]):
        print(f"  left/right labels correct {s['side_correct']:.3f}")
    print(f"  contact timing, median detected - reference: {s['ic_timing_median_s']:+.3f} s")
    if do_stream:
        print(f"  streaming gives the offline bouts: {sum(parity)}/{len(parity)}")
    if extra and any(tr["ref_turns"] for tr in trials):
        n_turns = sum(len(tr["ref_turns"]) for tr in trials)
        print(
            f"  reference turns found: {turns_found}/{n_turns}; |angle| error median "
            f"{np.median(turn_err):.0f} deg"
        )
    if asym:
        a = np.asarray(asym)
        print(
            f"  step-time asymmetry (longer/shorter side): reference median {np.median(a[:, 0]):.3f}"
            f", detected {np.median(a[:, 1]):.3f}, MAE {np.mean(np.abs(a[:, 0] - a[:, 1])):.3f}"
        )
    for tr in trials:  # the slow / impaired walks one by one
        if tr["group"] and tr["group"] not in ("healthy",) and name != "synthetic slow gait":
            one = summarise([scores[trials.index(tr)]])
            res = results[tr["name"]]
            print(
                f"  {tr['name']} ({tr['group']}): {len(res.walking_bouts)} bout(s), IC F1 "
                f"{one['ic_f1']:.3f}, cadence error "
                f"{(res.walking_bouts[0].cadence_spm - tr['ref_bouts'][0]['cadence_spm']) if res.walking_bouts else float('nan'):+.1f}"
                " steps/min"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stream", action="store_true", help="also stream every recording")
    ap.add_argument("--seeds", type=int, default=3, help="synthetic seeds per preset")
    args = ap.parse_args()
    run(
        "mobgap-lab (INDIP reference)",
        [load_trial(p.parent) for p in sorted(MOBGAP.glob("*/imu_lowerback.csv"))],
        args.stream,
        False,
    )
    if IPOL.is_dir():
        trials = [load_trial(p.parent) for p in sorted(IPOL.glob("*/imu_lowerback.csv"))]
        run(
            "ipol-l5 healthy (foot-sensor heel strikes)",
            [t for t in trials if t["group"] == "healthy"],
            args.stream,
            True,
        )
        run(
            "ipol-l5 slow MS walk",
            [t for t in trials if t["group"] != "healthy"],
            args.stream,
            True,
        )
    else:
        print(f"\n== ipol-l5: not scored, {IPOL} is absent (AGPL-3.0 data kept outside)")
    run("synthetic slow gait", synthetic_trials(args.seeds), args.stream, False)


if __name__ == "__main__":
    main()
