"""Patients page: create a patient, add three sessions from the sample recordings, see the
progress plots, export a PDF and a FHIR bundle; the PDF renders and holds the GUI's values.

This PySide6 build has no QtPdf and the machine no ``pdftoppm``, so a page is rasterised by
painting the same layout (``gui.report_pdf.render_pages``, the routine ``write_pdf`` uses)
into an image; the PDF itself is checked by parsing it: page count, and the text of its
content streams decoded through the fonts' ToUnicode maps must contain every value the
GUI's progress table shows.

Screenshots: tests/artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import json
import re
import stat
import zlib
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from gui.patients import PatientsPage  # noqa: E402
from gui.report_pdf import render_pages, write_pdf  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "recordings" / "mobgap-lab"
TRIALS = ["HA-001-Test11-Trial1", "HA-001-Test5-Trial1", "HA-001-Test5-Trial2"]
SHOTS = ROOT / "tests" / "artifacts" / "screenshots"


# ----------------------------------------------------------------------------- PDF text
def _objects(data: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    objs = {}
    for m in re.finditer(rb"(\d+) 0 obj(.*?)endobj", data, re.S):
        body = m.group(2)
        sm = re.search(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S)
        stream = None
        if sm:
            raw = sm.group(1)
            try:
                stream = zlib.decompress(raw)
            except zlib.error:
                stream = raw
            body = body[: sm.start()]
        objs[int(m.group(1))] = (body, stream)
    return objs


def _cmap(text: bytes) -> dict[int, str]:
    out: dict[int, str] = {}

    def uni(h: bytes) -> str:
        return bytes.fromhex(h.decode()).decode("utf-16-be", "replace")

    for block in re.findall(rb"beginbfchar(.*?)endbfchar", text, re.S):
        for a, b in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            out[int(a, 16)] = uni(b)
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", text, re.S):
        for a, b, rest in re.findall(
            rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(\[[^\]]*\]|<[0-9A-Fa-f]+>)", block
        ):
            lo, hi = int(a, 16), int(b, 16)
            if rest.startswith(b"["):
                for i, h in enumerate(re.findall(rb"<([0-9A-Fa-f]+)>", rest)):
                    out[lo + i] = uni(h)
            else:
                start = int(rest[1:-1], 16)
                for i in range(hi - lo + 1):
                    out[lo + i] = chr(start + i)
    return out


def pdf_text(path: Path) -> tuple[int, str]:
    """(pages, text of every page) of a Qt-written PDF."""
    data = path.read_bytes()
    assert data.startswith(b"%PDF-"), "not a PDF"
    assert data.rstrip().endswith(b"%%EOF"), "PDF not finished"
    objs = _objects(data)
    pages = [k for k, (b, _s) in objs.items() if re.search(rb"/Type\s*/Page\b", b)]
    fonts: dict[bytes, dict[int, str]] = {}
    for _k, (body, _s) in objs.items():
        for name, ref in re.findall(rb"/(F\d+)\s+(\d+) 0 R", body):
            fbody = objs.get(int(ref), (b"", None))[0]
            tu = re.search(rb"/ToUnicode\s+(\d+) 0 R", fbody)
            if tu and objs.get(int(tu.group(1)), (b"", None))[1]:
                fonts[name] = _cmap(objs[int(tu.group(1))][1])
    text = []
    for _k, (_b, s) in sorted(objs.items()):
        if not s or b"BT" not in s:
            continue
        font: dict[int, str] = {}
        for m in re.finditer(rb"/(F\d+)\s+[\d.]+\s+Tf|<([0-9A-Fa-f]+)>\s*Tj", s):
            if m.group(1):
                font = fonts.get(m.group(1), {})
            else:
                h = m.group(2)
                for i in range(0, len(h), 4):
                    text.append(font.get(int(h[i : i + 4], 16), "?"))
    return len(pages), "".join(text)


def squash(s: str) -> str:
    """Without white space; typographic ligatures (Qt shapes "fi" as one glyph) undone."""
    return "".join(s.split()).replace("\ufb01", "fi").replace("\ufb02", "fl")


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

    # progress report PDF: same numbers as the GUI
    pdf = tmp_path / "progress.pdf"
    report = page.export_pdf("progress", pdf, "a4")
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600
    n_pages, text = pdf_text(pdf)
    images = render_pages(report, "a4", dpi=100)
    assert n_pages == len(images) >= 1
    flat = squash(text)
    for row in shown:
        for cell in row[:4]:
            assert squash(cell) in flat, f"GUI value {cell!r} missing from the PDF"
    assert "HA-001" in text
    # the page renders: a white A4 page with ink and the plot's colours
    img = images[0]
    assert abs(img.width() - 210 / 25.4 * 100) <= 1 and abs(img.height() - 297 / 25.4 * 100) <= 1
    img.save(str(SHOTS / "progress_report_page1.png"))
    colours = {
        img.pixelColor(x, y).name()
        for x in range(0, img.width(), 7)
        for y in range(0, img.height(), 7)
    }
    assert len(colours) > 20  # text, zones, line: not a blank page

    # session report on Letter
    page.sessions.selectRow(0)
    pdf2 = tmp_path / "session.pdf"
    rep2 = page.export_pdf("session", pdf2, "letter")
    n2, text2 = pdf_text(pdf2)
    assert n2 == len(render_pages(rep2, "letter", dpi=50))
    assert squash(page.sessions.item(0, 0).text()) in squash(text2)  # the session date
    gs = next(f for f in page.store.sessions("HA-001")[0].fall_risk["factors"])
    assert f"{gs['value']:.2f}" in text2
    render_pages(rep2, "letter", dpi=100)[0].save(str(SHOTS / "session_report_page1.png"))

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
    rep = {
        "title": "T",
        "subtitle": "s",
        "generated_utc": "2026-01-01T00:00:00",
        "blocks": [{"type": "paragraph", "text": "x " * 4000}],  # long: several pages
    }
    a4 = write_pdf(rep, tmp_path / "a.pdf", "a4")
    letter = write_pdf(rep, tmp_path / "l.pdf", "letter")
    assert a4 >= 1 and letter >= 1
    assert pdf_text(tmp_path / "a.pdf")[0] == a4
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
