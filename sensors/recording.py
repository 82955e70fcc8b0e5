"""The Poise recording file (``.poise``): append-only, checksummed, crash-tolerant.

A recording stores what the sensors *sent* (every raw data packet or notification
exactly as received, with the host receive time and the sensor index) after a header
with JSON metadata, plus gap records, events (markers, connection changes, test results,
notes) and an end record. The byte layout, the flush policy and the recovery rules are documented in
``docs/recording-format.md``; the short version:

- file preamble: ``MAGIC`` (8 bytes), format version (u16 LE), reserved (u16 LE);
- records: ``SYNC`` (4 bytes) | type (u8) | flags (u8) | payload length (u32 LE) |
  payload | CRC-32 (u32 LE, zlib) over type, flags, length and payload;
- the writer flushes and ``fsync``\\ s at least every ``flush_interval_s`` (0.5 s): on a
  write when the oldest unsynced record is that old, from a background timer when the
  writer is idle, and on close. A crash loses at most the last half second.
- the reader checks every record's CRC, and on damage (bad checksum, truncation, garbage)
  reports ``Damage(offset, reason)`` and resynchronises on the next ``SYNC`` marker, so
  everything valid before and after the damage is recovered.

Samples are decoded through the same decoder as the live stream: each header sensor
names its driver (:mod:`sensors.devices`; none means a Poise wearable, as in format 1),
see :func:`load_recording` and :mod:`sensors.timeline`.

Format versions: 1 has PACKET records (Poise wire protocol) only; 2 adds NOTIFY records
(raw notifications of any device, with their channel) and the sensors' ``driver`` and
``device`` header keys. A writer uses version 2 only when a header sensor is not a Poise
wearable, so Poise-only recordings stay readable by version-1 readers; this reader
reads both.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import mmap
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeGuard

from sensors.timeline import Gap, SensorData

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "SYNC",
    "RecordType",
    "RecordingError",
    "RecordingWriter",
    "RecordingReader",
    "Record",
    "Damage",
    "Recording",
    "Gap",
    "SensorData",
    "load_recording",
    "append_event",
]

_log = logging.getLogger(__name__)

#: File signature. The 0x89 byte and CR LF catch 7-bit and text-mode mangling (as in PNG).
MAGIC = b"\x89POISE\r\n"
#: Version of this byte layout; readers refuse files with a newer major version.
FORMAT_VERSION = 2
#: The version written when every sensor is a Poise wearable (no NOTIFY records).
POISE_ONLY_FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<8sHH")  # magic, format version, reserved
PREAMBLE_SIZE = _PREAMBLE.size  # 12
#: Start of every record; the reader searches for it to resynchronise after damage.
SYNC = b"\xa7PR\x5e"
_REC_HEAD = struct.Struct("<4sBBI")  # sync, type, flags, payload length
REC_HEAD_SIZE = _REC_HEAD.size  # 10
_CRC = struct.Struct("<I")
CRC_SIZE = _CRC.size
#: Largest payload a reader accepts (a length beyond it is treated as damage).
MAX_PAYLOAD = 1 << 24
_PACKET_HEAD = struct.Struct("<Bd")  # sensor index, host receive time (s since start)
#: Largest payload of a JSON record (HEADER, GAP, EVENT, END); a larger one is damage.
MAX_JSON_BYTES = 1 << 22
#: Deepest nesting of arrays and objects in a JSON record (the record itself is level 1).
MAX_JSON_DEPTH = 32
#: Times in seconds (host receive times, ``t_s``, gap spans, ``start.epoch_s``) must be
#: finite and within +-1e10 s (317 years: room for CSV times in Unix epoch seconds).
MAX_ABS_TIME_S = 1e10
#: Largest ``samples`` of a GAP record.
MAX_GAP_SAMPLES = 10**12
_NOTIFY_HEAD = struct.Struct("<BdB")  # sensor index, host receive time, channel
#: Permissions of recording files and of the folders the writer creates (patient data).
FILE_MODE = 0o600
DIR_MODE = 0o700


class RecordType:
    """Record type codes (u8). Readers skip unknown types and note them."""

    HEADER = 1  #: JSON metadata (written twice at the start, the reader uses the first valid one)
    PACKET = 2  #: u8 sensor index, f64 host receive time (s since start), raw packet bytes
    GAP = 3  #: JSON: sensor, samples, reason, start/end in sensor (us) or host (s) time
    EVENT = 4  #: JSON: kind, t_s (host s since start), anything else
    END = 5  #: JSON: t_s and record counts; written by a clean close
    #: u8 sensor index, f64 host receive time, u8 channel (the driver's numbering of the
    #: characteristics it subscribes to), raw notification bytes (format 2)
    NOTIFY = 6

    NAMES = {1: "HEADER", 2: "PACKET", 3: "GAP", 4: "EVENT", 5: "END", 6: "NOTIFY"}


class RecordingError(ValueError):
    """A file that is not a usable Poise recording at all (the message says which and why)."""


def _software_version() -> str:
    try:
        from importlib.metadata import version

        return f"poise {version('poise')}"
    except Exception:  # pragma: no cover - not installed
        return "poise (unknown version)"


def _frame(rtype: int, payload: bytes, flags: int = 0) -> bytes:
    """One framed record: sync, type, flags, length, payload, CRC-32."""
    head = _REC_HEAD.pack(SYNC, rtype, flags, len(payload))
    crc = zlib.crc32(head[4:])
    crc = zlib.crc32(payload, crc)
    return head + payload + _CRC.pack(crc & 0xFFFFFFFF)


def _json_bytes(obj: dict, rtype: int | None = None) -> bytes:
    """The JSON payload of a record; ValueError for anything a reader would refuse (the
    JSON limits, and the content rules of ``rtype``'s records when given)."""
    name = "JSON" if rtype is None else RecordType.NAMES.get(rtype, f"TYPE{rtype}")
    clean = _json_safe(obj)
    if _json_depth(clean) > MAX_JSON_DEPTH:
        raise ValueError(f"{name} record nested deeper than {MAX_JSON_DEPTH} levels")
    text = json.dumps(clean, separators=(",", ":"), allow_nan=False, default=_json_default)
    data = text.encode("utf-8")
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"{name} record of {len(data)} bytes of JSON, more than {MAX_JSON_BYTES}")
    # types without content rules (or none given): the JSON limits only
    check = _PROBLEMS.get(rtype) if rtype is not None else None
    problem = check(clean) if check is not None else None
    if problem:
        raise ValueError(f"{name} record: {problem}")
    return data


