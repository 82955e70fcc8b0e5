"""FHIR export: the bundle's Observations follow the structure of FHIR R4 Observation."""

from __future__ import annotations

import copy
import json
import re
import stat
from pathlib import Path

import pytest

from poise.fhir import LOINC, POISE_SYSTEM, observation_bundle, write_bundle
from poise.service import import_recording
from poise.store import Store

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "recordings" / "mobgap-lab"
TUG = ROOT / "recordings" / "scenarios" / "tug.poise"
WALK6 = ROOT / "recordings" / "scenarios" / "walk-6min-fatigue.poise"

OBS_STATUS = {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
              "entered-in-error", "unknown"}  # fmt: skip
DATE_TIME = re.compile(
    r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$"
)
UCUM_SYSTEM = "http://unitsofmeasure.org"
# UCUM codes: unit atoms, annotations {..}, operators . and /, exponents, parentheses
UCUM_CODE = re.compile(r"^[A-Za-z0-9{}#\[\]%().*/^+-]+$")


def validate_observation(o: dict, bundle_urls: set[str]) -> list[str]:
    """Structural check of an R4 Observation (the elements the issue requires)."""
    errs = []
    if o.get("resourceType") != "Observation":
        errs.append("resourceType must be Observation")
    if o.get("status") not in OBS_STATUS:
        errs.append(f"status {o.get('status')!r} not in the R4 value set")
    code = o.get("code")
    if not isinstance(code, dict) or not code.get("coding"):
        errs.append("code.coding missing")
    else:
        for c in code["coding"]:
            if not (isinstance(c.get("system"), str) and re.match(r"^(https?|urn):", c["system"])):
                errs.append(f"coding system {c.get('system')!r} is not a URI")
            if (
                not isinstance(c.get("code"), str)
                or not c["code"]
                or c["code"] != c["code"].strip()
            ):
                errs.append(f"coding code {c.get('code')!r} invalid")
            if c.get("system") == "http://loinc.org" and not re.match(r"^\d{1,7}-\d$", c["code"]):
                errs.append(f"LOINC code {c['code']!r} malformed")
    subj = o.get("subject")
    if not isinstance(subj, dict) or not isinstance(subj.get("reference"), str):
        errs.append("subject.reference missing")
    elif subj["reference"] not in bundle_urls:
        errs.append("subject does not resolve inside the bundle")
    eff = o.get("effectiveDateTime")
    if not isinstance(eff, str) or not DATE_TIME.match(eff):
        errs.append(f"effectiveDateTime {eff!r} is not a FHIR dateTime")
    vq = o.get("valueQuantity")
    if not isinstance(vq, dict):
        errs.append("valueQuantity missing")
    else:
        if not isinstance(vq.get("value"), int | float) or isinstance(vq.get("value"), bool):
            errs.append("valueQuantity.value must be a number")
        elif vq["value"] != vq["value"]:
            errs.append("valueQuantity.value is NaN")
        if vq.get("system") != UCUM_SYSTEM:
            errs.append("valueQuantity.system must be UCUM")
        if not isinstance(vq.get("code"), str) or not UCUM_CODE.match(vq["code"]):
            errs.append(f"valueQuantity.code {vq.get('code')!r} is not a UCUM code")
        if not isinstance(vq.get("unit"), str):
            errs.append("valueQuantity.unit missing")
    allowed = {"resourceType", "id", "status", "category", "code", "subject", "effectiveDateTime",
               "valueQuantity", "interpretation", "note", "method", "device", "referenceRange"}  # fmt: skip
    extra = set(o) - allowed
    if extra:
        errs.append(f"unexpected elements {sorted(extra)}")
    return errs


