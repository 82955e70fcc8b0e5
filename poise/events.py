"""A tiny observer helper: plain-Python events that Qt views (or tests) subscribe to.

Modelled on napari's ``EmitterGroup`` habit, cut to what the session needs: an
:class:`Event` is a list of callbacks; :class:`EventGroup` names a set of them. Emission is
synchronous, on the caller's thread. The session only emits from :meth:`Session.poll`, so a
Qt view that polls on a ``QTimer`` receives every event on the GUI thread.

A callback that raises does not stop the others or the stream: the exception is logged and
handed to the group's ``error_handler`` (the GUI shows it in its error dialog).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

Callback = Callable[..., Any]


class Event:
    """One named event with any number of subscribers.

    Parameters
    ----------
    name
        Name used in log messages.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callback] = []
        self.error_handler: Callable[[BaseException, str], None] | None = None
        self.raise_errors = False

    def connect(self, callback: Callback) -> Callback:
        """Subscribe ``callback``; returns it so this can be used as a decorator."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callback | None = None) -> None:
        """Unsubscribe ``callback`` (or everyone when ``None``); unknown callbacks are ignored."""
        if callback is None:
            self._callbacks.clear()
        elif callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any, **kwargs: Any) -> None:
        """Call every subscriber with the given arguments, in subscription order."""
        for cb in list(self._callbacks):
            try:
                cb(*args, **kwargs)
            except Exception as exc:  # a broken view must not stop the stream
                if self.raise_errors:
                    raise
                log.exception("listener %r of event %r failed", cb, self.name)
                if self.error_handler is not None:
                    self.error_handler(exc, self.name)

    def __len__(self) -> int:
        return len(self._callbacks)


class EventGroup:
    """A named set of :class:`Event` objects, reachable as attributes.

    Parameters
    ----------
    *names
        Event names, e.g. ``EventGroup("sensor_state", "metrics")``.
    """

    def __init__(self, *names: str) -> None:
        self._events: dict[str, Event] = {}
        for name in names:
            self._events[name] = Event(name)
            setattr(self, name, self._events[name])

    def __getattr__(self, name: str) -> Event:
        # Only reached for a name that is not an attribute: every event is one (set in
        # __init__). Typed so that ``group.name.connect(...)`` is checked as an Event.
        raise AttributeError(f"no event {name!r} in this group (events: {self.names()})")

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events.values())

    def names(self) -> list[str]:
        """Names of every event in the group."""
        return list(self._events)

    def set_error_handler(self, handler: Callable[[BaseException, str], None] | None) -> None:
        """Route listener exceptions of every event to ``handler``."""
        for ev in self._events.values():
            ev.error_handler = handler

    def set_raise_errors(self, flag: bool) -> None:
        """Re-raise listener exceptions (useful in tests)."""
        for ev in self._events.values():
            ev.raise_errors = flag