def _json_depth(obj: Any) -> int:
    """Nesting depth of lists and dicts (a flat dict is 1), without recursion."""
    depth = 0
    stack = [(obj, 1)]
    while stack:
        x, d = stack.pop()
        if isinstance(x, dict):
            x = list(x.values())
        elif not isinstance(x, list | tuple):
            continue
        depth = max(depth, d)
        if d > MAX_JSON_DEPTH:
            return d
        stack.extend((v, d + 1) for v in x)
    return depth


def _json_safe(obj: Any) -> Any:
    """JSON-ready copy for a record: non-finite floats -> ``None`` (JSON has no NaN), numpy
    scalars -> Python, tuples -> lists, objects with ``to_dict()`` -> their dict, paths ->
    str. (The results' cleaner is :func:`analysis.clinical.base.to_jsonable`; the layers
    keep sensors and analysis apart, so the file format keeps this guard of its own.)"""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "to_dict"):
        return _json_safe(obj.to_dict())
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:  # numpy scalar
        return _json_safe(obj.item())
    if isinstance(obj, os.PathLike):
        return str(obj)
    return obj


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "item"):  # numpy scalar
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _make_private_dirs(path: Path) -> None:
    """Create the missing parents of ``path`` with mode 0o700 at creation (existing ones
    are untouched; the umask can only remove bits)."""
    missing = []
    p = path.parent
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            continue


def fsync_dir(path: Path) -> None:
    """Sync a folder, so a file created or renamed in it survives a power loss."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _driver(kind: str | None) -> Any:
    """The driver class of a header sensor's ``driver`` key (``None``: Poise)."""
    from sensors.devices import driver_for

    return driver_for(kind)


def local_time_zone(epoch_s: float) -> dict[str, Any]:
    """This computer's time zone at ``epoch_s``, as the header's ``start`` keeps it.

    ``{"timezone": IANA name or None, "utc_offset_s": offset}``: the name where the system
    says it (the ``TZ`` variable, or the zone file ``/etc/localtime`` links to), so that
    calendar days of a home recording follow the patient's clock (summer time included)
    wherever the file is analysed later; the offset always (a fixed-offset fallback).
    """
    local = _dt.datetime.fromtimestamp(epoch_s, _dt.UTC).astimezone()
    offset = local.utcoffset()
    return {
        "timezone": _zone_name(),
        "utc_offset_s": None if offset is None else offset.total_seconds(),
    }


def _zone_name() -> str | None:
    from zoneinfo import ZoneInfo

    tz = os.environ.get("TZ", "").lstrip(":")
    candidates = [tz] if tz else []
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        target = ""
    if not tz and "zoneinfo/" in target:
        candidates.append(target.split("zoneinfo/", 1)[1])
    for name in candidates:
        try:
            ZoneInfo(name)
        except (ValueError, OSError, LookupError):
            continue
        return name
    return None


def _normalise_metadata(metadata: dict | None, start: dict) -> dict:
    """Complete and validate the header metadata (sensor configs must be usable)."""
    md = dict(metadata or {})
    md["format"] = "poise-recording"
    md["format_version"] = FORMAT_VERSION  # (key order as in format 1; set below)
    md.setdefault("software", _software_version())
    md.setdefault("patient", None)
    md.setdefault("notes", "")
    md.setdefault("start", start)
    sensors = []
    for i, s in enumerate(md.get("sensors") or []):
        s = dict(s)
        if "config" not in s:
            raise ValueError(f"recording metadata: sensor {i} has no 'config'")
        try:
            drv = _driver(s.get("driver"))
        except KeyError as exc:
            raise ValueError(f"recording metadata: sensor {i}: {exc.args[0]}") from None
        cfg = s["config"]
        cfg = cfg if hasattr(cfg, "to_dict") else drv.config_from_dict(cfg)
        s["config"] = cfg.to_dict()
        s.setdefault("id", f"sensor-{i}")
        s.setdefault("name", None)
        s.setdefault("address", None)
        s.setdefault("placement", None)
        s.setdefault("firmware", None)
        if drv.kind != "poise":
            s["driver"] = drv.kind
            s.setdefault("device", {"kind": drv.kind, "model": drv.default_model, "firmware": None})
        sensors.append(s)
    md["sensors"] = sensors
    poise_only = all(s.get("driver", "poise") == "poise" for s in sensors)
    md["format_version"] = POISE_ONLY_FORMAT_VERSION if poise_only else FORMAT_VERSION
    return md


