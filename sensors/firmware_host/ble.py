"""MicroPython's ``bluetooth.BLE`` (peripheral / GATT server part) on a Bumble device.

The methods and IRQ events the firmware uses, with MicroPython's signatures and
semantics (docs: ``library/bluetooth.rst``):

* ``gatts_register_services(services)``: ``(uuid, ((uuid, flags), ...))`` tuples ->
  a tuple per service of value handles; a CCCD is added to every characteristic that
  notifies or indicates (Bumble does it);
* ``gatts_write(handle, data)`` / ``gatts_read(handle)``: the local value a client reads,
  or what a client wrote; ``gatts_set_buffer`` (sizes are not limited here);
* ``gatts_notify(conn, handle, data=None)``: sent whatever the subscription (as on
  MicroPython); ``gatts_indicate(conn, handle)`` sends the local value and raises
  ``_IRQ_GATTS_INDICATE_DONE`` when the client confirms;
* ``gap_advertise(interval_us, adv_data, resp_data=...)`` (``None`` stops),
  ``gap_disconnect(conn)``;
* IRQs ``_IRQ_CENTRAL_CONNECT`` (1), ``_IRQ_CENTRAL_DISCONNECT`` (2), ``_IRQ_GATTS_WRITE``
  (3), ``_IRQ_GATTS_INDICATE_DONE`` (20), ``_IRQ_MTU_EXCHANGED`` (21), delivered on the
  event loop thread (MicroPython's scheduled IRQ context).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bumble.att import ATT_READ_NOT_PERMITTED_ERROR, ATT_WRITE_NOT_PERMITTED_ERROR, ATT_Error
from bumble.core import UUID as BumbleUUID
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service

from sensors.bumble_backend.link import VirtualLink, cancel_tasks

logger = logging.getLogger(__name__)

IRQ_CENTRAL_CONNECT = 1
IRQ_CENTRAL_DISCONNECT = 2
IRQ_GATTS_WRITE = 3
IRQ_GATTS_INDICATE_DONE = 20
IRQ_MTU_EXCHANGED = 21

FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020

_ATT_NOTIFY = 0x1B
_ATT_CID = 0x0004


def UUID(value: int | str) -> BumbleUUID:  # noqa: N802 - bluetooth.UUID's name
    """``bluetooth.UUID``: a 16-bit int or a 128-bit string."""
    if isinstance(value, int):
        return BumbleUUID.from_16_bits(value)
    return BumbleUUID(value)


def _read_not_permitted(_connection: Any) -> bytes:
    raise ATT_Error(ATT_READ_NOT_PERMITTED_ERROR)


def _write_not_permitted(_connection: Any, _value: bytes) -> None:
    raise ATT_Error(ATT_WRITE_NOT_PERMITTED_ERROR)


class BumbleBLE:
    """``bluetooth.BLE()`` for one firmware instance, on a virtual controller.

    Parameters
    ----------
    link
        The virtual link its controller joins.
    name, address
        GAP name and random static address.
    rssi_dbm
        RSSI scanners on the link report for it.
    """

    def __init__(self, link: VirtualLink, name: str, address: str, rssi_dbm: int = -50) -> None:
        self.link = link
        self.name = name
        self.address = address
        self.rssi_dbm = rssi_dbm
        self.device: Device | None = None
        self.controller: Any = None
        self._irq: Callable[[int, tuple], Any] | None = None
        self._values: dict[int, bytes] = {}
        self._chars: dict[int, Characteristic] = {}
        self._connections: dict[int, Connection] = {}
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self._advertising = False
        self._adv_task: asyncio.Task | None = None
        self.config_values: dict[str, Any] = {"mtu": 23, "gap_name": name}
        #: Data packets handed to the link (handle -> count), for the ground truth.
        self.notified: dict[int, int] = {}
        #: Called as ``on_notify(handle, value)`` after each notification is handed to the
        #: link (latency benchmarks keep the send time of every data packet).
        self.on_notify: Callable[[int, bytes], None] | None = None

    # -- lifecycle (harness side) ---------------------------------------------------------

    async def open(self) -> BumbleBLE:
        """Create the controller and the Bumble device and power it on."""
        self.controller, self.device = self.link.create_peripheral(
            self.name, self.address, self.rssi_dbm
        )
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)
        await self.device.power_on()
        return self

    async def close(self) -> None:
        self._closed = True
        await cancel_tasks(self._tasks)
        if self.controller is not None:
            self.link.remove_controller(self.controller)

    def _spawn(self, coro: Any) -> asyncio.Task | None:
        if self._closed:
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_task_error)
        return task

    def _fire(self, event: int, data: tuple) -> None:
        if self._irq is not None and not self._closed:
            self._irq(event, data)

    # -- bluetooth.BLE --------------------------------------------------------------------

    def active(self, state: bool | None = None) -> bool:
        return self.device is not None

    def config(self, *args: str, **kwargs: Any) -> Any:
        if args:
            if args[0] == "mac":
                return (1, bytes(self.device.random_address) if self.device else bytes(6))
            return self.config_values[args[0]]
        self.config_values.update(kwargs)
        return None

    def irq(self, handler: Callable[[int, tuple], Any]) -> None:
        self._irq = handler

    def gatts_register_services(self, services: Any) -> tuple:
        assert self.device is not None, "open() first"
        out = []
        for service_uuid, chars in services:
            built = []
            for char in chars:
                uuid, flags = char[0], char[1]
                props = Characteristic.Properties(0)
                perms = 0
                if flags & FLAG_READ:
                    props |= Characteristic.Properties.READ
                    perms |= Characteristic.READABLE
                if flags & FLAG_WRITE:
                    props |= Characteristic.Properties.WRITE
                    perms |= Characteristic.WRITEABLE
                if flags & FLAG_WRITE_NO_RESPONSE:
                    props |= Characteristic.Properties.WRITE_WITHOUT_RESPONSE
                    perms |= Characteristic.WRITEABLE
                if flags & FLAG_NOTIFY:
                    props |= Characteristic.Properties.NOTIFY
                if flags & FLAG_INDICATE:
                    props |= Characteristic.Properties.INDICATE
                holder: list[Characteristic] = []
                read = self._reader(holder) if flags & FLAG_READ else _read_not_permitted
                writable = flags & (FLAG_WRITE | FLAG_WRITE_NO_RESPONSE)
                write = self._writer(holder) if writable else _write_not_permitted
                c: Characteristic[bytes] = Characteristic(
                    uuid,
                    props,
                    Characteristic.Permissions(perms),
                    CharacteristicValue(read=read, write=write),
                )
                holder.append(c)
                built.append(c)
            self.device.add_service(Service(service_uuid, built))
            handles = []
            for c in built:
                self._chars[c.handle] = c
                self._values.setdefault(c.handle, b"")
                handles.append(c.handle)
            out.append(tuple(handles))
        return tuple(out)

    def _reader(self, holder: list[Characteristic]) -> Callable[[Any], bytes]:
        return lambda _conn: self._values.get(holder[0].handle, b"")

    def _writer(self, holder: list[Characteristic]) -> Callable[[Any, bytes], None]:
        def write(connection: Any, value: bytes) -> None:
            handle = holder[0].handle
            self._values[handle] = bytes(value)
            conn = getattr(connection, "connection", connection)
            self._fire(IRQ_GATTS_WRITE, (int(conn.handle), handle))

        return write

    def gatts_set_buffer(self, handle: int, length: int, append: bool = False) -> None:
        if handle not in self._chars:
            raise ValueError(f"unknown value handle {handle}")

    def gatts_write(self, handle: int, data: Any, send_update: bool = False) -> None:
        self._values[handle] = bytes(data)

    def gatts_read(self, handle: int) -> bytes:
        return self._values[handle]

    def gatts_notify(self, conn_handle: int, handle: int, data: Any = None) -> None:
        connection = self._connections.get(conn_handle)
        if connection is None or self.device is None:
            raise OSError(128, "ENOTCONN")
        value = self._values[handle] if data is None else bytes(data)
        mtu = int(connection.att_mtu)
        value = value[: mtu - 3]  # the stack truncates to the MTU, as a real one does
        pdu = bytes([_ATT_NOTIFY]) + handle.to_bytes(2, "little") + value
        self.device.send_l2cap_pdu(connection.handle, _ATT_CID, pdu)
        self.notified[handle] = self.notified.get(handle, 0) + 1
        if self.on_notify is not None:
            self.on_notify(handle, value)

    def gatts_indicate(self, conn_handle: int, handle: int, data: Any = None) -> None:
        connection = self._connections.get(conn_handle)
        if connection is None or self.device is None:
            raise OSError(128, "ENOTCONN")
        value = self._values[handle] if data is None else bytes(data)
        self._spawn(self._indicate(connection, handle, value))

    async def _indicate(self, connection: Connection, handle: int, value: bytes) -> None:
        assert self.device is not None
        status = 0
        try:
            await self.device.gatt_server.indicate_subscriber(
                connection, self._chars[handle], value
            )
        except Exception as exc:  # timeout, link gone
            logger.debug("indication failed: %r", exc)
            status = 1
        self._fire(IRQ_GATTS_INDICATE_DONE, (int(connection.handle), handle, status))

    def gap_advertise(
        self,
        interval_us: int | None,
        adv_data: Any = None,
        *,
        resp_data: Any = None,
        connectable: bool = True,
    ) -> None:
        if self._adv_task is not None and not self._adv_task.done():
            self._adv_task.cancel()
        self._adv_task = self._spawn(
            self._advertise(interval_us, None if adv_data is None else bytes(adv_data), resp_data)
        )

    async def _advertise(self, interval_us: int | None, adv: bytes | None, resp: Any) -> None:
        assert self.device is not None
        if self._advertising:
            self._advertising = False
            await self.device.stop_advertising()
        if interval_us is None or self._connections:
            return
        interval_ms = max(20.0, interval_us / 1000.0)
        await self.device.start_advertising(
            advertising_data=adv or b"",
            scan_response_data=b"" if resp is None else bytes(resp),
            advertising_interval_min=interval_ms,
            advertising_interval_max=interval_ms,
        )
        self._advertising = True

    def gap_disconnect(self, conn_handle: int) -> bool:
        connection = self._connections.get(conn_handle)
        if connection is None:
            return False
        self._spawn(connection.disconnect())
        return True

    # -- Bumble events -> IRQs ------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        handle = int(connection.handle)
        self._connections[handle] = connection
        self._advertising = False  # a connection ends legacy advertising
        connection.on(
            connection.EVENT_DISCONNECTION,
            lambda reason: self._on_disconnection(connection, reason),
        )
        connection.on(
            connection.EVENT_CONNECTION_ATT_MTU_UPDATE,
            lambda: self._fire(IRQ_MTU_EXCHANGED, (handle, int(connection.att_mtu))),
        )
        addr = bytes(connection.peer_address)
        self._fire(IRQ_CENTRAL_CONNECT, (handle, 1, memoryview(addr)))

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        handle = int(connection.handle)
        if self._connections.pop(handle, None) is None:
            return
        addr = bytes(connection.peer_address)
        self._fire(IRQ_CENTRAL_DISCONNECT, (handle, 1, memoryview(addr)))

    def drop_connections(self) -> None:
        """Simulate a link loss (both ends see a supervision timeout)."""
        if self.controller is not None:
            self.controller.drop_connections()


def _log_task_error(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("firmware BLE stand-in task failed: %r", task.exception())