def validate_bundle(b: dict) -> list[str]:
    errs = []
    if b.get("resourceType") != "Bundle" or b.get("type") != "collection":
        errs.append("not a collection Bundle")
    urls = {e.get("fullUrl") for e in b.get("entry", [])}
    for i, e in enumerate(b.get("entry", [])):
        r = e.get("resource", {})
        if not str(e.get("fullUrl", "")).startswith("urn:uuid:"):
            errs.append(f"entry {i}: fullUrl")
        if r.get("resourceType") == "Observation":
            errs += [f"entry {i}: {x}" for x in validate_observation(r, urls)]
    if len(urls) != len(b.get("entry", [])):
        errs.append("duplicate fullUrl")
    return errs


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("fhir"))
    s.add_patient("HA-001", birth_year=1955, sex="f", height_m=1.59, weight_kg=73)
    for i, t in enumerate(["HA-001-Test5-Trial1", "HA-001-Test5-Trial2"]):
        import_recording(s, LAB / t / f"{t}.poise", date=f"2026-0{i + 1}-03T10:30:00+00:00")
    import_recording(s, TUG, patient="HA-001", tests=["tug"], date="2026-03-01", reassign=True)
    import_recording(
        s, WALK6, patient="HA-001", tests=["walk-6min"], date="2026-03-02", reassign=True
    )
    yield s
    s.close()


def test_bundle_validates_and_uses_loinc_and_ucum(store, tmp_path):
    b = observation_bundle(store, "HA-001")
    assert validate_bundle(b) == []
    obs = [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Observation"]
    tug = [o for o in obs if any(c["code"] == LOINC["tug_time_s"][0] for c in o["code"]["coding"])]
    assert len(tug) == 1
    assert tug[0]["valueQuantity"]["code"] == "s"
    by_test = {t: x for x in store.sessions("HA-001") for t in x.results}
    stored = by_test["tug"].results["tug"]["total_time_s"]
    assert tug[0]["valueQuantity"]["value"] == pytest.approx(stored)
    speeds = [o for o in obs if o["code"]["text"] == "Gait speed"]
    assert {o["valueQuantity"]["code"] for o in speeds} == {"m/s"}
    assert speeds[0]["effectiveDateTime"] == "2026-01-03T10:30:00Z"
    assert tug[0]["effectiveDateTime"] == "2026-03-01"
    # six-minute walk distance: LOINC 64098-7 in metres; gait speed has no LOINC coding
    walk = [o for o in obs if any(c["code"] == "64098-7" for c in o["code"]["coding"])]
    assert len(walk) == 1 and walk[0]["valueQuantity"]["code"] == "m"
    assert walk[0]["valueQuantity"]["value"] == pytest.approx(
        by_test["walk-6min"].results["walk-6min"]["distance_m"]
    )
    for o in speeds:
        assert {c["system"] for c in o["code"]["coding"]} == {POISE_SYSTEM}
    patient = b["entry"][0]["resource"]
    assert patient["resourceType"] == "Patient" and patient["identifier"][0]["value"] == "HA-001"
    assert "name" not in patient  # pseudonymous
    out = tmp_path / "b.json"
    n = write_bundle(store, "HA-001", str(out))
    assert n == len(obs) and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert validate_bundle(json.loads(out.read_text())) == []


@pytest.mark.parametrize(
    "mangle",
    [
        lambda o: o.pop("status"),
        lambda o: o["code"]["coding"][0].pop("system"),
        lambda o: o.__setitem__("subject", {"reference": "Patient/nobody"}),
        lambda o: o.__setitem__("effectiveDateTime", "2026-01-03T10:30:00"),  # no zone
        lambda o: o["valueQuantity"].__setitem__("system", "http://example.org/units"),
        lambda o: o["valueQuantity"].__setitem__("code", "m per s"),
        lambda o: o["valueQuantity"].__setitem__("value", "1.0"),
    ],
)
def test_validator_rejects_broken_observations(store, mangle):
    b = copy.deepcopy(observation_bundle(store, "HA-001"))
    obs = next(e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Observation")
    mangle(obs)
    assert validate_bundle(b) != []
