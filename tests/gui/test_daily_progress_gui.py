"""A home recording in the patient's progress and PDF: imported through the chunked reader
(poise.daily), shown as the "Daily life" table, printed in the progress report.

Screenshots: tests/artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("PySide6.QtPdf")

from gui.patients import PatientsPage  # noqa: E402
from poise import daily  # noqa: E402
from sensors.daily_life import DailyLife, write_recording  # noqa: E402


def _progress_helpers():
    """The PDF reading helpers of test_progress_gui (tests are no package: by file path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_progress_gui_helpers", Path(__file__).with_name("test_progress_gui.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_h = _progress_helpers()
SHOTS, read_pdf, squash, table_cells = _h.SHOTS, _h.read_pdf, _h.squash, _h.table_cells

KW = {"day_s": 5400.0, "wear_start_s": 300.0, "wear_end_s": 5100.0, "outings_per_hour": 8}


@pytest.fixture(scope="module")
def home_recording(tmp_path_factory) -> tuple[Path, dict]:
    dl = DailyLife(100.0, seed=7)
    path = tmp_path_factory.mktemp("home") / "home.poise"
    write_recording(path, dl.blocks(0, **KW), start_epoch_s=1.8e9)
    return path, dl.plan(0, **KW)[1]


def test_a_home_recording_is_read_in_pieces_and_shown_as_daily_life(
    home_recording, qtbot, tmp_path, monkeypatch
):
    path, truth = home_recording
    # the store takes the chunked path for files of at least LONG_FILE_BYTES (24 MB: six
    # hours at 100 Hz); this 1.5-h file is made to count as one
    monkeypatch.setattr(daily, "LONG_FILE_BYTES", 1)
    read: list[str] = []
    import sensors.longread as longread

    real_open = longread.open_recording
    monkeypatch.setattr(longread, "open_recording", lambda p: read.append(str(p)) or real_open(p))
    page = PatientsPage(data_dir=tmp_path / "data")
    qtbot.addWidget(page)
    page.resize(1366, 860)
    page.show()
    try:
        page.add_patient("HOME-1", birth_year=1950, sex="m", height_m=1.70, weight_kg=70)
        page.import_recording(path, patient="HOME-1")
        assert read  # the chunked reader, not a whole-file load
        (s,) = page.store.sessions("HOME-1")
        assert s.tests == [daily.DAILY_TEST]
        res = s.results[daily.DAILY_TEST]
        assert "bouts" not in res and res["week"]["n_bouts"] == len(truth["walks"]) > 5
        assert res["week"]["steps"] == pytest.approx(
            sum(w["n_steps"] for w in truth["walks"]), rel=0.03
        )
        page.tabs.setCurrentWidget(page.progress_view)
        qtbot.wait(50)
        view = page.progress_view
        assert view.daily.isVisible() and view.daily_label.text() == "Daily life"
        cells = table_cells(view.daily)
        assert len(cells) == 1 and cells[0][2] == f"{res['week']['walking_min']:.1f}"
        assert cells[0][3] == str(res["week"]["steps"]) and "1 d, 0 valid" in cells[0][0]
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.grab().save(str(SHOTS / "patients_progress_daily_life.png"))

        pdf = tmp_path / "progress.pdf"
        page.export_pdf("progress", pdf, "a4")
        _sizes, images, text = read_pdf(pdf)
        for i, img in enumerate(images):
            img.save(str(SHOTS / f"progress_report_daily_life_page{i + 1}.png"))
        flat = squash(text)
        assert "Dailylife" in flat and "Mobilise-D" in flat
        for cell in cells[0]:
            assert squash(cell) in flat, f"GUI value {cell!r} missing from the PDF"
        for row in daily.daily_rows(res):  # the latest recording, per day
            for cell in row:
                assert squash(cell) in flat, f"day value {cell!r} missing from the PDF"
    finally:
        page.close_store()
