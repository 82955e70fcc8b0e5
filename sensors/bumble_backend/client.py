"""Bleak client backend on a Bumble host (:class:`BumbleClient`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import hci
from bumble.att import ATT_Error
from bumble.core import UUID as BumbleUUID
from bumble.core import TimeoutError as BumbleTimeoutError
from bumble.device import Connection
from bumble.gatt import Characteristic

from sensors.bumble_backend.host import BumbleHost, acquire_host, release_host

logger = logging.getLogger(__name__)

#: ATT MTU requested after connecting (fits a full Poise data packet).
DEFAULT_REQUESTED_MTU = 247
DEFAULT_ATT_MTU = 23

_PROPERTY_NAMES = (
    (Characteristic.Properties.BROADCAST, "broadcast"),
    (Characteristic.Properties.READ, "read"),
    (Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (Characteristic.Properties.WRITE, "write"),
    (Characteristic.Properties.NOTIFY, "notify"),
    (Characteristic.Properties.INDICATE, "indicate"),
    (Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES, "authenticated-signed-writes"),
    (Characteristic.Properties.EXTENDED_PROPERTIES, "extended-properties"),
)


def bleak_uuid(bumble_uuid: BumbleUUID) -> str:
    """Bumble UUID -> bleak's lower-case 128-bit string."""
    return str(uuid.UUID(bytes=bytes(reversed(bumble_uuid.to_bytes(force_128=True)))))


async def _abandon_connect(host: BumbleHost, peer: hci.Address) -> None:
    """The caller cancelled a pending connect: make the controller forget it as well.

    Bumble's ``Device.connect`` only sends LE Create Connection Cancel on its own timeout;
    cancelled from outside (``asyncio.wait_for(client.connect(), ...)``) it leaves the
    controller's request pending, so the next connect is refused and a late completion
    would leave an unowned connection holding the peripheral (which then stops
    advertising). Cancel the request, and drop such a connection if one slipped through.
    """
    device = host.device
    if device is None or host.lost:
        return
    with contextlib.suppress(Exception):
        await asyncio.shield(device.send_command(hci.HCI_LE_Create_Connection_Cancel_Command()))

    def drop_orphans() -> None:
        owned = {c._connection for c in host.clients}
        for connection in list(device.connections.values()):
            if connection.peer_address == peer and connection not in owned:
                asyncio.ensure_future(connection.disconnect())

    asyncio.get_running_loop().call_later(0.2, drop_orphans)