class RecordingWriter:
    """Append-only writer of a ``.poise`` recording; thread-safe.

    Parameters
    ----------
    target
        File path (created with mode 0o600, missing parent folders with 0o700, both at
        creation; an existing file is refused unless ``overwrite``, and then truncated and
        keeps its mode) or an open binary stream (for in-memory
        recordings; no fsync, no timer).
    metadata
        Header metadata: ``patient`` (pseudonym), ``sensors`` (list of dicts with ``id``,
        ``name``, ``address``, ``placement``, ``driver`` (a :mod:`sensors.devices` kind;
        default a Poise wearable), ``config`` (the driver's configuration or its dict),
        ``firmware``, ``device``), ``notes`` and anything else JSON-serialisable. ``format``,
        ``format_version``, ``software`` and ``start`` (UTC ISO time, epoch and host
        monotonic seconds of the recording start) are filled in unless given.
    flush_interval_s
        Upper bound on how long a written record may stay unsynced (default 0.5 s).
    overwrite
        Replace an existing file instead of refusing.

    Notes
    -----
    Host times in records are seconds since the recording start on the host's monotonic
    clock (:meth:`time_s`); callers that have their own timestamps (replay, import) pass
    them explicitly. A background daemon thread wakes every ``flush_interval_s / 5`` and
    syncs when the oldest unsynced record is about to reach ``flush_interval_s``; writes
    sync inline when it already has. Everything happens under one lock, so the BLE thread
    and the GUI thread may write concurrently.
    """

    def __init__(
        self,
        target: str | os.PathLike | BinaryIO,
        metadata: dict | None = None,
        *,
        flush_interval_s: float = 0.5,
        overwrite: bool = False,
    ) -> None:
        if not flush_interval_s > 0:
            raise ValueError(f"flush_interval_s must be > 0, got {flush_interval_s}")
        self._lock = threading.RLock()
        self._interval = float(flush_interval_s)
        self._mono0 = time.monotonic()
        now = _dt.datetime.now(_dt.UTC)
        start = {
            "utc": now.isoformat(timespec="microseconds"),
            "epoch_s": now.timestamp(),
            "monotonic_s": self._mono0,
            **local_time_zone(now.timestamp()),
        }
        self.metadata = _normalise_metadata(metadata, start)
        self._n_sensors = len(self.metadata["sensors"])
        self.records_written = 0
        self.packets_written = 0
        #: periodic syncs of the background timer that failed (it keeps trying)
        self.sync_errors = 0
        self._dirty_since: float | None = None
        self._closed = False
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        if hasattr(target, "write"):
            self.path: Path | None = None
            self._fh: BinaryIO = target  # type: ignore[assignment]
            self._owns = False
        else:
            path = Path(target)
            self.path = path
            _make_private_dirs(path)
            flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
            flags |= os.O_TRUNC if overwrite else os.O_EXCL
            try:
                fd = os.open(path, flags, FILE_MODE)
            except FileExistsError:
                raise FileExistsError(
                    f"{path}: already exists (refusing to overwrite a recording)"
                ) from None
            self._fh = os.fdopen(fd, "wb", buffering=64 * 1024)
            self._owns = True
        header = _json_bytes(self.metadata, RecordType.HEADER)
        self.format_version = int(self.metadata["format_version"])
        self._fh.write(_PREAMBLE.pack(MAGIC, self.format_version, 0))
        # The header is written twice: a damaged first copy does not orphan the file.
        self._fh.write(_frame(RecordType.HEADER, header))
        self._fh.write(_frame(RecordType.HEADER, header))
        self._sync()
        if self.path is not None:  # set exactly when the recorder opened (owns) the file
            fsync_dir(self.path.parent)  # the new directory entry must survive power loss too
            self._timer = threading.Thread(
                target=self._timer_loop, name="poise-recording-flush", daemon=True
            )
            self._timer.start()

    # -- context manager -------------------------------------------------------------
    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(info={"error": repr(exc)} if exc is not None else None)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def time_s(self) -> float:
        """Host time now, seconds since the recording start (monotonic clock)."""
        return time.monotonic() - self._mono0

    # -- records --------------------------------------------------------------------
    def write_packet(self, sensor: int, packet: bytes, host_time_s: float | None = None) -> None:
        """Append one raw packet of sensor ``sensor`` (index into the header's sensors).

        ``host_time_s`` is the host receive time in seconds since the recording start
        (default: now).
        """
        if not 0 <= sensor < self._n_sensors:
            raise ValueError(
                f"sensor index {sensor} out of range (recording has {self._n_sensors})"
            )
        t = self.time_s() if host_time_s is None else float(host_time_s)
        problem = _host_time_problem(t)
        if problem:
            raise ValueError(problem)
        payload = _PACKET_HEAD.pack(sensor, t) + bytes(packet)
        self._write(RecordType.PACKET, payload)
        self.packets_written += 1

    def write_notification(
        self, sensor: int, channel: int, data: bytes, host_time_s: float | None = None
    ) -> None:
        """Append one raw notification of sensor ``sensor`` (a NOTIFY record, format 2).

        ``channel`` is the driver's number of the characteristic it came from;
        ``host_time_s`` the receive time in seconds since the recording start (default
        now). The header must name a non-Poise driver for the sensor (format 2).
        """
        if not 0 <= sensor < self._n_sensors:
            raise ValueError(
                f"sensor index {sensor} out of range (recording has {self._n_sensors})"
            )
        if not 0 <= channel < 256:
            raise ValueError(f"channel {channel} out of range 0..255")
        if self.format_version < 2:
            raise ValueError(
                "NOTIFY records need format 2: give the sensor's 'driver' in the header"
            )
        t = self.time_s() if host_time_s is None else float(host_time_s)
        problem = _host_time_problem(t)
        if problem:
            raise ValueError(problem)
        payload = _NOTIFY_HEAD.pack(sensor, t, channel) + bytes(data)
        self._write(RecordType.NOTIFY, payload)
        self.packets_written += 1

    def write_gap(
        self,
        sensor: int,
        *,
        samples: int,
        reason: str = "",
        start_us: int | None = None,
        end_us: int | None = None,
        start_s: float | None = None,
        end_s: float | None = None,
        t_s: float | None = None,
        **extra: Any,
    ) -> None:
        """Append a GAP record: ``samples`` samples of ``sensor`` were lost.

        ``start_us``/``end_us`` are sensor timestamps (as sent, 32-bit) of the first lost
        sample and of the first sample after the gap; ``start_s``/``end_s`` the same in host
        seconds since the start, when the sensor times are unknown. ``t_s`` (default now)
        is when the gap was noticed. ``extra`` (e.g. ``cause``, ``packets``, ``start_host_s``
        from :meth:`sensors.gaps.Gap.to_dict`) is stored as well.
        """
        info: dict[str, Any] = dict(extra)
        info.update(
            {
                "sensor": int(sensor),
                "samples": int(samples),
                "reason": str(reason),
                "t_s": self.time_s() if t_s is None else float(t_s),
            }
        )
        if not info["reason"]:
            info["reason"] = str(extra.get("cause") or "unspecified")
        for k, v in (("start_us", start_us), ("end_us", end_us)):
            if v is not None:
                info[k] = int(v)
        for k, t in (("start_s", start_s), ("end_s", end_s)):
            if t is not None:
                info[k] = float(t)
        self._write(RecordType.GAP, _json_bytes(info, RecordType.GAP))

    def write_event(self, event: dict) -> None:
        """Append an EVENT: a dict with ``kind`` (marker, connection, test, note, ...).

        ``t_s`` (host seconds since the start) defaults to now.
        """
        ev = dict(event)
        if "kind" not in ev:
            raise ValueError("event needs a 'kind' (e.g. 'marker', 'connection', 'test', 'note')")
        ev.setdefault("t_s", self.time_s())
        self._write(RecordType.EVENT, _json_bytes(ev, RecordType.EVENT))

    def write_record(self, rtype: int, payload: bytes) -> None:
        """Append a record of any type (for extensions; readers skip types they do not know)."""
        if not 0 < rtype < 256 or rtype == RecordType.HEADER:
            raise ValueError(f"record type {rtype} not allowed")
        self._write(rtype, payload)

    def flush(self) -> None:
        """Flush and fsync now."""
        with self._lock:
            if not self._closed:
                self._sync()

    def close(self, info: dict | None = None, *, t_s: float | None = None) -> None:
        """Write the END record, sync and close (idempotent)."""
        with self._lock:
            if self._closed:
                return
            end = {
                "t_s": self.time_s() if t_s is None else float(t_s),
                "records": self.records_written + 1,
                "packets": self.packets_written,
            }
            if info:
                end.update(info)
            self._write(RecordType.END, _json_bytes(end, RecordType.END))
            self._sync()
            self._closed = True
            self._stop.set()
            if self._owns:
                self._fh.close()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.join(timeout=2.0)

    # -- internals ------------------------------------------------------------------
    def _write(self, rtype: int, payload: bytes) -> None:
        rec = _frame(rtype, payload)
        with self._lock:
            if self._closed:
                raise ValueError(f"{self.path or 'recording'}: writer is closed")
            self._fh.write(rec)
            self.records_written += 1
            now = time.monotonic()
            if self._dirty_since is None:
                self._dirty_since = now
            elif now - self._dirty_since >= self._interval:
                self._sync()

    def _sync(self) -> None:
        self._fh.flush()
        if self._owns:
            os.fsync(self._fh.fileno())
        self._dirty_since = None

    def _timer_loop(self) -> None:
        tick = self._interval / 5.0
        while not self._stop.wait(tick):
            with self._lock:
                if self._closed:
                    return
                d = self._dirty_since
                if d is not None and time.monotonic() - d >= self._interval - tick:
                    try:
                        self._sync()
                    except OSError as exc:
                        # keep the timer alive (a full or slow disk may recover); the writes
                        # themselves raise, so the owner hears of it
                        self.sync_errors += 1
                        _log.warning("%s: periodic fsync failed: %s", self.path, exc)


