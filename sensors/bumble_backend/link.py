"""Virtual Bluetooth LE radio: Bumble controllers on a link, in-process or served over TCP.

A :class:`VirtualLink` is Bumble's :class:`~bumble.link.LocalLink` (an in-memory "air"
between virtual controllers) plus a factory for controllers tuned for Poise:

* the LE ACL buffer is raised from Bumble's default 27 bytes to 251 bytes, so a 247-byte
  ATT MTU notification travels as one HCI ACL packet instead of ten fragments (measured:
  fragmentation roughly doubles the CPU cost per notification);
* every controller gets a distinct random static address;
* a virtual sensor's L2CAP PDUs (notifications, ATT responses) go from its host straight to
  the peer controller's host as the HCI ACL packet that controller would send
  (:meth:`PoiseController.send_l2cap_over_air`): the central's host receives exactly the
  bytes it did before, but the sensor's side skips its own HCI round trip (an ACL packet
  built, parsed and reassembled by its controller, a link hop, a Number Of Completed
  Packets event back to its host: three event-loop turns and ~2/3 of Bumble's work per
  notification). Only the emulator gets cheaper; what the host does is unchanged.

The link models no air time and loses nothing. Loss, delay and disconnects are injected
by the virtual wearable (:mod:`sensors.virtual_wearable`), never by the link.

Cross-process use: :class:`ControllerServer` accepts TCP connections on loopback; every
connection gets its *own* fresh controller on the link, spoken to in HCI over H4 framing,
which is exactly what Bumble's ``tcp-client:HOST:PORT`` transport speaks. A host in another
process (``BleakScanner``/``BleakClient`` with the Bumble backend and
``transport="tcp-client:127.0.0.1:PORT"``) then sees the wearables as if they were in
radio range. When the TCP connection closes, the controller's connections are terminated
as a link loss (reason 0x08, connection timeout) so the wearables advertise again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
from collections.abc import Callable, Iterable
from typing import Any

from bumble import hci, ll
from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink, StreamPacketSource

logger = logging.getLogger(__name__)

#: LE ACL data packet length of Poise's virtual controllers (Bumble's default is 27).
LE_ACL_PACKET_LENGTH = 251

#: HCI reason for a link lost without a terminate exchange (supervision timeout).
REASON_CONNECTION_TIMEOUT = hci.HCI_CONNECTION_TIMEOUT_ERROR

_address_counter = itertools.count(1)


def next_random_static_address(prefix: int = 0xC0) -> str:
    """Return a fresh random static address string (two top bits set, as BLE requires).

    Parameters
    ----------
    prefix
        First byte of the address; must have its two top bits set (0xC0..0xFF).
    """
    n = next(_address_counter)
    tail = n.to_bytes(4, "big")
    return ":".join(f"{b:02X}" for b in (prefix | 0xC0, 0x50) + tuple(tail))


class PoiseController(Controller):
    """A Bumble virtual controller with a 251-byte LE ACL buffer and data length.

    Differs from :class:`bumble.controller.Controller` in its buffer sizes, in skipping
    Bumble's per-packet debug formatting when debug logging is off (Bumble formats every
    HCI packet into an f-string before ``logger.debug`` decides to drop it), and in a
    direct path for its own host's L2CAP PDUs to the peer (:meth:`send_l2cap_over_air`).
    """

    le_acl_data_packet_length = LE_ACL_PACKET_LENGTH
    acl_data_packet_length = LE_ACL_PACKET_LENGTH
    supported_max_tx_octets = LE_ACL_PACKET_LENGTH
    supported_max_rx_octets = LE_ACL_PACKET_LENGTH
    suggested_max_tx_octets = LE_ACL_PACKET_LENGTH

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:  # noqa: D102
        if self.host:
            asyncio.get_running_loop().call_soon(self.host.on_packet, bytes(packet))

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        #: connection handle -> (connection, peer controller, peer's connection, peer's
        #: handle with packet boundary flag 2), checked against both ends on every use
        self._air_routes: dict[int, tuple[Any, PoiseController, Any, int]] = {}

    def send_l2cap_over_air(self, connection_handle: int, cid: int, pdu: bytes) -> bool:
        """Deliver an L2CAP PDU of this controller's host to the peer's host directly.

        The peer controller's host gets the HCI ACL data packet Bumble's link would have
        made it send (``on_link_acl_data``: the peer's handle, packet boundary flag 2, the
        whole L2CAP PDU, unfragmented as Bumble does), one event-loop turn later, in order
        with everything else this host sends this way. Returns False (nothing sent) when
        the connection or its peer is not on the link, or when Bumble's controller logs
        at debug level: the caller then takes Bumble's own path.
        """
        route = self._air_routes.get(connection_handle)
        if route is None or not self._route_alive(route):
            route = self._find_route(connection_handle)
            if route is None or _bumble_controller_logger.isEnabledFor(logging.DEBUG):
                return False
        peer, peer_handle = route[1], route[3]
        sink = peer.host
        if sink is None:
            return False
        n = len(pdu)
        packet = _ACL_L2CAP_HEADER.pack(hci.HCI_ACL_DATA_PACKET, peer_handle, n + 4, n, cid) + pdu
        asyncio.get_running_loop().call_soon(sink.on_packet, packet)
        return True

    def _route_alive(self, route: tuple[Any, PoiseController, Any, int]) -> bool:
        connection, peer, peer_connection, _ = route
        return (
            self.le_connections.get(connection.peer_address) is connection
            and peer.le_connections.get(peer_connection.peer_address) is peer_connection
        )

    def _find_route(self, connection_handle: int) -> tuple[Any, PoiseController, Any, int] | None:
        """(connection, peer controller, peer's connection, peer's handle | PB flag 2)."""
        self._air_routes.pop(connection_handle, None)
        connection = self.find_le_connection_by_handle(connection_handle)
        if connection is None:
            return None
        peer = self.link.find_le_controller(connection.peer_address)
        if not isinstance(peer, PoiseController):
            return None
        peer_connection = peer.le_connections.get(self.random_address)
        if peer_connection is None:
            return None
        route = (connection, peer, peer_connection, peer_connection.handle | (2 << 12))
        self._air_routes[connection_handle] = route
        return route

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:  # noqa: D102
        match packet:
            case hci.HCI_Command():
                self.on_hci_command_packet(packet)
            case hci.HCI_AclDataPacket():
                self.on_hci_acl_data_packet(packet)
            case hci.HCI_Event():
                self.on_hci_event_packet(packet)
            case _:
                logger.warning("unknown HCI packet type %s", packet.hci_packet_type)

    #: RSSI (dBm) that scanners on the link report for this controller's advertisements.
    rssi_dbm: int = -50

    def on_hci_le_set_extended_scan_parameters_command(
        self, command: hci.HCI_LE_Set_Extended_Scan_Parameters_Command
    ) -> hci.HCI_StatusReturnParameters:
        """Also remember active vs passive scanning (Bumble drops the scan type)."""
        if command.scan_types:
            self.le_scan_type = int(command.scan_types[0])
        return super().on_hci_le_set_extended_scan_parameters_command(command)

    def _find_advertiser(self, address: hci.Address) -> tuple[Any, bytes]:
        """The controller advertising as ``address`` and its scan response data."""
        for controller in self.link.controllers:
            if controller is self:
                continue
            legacy = controller.le_legacy_advertiser
            if legacy.enabled and legacy.address == address:
                return controller, bytes(legacy.scan_response_data)
            for adv_set in controller.advertising_sets.values():
                if adv_set.enabled and adv_set.address == address:
                    return controller, bytes(adv_set.scan_response_data)
        return None, b""

    def on_advertising_pdu(self, pdu: ll.AdvInd | ll.AdvExtInd) -> None:
        """Report advertisements with the advertiser's real scan response and RSSI.

        Bumble's virtual controller reports the advertising data a second time as the
        scan response, so a name carried in the scan response (as SPEC.md 1.2 puts it)
        never reaches a scanner; and every RSSI is -50 dBm. This override lets the base
        class handle periodic sync and pending connections, then reports the advertising
        data and, for active scans, the advertiser's scan response data.
        """
        scanning = self.le_scan_enable
        self.le_scan_enable = False
        try:
            super().on_advertising_pdu(pdu)
        finally:
            self.le_scan_enable = scanning
        if not scanning:
            return
        advertiser, scan_response = self._find_advertiser(pdu.advertiser_address)
        rssi = int(getattr(advertiser, "rssi_dbm", -50))
        address = pdu.advertiser_address
        reports = [(pdu.data, False)]
        if self.le_scan_type == 1 and scan_response:
            reports.append((scan_response, True))
        ext = hci.HCI_LE_Extended_Advertising_Report_Event
        for data, is_scan_response in reports:
            if self.le_features & hci.LeFeatureMask.LE_EXTENDED_ADVERTISING:
                report = ext.Report(
                    event_type=(
                        ext.EventType.SCAN_RESPONSE
                        if is_scan_response
                        else ext.EventType.CONNECTABLE_ADVERTISING
                    ),
                    address_type=address.address_type,
                    address=address,
                    primary_phy=hci.Phy.LE_1M,
                    secondary_phy=hci.Phy.LE_1M,
                    advertising_sid=0,
                    tx_power=0,
                    rssi=rssi,
                    periodic_advertising_interval=0,
                    direct_address_type=0,
                    direct_address=hci.Address.ANY,
                    data=data,
                )
                self.send_hci_packet(ext([report]))
            else:
                legacy = hci.HCI_LE_Advertising_Report_Event
                legacy_report = legacy.Report(
                    event_type=(
                        legacy.EventType.SCAN_RSP if is_scan_response else legacy.EventType.ADV_IND
                    ),
                    address_type=address.address_type,
                    address=address,
                    data=data,
                    rssi=rssi,
                )
                self.send_hci_packet(legacy([legacy_report]))

    def on_hci_le_create_connection_cancel_command(
        self, command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        """Cancel a pending connection as a real controller does.

        Bumble's virtual controller acknowledges the cancel but keeps the request pending
        and never completes it, so a timed-out ``connect`` hangs. Per the Core spec
        (Vol 4, Part E, 7.8.13) the pending request is dropped and an LE Connection
        Complete event with status Unknown Connection Identifier follows the command
        complete.
        """
        pending = self.pending_le_connection
        if pending is not None:
            self.pending_le_connection = None
            event = hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=pending.peer_address.address_type,
                peer_address=pending.peer_address,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
            # after the command complete, which is queued when this handler returns
            asyncio.get_running_loop().call_soon(self.send_hci_packet, event)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def drop_connections(self, reason: int = REASON_CONNECTION_TIMEOUT) -> int:
        """Terminate every LE connection of this controller as a link loss.

        The peer controller receives an LL terminate with ``reason`` and reports a
        disconnection to its host; this controller reports one to its own host.

        Returns
        -------
        int
            Number of connections dropped.
        """
        connections = list(self.le_connections.values())
        for connection in connections:
            try:
                connection.send_ll_control_pdu(ll.TerminateInd(reason))
            except Exception as exc:  # the peer may already be gone from the link
                logger.debug("terminate to %s failed: %s", connection.peer_address, exc)
            if connection.peer_address in self.le_connections:
                self.on_le_disconnected(connection, reason)
        return len(connections)

    def power_off(self) -> None:
        """Stop advertising, drop every connection as a link loss, stop talking to the host."""
        with contextlib.suppress(Exception):
            self.le_legacy_advertiser.stop()
        for advertising_set in list(self.advertising_sets.values()):
            with contextlib.suppress(Exception):
                advertising_set.stop()
        self.drop_connections()
        self.host = None


class PoiseHost(Host):
    """Bumble's host stack without per-packet debug formatting.

    :class:`bumble.host.Host` formats every HCI packet into a coloured f-string for
    ``logger.debug`` before the logger decides to drop it; on the streaming path that is
    a measurable share of the CPU. With debug logging on, the base methods (and their
    logs) are used unchanged.
    """

    #: (connection handle, attribute handle) -> callback of a subscribed notification,
    #: shared with the central that owns this host (:class:`~sensors.bumble_backend.host.
    #: BumbleHost`); such a notification skips Bumble's HCI, L2CAP and ATT objects
    notify_routes: dict[tuple[int, int], Callable[[bytes], None]] | None = None

    def on_packet(self, packet: bytes) -> None:  # noqa: D102
        routes = self.notify_routes
        if routes and len(packet) >= 12 and packet[0] == hci.HCI_ACL_DATA_PACKET:
            # H4 ACL: handle|PB|BC, ACL length; L2CAP length, channel; ATT opcode, handle
            h, acl_length, l2cap_length, cid, opcode, attribute = _ATT_IN_ACL.unpack_from(packet, 1)
            if (
                cid == _ATT_CID
                and opcode == _ATT_NOTIFY
                and (h >> 12) & 3 in (0, 2)  # a first (here: whole) fragment
                and acl_length == len(packet) - 5
                and l2cap_length == acl_length - 4
                and self.ready
            ):
                handle = h & 0xFFF
                route = routes.get((handle, attribute))
                connection = self.connections.get(handle)
                if (
                    route is not None
                    and connection is not None
                    and connection.assembler.current_data is None
                    and not self.snooper
                    and not _bumble_host_logger.isEnabledFor(logging.DEBUG)
                    and not _gatt_client_logger.isEnabledFor(logging.DEBUG)
                ):
                    route(packet[12:])
                    return
        # Bumble waits for connects/disconnects with futures that listeners resolve; a
        # waiter cancelled by a timeout (busy machine) is unsubscribed only when its task
        # runs again, so the event arriving in between reaches a cancelled future.
        try:
            super().on_packet(packet)
        except asyncio.InvalidStateError:
            logger.debug("HCI event for a request already cancelled (timed out) dropped")

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:  # noqa: D102
        if self.snooper or _bumble_host_logger.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
        elif self.hci_sink:
            self.hci_sink.on_packet(bytes(packet))

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:  # noqa: D102
        if self.snooper or _bumble_host_logger.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
            return
        match packet:
            case hci.HCI_AclDataPacket():
                self.on_hci_acl_data_packet(packet)
            case hci.HCI_Event():
                self.on_hci_event_packet(packet)
            case _:
                super().on_hci_packet(packet)

    def on_command_processed(self, event: Any) -> None:  # noqa: D102
        # A command whose waiting task was cancelled (e.g. a wearable closing while it
        # re-advertises) leaves a cancelled future; Bumble would raise InvalidStateError
        # from the event loop when the late completion arrives.
        pending = self.pending_response
        if pending is None:  # its command was cancelled and cleaned up already
            logger.debug("HCI command completion without a pending command dropped: %s", event)
            if event.num_hci_command_packets and self.command_semaphore.locked():
                self.command_semaphore.release()
            return
        if pending.done():
            logger.debug("late HCI command completion dropped: %s", event)
            return
        # The completion of a command whose waiter was cancelled (a timeout on a busy
        # machine) can arrive after the next command was sent; Bumble would hand it to
        # that command as its result (and the real one later to nobody, releasing the
        # command semaphore while a command is in flight).
        command = self.pending_command
        opcode = getattr(event, "command_opcode", 0)
        if command is not None and opcode and opcode != command.op_code:
            logger.debug("stale HCI command completion dropped: %s", event)
            return
        super().on_command_processed(event)


class PeripheralHost(PoiseHost):
    """A virtual sensor's host: its L2CAP PDUs go over the air directly
    (:meth:`PoiseController.send_l2cap_over_air`), everything else as Bumble does."""

    def __init__(self, controller: PoiseController) -> None:
        super().__init__(controller, AsyncPipeSink(controller))
        self.air = controller

    def send_l2cap_pdu(self, connection_handle: int, cid: int, pdu: bytes) -> None:  # noqa: D102
        if self.snooper or not self.air.send_l2cap_over_air(connection_handle, cid, pdu):
            super().send_l2cap_pdu(connection_handle, cid, pdu)


_bumble_host_logger = logging.getLogger("bumble.host")
_gatt_client_logger = logging.getLogger("bumble.gatt_client")
#: ACL header after the H4 type byte, L2CAP header, ATT opcode and attribute handle.
_ATT_IN_ACL = struct.Struct("<HHHHBH")
_ATT_CID = 0x0004
_ATT_NOTIFY = 0x1B
_bumble_controller_logger = logging.getLogger("bumble.controller")
#: H4 packet type, connection handle | flags, ACL length; L2CAP length, channel id.
_ACL_L2CAP_HEADER = struct.Struct("<BHHHH")


async def cancel_tasks(tasks: Iterable[asyncio.Task], timeout_s: float = 1.0) -> None:
    """Cancel a virtual sensor's tasks and give them ``timeout_s`` to wind down."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=timeout_s)