class BumbleClient(BaseBleakClient):
    """Bleak client backend that connects through a Bumble host.

    Use through bleak's public API::

        BleakClient(device, backend=BumbleClient, bumble={"transport": link_or_string})

    Parameters
    ----------
    address_or_ble_device
        A :class:`~bleak.backends.device.BLEDevice` from a scan with the Bumble scanner
        (preferred: it carries the address type) or an address string.
    disconnected_callback, timeout
        As for :class:`bleak.BleakClient`; the callback fires on an unsolicited
        disconnect (link loss, peer terminated), not after :meth:`disconnect`.
    services
        Optional set of service UUIDs: discover only these.
    bumble
        ``{"transport": VirtualLink | str, "mtu": int}``. ``mtu`` is the ATT MTU to
        request (default 247); ``23`` skips the MTU exchange (the BLE default), so
        notifications carry at most 20 bytes.
    """

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        services: set[str] | None = None,
        bumble: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        options = bumble or {}
        self._transport = options.get("transport")
        if self._transport is None:
            raise TypeError(
                "BumbleClient needs bumble={'transport': VirtualLink | 'tcp-client:HOST:PORT' "
                "| 'usb:0' ...}"
            )
        self._requested_mtu = int(options.get("mtu", DEFAULT_REQUESTED_MTU))
        self._device_details = (
            address_or_ble_device.details if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._device_name = (
            address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._services_filter = services
        self._host: BumbleHost | None = None
        self._connection: Connection | None = None
        self._mtu = DEFAULT_ATT_MTU
        self._disconnecting = False
        self._notify_callbacks: dict[int, Callable[[bytes], None]] = {}
        self._proxies: dict[int, Any] = {}

    # -- properties ----------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Advertised name from the scan, else the address."""
        return self._device_name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        """Negotiated ATT MTU (23 until an exchange raised it)."""
        return self._mtu

    @property
    def is_connected(self) -> bool:
        """True while the BLE connection is up."""
        return self._connection is not None

    # -- connection ----------------------------------------------------------------------

    async def connect(self, pair: bool = False, **kwargs: Any) -> None:
        """Connect, exchange the MTU, discover services (bleak's contract)."""
        if self._connection is not None:
            return
        timeout = kwargs.get("timeout", self._timeout)
        host = await acquire_host(self._transport)
        established = False
        try:
            device = host.device
            assert device is not None
            peer = (
                self._device_details
                if isinstance(self._device_details, hci.Address)
                else host.peer_address(self.address)
            )
            async with host.connect_lock:
                try:
                    connection = await device.connect(peer, timeout=timeout)
                except asyncio.CancelledError:
                    await _abandon_connect(host, peer)
                    raise
                except Exception as exc:
                    if isinstance(exc, asyncio.TimeoutError | TimeoutError | BumbleTimeoutError):
                        raise BleakDeviceNotFoundError(
                            self.address, f"Device with address {self.address} was not found"
                        ) from exc
                    raise BleakError(f"connecting to {self.address} failed: {exc}") from exc
            self._host = host
            self._connection = connection
            established = True
            host.clients.add(self)
            self._disconnecting = False
            connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
            connection.on(connection.EVENT_CONNECTION_ATT_MTU_UPDATE, self._on_mtu_update)
            if self._requested_mtu > DEFAULT_ATT_MTU:
                self._mtu = await self._gatt(
                    "MTU exchange",
                    asyncio.wait_for(
                        connection.gatt_client.request_mtu(self._requested_mtu), timeout
                    ),
                )
            self.services = await self._gatt(
                "service discovery", asyncio.wait_for(self._discover(connection), timeout)
            )
            if pair:
                await self.pair()
        except BaseException:
            if self._connection is not None:
                await self.disconnect()  # tears down and releases the host
            elif not established:
                release_host(host)
            # else: the link dropped during MTU exchange/discovery; _teardown released it
            raise

    def _on_mtu_update(self, *args: Any) -> None:
        if self._connection is not None:
            self._mtu = int(self._connection.att_mtu)

    def _on_disconnection(self, reason: int) -> None:
        logger.debug("%s disconnected, reason 0x%02X", self.address, reason)
        unsolicited = not self._disconnecting
        self._teardown()
        if unsolicited and self._disconnected_callback is not None:
            self._disconnected_callback()

    def _on_link_lost(self) -> None:
        """The host's HCI transport died: report an unsolicited disconnect."""
        if self._connection is not None:
            self._on_disconnection(hci.HCI_CONNECTION_TIMEOUT_ERROR)

    def _teardown(self) -> None:
        connection, self._connection = self._connection, None
        if self._host is not None and connection is not None:
            for handle in self._notify_callbacks:
                self._host.notify_routes.pop((connection.handle, handle), None)
        self._notify_callbacks.clear()
        if self._host is not None:
            host, self._host = self._host, None
            host.clients.discard(self)
            release_host(host)

    async def disconnect(self) -> None:
        """Disconnect (no disconnected_callback); a no-op when not connected."""
        connection = self._connection
        if connection is None:
            return
        if self._host is not None and self._host.lost:
            self._teardown()
            return
        self._disconnecting = True
        try:
            await asyncio.wait_for(
                connection.disconnect(hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR), 5.0
            )
        except Exception as exc:
            logger.debug("disconnect from %s: %s", self.address, exc)
        finally:
            if self._connection is connection:
                self._teardown()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pair (Bumble SMP, Just Works)."""
        if self._connection is None:
            raise BleakError("Not connected")
        await self._connection.pair()

    async def unpair(self) -> None:
        """Not supported: Bumble keeps no bonds for this backend."""
        raise NotImplementedError("unpair is not supported by the Bumble backend")

    # -- discovery -------------------------------------------------------------------------

    async def _discover(self, connection: Connection) -> BleakGATTServiceCollection:
        client = connection.gatt_client
        filter_uuids = (
            [BumbleUUID(u) for u in self._services_filter] if self._services_filter else []
        )
        collection = BleakGATTServiceCollection()
        services = await client.discover_services(filter_uuids)
        self._proxies.clear()
        for service in services:
            bleak_service = BleakGATTService(service, service.handle, bleak_uuid(service.uuid))
            collection.add_service(bleak_service)
            for characteristic in await service.discover_characteristics():
                properties = [
                    name for flag, name in _PROPERTY_NAMES if characteristic.properties & flag
                ]
                bleak_char = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    bleak_uuid(characteristic.uuid),
                    properties,  # type: ignore[arg-type]
                    lambda: self._mtu - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                self._proxies[characteristic.handle] = characteristic
                for descriptor in await characteristic.discover_descriptors():
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor,
                            descriptor.handle,
                            bleak_uuid(descriptor.type),
                            bleak_char,
                        )
                    )
        return collection

    # -- I/O ---------------------------------------------------------------------------------

    async def _gatt(self, what: str, coro: Any) -> Any:
        """Await a Bumble GATT operation, translating its failures to bleak's exceptions.

        Bumble cancels a pending ATT request when the link drops, which would surface as
        a ``CancelledError`` in the caller; that becomes ``BleakError`` (a genuine
        cancellation of the calling task still propagates). ATT error responses become
        :class:`bleak.exc.BleakGATTProtocolError`, timeouts ``BleakError``.
        """
        try:
            return await coro
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            raise BleakError(f"{self.address}: disconnected during {what}") from None
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except (BumbleTimeoutError, TimeoutError) as exc:
            raise BleakError(f"{self.address}: {what} timed out") from exc

    def _require(self) -> Connection:
        if self._connection is None:
            raise BleakError("Not connected")
        return self._connection

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic value (long reads included)."""
        return await self._read(f"read of {characteristic.uuid}", characteristic.handle)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a descriptor value."""
        return await self._read(f"read of descriptor {descriptor.handle}", descriptor.handle)

    async def _read(self, what: str, handle: int) -> bytearray:
        connection = self._require()
        return bytearray(await self._gatt(what, connection.gatt_client.read_value(handle)))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        """Write a characteristic (with or without response)."""
        connection = self._require()
        await self._gatt(
            f"write to {characteristic.uuid}",
            connection.gatt_client.write_value(
                characteristic.handle, bytes(data), with_response=response
            ),
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        """Write a descriptor (always with response)."""
        connection = self._require()
        await self._gatt(
            f"write to descriptor {descriptor.handle}",
            connection.gatt_client.write_value(descriptor.handle, bytes(data), with_response=True),
        )

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Enable notifications (preferred) or indications and route values to ``callback``."""
        connection = self._require()
        proxy = self._proxies.get(characteristic.handle)
        if proxy is None:
            raise BleakError(f"characteristic {characteristic.uuid} not discovered")
        old = self._notify_callbacks.pop(characteristic.handle, None)
        client = connection.gatt_client
        if old is not None:
            for subscribers in (client.notification_subscribers, client.indication_subscribers):
                subscribers.get(characteristic.handle, set()).discard(old)

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._notify_callbacks[characteristic.handle] = on_value
        # notifications reach on_value through the host's ATT fast path (or, with
        # Bumble's debug logging on, through Bumble's subscriber): never both
        route = (connection.handle, characteristic.handle)
        assert self._host is not None
        self._host.notify_routes[route] = on_value
        try:
            await self._gatt(
                f"subscribe to {characteristic.uuid}",
                client.subscribe(proxy, on_value, prefer_notify=True),
            )
        except BaseException:
            if self._host is not None and self._host.notify_routes.get(route) is on_value:
                del self._host.notify_routes[route]
            raise

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Disable notifications/indications on the characteristic."""
        connection = self._require()
        proxy = self._proxies.get(characteristic.handle)
        callback = self._notify_callbacks.pop(characteristic.handle, None)
        if self._host is not None:
            self._host.notify_routes.pop((connection.handle, characteristic.handle), None)
        if proxy is None:
            raise BleakError(f"characteristic {characteristic.uuid} not discovered")
        await self._gatt(
            f"unsubscribe from {characteristic.uuid}",
            connection.gatt_client.unsubscribe(proxy, callback, force=True),
        )
