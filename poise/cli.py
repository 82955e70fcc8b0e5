"""The ``poise`` command line: the headless commands and the parser the ``poise`` command uses.

Every headless subcommand lives in its own module under :mod:`poise.commands` and exposes
``register(subparsers)``, which adds an ``argparse`` sub-parser whose ``func`` default
takes the parsed arguments and returns an exit code. Modules are discovered, so adding a
command never touches this file.

The commands that open a window or draw with Qt belong to :mod:`gui` (the layer above):
:func:`build_parser` and :func:`main` take ``extra_commands``, register functions called
after this package's own with the same sub-parsers, which add commands or extend one
(:mod:`gui.commands` adds ``gui`` and ``home`` and gives ``report`` its PDF writer). The
``poise`` console script is :func:`gui.commands.main`, the composition of both;
``python -m poise`` runs the headless set alone and, asked for a window command (see
:data:`WINDOW_COMMANDS`), says how to start it.

Errors the user can fix (:class:`poise.errors.PoiseError`, ``ValueError`` raised by the
protocol, ``OSError`` for files) print one line ``poise <cmd>: error: ...`` and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterable
from typing import NoReturn

from poise import commands
from poise.errors import PoiseError
from poise.startup import numpy_without_huge_pages

#: A function that adds (or extends) sub-commands: ``register(subparsers)``.
Register = Callable[[argparse._SubParsersAction], None]

#: The commands :mod:`gui` adds (name: help). Without them (``python -m poise``) each is a
#: placeholder that says how to start it, instead of argparse's "invalid choice".
WINDOW_COMMANDS = {
    "gui": "open the therapist's session window",
    "home": "open the home-exercise mode",
}


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


def _needs_window(args: argparse.Namespace) -> int:
    raise PoiseError(
        f"'{args.command}' opens a window: start it with the poise command "
        f"(poise {args.command} ..., or python -m gui {args.command} ...), "
        "not python -m poise"
    )


def build_parser(extra_commands: Iterable[Register] = ()) -> argparse.ArgumentParser:
    """Build the top-level parser with every discovered subcommand.

    Parameters
    ----------
    extra_commands
        Called in order after the discovered commands are registered, with the same
        sub-parsers action: they add commands or extend registered ones (the layer above,
        :mod:`gui`, adds its window commands this way).
    """
    parser = _Parser(
        prog="poise",
        description="Poise: wearable balance and fall-risk monitor.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"poise.commands.{info.name}")
        module.register(sub)
    for register in extra_commands:
        register(sub)
    for name, help_text in WINDOW_COMMANDS.items():
        if name not in sub.choices:
            stub = sub.add_parser(name, help=f"{help_text} (the poise command)", add_help=False)
            stub.set_defaults(func=_needs_window, any_arguments=True)
    _accept_data_dir_everywhere(parser)
    return parser


def main(argv: list[str] | None = None, *, extra_commands: Iterable[Register] = ()) -> int:
    """Run the command line with the headless commands and ``extra_commands``.

    Returns the process exit code. The ``poise`` console script is
    :func:`gui.commands.main`, which passes gui's commands.
    """
    numpy_without_huge_pages()  # before a command imports numpy (poise.startup)
    parser = build_parser(extra_commands)
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "any_arguments", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
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
