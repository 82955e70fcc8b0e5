"""Writing output files without destroying anything: the rules every writing command follows.

- **Never over an input.** An output that is one of the command's inputs (the same
  device and inode, so hard links and symbolic links are caught, not only equal paths)
  is refused, with or without ``--force``.
- **Never over an existing file without ``--force``** (the command names its flag).
- **Atomic.** A regular file is written to a temporary file in the same folder
  (``.<name>.<random>.tmp``), flushed, ``fsync``-ed and renamed over the target
  (``os.replace``); the folder is ``fsync``-ed too. A failed or interrupted write
  removes the temporary file and leaves the old file exactly as it was.
- **Private from creation, nothing else touched.** A new file is created with mode
  0o600 (``O_EXCL``), missing folders with 0o700, both at creation (the umask can only
  remove bits). Nothing that exists is ``chmod``-ed: a replaced file keeps its mode
  (and, when run as root, its owner), an existing folder is left as it is.
- **Special files are written in place.** An existing target that is not a regular
  file (``/dev/null``, ``/dev/stdout``, a FIFO) is opened for writing as it is: no
  temporary file, no rename, no mode change; a write error (``/dev/full``: "No space
  left on device") is raised, never swallowed.

:class:`OutputFile` is the building block (a temporary path to write, then
:meth:`OutputFile.commit` or :meth:`OutputFile.abort`); :func:`write_atomically` wraps
it for code that writes through a file object; :func:`check_outputs` checks a command's
outputs before it starts any work.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from poise.errors import PoiseError
from sensors.recording import fsync_dir

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "OutputFile",
    "check_outputs",
    "make_private_dir",
    "make_private_dirs",
    "same_file",
    "write_atomically",
]

#: Mode of files Poise creates (patient data: user only).
FILE_MODE = 0o600
#: Mode of folders Poise creates.
DIR_MODE = 0o700

PathLike = str | os.PathLike


def _stat(path: PathLike) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether ``a`` and ``b`` are one file (same device and inode; links followed)."""
    sa, sb = _stat(a), _stat(b)
    return sa is not None and sb is not None and (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_outputs(
    outputs: Iterable[PathLike],
    inputs: Iterable[PathLike | None] = (),
    *,
    force: bool = False,
    force_flag: str = "--force",
) -> None:
    """Refuse outputs that are inputs, folders, each other, or exist without ``force``.

    Raises
    ------
    PoiseError
        Naming the output and why it is refused.
    """
    ins = [Path(p) for p in inputs if p is not None]
    seen: list[Path] = []
    for out in map(Path, outputs):
        st = _stat(out)
        if any(out == s or same_file(out, s) for s in seen):
            raise PoiseError(f"{out}: the same file is given twice as an output")
        seen.append(out)
        if st is None:
            if out.is_symlink():
                raise PoiseError(f"{out}: is a dangling symbolic link; give another name")
            continue
        if stat.S_ISDIR(st.st_mode):
            raise PoiseError(f"{out}: is a folder; give a file name")
        for inp in ins:
            if same_file(out, inp):
                how = "" if out.resolve() == inp.resolve() else " (through a link)"
                raise PoiseError(f"{out}: is the input {inp}{how}; refusing to write over it")
        if not force:
            raise PoiseError(f"{out}: already exists (use {force_flag} to replace it)")


def make_private_dir(folder: PathLike) -> Path:
    """Create ``folder`` and its missing parents with mode 0o700 (at creation).

    Existing folders are left exactly as they are. Returns ``folder`` as a Path.
    """
    missing = []
    p = Path(folder)
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, DIR_MODE)
    return Path(folder)


def make_private_dirs(path: PathLike) -> None:
    """Create the missing parent folders of the file ``path`` (see :func:`make_private_dir`)."""
    make_private_dir(Path(path).parent)


class OutputFile:
    """One output of a command, written safely (see the module docstring).

    Parameters
    ----------
    path
        Where the output goes.
    inputs
        The command's input files: the output may be none of them.
    force
        Replace an existing file.
    force_flag
        The command's name for ``force`` (for the message).
    checked
        The caller already ran :func:`check_outputs` (do not check again).

    Attributes
    ----------
    path
        The target as given.
    temp_path
        Write here (a new private file, or the target itself for a special file);
        created by the constructor.
    in_place
        The target is an existing special file written directly.
    """

    def __init__(
        self,
        path: PathLike,
        inputs: Iterable[PathLike | None] = (),
        *,
        force: bool = False,
        force_flag: str = "--force",
        checked: bool = False,
    ) -> None:
        self.path = Path(path)
        if not checked:
            check_outputs([self.path], inputs, force=force, force_flag=force_flag)
        # write through a symbolic link to the file it names (the link stays a link)
        self._target = Path(os.path.realpath(self.path)) if self.path.is_symlink() else self.path
        st = _stat(self._target)
        self.in_place = st is not None and not stat.S_ISREG(st.st_mode)
        self._done = False
        if self.in_place:
            self.temp_path = self._target
            return
        make_private_dirs(self._target)
        for _ in range(100):
            tmp = self._target.with_name(f".{self._target.name}.{secrets.token_hex(4)}.tmp")
            try:
                fd = os.open(
                    tmp,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                    FILE_MODE,
                )
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover - 100 random names taken
            raise PoiseError(f"{self._target.parent}: can not create a temporary file")
        try:
            if st is not None:  # the replacement gets the replaced file's mode and owner
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
                if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(OSError):
                        os.fchown(fd, st.st_uid, st.st_gid)
        finally:
            os.close(fd)
        self.temp_path = tmp

    def open(self, mode: str = "w", **kwargs: Any) -> IO:
        """Open :attr:`temp_path` for writing (``"w"`` or ``"wb"``; ``open`` keywords)."""
        if mode not in ("w", "wb"):
            raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
        flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
        if not self.in_place:
            flags |= os.O_TRUNC
        fd = os.open(self.temp_path, flags)
        return os.fdopen(fd, mode, **kwargs)

    def commit(self) -> None:
        """Make the written file the output: fsync, rename over the target, fsync the folder."""
        if self._done:
            return
        self._done = True
        if self.in_place:
            return
        try:
            fd = os.open(self.temp_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.temp_path, self._target)
        except BaseException:
            self._remove_temp()
            raise
        fsync_dir(self._target.parent)

    def abort(self) -> None:
        """Drop what was written; the target stays as it was."""
        if self._done:
            return
        self._done = True
        if not self.in_place:
            self._remove_temp()

    def _remove_temp(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp_path)

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


@contextlib.contextmanager
def write_atomically(
    path: PathLike,
    mode: str = "w",
    *,
    inputs: Iterable[PathLike | None] = (),
    force: bool = False,
    force_flag: str = "--force",
    checked: bool = False,
    **open_kwargs: Any,
) -> Iterator[IO]:
    """Write ``path`` through a file object, safely (see the module docstring).

    The file is renamed into place when the ``with`` block ends without an exception
    (after the file object is flushed and closed, so a write error such as a full disk
    is raised here); otherwise the old file is left untouched.
    """
    out = OutputFile(path, inputs, force=force, force_flag=force_flag, checked=checked)
    try:
        fh = out.open(mode, **open_kwargs)
        try:
            yield fh
        finally:
            fh.close()  # flushes: a full disk raises here, before the commit
        out.commit()
    except BaseException:
        out.abort()
        raise
