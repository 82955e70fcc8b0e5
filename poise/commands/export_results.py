"""``poise export-results --patient ID --csv OUT`` or ``--fhir OUT``: a patient's results.

CSV: every number of every stored result, one row each (long format: patient, session,
date, kind, test, measure, value, unit, status). FHIR: an R4 collection Bundle with the
pseudonymous Patient and one Observation per progress metric per session (see
:mod:`poise.fhir`). An existing file is replaced only with ``--force`` (never the
database); files are written to a temporary file and renamed into place, new ones
user-only, replaced ones keep their mode (:mod:`poise.outputs`).
"""

from __future__ import annotations

import argparse

from poise.commands import add_data_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export-results`` sub-command."""
    p = subparsers.add_parser("export-results", help="export a patient's results (CSV or FHIR)")
    p.add_argument("--patient", required=True, metavar="ID", help="pseudonym or numeric id")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--csv", metavar="OUT.csv")
    g.add_argument("--fhir", metavar="OUT.json")
    add_data_dir(p)
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the export."""
    from poise.outputs import check_outputs
    from poise.store import Store

    with Store(args.data_dir, create=False) as store:
        inputs = (store.path,)
        check_outputs([args.csv or args.fhir], inputs, force=args.force)
        p = store.patient(args.patient)
        if args.csv:
            from poise.reports import write_results_csv

            n = write_results_csv(store, p, args.csv, inputs=inputs, force=args.force)
            print(f"{args.csv}: {n} result rows of {p.pseudonym}")
        else:
            from poise.fhir import write_bundle

            n = write_bundle(store, p, args.fhir, inputs=inputs, force=args.force)
            print(f"{args.fhir}: FHIR R4 bundle with {n} observations of {p.pseudonym}")
    return 0
