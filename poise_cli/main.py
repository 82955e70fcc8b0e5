"""The ``poise`` command line.

Every subcommand lives in its own module under :mod:`poise_cli.commands` and exposes
``register(subparsers)``, which adds an ``argparse`` sub-parser whose ``func`` default
takes the parsed arguments and returns an exit code. Modules are discovered, so adding a
command never touches this file.

Errors the user can fix (:class:`poise.errors.PoiseError`, ``ValueError`` raised by the
protocol, ``OSError`` for files) print one line ``poise <cmd>: error: ...`` and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import NoReturn

from poise.errors import PoiseError
from poise_cli import commands


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


DATA_DIR_HELP = (
    "data folder: patients, sessions, recordings (default $POISE_DATA_DIR, else "
    "~/.local/share/poise); accepted before or after any command"
)


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases once
                out += [sub, *_subparsers(sub)]
    return out


def _accept_data_dir_everywhere(parser: argparse.ArgumentParser) -> None:
    """``--data-dir`` at the top (``poise --data-dir D patient add X``) and after every
    command and action (``poise patient add X --data-dir D``), the same option everywhere.

    Below the top, its default is "not given" (``argparse.SUPPRESS``): a sub-parser's own
    default would otherwise overwrite a value given before the command.
    """
    parser.add_argument("--data-dir", metavar="DIR", default=None, help=DATA_DIR_HELP)
    for sub in _subparsers(parser):
        own = next((a for a in sub._actions if "--data-dir" in a.option_strings), None)
        if own is None:
            sub.add_argument(
                "--data-dir", metavar="DIR", default=argparse.SUPPRESS, help=DATA_DIR_HELP
            )
        else:
            own.default = argparse.SUPPRESS


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every discovered subcommand."""
    parser = _Parser(
        prog="poise",
        description="Poise: wearable balance and fall-risk monitor.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"poise_cli.commands.{info.name}")
        module.register(sub)
    _accept_data_dir_everywhere(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``poise`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"poise {args.command}: interrupted", file=sys.stderr)
        return 130
    except (PoiseError, ValueError, OSError) as exc:
        print(f"poise {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
        return 2


def one_line(message: str) -> str:
    """``message`` with control and other unprintable characters escaped (``\\n``,
    ``\\u202e``): names and values from files must not break the one-line error."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in message)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