def append_event(path: str | os.PathLike, event: dict) -> None:
    """Append one EVENT (e.g. a note added after the session) to an existing recording.

    The file is checked to be a Poise recording first; the record is synced before
    returning. ``t_s`` should be given (seconds since the recording start); default
    ``None`` means "not tied to a moment".
    """
    p = Path(path)
    with open(p, "rb") as fh:
        _check_preamble(fh.read(PREAMBLE_SIZE), str(p))
    ev = dict(event)
    if "kind" not in ev:
        raise ValueError("event needs a 'kind'")
    ev.setdefault("t_s", None)
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, _frame(RecordType.EVENT, _json_bytes(ev, RecordType.EVENT)))
        os.fsync(fd)
    finally:
        os.close(fd)


# -- reading --------------------------------------------------------------------------


@dataclass(frozen=True)
class Damage:
    """A damaged region of a recording: where it starts (byte offset) and what is wrong."""

    offset: int
    reason: str

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"offset": int(self.offset), "reason": self.reason}


@dataclass
class Record:
    """One valid record.

    ``info`` holds the decoded JSON of HEADER/GAP/EVENT/END records; ``sensor``,
    ``host_time_s`` and ``packet`` are set for PACKET and NOTIFY records (``channel`` for
    NOTIFY); ``payload`` is always the raw payload.
    """

    offset: int
    type: int
    payload: bytes
    sensor: int | None = None
    host_time_s: float | None = None
    packet: bytes | None = None
    info: dict | None = None
    channel: int | None = None
    #: problems of optional HEADER fields that ``info`` leaves out ("'notes' must be ...")
    repaired: list[str] = field(default_factory=list)

    @property
    def type_name(self) -> str:
        """``PACKET``, ``EVENT``, ... or ``TYPE<n>`` for unknown types."""
        return RecordType.NAMES.get(self.type, f"TYPE{self.type}")


# -- validation of record contents (docs/recording-format.md, "Validation") -------------


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def _is_number(v: Any) -> TypeGuard[float]:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):
        raise ValueError(f"number {text[:20]} is out of range")
    return x


