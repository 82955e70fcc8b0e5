"""Patients page: create a patient, add three sessions from the sample recordings, see the
progress plots, export a PDF and a FHIR bundle; the PDF renders and holds the GUI's values.

The written PDF is opened with QtPdf (``QPdfDocument``): every page is rasterised to an
image (saved as a screenshot, checked to hold ink, the normative zones and the plot line)
and its text extracted (``getAllText``) to check that every cell of the GUI's progress
table, fall-risk table and session list is in the report.

Screenshots: tests/artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
QtPdf = pytest.importorskip("PySide6.QtPdf")

from PySide6.QtCore import QSize  # noqa: E402
from PySide6.QtGui import QColor, QImage, QPainter  # noqa: E402

from gui.patients import PatientsPage  # noqa: E402
from gui.report_pdf import STATUS_COLOURS, write_pdf  # noqa: E402
from poise.service import import_recording  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "recordings" / "mobgap-lab"
TRIALS = ["HA-001-Test11-Trial1", "HA-001-Test5-Trial1", "HA-001-Test5-Trial2"]
SHOTS = ROOT / "tests" / "artifacts" / "screenshots"
A4_PT, LETTER_PT = (595, 842), (612, 792)


# ----------------------------------------------------------------------------- the PDF
def read_pdf(path: Path, dpi: float = 100.0) -> tuple[list[tuple[float, float]], list[QImage], str]:
    """(page sizes in points, the pages rasterised by QtPdf, the text of all pages)."""
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF"), "not a complete PDF"
    doc = QtPdf.QPdfDocument(None)
    assert doc.load(str(path)) == QtPdf.QPdfDocument.Error.None_, f"QtPdf cannot open {path}"
    sizes, images, text = [], [], []
    for i in range(doc.pageCount()):
        pt = doc.pagePointSize(i)
        sizes.append((pt.width(), pt.height()))
        px = QSize(round(pt.width() * dpi / 72), round(pt.height() * dpi / 72))
        page = doc.render(i, px)  # ARGB32, transparent where nothing is painted
        assert not page.isNull() and page.size() == px
        img = QImage(px, QImage.Format.Format_RGB32)
        img.fill(QColor("white"))  # on paper
        painter = QPainter(img)
        painter.drawImage(0, 0, page)
        painter.end()
        images.append(img)
        text.append(doc.getAllText(i).text())
    doc.close()
    return sizes, images, "\n".join(text)


def pixels(img: QImage) -> np.ndarray:
    """(h, w, 3) RGB array of an RGB32 image."""
    buf = np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes())
    arr = buf.reshape(img.height(), img.bytesPerLine())[:, : img.width() * 4]
    return arr.reshape(img.height(), img.width(), 4)[:, :, 2::-1]  # BGRA -> RGB


def ink_fraction(img: QImage) -> float:
    """Share of pixels that are not (near) white."""
    return float((pixels(img).min(axis=2) < 235).mean())


def has_colour(img: QImage, rgb: tuple[int, int, int], tol: int = 12, min_px: int = 50) -> bool:
    """At least ``min_px`` pixels within ``tol`` of ``rgb``."""
    d = np.abs(pixels(img).astype(int) - np.array(rgb)).max(axis=2)
    return int((d <= tol).sum()) >= min_px


def zone_rgb(status: str, alpha: int = 45) -> tuple[int, int, int]:
    """A normative zone's colour as painted on white (``_ZONE_ALPHA``)."""
    c = STATUS_COLOURS[status]
    return tuple(round(255 + (v - 255) * alpha / 255) for v in (c.red(), c.green(), c.blue()))


def squash(s: str) -> str:
    """Without white space (lines and cells wrap differently in the PDF than on screen)."""
    return "".join(s.split()).replace("\ufb01", "fi").replace("\ufb02", "fl")


def table_cells(t) -> list[list[str]]:
    return [
        [t.item(r, c).text() if t.item(r, c) else "" for c in range(t.columnCount())]
        for r in range(t.rowCount())
    ]


# ----------------------------------------------------------------------------- the flow
@pytest.fixture
def page(qtbot, tmp_path):
    p = PatientsPage(data_dir=tmp_path / "data")
    qtbot.addWidget(p)
    p.resize(1366, 860)
    p.show()
    yield p
    p.close_store()


