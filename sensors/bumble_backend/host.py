"""Shared Bumble hosts: one Bumble ``Device`` (central) per transport and event loop.

Bleak creates one backend object per scanner and per client, but a computer has one
radio: every :class:`~sensors.bumble_backend.scanner.BumbleScanner` and
:class:`~sensors.bumble_backend.client.BumbleClient` that names the same transport in the
same event loop shares one :class:`BumbleHost` (one HCI transport, one controller, one
Bumble host stack). Hosts are reference counted and closed shortly after the last user
leaves (a short linger lets a reconnect reuse the open transport).

A transport is either

* a :class:`~sensors.bumble_backend.link.VirtualLink` object: the host gets its own new
  virtual controller on that in-process link;
* any Bumble transport string: ``"tcp-client:127.0.0.1:PORT"`` (a controller served by
  ``poise emulate``), ``"usb:0"`` (a USB Bluetooth dongle driven directly), ``"serial:..."``,
  ``"hci-socket:0"``, ... (see Bumble's ``open_transport``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

from bumble import att, hci
from bumble.device import Advertisement, Device
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, TransportLostError

from sensors.bumble_backend.link import PoiseHost as Host
from sensors.bumble_backend.link import VirtualLink

logger = logging.getLogger(__name__)

#: Seconds an unused host stays open before its transport is closed.
HOST_LINGER_S = 1.0


def transport_key(transport: Any) -> Any:
    """Hashable identity of a transport (the link object itself, or the string)."""
    if isinstance(transport, VirtualLink):
        return ("link", id(transport))
    if isinstance(transport, str) and transport:
        return ("str", transport)
    raise TypeError(
        "Bumble backend needs bumble={'transport': ...}: a VirtualLink or a Bumble transport "
        f"string such as 'tcp-client:127.0.0.1:9001' or 'usb:0', got {transport!r}"
    )


def address_str(address: hci.Address) -> str:
    """Bleak-style address string (upper case, no Bumble "/P" public-address suffix)."""
    text = str(address)
    return text[:-2] if text.endswith("/P") else text


def _random_static_address(rng: random.Random) -> hci.Address:
    octets = [rng.randrange(256) for _ in range(6)]
    octets[0] |= 0xC0
    return hci.Address(":".join(f"{b:02X}" for b in octets), hci.Address.RANDOM_DEVICE_ADDRESS)


class BumbleHost:
    """One Bumble central (host stack + controller) shared by scanners and clients.

    Use :func:`acquire_host` / :func:`release_host`, not the constructor.
    """

    def __init__(self, transport: Any) -> None:
        self.transport_spec = transport
        self.loop = asyncio.get_running_loop()
        self.device: Device | None = None
        self._hci_transport: Any = None
        self._controller: Any = None
        self.refcount = 0
        self.connect_lock = asyncio.Lock()
        self._scan_listeners: dict[object, Callable[[Advertisement], None]] = {}
        self._scan_lock = asyncio.Lock()
        self._linger: asyncio.TimerHandle | None = None
        self._closed = False
        #: True once the HCI transport died; the host is then replaced on next acquire.
        self.lost = False
        #: Connected BumbleClients (told when the transport is lost).
        self.clients: set[Any] = set()
        #: Last advertisement per address string (address type for connect-by-string).
        self.advertisements: dict[str, Advertisement] = {}
        #: (connection handle, attribute handle) -> callback of a subscribed client
        #: (:meth:`_on_att_pdu`); set and cleared by BumbleClient.
        self.notify_routes: dict[tuple[int, int], Callable[[bytes], None]] = {}
        self._att_default: Callable[[int, bytes], None] | None = None

    async def open(self) -> None:
        """Open the HCI transport and power the Bumble device on."""
        address = _random_static_address(random.Random())
        if isinstance(self.transport_spec, VirtualLink):
            controller = self.transport_spec.create_controller(f"central-{address}")
            self._controller = controller
            host = Host(controller, AsyncPipeSink(controller))
        else:
            try:
                self._hci_transport = await open_transport(self.transport_spec)
            except Exception as exc:
                raise OSError(
                    f"cannot open Bumble transport {self.transport_spec!r}: {exc}"
                ) from exc
            host = Host(self._hci_transport.source, self._hci_transport.sink)
            terminated = getattr(self._hci_transport.source, "terminated", None)
            if isinstance(terminated, asyncio.Future):
                terminated.add_done_callback(lambda _f: self._on_transport_lost())
        host.notify_routes = self.notify_routes  # subscribed notifications: see on_packet
        self.device = Device(name="Poise host", address=address, host=host)
        self.device.on(self.device.EVENT_ADVERTISEMENT, self._on_advertisement)
        # ATT goes through _on_att_pdu first (the channel manager's public registration)
        self._att_default = self.device.on_gatt_pdu
        self.device.l2cap_channel_manager.register_fixed_channel(att.ATT_CID, self._on_att_pdu)
        try:
            await asyncio.wait_for(self.device.power_on(), 10.0)
        except Exception as exc:
            await self.close()
            raise OSError(
                f"Bumble transport {self.transport_spec!r}: the controller did not power on "
                f"({type(exc).__name__}: {exc})"
            ) from exc

    def _on_transport_lost(self) -> None:
        """The HCI transport died (dongle unplugged, emulator process gone)."""
        if self._closed or self.lost:
            return
        logger.warning("Bumble transport %r lost", self.transport_spec)
        self.lost = True
        for key, value in list(_hosts.items()):
            if value is self:
                del _hosts[key]
        for client in list(self.clients):
            client._on_link_lost()

    def _on_att_pdu(self, connection_handle: int, pdu: bytes) -> None:
        """ATT PDUs of this central: a notification on a subscribed handle goes straight
        to its client's callback; everything else (and everything while Bumble's GATT
        client logs at debug level) to Bumble's own handler.

        Bumble's handler parses each PDU into an object, formats it into a debug string
        (an f-string, built even when debug logging is off) and time-stamps a value
        cache, per notification; on the streaming path that is a measurable share of the
        CPU. The subscription itself (CCCD write, Bumble's subscriber) is Bumble's.
        Most such notifications do not even get here: the host hands a whole one to its
        route straight from the HCI ACL packet (:meth:`sensors.bumble_backend.link.PoiseHost.on_packet`, sharing
        :attr:`notify_routes`), skipping Bumble's HCI and L2CAP objects too.
        """
        if (
            len(pdu) >= 3
            and pdu[0] == _ATT_NOTIFY
            and not _gatt_client_logger.isEnabledFor(logging.DEBUG)
        ):
            route = self.notify_routes.get((connection_handle, pdu[1] | (pdu[2] << 8)))
            if route is not None:
                route(pdu[3:])
                return
        assert self._att_default is not None
        self._att_default(connection_handle, pdu)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        self.advertisements[address_str(advertisement.address)] = advertisement
        for listener in list(self._scan_listeners.values()):
            listener(advertisement)

    async def add_scan_listener(
        self, token: object, listener: Callable[[Advertisement], None], active: bool
    ) -> None:
        """Start delivering advertisements to ``listener``; scans while any listener exists."""
        async with self._scan_lock:
            self._scan_listeners[token] = listener
            assert self.device is not None
            if not self.device.is_scanning:
                await self.device.start_scanning(active=active, filter_duplicates=False)

    async def remove_scan_listener(self, token: object) -> None:
        """Stop delivering to the listener; stops scanning when it was the last one."""
        async with self._scan_lock:
            self._scan_listeners.pop(token, None)
            if not self._scan_listeners and self.device is not None and self.device.is_scanning:
                with contextlib.suppress(Exception):
                    await self.device.stop_scanning()

    def peer_address(self, address: str) -> hci.Address:
        """Address object (with its type) for an address string seen in a scan."""
        adv = self.advertisements.get(address.upper())
        if adv is not None:
            return adv.address
        return hci.Address(address.upper(), hci.Address.RANDOM_DEVICE_ADDRESS)

    async def close(self) -> None:
        """Close the transport / remove the virtual controller."""
        if self._closed:
            return
        self._closed = True
        if self.device is not None and not self.lost:
            for connection in list(self.device.connections.values()):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.disconnect(), 1.0)
        if self._controller is not None and isinstance(self.transport_spec, VirtualLink):
            self.transport_spec.remove_controller(self._controller)
        if self._hci_transport is not None:
            with contextlib.suppress(Exception):
                await self._hci_transport.close()
        self._fail_pending()

    def _fail_pending(self) -> None:
        """Fail what still waits on the closed controller instead of letting it hang.

        A command in flight when the controller went away (a scan stop, a connect cancel,
        a disconnect of an orphan) would wait for Bumble's 10-s command timeout and then
        raise ``CommandTimeoutError`` from a task nobody awaits, possibly after the loop
        is gone; pending connects and disconnects would wait forever. Bumble's own
        ``on_transport_lost`` does this, but without checking whether the waiter was
        already cancelled (``InvalidStateError``).
        """
        if self.device is None:
            return
        host = self.device.host
        pending = host.pending_response
        if pending is not None and not pending.done():
            pending.set_exception(TransportLostError("Bumble host closed"))
        try:
            host.emit("flush")
        except asyncio.InvalidStateError:
            logger.debug("flush after close reached a cancelled waiter")


_ATT_NOTIFY = int(att.Opcode.ATT_HANDLE_VALUE_NOTIFICATION)
_gatt_client_logger = logging.getLogger("bumble.gatt_client")

# (loop, transport key) -> host
_hosts: dict[tuple[int, Any], BumbleHost] = {}
_open_locks: dict[tuple[int, Any], asyncio.Lock] = {}


async def acquire_host(transport: Any) -> BumbleHost:
    """Get (open if needed) the shared host for ``transport`` in the running loop."""
    loop = asyncio.get_running_loop()
    key = (id(loop), transport_key(transport))
    lock = _open_locks.get(key)
    if lock is None or getattr(lock, "_poise_loop", None) is not loop:
        lock = _open_locks[key] = asyncio.Lock()
        lock._poise_loop = loop  # type: ignore[attr-defined]
    async with lock:
        host = _hosts.get(key)
        if host is not None and host.loop is not loop:
            # a dead loop's host whose id() was reused by this loop: forget it
            _hosts.pop(key, None)
            host = None
        if host is None or host._closed or host.lost:
            host = BumbleHost(transport)
            await host.open()
            _hosts[key] = host
        if host._linger is not None:
            host._linger.cancel()
            host._linger = None
        host.refcount += 1
        return host


def release_host(host: BumbleHost) -> None:
    """Drop one reference; the host closes after :data:`HOST_LINGER_S` without users."""
    host.refcount -= 1
    if host.refcount > 0:
        return
    loop = asyncio.get_running_loop()

    def _close() -> None:
        host._linger = None
        if host.refcount <= 0:
            for key, value in list(_hosts.items()):
                if value is host:
                    del _hosts[key]
                    _open_locks.pop(key, None)
            loop.create_task(host.close())

    host._linger = loop.call_later(HOST_LINGER_S, _close)


async def close_hosts() -> None:
    """Close every host of the running loop now (tests and shutdown)."""
    loop_id = id(asyncio.get_running_loop())
    for key, host in list(_hosts.items()):
        if key[0] == loop_id:
            del _hosts[key]
            _open_locks.pop(key, None)
            if host._linger is not None:
                host._linger.cancel()
            await host.close()
