"""``poise report SESSION_OR_RECORDING --pdf OUT.pdf``: a session or progress report as PDF.

``SESSION_OR_RECORDING`` is a session id of the store, a ``.poise`` recording (analysed
now; the patient's data come from the store when it knows the pseudonym in the header),
or ``--progress PATIENT`` for a patient's progress report. ``--json`` writes the report's
content (plain data) instead of, or as well as, the PDF.

An existing output is replaced only with ``--force``, and never when it is one of the
inputs (the recording, the database; hard and symbolic links included). Outputs are
written to a temporary file and renamed into place; a new file is user-only (0o600), a
replaced one keeps its mode (:mod:`poise.outputs`).

The PDF is drawn with Qt, in :mod:`gui`: the ``poise`` console script registers the writer
(:func:`gui.commands.register` sets the ``write_pdf`` default, a :data:`PdfWriter`);
``python -m poise report --pdf`` says so and writes nothing.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from poise.commands import add_data_dir
from poise.outputs import check_outputs, write_atomically


class PdfWriter(Protocol):
    """Draws a report's content (:func:`build_report`) as a PDF; returns the page count."""

    def __call__(
        self, report: dict, path: str, page: str, *, inputs: Sequence[Path], force: bool
    ) -> int: ...


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` sub-command."""
    p = subparsers.add_parser("report", help="session or progress report (PDF)")
    p.add_argument("target", nargs="?", metavar="SESSION_OR_RECORDING")
    p.add_argument("--progress", metavar="PATIENT", help="progress report of this patient")
    p.add_argument("--pdf", metavar="OUT.pdf", help="write the PDF here")
    p.add_argument("--json", metavar="OUT.json", help="write the report content as JSON")
    p.add_argument("--page", choices=("a4", "letter"), default="a4")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    add_data_dir(p)
    p.set_defaults(func=run, write_pdf=None)


def build_report(args: argparse.Namespace) -> dict:
    """The report data for the parsed arguments."""
    from poise.errors import PoiseError
    from poise.reports import progress_report, recording_report, session_report
    from poise.store import Store, resolve_data_dir

    if bool(args.target) == bool(args.progress):
        raise PoiseError("give a session id or a recording, or --progress PATIENT")
    if args.progress:
        with Store(args.data_dir, create=False) as store:
            return progress_report(store, store.patient(args.progress))
    target = str(args.target)
    if target.isdigit() and not Path(target).exists():
        with Store(args.data_dir, create=False) as store:
            s = store.get_session(int(target))
            return session_report(s, store.get_patient(s.patient_id))
    if not Path(target).is_file():
        raise PoiseError(f"{target}: neither a session id nor a recording file")
    demographics = None
    patient = None
    db = resolve_data_dir(args.data_dir) / "poise.db"
    if db.exists():
        from poise.assessments import recording_patient
        from sensors.recording import load_recording

        named = recording_patient(load_recording(target))["pseudonym"]
        if named:
            with Store(args.data_dir, create=False) as store:
                patient = store.find_patient(str(named))
    if patient is not None:
        demographics = patient.demographics()
    rep = recording_report(target, demographics)
    if patient is not None:
        from poise.reports import _patient_rows

        rep["patient"] = patient.to_dict()
        for b in rep["blocks"]:
            if b["type"] == "keyvalues" and b["rows"] and b["rows"][0][0] == "Patient (pseudonym)":
                b["rows"] = _patient_rows(patient, rep.get("session", {}).get("date"))
                break
    return rep


def _inputs(args: argparse.Namespace) -> list[Path]:
    """The files the report is made from (the recording, the database): never outputs."""
    from poise.store import DB_NAME, resolve_data_dir

    inputs = [resolve_data_dir(args.data_dir) / DB_NAME]
    if args.target and Path(str(args.target)).exists():
        inputs.append(Path(str(args.target)))
    return inputs


def run(args: argparse.Namespace) -> int:
    """Write the report."""
    from poise.errors import PoiseError

    if not args.pdf and not args.json:
        raise PoiseError("say where to write the report: --pdf OUT.pdf and/or --json OUT.json")
    write_pdf: PdfWriter | None = args.write_pdf
    if args.pdf and write_pdf is None:
        raise PoiseError(
            "the PDF is drawn with Qt: use the poise command (or python -m gui), "
            "not python -m poise; --json OUT.json writes the content without Qt"
        )
    outputs = [o for o in (args.json, args.pdf) if o]
    inputs = _inputs(args)
    check_outputs(outputs, inputs, force=args.force)  # before the (slow) analysis
    rep = build_report(args)
    if args.json:
        with write_atomically(
            args.json, "w", inputs=inputs, force=args.force, checked=True, encoding="utf-8"
        ) as fh:
            json.dump(rep, fh, indent=1, ensure_ascii=False)
        print(f"report content: {args.json}")
    if args.pdf and write_pdf is not None:
        pages = write_pdf(rep, args.pdf, args.page, inputs=inputs, force=args.force)
        print(f"report: {args.pdf} ({pages} page(s), {args.page.upper()})")
    return 0