def _parse_json(payload: bytes) -> dict:
    """A JSON record's object, or ValueError saying what is wrong (size, UTF-8, depth...)."""
    if len(payload) > MAX_JSON_BYTES:
        raise ValueError(f"{len(payload)} bytes of JSON, more than {MAX_JSON_BYTES}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"byte {exc.start} is not UTF-8") from None
    try:
        obj = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, our hooks, ints over 4300 digits
        raise ValueError(f"invalid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"not a JSON object but {type(obj).__name__}")
    if payload.count(b"[") + payload.count(b"{") > MAX_JSON_DEPTH:  # else it cannot be deeper
        if _json_depth(obj) > MAX_JSON_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return obj


def _host_time_problem(t: float) -> str | None:
    """Problem with a PACKET/NOTIFY host receive time, or None."""
    if math.isfinite(t) and abs(t) <= MAX_ABS_TIME_S:
        return None
    return f"host time {t!r} s is not a number within +-{MAX_ABS_TIME_S:g} s"


def _time_problem(info: dict, key: str) -> str | None:
    """Problem with an optional time field (seconds or null), or None."""
    v = info.get(key)
    if v is None or (_is_number(v) and abs(v) <= MAX_ABS_TIME_S):
        return None
    return f"'{key}' must be seconds within +-{MAX_ABS_TIME_S:g} or null, got {_short(v)}"


def _int_problem(info: dict, key: str, lo: int, hi: int, required: bool = False) -> str | None:
    v = info.get(key)
    if v is None and not required:
        return None
    if _is_int(v) and lo <= v <= hi:
        return None
    return f"'{key}' must be an integer {lo}..{hi}, got {_short(v)}"


def _str_problem(info: dict, key: str, required: bool = False) -> str | None:
    v = info.get(key)
    if isinstance(v, str) and (v or not required):
        return None
    if v is None and not required:
        return None
    return f"'{key}' must be {'a non-empty' if required else 'a'} string, got {_short(v)}"


def _first(*problems: str | None) -> str | None:
    return next((p for p in problems if p), None)


def _gap_problem(g: dict) -> str | None:
    return _first(
        _int_problem(g, "sensor", 0, 255, required=True),
        _int_problem(g, "samples", 0, MAX_GAP_SAMPLES, required=True),
        _str_problem(g, "reason"),
        _str_problem(g, "cause"),
        *(_time_problem(g, k) for k in ("t_s", "start_s", "end_s", "start_host_s", "end_host_s")),
        _int_problem(g, "start_us", 0, 2**32 - 1),
        _int_problem(g, "end_us", 0, 2**32 - 1),
    )


#: Event kinds whose moment matters (protocol runs): their ``t_s`` must not be null.
_TIMED_KINDS = ("test_start", "test_stop", "stage_start", "stage_end")
#: Fields of the events Poise writes that its readers use: strings or objects (or absent).
_EVENT_STRINGS = ("test", "stage", "marker", "text", "key")
_EVENT_OBJECTS = ("result",)


def _event_problem(e: dict) -> str | None:
    problem = _first(
        _str_problem(e, "kind", required=True),
        _time_problem(e, "t_s"),
        *(_str_problem(e, k) for k in _EVENT_STRINGS),
    )
    if problem:
        return problem
    if e["kind"] in _TIMED_KINDS and e.get("t_s") is None:
        return f"a {e['kind']} event needs 't_s'"
    for k in _EVENT_OBJECTS:
        if e.get(k) is not None and not isinstance(e[k], dict):
            return f"'{k}' must be an object, got {_short(e[k])}"
    return None


def _end_problem(e: dict) -> str | None:
    return _first(
        _time_problem(e, "t_s"),
        _int_problem(e, "records", 0, 2**63 - 1),
        _int_problem(e, "packets", 0, 2**63 - 1),
    )


_DEMOGRAPHIC_NUMBERS = ("age", "height_m", "weight_kg", "sensor_height_m")


def _header_issues(md: dict) -> tuple[dict, list[str], str | None]:
    """Check a header: ``(usable copy, problems of optional fields, fatal problem)``.

    Without valid sensors (a list of at most 256 objects, each with a driver this Poise
    knows and a configuration the driver accepts) the header is unusable (fatal). An optional
    field of the wrong type or range is a problem and is left out of the copy (a sensor's
    ``id`` becomes ``sensor-<i>``, its ``placement``/``name``/``address`` null).
    """
    out = dict(md)
    problems: list[str] = []

    def drop(obj: dict, key: str, problem: str | None, where: str = "") -> None:
        if problem:
            problems.append(f"{where}{problem}; ignored")
            obj.pop(key, None)

    sensors = md.get("sensors")
    if sensors is None:
        sensors = []
    if not isinstance(sensors, list) or len(sensors) > 256:
        return (
            out,
            problems,
            f"'sensors' must be a list of at most 256 sensors, got {_short(sensors)}",
        )
    clean_sensors = []
    for i, smd in enumerate(sensors):
        if not isinstance(smd, dict):
            return out, problems, f"sensor {i} is not an object but {_short(smd)}"
        kind = smd.get("driver")
        if kind is not None and not isinstance(kind, str):
            return out, problems, f"sensor {i}: 'driver' must be a string, got {_short(kind)}"
        try:
            drv = _driver(kind)
        except KeyError as exc:  # a kind this Poise does not know
            return out, problems, f"sensor {i}: {exc.args[0]}"
        try:
            if not isinstance(smd.get("config"), dict):
                raise ValueError("missing or not an object")
            drv.config_from_dict(smd["config"])
        except KeyError as exc:
            return out, problems, f"sensor {i} has an invalid config (no {exc})"
        except (TypeError, ValueError) as exc:
            return out, problems, f"sensor {i} has an invalid config ({exc})"
        smd = dict(smd)
        for key in ("id", "placement", "name", "address"):
            drop(smd, key, _str_problem(smd, key), f"sensor {i}: ")
        dev = smd.get("device")
        if dev is not None and not isinstance(dev, dict):
            drop(smd, "device", f"'device' must be an object, got {_short(dev)}", f"sensor {i}: ")
        fw = smd.get("firmware")
        if fw is not None and not isinstance(fw, str | dict):
            drop(
                smd,
                "firmware",
                f"'firmware' must be a string or object, got {_short(fw)}",
                f"sensor {i}: ",
            )
        clean_sensors.append(smd)
    out["sensors"] = clean_sensors
    for key in ("start", "demographics"):
        v = out.get(key)
        if v is not None and not isinstance(v, dict):
            drop(out, key, f"'{key}' must be an object, got {_short(v)}")
    patient = out.get("patient")
    if patient is not None and not isinstance(patient, str | dict):
        drop(out, "patient", f"'patient' must be a string, got {_short(patient)}")
    drop(out, "format_version", _int_problem(out, "format_version", 1, 65535))
    for key in ("notes", "test", "session_kind"):
        drop(out, key, _str_problem(out, key))
    if isinstance(out.get("start"), dict):
        start = out["start"] = dict(out["start"])
        drop(start, "utc", _str_problem(start, "utc"), "start: ")
        drop(start, "epoch_s", _time_problem(start, "epoch_s"), "start: ")
        drop(start, "monotonic_s", _time_problem(start, "monotonic_s"), "start: ")
        drop(start, "timezone", _str_problem(start, "timezone"), "start: ")
        off = start.get("utc_offset_s")
        if off is not None and not (_is_number(off) and abs(off) <= 86400):
            drop(
                start,
                "utc_offset_s",
                f"'utc_offset_s' must be seconds within +-86400 or null, got {_short(off)}",
                "start: ",
            )
    if isinstance(out.get("demographics"), dict):
        demo = out["demographics"] = dict(out["demographics"])
        drop(demo, "sex", _str_problem(demo, "sex"), "demographics: ")
        for k in _DEMOGRAPHIC_NUMBERS:
            v = demo.get(k)
            if v is not None and not (_is_number(v) and 0 < v < 1e4):
                drop(
                    demo,
                    k,
                    f"'{k}' must be a positive number or null, got {_short(v)}",
                    "demographics: ",
                )
    return out, problems, None


def _header_problem(md: dict) -> str | None:
    """The first problem of a header (the writer refuses any)."""
    _, problems, fatal = _header_issues(md)
    return fatal or (problems[0].removesuffix("; ignored") if problems else None)


_PROBLEMS = {
    RecordType.HEADER: _header_problem,
    RecordType.GAP: _gap_problem,
    RecordType.EVENT: _event_problem,
    RecordType.END: _end_problem,
}


def _check_preamble(data: bytes, name: str) -> int:
    if len(data) == 0:
        raise RecordingError(f"{name}: not a Poise recording (empty file)")
    if not data.startswith(MAGIC):
        if len(data) < len(MAGIC) and MAGIC.startswith(data):
            raise RecordingError(f"{name}: Poise recording truncated inside the magic")
        raise RecordingError(f"{name}: not a Poise recording (bad magic)")
    if len(data) < PREAMBLE_SIZE:
        raise RecordingError(f"{name}: Poise recording truncated inside the file preamble")
    _, version, _ = _PREAMBLE.unpack_from(data, 0)
    if version > FORMAT_VERSION:
        raise RecordingError(
            f"{name}: recording format version {version} is newer than this reader "
            f"({FORMAT_VERSION}); update Poise"
        )
    if version < 1:
        raise RecordingError(f"{name}: invalid recording format version {version}")
    return version


def _first_record_header(data: bytes | mmap.mmap, start: int = 0) -> dict | None:
    """The first valid HEADER among the leading records with a valid CRC at or after
    ``start`` (proof that a file with a damaged preamble is a recording), else None."""
    pos = data.find(SYNC, start)
    n = len(data)
    while 0 <= pos and pos + REC_HEAD_SIZE <= n:
        _, rtype, _, length = _REC_HEAD.unpack_from(data, pos)
        end = pos + REC_HEAD_SIZE + length + CRC_SIZE
        if length <= MAX_PAYLOAD and end <= n:
            (crc,) = _CRC.unpack_from(data, end - CRC_SIZE)
            if zlib.crc32(data[pos + 4 : end - CRC_SIZE]) & 0xFFFFFFFF == crc:
                if rtype != RecordType.HEADER:
                    return None  # the records start with the headers
                try:
                    info, _, fatal = _header_issues(
                        _parse_json(data[pos + REC_HEAD_SIZE : end - CRC_SIZE])
                    )
                except ValueError:
                    fatal = "invalid"
                if not fatal:
                    return info
                pos = data.find(SYNC, end)  # an invalid header copy: try the next one
                continue
        pos = data.find(SYNC, pos + 1)
    return None


def _read_preamble(data: bytes | mmap.mmap, name: str) -> tuple[int, Damage | None]:
    """The format version, and the damage of a preamble the records prove wrong.

    A flipped bit in the magic or the version field must not orphan a file whose records
    are intact: when the first valid record is a HEADER, the file is read (damage at
    offset 0) with the version the header states. A version above this reader's with a
    header that agrees is a genuinely newer file (RecordingError: update Poise).
    """
    head = data[:PREAMBLE_SIZE]
    try:
        return _check_preamble(head, name), None
    except RecordingError:
        if len(head) == 0 or (len(head) < len(MAGIC) and MAGIC.startswith(head)):
            raise
        header = _first_record_header(data)
        stated = header.get("format_version") if header is not None else None
        if not isinstance(stated, int) or isinstance(stated, bool):  # not _is_int(stated)
            raise  # no proof of a recording (or of its version): the preamble's word stands
        if stated > FORMAT_VERSION:
            raise RecordingError(
                f"{name}: recording format version {stated} is newer than this reader "
                f"({FORMAT_VERSION}); update Poise"
            ) from None
        if head.startswith(MAGIC):
            _, version, _ = _PREAMBLE.unpack_from(head, 0)
            what = f"format version field reads {version}, the header says {stated}"
        else:
            what = f"bad magic {head[: len(MAGIC)]!r}"
        return stated, Damage(
            0, f"damaged file preamble ({what}); the records were read by their sync markers"
        )


class RecordingReader:
    """Read the records of a recording, recovering everything valid.

    Parameters
    ----------
    source
        Path of a ``.poise`` file, its bytes, or an ``mmap`` of it (read in place, for files
        larger than memory: :mod:`sensors.longread`).
    name
        How messages name the source (default: the path).

    Raises
    ------
    RecordingError
        If the file is not a Poise recording at all (empty, bad magic, newer format).

    Attributes
    ----------
    damage
        :class:`Damage` entries found so far (complete after :meth:`records` is exhausted).
    notes
        Non-damage remarks (unknown record types skipped, no END record).
    """

    def __init__(
        self, source: str | os.PathLike | bytes | bytearray | mmap.mmap, *, name: str | None = None
    ) -> None:
        self._data: bytes | mmap.mmap
        if isinstance(source, mmap.mmap):  # a file mapped by the caller: read, never copied
            self.name = name or "<mapped recording>"
            self._data = source
        elif isinstance(source, bytes | bytearray | memoryview):
            self.name = name or "<recording bytes>"
            self._data = bytes(source)
        else:
            self.name = str(source)
            with open(source, "rb") as fh:
                self._data = fh.read()
        self.format_version, self._preamble_damage = _read_preamble(self._data, self.name)
        self.damage: list[Damage] = []
        self.notes: list[str] = []
        self.size = len(self._data)

    def records(self) -> Iterator[Record]:
        """Yield every valid record in file order; damage is collected in :attr:`damage`."""
        self.damage.clear()
        self.notes.clear()
        if self._preamble_damage is not None:
            self.damage.append(self._preamble_damage)
        data = self._data
        n = len(data)
        pos = PREAMBLE_SIZE
        unknown: dict[int, int] = {}
        region: list | None = None  # [start, stop, first problem] of the current damage
        while pos < n:
            problem = None
            if data[pos : pos + 4] != SYNC and not (n - pos < 4 and SYNC.startswith(data[pos:])):
                problem = "no record marker (unrecognised bytes)"
            elif pos + REC_HEAD_SIZE > n:
                problem = (
                    f"truncated record header at end of file ({n - pos} of {REC_HEAD_SIZE} bytes)"
                )
            else:
                _, rtype, flags, length = _REC_HEAD.unpack_from(data, pos)
                end = pos + REC_HEAD_SIZE + length + CRC_SIZE
                if length > MAX_PAYLOAD:
                    problem = f"implausible record length {length}"
                elif end > n:
                    problem = (
                        f"truncated {RecordType.NAMES.get(rtype, f'type {rtype}')} record: "
                        f"{end - pos} bytes long but only {n - pos} left (cut off, or a "
                        "damaged length field)"
                    )
                else:
                    payload = data[pos + REC_HEAD_SIZE : end - CRC_SIZE]
                    (crc,) = _CRC.unpack_from(data, end - CRC_SIZE)
                    if zlib.crc32(data[pos + 4 : end - CRC_SIZE]) & 0xFFFFFFFF != crc:
                        problem = "checksum mismatch"
                    else:
                        rec = self._parse(pos, rtype, payload)
                        if rec is not None:
                            if rec.type not in RecordType.NAMES:
                                unknown[rec.type] = unknown.get(rec.type, 0) + 1
                            else:
                                yield rec
                        if region is not None:
                            self.damage.append(self._damage(*region))
                            region = None
                        pos = end
                        continue
            nxt = data.find(SYNC, pos + 1)
            stop = n if nxt < 0 else nxt
            if region is not None and region[1] == pos:  # contiguous damage: one entry
                region[1] = stop
            else:
                if region is not None:
                    self.damage.append(self._damage(*region))
                region = [pos, stop, problem]
            pos = stop
        if region is not None:
            self.damage.append(self._damage(*region))
        for t, c in sorted(unknown.items()):
            self.notes.append(
                f"skipped {c} record(s) of unknown type {t} (written by a newer Poise?)"
            )

    def _damage(self, start: int, stop: int, problem: str) -> Damage:
        where = "the end of the file" if stop >= self.size else f"the next record at offset {stop}"
        return Damage(start, f"{problem}; skipped {stop - start} bytes to {where}")

    def _parse(self, pos: int, rtype: int, payload: bytes) -> Record | None:
        if rtype == RecordType.PACKET:
            if len(payload) < _PACKET_HEAD.size:
                self.damage.append(Damage(pos, "PACKET record too short for its header"))
                return None
            sensor, t = _PACKET_HEAD.unpack_from(payload, 0)
            problem = _host_time_problem(t)
            if problem:
                self.damage.append(Damage(pos, f"PACKET record: {problem}"))
                return None
            return Record(pos, rtype, payload, sensor, t, payload[_PACKET_HEAD.size :])
        if rtype == RecordType.NOTIFY:
            if len(payload) < _NOTIFY_HEAD.size:
                self.damage.append(Damage(pos, "NOTIFY record too short for its header"))
                return None
            sensor, t, channel = _NOTIFY_HEAD.unpack_from(payload, 0)
            problem = _host_time_problem(t)
            if problem:
                self.damage.append(Damage(pos, f"NOTIFY record: {problem}"))
                return None
            rec = Record(pos, rtype, payload, sensor, t, payload[_NOTIFY_HEAD.size :])
            rec.channel = channel
            return rec
        if rtype in _PROBLEMS:
            name = RecordType.NAMES[rtype]
            try:
                info = _parse_json(payload)
            except ValueError as exc:
                self.damage.append(Damage(pos, f"{name} record: {exc}"))
                return None
            if rtype == RecordType.HEADER:  # optional fields can be left out, sensors not
                info, repaired, problem = _header_issues(info)
            else:
                repaired, problem = [], _PROBLEMS[rtype](info)
            if problem:
                self.damage.append(Damage(pos, f"{name} record: {problem}"))
                return None
            return Record(pos, rtype, payload, info=info, repaired=repaired)
        return Record(pos, rtype, payload)


@dataclass
class Recording:
    """Everything recovered from a recording.

    Attributes
    ----------
    metadata
        The header (see :class:`RecordingWriter`).
    sensors
        One :class:`SensorData` per sensor of the header, in header order.
    events
        EVENT records as dicts (each has ``kind`` and ``t_s``, seconds from the start).
    damage
        Damaged regions, including packets the codec rejected.
    notes
        Other remarks (unknown record types, no END record).
    closed_cleanly
        Whether an END record was found.
    gap_records
        The GAP records as written (dicts), before merging into ``SensorData.gaps``.
    end
        The END record's content, if any.
    """

    metadata: dict
    sensors: list[SensorData]
    events: list[dict] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    closed_cleanly: bool = False
    gap_records: list[dict] = field(default_factory=list)
    end: dict | None = None
    source: str = ""

    @property
    def duration_s(self) -> float:
        """From the recording start to the later of the last sample's end and the END time."""
        d = 0.0
        for s in self.sensors:
            if s.t_s.size:
                d = max(d, float(s.t_s[-1]) + 1.0 / s.config.sampling_rate_hz)
        if self.end and isinstance(self.end.get("t_s"), int | float):
            d = max(d, float(self.end["t_s"]))
        return d

    def sensor(self, sensor_id: str) -> SensorData:
        """The sensor with this id (``KeyError`` naming the ids present otherwise)."""
        for s in self.sensors:
            if s.id == sensor_id:
                return s
        raise KeyError(f"no sensor {sensor_id!r}; present: {[s.id for s in self.sensors]}")


def _device_description(drv: Any, smd: dict, index: int, events: list[dict]) -> dict:
    """``{"kind", "model", "firmware"}`` of a sensor: the header's ``device`` completed by
    the first ``device_info`` event the stream wrote for it (read after connecting)."""
    device = smd.get("device")
    dev: dict = device if isinstance(device, dict) else {}
    out = {
        "kind": drv.kind,
        "model": dev.get("model") or drv.default_model,
        "firmware": dev.get("firmware") or smd.get("firmware"),
    }
    for ev in events:
        if ev.get("kind") == "device_info" and ev.get("sensor") == index:
            if ev.get("model"):
                out["model"] = str(ev["model"])
            if ev.get("firmware_version"):
                out["firmware"] = str(ev["firmware_version"])
            break
    if isinstance(out["firmware"], dict):  # format-1 headers: {"version": ...}
        out["firmware"] = out["firmware"].get("version")
    return out


@dataclass
class _Walk:
    """What one pass over a recording's records found besides the packets."""

    metadata: dict
    damage: list[Damage]
    notes: list[str]
    gaps: dict[int, list[dict]]
    gap_records: list[dict]
    events: list[dict]
    end: dict | None


def _walk_records(reader: RecordingReader, on_packet: Any, on_header: Any = None) -> _Walk:
    """Read every record once: PACKET and NOTIFY records go to ``on_packet(record)`` as they
    come, the first valid header to ``on_header(metadata)``; the rest is collected the way
    :func:`load_recording` reports it (shared with :mod:`sensors.longread`).

    Raises
    ------
    RecordingError
        No valid header record anywhere.
    """
    metadata: dict | None = None
    header_damage: list[Damage] = []
    gaps: dict[int, list[dict]] = {}
    gap_records: list[dict] = []
    events: list[dict] = []
    end: dict | None = None
    after_end = 0
    for rec in reader.records():
        if rec.type == RecordType.HEADER:
            if metadata is None:
                metadata = rec.info
                header_damage = [Damage(rec.offset, f"HEADER record: {p}") for p in rec.repaired]
                if on_header is not None:
                    on_header(metadata)
            continue
        if rec.type in (RecordType.PACKET, RecordType.NOTIFY):
            if end is not None:
                after_end += 1
            on_packet(rec)
        elif rec.type == RecordType.GAP:
            gap = rec.info
            assert gap is not None  # RecordingReader._parse decodes every GAP's JSON
            gap_records.append(gap)
            s = gap.get("sensor")
            if isinstance(s, int):
                gaps.setdefault(s, []).append(gap)
        elif rec.type == RecordType.EVENT:
            event = rec.info
            assert event is not None  # RecordingReader._parse decodes every EVENT's JSON
            events.append(event)
        elif rec.type == RecordType.END:
            end = rec.info
    damage = list(reader.damage)
    notes = list(reader.notes)
    if metadata is None:
        why = [d for d in damage if d.reason.startswith("HEADER")] or damage
        raise RecordingError(
            f"{reader.name}: no valid header record (damage: "
            + "; ".join(f"offset {d.offset}: {d.reason}" for d in why[:2])
            + ")"
        )
    damage.extend(header_damage)
    if end is None:
        notes.append("no END record: the writer did not close the file (crash or still recording)")
    if after_end:
        notes.append(f"{after_end} packet(s) after the END record")
    return _Walk(metadata, damage, notes, gaps, gap_records, events, end)


def _header_sensors(name: str, metadata: dict) -> list[tuple[dict, Any, Any]]:
    """``(header entry, driver, config)`` of every header sensor (RecordingError naming the
    file when one cannot be read)."""
    sensors_md = metadata.get("sensors") or []
    if not isinstance(sensors_md, list) or not all(isinstance(x, dict) for x in sensors_md):
        raise RecordingError(f"{name}: header 'sensors' is not a list of objects")
    out = []
    for i, smd in enumerate(sensors_md):
        try:
            drv = _driver(smd.get("driver"))
        except KeyError as exc:
            raise RecordingError(f"{name}: sensor {i}: {exc.args[0]}") from None
        try:
            cfg = drv.config_from_dict(smd["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordingError(f"{name}: sensor {i} has an invalid config ({exc})") from None
        out.append((smd, drv, cfg))
    return out


def _stray_damage(offset: int, count: int, sensor: int) -> Damage:
    """Damage entry for packets of a sensor index the header does not have."""
    return Damage(offset, f"{count} packet(s) for sensor index {sensor}, not in the header")


def load_recording(source: str | os.PathLike | bytes) -> Recording:
    """Read a recording and decode its samples onto per-sensor time grids.

    Each sensor's PACKET/NOTIFY records go through its driver
    (:meth:`sensors.devices.SensorDriver.build_sensor_data`: the live decoder), which
    places the samples by the device's sample index, maps device time to host time
    (lower-envelope clock fit, :func:`sensors.clock.fit_clock`), drops duplicates, puts
    NaN rows where samples are missing and lists the gaps. Poise wearables (format 1) go
    through :func:`sensors.timeline.build_sensor_data` (the codec's ``decode_many``).
    A recording too long for memory is read in pieces by :mod:`sensors.longread`.

    Raises
    ------
    RecordingError
        Not a recording, or no valid header record anywhere.
    """
    reader = RecordingReader(source)
    packets: dict[int, list[Record]] = {}
    walk = _walk_records(reader, lambda rec: packets.setdefault(rec.sensor, []).append(rec))
    damage, events = walk.damage, walk.events
    sensors: list[SensorData] = []
    for i, (smd, drv, cfg) in enumerate(_header_sensors(reader.name, walk.metadata)):
        recs = packets.pop(i, [])
        sd, bad = drv.build_sensor_data(
            sensor_id=str(smd.get("id", f"sensor-{i}")),
            placement=smd.get("placement"),
            config=cfg,
            records=[(r.channel or 0, r.packet) for r in recs],
            host_times_s=[r.host_time_s for r in recs],
            gap_records=walk.gaps.get(i, []),
        )
        for k, reason in bad:
            damage.append(Damage(recs[k].offset, reason))
        sd.kind = drv.kind
        sd.device = _device_description(drv, smd, i, events)
        sensors.append(sd)
    for s, recs in sorted(packets.items()):
        damage.append(_stray_damage(recs[0].offset, len(recs), s))
    return _assemble(Recording, walk, reader.name, sensors, damage)


def _assemble(cls: type, walk: _Walk, name: str, sensors: list[Any], damage: list[Damage]) -> Any:
    """The recording object: damage in file order, events in time order."""
    damage.sort(key=lambda d: d.offset)
    walk.events.sort(key=lambda e: (e.get("t_s") is None, e.get("t_s") or 0.0))
    return cls(
        metadata=walk.metadata,
        sensors=sensors,
        events=walk.events,
        damage=damage,
        notes=walk.notes,
        closed_cleanly=walk.end is not None,
        gap_records=walk.gap_records,
        end=walk.end,
        source=name,
    )
