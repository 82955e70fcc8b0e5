"""Export a patient's results as a FHIR R4 ``Bundle`` of ``Observation`` resources (JSON).

One Observation per measured value of :data:`poise.progress.METRICS` per session, plus the
pseudonymous ``Patient`` they refer to, in a ``collection`` Bundle. Each Observation has
``status`` ``final``, ``category`` ``exam`` (HL7 observation-category), a ``code`` with a
LOINC coding where a LOINC term exists (checked on loinc.org) and always a Poise coding,
``subject`` (the Patient entry's ``urn:uuid``), ``effectiveDateTime`` (the session date;
stored times are UTC), ``valueQuantity`` with a UCUM unit, an ``interpretation`` (N/A
from the fall-risk status when the value was rated) and a ``note`` naming the threshold's
source and the software.

LOINC codes used (each confirmed in a source; see docs/store-and-reports.md):

* 89423-8 "Time to rise from chair, walk 10 feet and back, and return to sitting [TUG]"
  (s): loinc.org, member of the CDC TUG panel 89422-0, property Time, method TUG;
* 66247-8 "Sit to stand frequency in 30 seconds" ({#}/(30.s)): loinc.org, property NRat,
  time 30S, example UCUM unit ``{#}/(30.s)``, citing the CDC STEADI 30-s chair stand;
* 64098-7 six-minute walk distance (m): fixed as ``Observation.code`` (with UCUM m) by the
  Danish municipalities' FHIR profile ``KLToolsCare6minwalk`` (HL7 Denmark, KL-dk-tools)
  and listed for the six-minute walk distance in Apple HealthKit-to-FHIR mappings.

No LOINC term was confirmed for instrumented gait speed (the two speed terms found are the
NIH Toolbox 4-m walk score 83172-7, tied to that protocol, and 41956-4, a 24-hour maximum),
five times sit-to-stand, tandem time, sway area, deceleration index or stride-time SD; those
carry only the Poise code (``POISE_SYSTEM``), which a clinic can map in its terminology
server. The codes are the registry measures' ``loinc`` (:mod:`analysis.clinical.registry`);
add a confirmed code there to change that.

References
----------
HL7 FHIR R4 (4.0.1): Observation, Bundle, Patient resources, https://hl7.org/fhir/R4/.
UCUM: The Unified Code for Units of Measure, https://ucum.org/.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from typing import Any

from poise.progress import METRICS, session_metrics

__all__ = ["LOINC", "POISE_SYSTEM", "UCUM", "observation_bundle", "write_bundle"]

LOINC_SYSTEM = "http://loinc.org"
UCUM_SYSTEM = "http://unitsofmeasure.org"
POISE_SYSTEM = "https://poise.invalid/fhir/CodeSystem/metric"
#: metric key -> (LOINC code, display, UCUM code to use with it): the registry measures'
#: ``loinc`` (add a confirmed code to the measure to change this).
LOINC: dict[str, tuple[str, str, str]] = {
    m.key: (m.loinc[0], m.loinc[1], m.ucum or m.unit) for m in METRICS if m.loinc is not None
}
#: Poise unit -> UCUM code
UCUM = {
    "s": "s",
    "m/s": "m/s",
    "stands": "{#}/(30.s)",
    "m": "m",
    "ms": "ms",
    "m^2/s^4": "m2/s4",
    "1": "1",
    "stage": "{stage}",
}
_INTERP = {
    "normal": ("N", "Normal"),
    "elevated": ("A", "Abnormal"),
    "at_risk": ("A", "Abnormal"),
}


def _effective(date: str) -> str:
    """FHIR dateTime: a date as is; a date-time gets a time zone (stored times are UTC)."""
    s = str(date)
    if "T" not in s:
        return s[:10]
    t = _dt.datetime.fromisoformat(s)
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    return t.isoformat().replace("+00:00", "Z")


def observation_bundle(store: Any, patient: Any) -> dict[str, Any]:
    """The FHIR R4 collection Bundle of a patient's results (a JSON-ready dict)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        software = f"Poise {version('poise')}"
    except PackageNotFoundError:  # pragma: no cover
        software = "Poise"
    p = store.patient(patient)
    patient_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'poise:patient:{p.pseudonym}')}"
    pat: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": "https://poise.invalid/fhir/pseudonym", "value": p.pseudonym}],
    }
    if p.sex in ("f", "m"):
        pat["gender"] = {"f": "female", "m": "male"}[p.sex]
    if p.birth_year:
        pat["birthDate"] = f"{int(p.birth_year):04d}"
    entries = [{"fullUrl": patient_url, "resource": pat}]
    for s in store.sessions(p):
        metrics = session_metrics(s.results, s.fall_risk)
        factors = {f.get("key"): f for f in (s.fall_risk or {}).get("factors") or []}
        for m in METRICS:
            if m.key not in metrics:
                continue
            value = float(metrics[m.key]["value"])
            coding = []
            unit_code = m.ucum or UCUM.get(m.unit, m.unit)
            if m.key in LOINC:
                code, display, unit_code = LOINC[m.key]
                coding.append({"system": LOINC_SYSTEM, "code": code, "display": display})
            coding.append({"system": POISE_SYSTEM, "code": m.key, "display": m.label})
            obs: dict[str, Any] = {
                "resourceType": "Observation",
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "exam",
                                "display": "Exam",
                            }
                        ]
                    }
                ],
                "code": {"coding": coding, "text": m.label},
                "subject": {"reference": patient_url},
                "effectiveDateTime": _effective(s.date),
                "valueQuantity": {
                    "value": round(value, 6),
                    "unit": m.unit if m.unit not in ("1",) else "1",
                    "system": UCUM_SYSTEM,
                    "code": unit_code,
                },
                "method": {"text": f"instrumented {m.test} (wearable IMU, {software})"},
            }
            st = metrics[m.key].get("status")
            if st in _INTERP:
                c, d = _INTERP[st]
                obs["interpretation"] = [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                                "code": c,
                                "display": d,
                            }
                        ],
                        "text": st.replace("_", " "),
                    }
                ]
            src = (factors.get(m.key) or {}).get("source")
            note = f"Poise session {s.id} ({s.kind})"
            if src:
                note += f"; threshold source: {src}"
            obs["note"] = [{"text": note}]
            oid = uuid.uuid5(uuid.NAMESPACE_URL, f"poise:obs:{p.pseudonym}:{s.id}:{m.key}")
            entries.append({"fullUrl": f"urn:uuid:{oid}", "resource": obs})
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _dt.datetime.now(_dt.UTC)
        .replace(microsecond=0)
        .isoformat()
        .replace("+00:00", "Z"),
        "entry": entries,
    }


def write_bundle(
    store: Any, patient: Any, path: str, *, inputs: tuple = (), force: bool = True
) -> int:
    """Write the bundle as JSON; returns the number of Observations.

    Written by :func:`poise.outputs.write_atomically` (see
    :func:`poise.reports.write_results_csv`).
    """
    from poise.outputs import write_atomically

    b = observation_bundle(store, patient)
    with write_atomically(path, "w", inputs=inputs, force=force, encoding="utf-8") as fh:
        json.dump(b, fh, indent=1, ensure_ascii=False)
    return sum(e["resource"]["resourceType"] == "Observation" for e in b["entry"])
