"""``poise patient``: add, list, show, delete patients; import a recording; set a plan.

::

    poise patient add P-0042 --birth-year 1951 --sex f --height 1.64 --weight 62
    poise patient list
    poise patient show P-0042
    poise patient import REC.poise [--patient P-0042] [--date 2026-03-01] [--test tug] [--reassign]
    poise patient plan P-0042 sit_to_stand:8 standing_balance:30 walking:300
    poise patient delete P-0042 --yes
"""

from __future__ import annotations

import argparse

from poise.commands import add_data_dir
from poise.service import import_recording


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``patient`` sub-command and its actions."""
    p = subparsers.add_parser("patient", help="manage patients and import recordings")
    add_data_dir(p)
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = sub.add_parser("add", help="add a patient")
    a.add_argument("pseudonym")
    a.add_argument("--birth-year", type=int)
    a.add_argument("--sex", choices=("f", "m"))
    a.add_argument("--height", type=float, metavar="M", help="height in m (or cm)")
    a.add_argument("--weight", type=float, metavar="KG")
    a.add_argument("--notes", default="")
    a.add_argument(
        "--display-name",
        default="",
        metavar="NAME",
        help="how home mode greets the patient (stays on this computer, never exported)",
    )
    sub.add_parser("list", help="list patients")
    s = sub.add_parser("show", help="a patient's sessions")
    s.add_argument("patient")
    i = sub.add_parser("import", help="import a recording as a session")
    i.add_argument("recording")
    i.add_argument("--patient", help="patient (default: the pseudonym in the recording)")
    i.add_argument(
        "--date",
        help="session date, local time: YYYY-MM-DD[THH:MM] (default: the recording's start)",
    )
    i.add_argument("--test", action="append", help="test to run on the whole recording")
    i.add_argument("--create", action="store_true", help="add the named patient if unknown")
    i.add_argument(
        "--reassign",
        action="store_true",
        help="file it under --patient although the recording names another patient",
    )
    pl = sub.add_parser("plan", help="set the exercise plan (KEY or KEY:TARGET)")
    pl.add_argument("patient")
    pl.add_argument("exercises", nargs="+")
    d = sub.add_parser("delete", help="delete a patient with all their data")
    d.add_argument("patient")
    d.add_argument("--yes", action="store_true", help="confirm")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Do the action."""
    from poise.errors import PoiseError
    from poise.store import DB_NAME, Store, resolve_data_dir

    read_only = args.action in ("list", "show")
    if args.action == "list" and not (resolve_data_dir(args.data_dir) / DB_NAME).exists():
        return 0  # no database yet: no patients (and a read-only command creates nothing)
    with Store(args.data_dir, create=not read_only) as store:
        if args.action == "add":
            pt = store.add_patient(
                args.pseudonym,
                birth_year=args.birth_year,
                sex=args.sex,
                height_m=args.height,
                weight_kg=args.weight,
                notes=args.notes,
                display_name=args.display_name,
            )
            print(f"added {pt.pseudonym} (id {pt.id})")
        elif args.action == "list":
            for pt in store.list_patients():
                n = len(store.sessions(pt))
                print(
                    f"{pt.id}\t{pt.pseudonym}\t{pt.birth_year or '-'}\t{pt.sex or '-'}\t{n} session(s)"
                )
        elif args.action == "show":
            pt = store.patient(args.patient)
            for s in store.sessions(pt):
                level = (s.fall_risk or {}).get("level", "-")
                print(f"{s.id}\t{s.date}\t{s.kind}\t{','.join(s.tests)}\tfall risk: {level}")
        elif args.action == "import":
            s = import_recording(
                store,
                args.recording,
                patient=args.patient,
                date=args.date,
                tests=args.test,
                create_patient=args.create,
                reassign=args.reassign,
            )
            pt = store.get_patient(s.patient_id)
            print(
                f"session {s.id} of {pt.pseudonym} ({s.date}): {', '.join(s.tests) or 'no tests'}"
            )
        elif args.action == "plan":
            from poise.home import plan_exercises

            items = []
            for x in args.exercises:
                key, _, target = x.partition(":")
                item: dict = {"key": key}
                if target:
                    ex = plan_exercises([{"key": key}])[0]
                    item["target_reps" if ex.kind == "repetitions" else "hold_s"] = (
                        int(target) if ex.kind == "repetitions" else float(target)
                    )
                items.append(item)
            plan_exercises(items)  # validate
            store.set_plan(args.patient, items)
            print(f"plan of {args.patient}: {', '.join(args.exercises)}")
        elif args.action == "delete":
            if not args.yes:
                raise PoiseError("deleting a patient removes all their data; add --yes to confirm")
            n = store.delete_patient(args.patient)
            print(f"deleted {args.patient} and {n} recording file(s)")
    return 0