def test_store_opens_only_when_shown(qtbot, tmp_path):
    p = PatientsPage(data_dir=tmp_path / "lazy")
    qtbot.addWidget(p)
    assert not (tmp_path / "lazy").exists()
    p.show()
    assert (tmp_path / "lazy" / "poise.db").exists()
    p.close_store()


def test_patient_sessions_progress_pdf_and_fhir(page, qtbot, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert page.error is None
    page.add_patient("HA-001", birth_year=1955, sex="f", height_m=1.59, weight_kg=73)
    for i, trial in enumerate(TRIALS):  # pseudonym HA-001 in each header
        page.import_recording(LAB / trial / f"{trial}.poise", date=f"2026-0{i + 1}-15")
    assert page.sessions.rowCount() == 3
    page.grab().save(str(SHOTS / "patients_sessions.png"))

    page.tabs.setCurrentWidget(page.progress_view)
    qtbot.wait(50)
    view = page.progress_view
    assert "gait_speed_mps" in view.plots  # a plot per measured metric
    plot = view.plots["gait_speed_mps"]
    curves = plot.getPlotItem().listDataItems()
    ys = list(curves[0].yData)
    series = view.progress.get("gait_speed_mps")
    assert ys == pytest.approx([v for v in series.values if v is not None])
    shown = view.summary_texts()
    assert shown and shown[0][0] == "Gait speed"
    assert shown[0][2] == series.format(series.values[-1])
    page.grab().save(str(SHOTS / "patients_progress.png"))

    # progress report PDF (A4), read back with QtPdf: the GUI's values, rendered pages
    pdf = tmp_path / "progress.pdf"
    page.export_pdf("progress", pdf, "a4")
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600
    sizes, images, text = read_pdf(pdf)
    assert len(images) >= 1 and all(sz == pytest.approx(A4_PT, abs=1) for sz in sizes)
    flat = squash(text)
    assert "HA-001" in text
    gui_cells = shown + table_cells(view.factors)
    for row in gui_cells:
        for cell in row:
            assert squash(cell) in flat, f"GUI value {cell!r} missing from the PDF"
    for i, img in enumerate(images):
        img.save(str(SHOTS / f"progress_report_a4_page{i + 1}.png"))
        assert ink_fraction(img) > 0.002, f"page {i + 1} is blank"
    first = images[0]
    assert ink_fraction(first) > 0.03  # text, tables and plots
    assert has_colour(first, (31, 119, 180))  # the patient's values (plot line and points)
    for status in ("elevated", "at_risk", "normal"):  # 0.89-0.98 m/s spans all three zones
        assert has_colour(first, zone_rgb(status), tol=6, min_px=500), status

    # session report on Letter: the session row of the GUI and its fall-risk values
    page.sessions.selectRow(0)
    pdf2 = tmp_path / "session.pdf"
    page.export_pdf("session", pdf2, "letter")
    sizes2, images2, text2 = read_pdf(pdf2)
    assert all(sz == pytest.approx(LETTER_PT, abs=1) for sz in sizes2)
    flat2 = squash(text2)
    for cell in table_cells(page.sessions)[0][:4]:  # date, kind, tests, fall-risk level
        assert squash(cell) in flat2, f"GUI value {cell!r} missing from the session PDF"
    for f in page.store.sessions("HA-001")[0].fall_risk["factors"]:
        assert squash(f["label"]) in flat2 and f"{f['value']:.2f}" in text2
    for i, img in enumerate(images2):
        img.save(str(SHOTS / f"session_report_letter_page{i + 1}.png"))
        assert ink_fraction(img) > 0.002, f"page {i + 1} is blank"
    assert has_colour(images2[0], zone_rgb("elevated", 40), tol=6, min_px=500)  # status row

    # FHIR bundle of the same sessions
    out = tmp_path / "bundle.json"
    n_obs = page.export("fhir", out)
    bundle = json.loads(out.read_text())
    obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert n_obs == len(obs) >= 3
    speeds = [o["valueQuantity"]["value"] for o in obs if o["code"]["text"] == "Gait speed"]
    assert speeds == pytest.approx([v for v in series.values if v is not None])

    # delete the patient: list empty, data gone
    files = [Path(s.recording_path) for s in page.store.sessions("HA-001")]
    page.delete_patient()
    assert page.list.count() == 0 and not any(f.exists() for f in files)


def test_damaged_store_is_reported_not_overwritten(qtbot, tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "poise.db").write_bytes(b"garbage" * 50)
    p = PatientsPage(data_dir=d)
    qtbot.addWidget(p)
    p.show()
    assert p.store is None and "not a Poise database" in p.message.text()
    assert not p.add_btn.isEnabled()
    assert (d / "poise.db").read_bytes() == b"garbage" * 50


def test_pdf_page_sizes(qtbot, tmp_path):
    words = " ".join(f"w{i}" for i in range(2500))  # long: several pages
    rep = {
        "title": "T",
        "subtitle": "s",
        "generated_utc": "2026-01-01T00:00:00",
        "blocks": [{"type": "paragraph", "text": words}],
    }
    for name, size in (("a4", A4_PT), ("letter", LETTER_PT)):
        n = write_pdf(rep, tmp_path / f"{name}.pdf", name)
        sizes, images, text = read_pdf(tmp_path / f"{name}.pdf", dpi=30)
        assert n == len(sizes) >= 2 and all(sz == pytest.approx(size, abs=1) for sz in sizes)
        found = [w for w in text.split() if w.startswith("w")]
        assert found == [f"w{i}" for i in range(2500)]  # nothing lost or doubled at page ends
        for img in images:  # nothing runs into the bottom margin (below the footer)
            strip = img.copy(0, img.height() - round(15 * 30 / 72), img.width(), 6)
            assert ink_fraction(strip) == 0.0
        ink = [ink_fraction(img) for img in images]
        assert min(ink[:-1]) > 0.05 and ink[-1] > 0.001, ink  # full pages, then the rest
    with pytest.raises(ValueError, match="A4 or Letter"):
        write_pdf(rep, tmp_path / "x.pdf", "tabloid")


def test_live_session_recording_added_to_selected_patient(qtbot, tmp_path):
    """Selecting a patient sets the live session's demographics; its recording is imported."""
    from poise.session import Session
    from poise.sources import ScriptedSource

    session = Session(data_dir=tmp_path / "data")
    page = PatientsPage(data_dir=tmp_path / "data", session=session)
    qtbot.addWidget(page)
    page.show()
    page.add_patient("P-5", birth_year=1950, sex="f", height_m=1.6, weight_kg=60)
    assert session.demographics["sex"] == "f" and session.demographics["age"] >= 70
    session.set_source(ScriptedSource(1, scenario="walk", time_scale=10.0))
    qtbot.waitUntil(lambda: session.recording_path is not None, timeout=5000)
    with pytest.raises(Exception, match="still open"):
        page.add_last_recording()
    qtbot.wait(1500)  # ~15 s of walking
    session.stop()
    s = page.add_last_recording()
    assert page.store.get_patient(s.patient_id).pseudonym == "P-5"
    assert page.sessions.rowCount() == 1 and s.recording_owned
    session.close()
    page.close_store()


def test_session_pdf_holds_the_results_page_values(qtbot, tmp_path):
    """The values the therapist's Results page shows for a test are in the session PDF.

    The two format numbers differently (the page 2 decimals, the report per unit: 1 for
    seconds, 2 for metres), so each number is compared within the coarser rounding.
    """
    import re

    from gui.results_page import ResultsPage
    from poise.reports import session_report
    from poise.session import Session
    from poise.store import Store

    store = Store(tmp_path / "data")
    store.add_patient("P-9", birth_year=1950, sex="f", height_m=1.6, weight_kg=60)
    rec = ROOT / "recordings" / "scenarios" / "tug.poise"
    s = import_recording(store, rec, patient="P-9", tests=["tug"], date="2026-05-01", reassign=True)
    session = Session(data_dir=tmp_path / "data")
    page = ResultsPage(session)
    qtbot.addWidget(page)
    res = s.results["tug"]
    page.show_result(
        {
            "test": "tug",
            "title": "Timed Up and Go",
            "start_s": 0.0,
            "end_s": 20.0,
            "result": res,
            "fall_risk": s.fall_risk,
        }  # fmt: skip
    )
    pdf = tmp_path / "tug.pdf"
    write_pdf(session_report(s, store.patient("P-9")), pdf, "a4")
    _sizes, images, text = read_pdf(pdf)
    images[0].save(str(SHOTS / "session_report_tug_a4_page1.png"))
    flat = " ".join(text.split())
    checked = 0
    for name, value, _unit in table_cells(page.measures):
        try:
            v = float(value)
        except ValueError:
            continue
        m = re.search(re.escape(name) + r" (-?\d+(?:\.\d+)?)", flat)
        if m is None:
            continue  # not a headline value of the report
        shown = m.group(1)
        dec = len(shown.split(".")[1]) if "." in shown else 0
        assert abs(float(shown) - v) <= 0.5 * 10**-dec + 0.005 * max(1.0, abs(v)), (name, v, shown)
        checked += 1
    assert checked >= 3, flat[:400]
    assert "Total time" in flat and f"{res['total_time_s']:.1f}" in flat
    for label, value, *_ in table_cells(page.factors):  # fall-risk factor values
        assert squash(label) in squash(text)
        num = value.split()[0]
        assert float(num) == pytest.approx(
            float(re.search(re.escape(label) + r" (-?\d+(?:\.\d+)?)", flat).group(1)), abs=0.051
        )
    session.close()
    store.close()


def test_session_pdf_keeps_its_small_print_cites_literature_and_norm_groups_issue17_item15(
    qtbot, tmp_path
):
    """Rule, sources and disclaimer stay with the fall-risk table: whatever comes before
    pushes the section down, no page holds only small print (two disclaimer lines were
    alone on page 2). Sources cite the literature, a norm says its age group."""
    from poise.reports import session_report
    from poise.store import Store

    store = Store(tmp_path / "data")
    store.add_patient("P-9", birth_year=1950, sex="f", height_m=1.6, weight_kg=60)
    rec = ROOT / "recordings" / "scenarios" / "walk-2min.poise"
    s = import_recording(store, rec, patient="P-9", tests=["walk-2min"], reassign=True)
    fr = s.fall_risk
    assert {f["key"] for f in fr["factors"]} >= {"gait_speed_mps"}
    small = [fr["disclaimer"], fr["rule"]]
    for k in range(0, 43):  # more and more rows before the fall-risk section
        res = {f"t{j:02d}": {f"value_{i}_s": float(i) for i in range(14)} for j in range(k // 14)}
        res["zz"] = {f"value_{i}_s": float(i) for i in range(k % 14)}
        every = {**s.results, **res}
        rep = session_report(
            {**s.to_dict(), "tests": sorted(every), "results": every}, store.patient("P-9")
        )
        write_pdf(rep, tmp_path / "s.pdf", "a4")
        _sizes, _images, text = read_pdf(tmp_path / "s.pdf", dpi=20)
        pages = text.split("Poise session report · P-9")[1:]  # the footer opens each page
        for n, page_text in enumerate(pages[1:], 2):
            body = squash(page_text.split("\n", 1)[1] if "\n" in page_text else page_text)
            for part in small:
                body = body.replace(squash(part), "").replace("Rule:", "")
            assert len(body) > 40, f"{k} rows before: page {n} holds only small print"
    flat = squash(text)
    assert "GUIDE.md" not in text and "designguide" not in flat.lower()
    assert squash("Kyrdalen") in flat  # the 1.0 m/s threshold's source
    tug = import_recording(
        store,
        ROOT / "recordings" / "scenarios" / "tug.poise",
        patient="P-9",
        tests=["tug"],
        reassign=True,
    )
    write_pdf(session_report(tug, store.patient("P-9")), tmp_path / "t.pdf", "a4")
    _sizes, images, text = read_pdf(tmp_path / "t.pdf")
    images[0].save(str(SHOTS / "session_report_tug_norm_group_a4_page1.png"))
    assert squash("Norm mean (70-79 y) 9.2 s") in squash(text)
    store.close()
