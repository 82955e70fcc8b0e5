"""Subcommands of the ``poise`` CLI, one module each (see :mod:`poise.cli`).

The helpers here add what several commands share, so that a subcommand's parser and the
options common to many of them are spelled out once.
"""

from __future__ import annotations

import argparse

#: The help text of ``--data-dir`` wherever a command reads the patient store.
DATA_DIR_HELP = "data folder (default ~/.local/share/poise)"


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    help: str,
    *,
    description: str | None = None,
    doc: str | None = None,
) -> argparse.ArgumentParser:
    """Add the sub-parser of command ``name``.

    Parameters
    ----------
    subparsers
        The ``poise`` parser's sub-parsers action.
    name, help
        The command and its one-line help (the ``poise --help`` list).
    description
        A paragraph for ``poise NAME --help``, wrapped by argparse.
    doc
        A module docstring for ``poise NAME --help`` instead, printed as written
        (``RawDescriptionHelpFormatter``).

    Returns
    -------
    argparse.ArgumentParser
        The new sub-parser.
    """
    if doc is not None:
        return subparsers.add_parser(
            name,
            help=help,
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    return subparsers.add_parser(name, help=help, description=description)


def add_data_dir(p: argparse.ArgumentParser) -> None:
    """Add ``--data-dir DIR``: the folder of the patient store."""
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