class VirtualLink:
    """An in-memory BLE "air" shared by virtual controllers (hosts and wearables).

    Create it inside a running event loop. Pass the object itself as the Bumble
    backend's ``transport`` to give a bleak scanner/client in the same process a
    controller on this link.
    """

    def __init__(self) -> None:
        self.link = LocalLink()
        self.controllers: list[PoiseController] = []

    def create_controller(self, name: str, **kwargs: Any) -> PoiseController:
        """Create a tuned controller attached to this link.

        Parameters
        ----------
        name
            Label used in Bumble's logs.
        **kwargs
            Passed to :class:`bumble.controller.Controller` (``host_source``, ``host_sink``).
        """
        controller = PoiseController(name, link=self.link, **kwargs)
        self.controllers.append(controller)
        return controller

    def create_peripheral(
        self, name: str, address: str, rssi_dbm: int
    ) -> tuple[PoiseController, Device]:
        """A virtual sensor's radio: a controller on this link (advertising at
        ``rssi_dbm``) and a Bumble device with a random static ``address``, not powered on.
        """
        controller = self.create_controller(name)
        controller.rssi_dbm = rssi_dbm
        device = Device(
            name=name,
            address=hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS),
            host=PeripheralHost(controller),
        )
        return controller, device

    def remove_controller(self, controller: PoiseController) -> None:
        """Power the controller off (link loss for its peers) and take it off the link."""
        controller.power_off()
        if controller in self.link.controllers:
            self.link.remove_controller(controller)
        if controller in self.controllers:
            self.controllers.remove(controller)

    def __repr__(self) -> str:
        return f"<VirtualLink {len(self.controllers)} controllers>"


class _StreamWriterSink:
    """Bumble packet sink writing H4 packets to an asyncio stream (one TCP client)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def on_packet(self, packet: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(packet)


class ControllerServer:
    """Serve one fresh virtual controller per TCP connection (HCI over H4 framing).

    Parameters
    ----------
    link
        The virtual link the served controllers join.
    host
        Interface to listen on; loopback by default (the HCI link is unauthenticated).
    port
        TCP port; 0 picks a free one (read :attr:`port` after :meth:`start`).
    """

    def __init__(self, link: VirtualLink, host: str = "127.0.0.1", port: int = 0) -> None:
        self.virtual_link = link
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections_served = 0

    @property
    def transport(self) -> str:
        """The Bumble transport string another process passes to connect."""
        return f"tcp-client:{self.host}:{self.port}"

    async def start(self) -> ControllerServer:
        """Start listening; returns self."""
        self._server = await asyncio.start_server(self._on_client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_served += 1
        peer = writer.get_extra_info("peername")
        self._writers.add(writer)
        source = StreamPacketSource()
        controller = self.virtual_link.create_controller(
            f"tcp{self.connections_served}", host_source=source, host_sink=_StreamWriterSink(writer)
        )
        logger.info("HCI client %s connected, controller %s", peer, controller.name)
        try:
            while data := await reader.read(65536):
                source.data_received(data)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            logger.info("HCI client %s gone, dropping its connections", peer)
            controller.host = None
            self.virtual_link.remove_controller(controller)
            self._writers.discard(writer)
            writer.close()

    async def close(self) -> None:
        """Stop listening (existing clients are cut)."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            self._server = None
            await asyncio.sleep(0)
