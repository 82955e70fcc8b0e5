"""The Bumble bleak backend, driven only through bleak's public API (no mocks of bleak).

Peers are real Bumble GATT servers on a virtual link: the virtual Poise wearable and, for
generic features the wearable does not use (write without response, foreign UUIDs), a
plain Bumble peripheral.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import (
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
    BleakGATTProtocolErrorCode,
)
from bumble import hci
from bumble.core import UUID, AdvertisingData
from bumble.device import Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink

from firmware_protocol import codec, gatt
from firmware_protocol.types import SensorConfig
from sensors.bumble_backend import (
    BumbleClient,
    BumbleScanner,
    VirtualLink,
    client_kwargs,
    close_hosts,
    scanner_kwargs,
)
from sensors.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
OTHER_SERVICE = "12345678-1234-5678-1234-56789abcdef0"
OTHER_CHAR = "12345678-1234-5678-1234-56789abcdef1"
SLOW_CHAR = "12345678-1234-5678-1234-56789abcdef2"


async def _slow_read(_connection) -> bytes:
    await asyncio.sleep(1.0)
    return b"late"


@pytest.fixture
async def emu():
    async with Emulator(count=3, rate_hz=200, seed=7) as emulator:
        yield emulator
    await close_hosts()


async def _plain_peripheral(link: VirtualLink, written: list[bytes]) -> Device:
    """A non-Poise Bumble peripheral with a write-without-response characteristic."""
    controller = link.create_controller("other")
    device = Device(
        name="Other",
        address=hci.Address("C7:00:00:00:00:07"),
        host=Host(controller, AsyncPipeSink(controller)),
    )
    props = Characteristic.Properties
    device.add_service(
        Service(
            OTHER_SERVICE,
            [
                Characteristic(
                    OTHER_CHAR,
                    props.READ | props.WRITE_WITHOUT_RESPONSE | props.WRITE,
                    Characteristic.READABLE | Characteristic.WRITEABLE,
                    CharacteristicValue(
                        read=lambda _c: b"x" * 100,
                        write=lambda _c, value: written.append(bytes(value)),
                    ),
                ),
                Characteristic(
                    SLOW_CHAR,
                    props.READ,
                    Characteristic.READABLE,
                    CharacteristicValue(read=_slow_read),
                ),
            ],
        )
    )
    await device.power_on()
    await device.start_advertising(
        advertising_data=bytes(
            AdvertisingData(
                [
                    (AdvertisingData.COMPLETE_LOCAL_NAME, b"Other"),
                    (AdvertisingData.MANUFACTURER_SPECIFIC_DATA, b"\xff\xff\x01\x02"),
                    (
                        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                        UUID(OTHER_SERVICE).to_bytes(force_128=True),
                    ),
                ]
            )
        ),
        advertising_interval_min=50,
        advertising_interval_max=50,
    )
    return device


class ControlPoint:
    """Send commands and await their indicated responses."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.responses: asyncio.Queue = asyncio.Queue()

    async def open(self) -> ControlPoint:
        await self.client.start_notify(
            gatt.CONTROL_POINT_CHAR_UUID,
            lambda _c, data: self.responses.put_nowait(codec.decode_response(data)),
        )
        return self

    async def send(self, command: codec.Command | bytes) -> codec.Response:
        data = command if isinstance(command, bytes) else codec.encode_command(command)
        await self.client.write_gatt_char(gatt.CONTROL_POINT_CHAR_UUID, data, response=True)
        return await asyncio.wait_for(self.responses.get(), 2.0)


async def test_scan_finds_every_wearable_with_name_rssi_and_service(emu):
    link = emu.transport
    await _plain_peripheral(link, [])
    found = await BleakScanner.discover(
        timeout=0.4, return_adv=True, service_uuids=[gatt.SERVICE_UUID], **scanner_kwargs(link)
    )
    names = sorted(d.name for d, _ in found.values())
    assert names == ["Poise-0001", "Poise-0002", "Poise-0003"]
    assert len(set(found)) == 3  # distinct addresses
    for device, adv in found.values():
        assert adv.local_name == device.name
        assert gatt.SERVICE_UUID in adv.service_uuids
        assert -127 < adv.rssi < 0
        assert adv.service_data == {gatt.BATTERY_SERVICE_UUID: b"\x64"}  # 100 %
    assert len({adv.rssi for _, adv in found.values()}) == 3  # per-device RSSI

    everything = await BleakScanner.discover(timeout=0.3, return_adv=True, **scanner_kwargs(link))
    other = [adv for d, adv in everything.values() if d.name == "Other"]
    assert other and other[0].manufacturer_data == {0xFFFF: b"\x01\x02"}
    assert other[0].service_uuids == [OTHER_SERVICE]


async def test_find_device_helpers_take_the_backend(emu):
    kwargs = scanner_kwargs(emu.transport)
    device = await BleakScanner.find_device_by_name("Poise-0002", timeout=2.0, **kwargs)
    assert device is not None and device.name == "Poise-0002"
    again = await BleakScanner.find_device_by_address(device.address, timeout=2.0, **kwargs)
    assert again is not None and again.address == device.address
    assert await BleakScanner.find_device_by_name("Poise-9999", timeout=0.3, **kwargs) is None
    # connect by address string (the address type comes from the shared host's scan cache)
    async with BleakClient(device.address, **client_kwargs(emu.transport)) as client:
        assert client.is_connected and client.address == device.address


async def test_connect_mtu_services_read_write_and_control_point(emu):
    device = await BleakScanner.find_device_by_name(
        "Poise-0001", timeout=2.0, **scanner_kwargs(emu.transport)
    )
    async with BleakClient(device, **client_kwargs(emu.transport)) as client:
        assert client.is_connected
        assert client.mtu_size == 247
        uuids = {s.uuid for s in client.services}
        assert {
            gatt.SERVICE_UUID,
            gatt.DEVICE_INFORMATION_SERVICE_UUID,
            gatt.BATTERY_SERVICE_UUID,
        } <= uuids
        data_char = client.services.get_characteristic(gatt.DATA_CHAR_UUID)
        assert "notify" in data_char.properties
        assert data_char.max_write_without_response_size == 244
        cp = client.services.get_characteristic(gatt.CONTROL_POINT_CHAR_UUID)
        assert {"write", "indicate"} <= set(cp.properties)

        assert (await client.read_gatt_char(gatt.BATTERY_LEVEL_CHAR_UUID))[0] == 100
        info = codec.decode_info(await client.read_gatt_char(gatt.INFO_CHAR_UUID))
        assert info["max_samples_per_packet"] == codec.max_samples_per_packet(247)
        assert bytes(await client.read_gatt_char(gatt.SERIAL_NUMBER_CHAR_UUID)) == b"0001"

        control = await ControlPoint(client).open()
        new = SensorConfig(sampling_rate_hz=50, acc_range_g=4, gyro_range_dps=500)
        assert (await control.send(codec.Command(gatt.Opcode.SET_CONFIG, config=new))).ok
        status = codec.decode_status(await client.read_gatt_char(gatt.STATUS_CHAR_UUID))
        assert status.config == new and status.state == gatt.StreamState.IDLE
        response = await control.send(codec.Command(gatt.Opcode.GET_INFO))
        assert response.ok and response.info.config == new and response.info.serial == "0001"

        cccd = data_char.get_descriptor("00002902-0000-1000-8000-00805f9b34fb")
        assert cccd is not None
        assert bytes(await client.read_gatt_descriptor(cccd.handle)) == b"\x00\x00"
        await asyncio.wait_for(client.pair(), 5.0)  # Bumble SMP, Just Works


async def test_write_without_response_and_long_read_on_a_plain_peripheral():
    link = VirtualLink()
    written: list[bytes] = []
    await _plain_peripheral(link, written)
    device = await BleakScanner.find_device_by_name("Other", timeout=2.0, **scanner_kwargs(link))
    async with BleakClient(device, services=[OTHER_SERVICE], **client_kwargs(link)) as client:
        assert {s.uuid for s in client.services} == {OTHER_SERVICE}
        await client.write_gatt_char(OTHER_CHAR, b"no-response", response=False)
        await client.write_gatt_char(OTHER_CHAR, b"with-response", response=True)
        assert bytes(await client.read_gatt_char(OTHER_CHAR)) == b"x" * 100
        for _ in range(50):
            if len(written) == 2:
                break
            await asyncio.sleep(0.01)
    assert written == [b"no-response", b"with-response"]
    await close_hosts()


async def _stream(client: BleakClient, seconds: float) -> list[bytes]:
    packets: list[bytes] = []
    await client.start_notify(gatt.DATA_CHAR_UUID, lambda _c, d: packets.append(bytes(d)))
    control = await ControlPoint(client).open()
    assert (await control.send(codec.Command(gatt.Opcode.START_STREAM))).ok
    await asyncio.sleep(seconds)
    assert (await control.send(codec.Command(gatt.Opcode.STOP_STREAM))).ok
    await asyncio.sleep(0.05)
    return packets


async def test_stream_200hz_arrives_complete(emu):
    device = await BleakScanner.find_device_by_name(
        "Poise-0003", timeout=2.0, **scanner_kwargs(emu.transport)
    )
    async with BleakClient(device, **client_kwargs(emu.transport)) as client:
        packets = await _stream(client, 2.0)
    truth = emu.wearable("Poise-0003").truth
    block = codec.decode_many(packets, SensorConfig(sampling_rate_hz=200))
    assert truth.samples_produced >= 380
    assert block.n_samples == truth.samples_produced == truth.samples_sent
    seqs = [codec.peek_header(p).seq for p in packets]
    assert seqs == list(range(len(packets)))
    steps = set(int(x) for x in (block.timestamp_us[1:] - block.timestamp_us[:-1]))
    assert steps == {5000}
    # packets of <= 20 ms of samples for latency, full layout at MTU 247
    assert {codec.peek_header(p).count for p in packets} == {4}


@pytest.mark.parametrize("bumble_debug", [False, True])
async def test_each_notification_arrives_once_by_either_path(emu, bumble_debug):
    """The host hands a subscribed notification straight to the client; with Bumble's
    GATT client logging at debug level it goes through Bumble's own handler instead.
    Either way every packet arrives exactly once, in order."""
    import logging

    gatt_log = logging.getLogger("bumble.gatt_client")
    level = gatt_log.level
    if bumble_debug:
        gatt_log.setLevel(logging.DEBUG)
    try:
        device = await BleakScanner.find_device_by_name(
            "Poise-0002", timeout=2.0, **scanner_kwargs(emu.transport)
        )
        async with BleakClient(device, **client_kwargs(emu.transport)) as client:
            packets = await _stream(client, 0.5)
    finally:
        gatt_log.setLevel(level)
    truth = emu.wearable("Poise-0002").truth
    assert len(packets) == truth.packets_sent > 10
    assert [codec.peek_header(p).seq for p in packets] == list(range(len(packets)))


async def test_a_sensors_pdu_reaches_the_central_host_as_bumbles_link_delivers_it(emu):
    """A virtual sensor's L2CAP PDUs skip its own HCI round trip (controller, link hop,
    completed-packets event) but the central's host receives the very HCI ACL packet
    Bumble's link would have made its controller send."""
    device = await BleakScanner.find_device_by_name(
        "Poise-0001", timeout=2.0, **scanner_kwargs(emu.transport)
    )
    async with BleakClient(device, **client_kwargs(emu.transport)):
        w = emu.wearable("Poise-0001")
        handle = w.connection.handle
        central = emu.link.link.find_le_controller(w.connection.peer_address)
        real_sink = central.host
        received: list[bytes] = []

        class Tap:
            def on_packet(self, packet: bytes) -> None:
                received.append(packet)
                real_sink.on_packet(packet)

        central.host = Tap()
        try:
            pdu = bytes([0x1B]) + (0x7FFF).to_bytes(2, "little") + bytes(range(200))
            w.device.host.send_l2cap_pdu(handle, 4, pdu)  # the direct path
            Host.send_l2cap_pdu(w.device.host, handle, 4, pdu)  # Bumble's own path
            await asyncio.sleep(0.1)
        finally:
            central.host = real_sink
    acl = [p for p in received if p[0] == hci.HCI_ACL_DATA_PACKET]
    assert len(acl) == 2 and acl[0] == acl[1]
    assert len(acl[0]) == 5 + 4 + len(pdu) and acl[0].endswith(pdu)


async def test_mtu_23_uses_compact_packets(emu):
    device = await BleakScanner.find_device_by_name(
        "Poise-0002", timeout=2.0, **scanner_kwargs(emu.transport)
    )
    async with BleakClient(device, **client_kwargs(emu.transport, mtu=23)) as client:
        assert client.mtu_size == 23
        # a long read works at MTU 23 too
        info = codec.decode_info(await client.read_gatt_char(gatt.INFO_CHAR_UUID))
        assert info["max_samples_per_packet"] == 0
        packets = await _stream(client, 0.5)
    assert packets and {len(p) for p in packets} == {codec.COMPACT_PACKET_SIZE}
    block = codec.decode_many(packets, SensorConfig(sampling_rate_hz=200))
    assert block.n_samples == emu.wearable("Poise-0002").truth.samples_sent == len(packets)


async def test_link_loss_fires_disconnected_callback_but_disconnect_does_not(emu):
    kwargs = client_kwargs(emu.transport)
    device = await BleakScanner.find_device_by_name(
        "Poise-0001", timeout=2.0, **scanner_kwargs(emu.transport)
    )
    lost: list[BleakClient] = []
    event = asyncio.Event()

    def on_lost(client: BleakClient) -> None:
        lost.append(client)
        event.set()

    client = BleakClient(device, disconnected_callback=on_lost, **kwargs)
    await client.connect()
    assert emu.wearable("Poise-0001").force_disconnect()
    await asyncio.wait_for(event.wait(), 2.0)
    assert lost == [client] and not client.is_connected
    with pytest.raises(BleakError):
        await client.read_gatt_char(gatt.BATTERY_LEVEL_CHAR_UUID)

    # the wearable advertises again; a reconnect works and a clean disconnect is silent
    t0 = time.perf_counter()
    device = await BleakScanner.find_device_by_name(
        "Poise-0001", timeout=2.0, **scanner_kwargs(emu.transport)
    )
    await client.connect()
    assert time.perf_counter() - t0 < 2.0
    await client.disconnect()
    await asyncio.sleep(0.05)
    assert len(lost) == 1


async def test_connect_to_absent_device_and_bad_transports_fail_clearly():
    link = VirtualLink()
    with pytest.raises(BleakDeviceNotFoundError):
        await BleakClient("D0:50:00:00:99:99", timeout=0.5, **client_kwargs(link)).connect()
    with pytest.raises(TypeError, match="transport"):
        BleakScanner(backend=BumbleScanner)
    with pytest.raises(TypeError, match="transport"):
        BleakClient("D0:50:00:00:99:99", backend=BumbleClient)
    with pytest.raises(OSError, match="tcp-client:127.0.0.1:1"):
        await BleakScanner.discover(timeout=0.1, **scanner_kwargs("tcp-client:127.0.0.1:1"))
    await close_hosts()


def _start_emulator(*args: str) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "poise", "emulate", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"Bumble transport (tcp-client:\S+)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise AssertionError(f"poise emulate printed no transport; stderr: {proc.stderr.read()}")


async def _connect_watching_loss(
    name: str, transport: str, timeout_s: float
) -> tuple[BleakClient, asyncio.Event]:
    """Connect to the wearable ``name`` over ``transport``; the event is set when the link
    is lost."""
    device = await BleakScanner.find_device_by_name(
        name, timeout=timeout_s, **scanner_kwargs(transport)
    )
    lost = asyncio.Event()
    client = BleakClient(
        device, disconnected_callback=lambda _c: lost.set(), **client_kwargs(transport)
    )
    await client.connect()
    return client, lost


def test_emulator_process_dying_is_a_link_loss():
    proc, transport = _start_emulator("--count", "1")

    async def remote() -> float:
        client, lost = await _connect_watching_loss("Poise-0001", transport, 3.0)
        t0 = time.perf_counter()
        proc.kill()
        await asyncio.wait_for(lost.wait(), 5.0)
        assert not client.is_connected
        await client.disconnect()  # harmless after the loss
        with pytest.raises(OSError):  # the transport is gone for new users too
            await BleakScanner.discover(timeout=0.1, **scanner_kwargs(transport))
        await close_hosts()
        return time.perf_counter() - t0

    try:
        assert asyncio.run(remote()) < 2.0
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_cross_process_emulator_over_tcp():
    """`poise emulate` in a subprocess; scan, connect and stream from this process."""
    proc, transport = _start_emulator("--count", "2", "--rate", "100")
    try:

        async def remote() -> int:
            found = await BleakScanner.discover(
                timeout=0.5, service_uuids=[gatt.SERVICE_UUID], **scanner_kwargs(transport)
            )
            assert sorted(d.name for d in found) == ["Poise-0001", "Poise-0002"]
            device = next(d for d in found if d.name == "Poise-0002")
            async with BleakClient(device, **client_kwargs(transport)) as client:
                assert client.mtu_size == 247
                packets = await _stream(client, 0.5)
            await close_hosts()
            return codec.decode_many(packets, SensorConfig(sampling_rate_hz=100)).n_samples

        received = asyncio.run(remote())
        assert received >= 40
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    m = re.search(r"Poise-0002: produced (\d+) samples, sent (\d+)", out)
    assert m and int(m.group(1)) == int(m.group(2)) == received


def test_hosts_left_open_by_a_finished_loop_do_not_leak_into_the_next():
    async def once() -> list[str]:
        async with Emulator(count=1) as emulator:
            found = await BleakScanner.discover(timeout=0.2, **scanner_kwargs(emulator.transport))
            return [d.name for d in found]  # no close_hosts(): the host lingers

    for _ in range(3):
        assert asyncio.run(once()) == ["Poise-0001"]


async def test_stop_notify_unsubscribes_at_the_peer(emu):
    device = await BleakScanner.find_device_by_name(
        "Poise-0001", timeout=2.0, **scanner_kwargs(emu.transport)
    )
    async with BleakClient(device, **client_kwargs(emu.transport)) as client:
        packets: list[bytes] = []
        await client.start_notify(gatt.DATA_CHAR_UUID, lambda _c, d: packets.append(bytes(d)))
        control = await ControlPoint(client).open()
        assert (await control.send(codec.Command(gatt.Opcode.START_STREAM))).ok
        await asyncio.sleep(0.2)
        await client.stop_notify(gatt.DATA_CHAR_UUID)
        n = len(packets)
        assert n > 0
        await asyncio.sleep(0.2)
        assert len(packets) == n  # nothing after the CCCD was cleared
        truth = emu.wearable("Poise-0001").truth
        assert truth.undelivered  # the wearable saw the unsubscribe and kept sampling
        cccd = client.services.get_characteristic(gatt.DATA_CHAR_UUID).get_descriptor(
            "00002902-0000-1000-8000-00805f9b34fb"
        )
        assert bytes(await client.read_gatt_descriptor(cccd.handle)) == b"\x00\x00"
        # subscribing again resumes
        await client.start_notify(gatt.DATA_CHAR_UUID, lambda _c, d: packets.append(bytes(d)))
        await asyncio.sleep(0.1)
        assert len(packets) > n


async def test_a_vanished_tcp_client_frees_the_wearable(emu):
    """A client process that dies without disconnecting must not leave a wearable taken."""
    transport = await emu.serve()
    client, lost = await _connect_watching_loss("Poise-0003", transport, 2.0)
    wearable = emu.wearable("Poise-0003")
    assert wearable.connection is not None
    client._backend._host._hci_transport.sink.transport.abort()  # the process "dies"
    await asyncio.wait_for(lost.wait(), 2.0)
    for _ in range(100):
        if wearable.connection is None:
            break
        await asyncio.sleep(0.01)
    assert wearable.connection is None
    await close_hosts()
    again = await BleakScanner.find_device_by_name(
        "Poise-0003", timeout=2.0, **scanner_kwargs(emu.transport)
    )
    assert again is not None


async def test_gatt_errors_and_link_loss_mid_request_become_bleak_errors(emu):
    device = await BleakScanner.find_device_by_name(
        "Poise-0001", timeout=2.0, **scanner_kwargs(emu.transport)
    )
    async with BleakClient(device, **client_kwargs(emu.transport)) as client:
        with pytest.raises(BleakGATTProtocolError) as info:
            await client.write_gatt_char(gatt.BATTERY_LEVEL_CHAR_UUID, b"\x01", response=True)
        assert info.value.code == BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED
        with pytest.raises(BleakGATTProtocolError) as info:
            await client.read_gatt_char(gatt.DATA_CHAR_UUID)
        assert info.value.code == BleakGATTProtocolErrorCode.READ_NOT_PERMITTED
        with pytest.raises(BleakGATTProtocolError):
            await client.write_gatt_char(gatt.SERIAL_NUMBER_CHAR_UUID, b"hack", response=True)
        assert bytes(await client.read_gatt_char(gatt.SERIAL_NUMBER_CHAR_UUID)) == b"0001"

    link = VirtualLink()
    await _plain_peripheral(link, [])
    device = await BleakScanner.find_device_by_name("Other", timeout=2.0, **scanner_kwargs(link))
    client = BleakClient(device, **client_kwargs(link))
    await client.connect()
    read = asyncio.create_task(client.read_gatt_char(SLOW_CHAR))
    await asyncio.sleep(0.2)
    for controller in link.controllers:
        if controller.name == "other":
            controller.drop_connections()
    with pytest.raises(BleakError, match="disconnected during read"):
        await asyncio.wait_for(read, 2.0)
    assert not client.is_connected
    await close_hosts()


async def test_a_connect_cancelled_from_outside_leaves_no_pending_request(emu):
    kwargs = client_kwargs(emu.transport)
    ghost = BleakClient("D0:50:00:00:77:77", timeout=10.0, **kwargs)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ghost.connect(), 0.3)
    device = await BleakScanner.find_device_by_name(
        "Poise-0002", timeout=2.0, **scanner_kwargs(emu.transport)
    )
    async with BleakClient(device, timeout=2.0, **kwargs) as client:
        assert client.is_connected


async def test_closing_a_host_fails_its_pending_work_at_once_instead_of_timing_out():
    """A command in flight when its controller goes away (a scan stop or a connect cancel
    racing a host's close) must not hang for Bumble's 10-s command timeout and then
    raise CommandTimeoutError from an orphan task; a late event for a request already
    cancelled by a timeout must not raise InvalidStateError out of the event loop."""
    from bumble.transport.common import TransportLostError

    from sensors.bumble_backend.host import acquire_host, release_host

    link = VirtualLink()
    host = await acquire_host(link)
    try:
        device = host.device
        assert device is not None
        link.remove_controller(host._controller)  # the controller is gone: no answers
        pending = asyncio.ensure_future(device.send_command(hci.HCI_Read_BD_ADDR_Command()))
        await asyncio.sleep(0.05)
        assert not pending.done()
        t0 = time.monotonic()
        await host.close()
        with pytest.raises(TransportLostError):
            await asyncio.wait_for(pending, 2.0)
        assert time.monotonic() - t0 < 1.0
        # an HCI event resolving a waiter that a timeout cancelled (Bumble's connect and
        # disconnect futures) is dropped, not raised out of the event loop's callback
        waiter = asyncio.get_running_loop().create_future()
        waiter.cancel()
        seen = []

        def handler(packet: hci.HCI_Packet) -> None:
            seen.append(packet)
            waiter.set_result(None)

        device.host.ready = True
        device.host.on_hci_packet = handler  # type: ignore[method-assign]
        device.host.on_packet(
            bytes(hci.HCI_Disconnection_Complete_Event(status=0, connection_handle=1, reason=0x13))
        )
        assert len(seen) == 1
    finally:
        release_host(host)
        await close_hosts()


async def test_a_stale_command_completion_is_not_taken_for_the_next_command():
    """The completion of a command cancelled by a timeout, arriving while the next command
    waits, must not become that command's result."""
    from sensors.bumble_backend.host import acquire_host, release_host

    link = VirtualLink()
    host = await acquire_host(link)
    try:
        device = host.device
        assert device is not None
        bumble_host = device.host
        # a controller that never answers: only the stale completion arrives
        bumble_host.hci_sink = None
        task = asyncio.ensure_future(device.send_command(hci.HCI_Read_BD_ADDR_Command()))
        await asyncio.sleep(0.02)
        assert bumble_host.pending_command is not None
        stale = hci.HCI_Command_Complete_Event(
            num_hci_command_packets=1,
            command_opcode=hci.HCI_LE_SET_SCAN_ENABLE_COMMAND,
            return_parameters=hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS),
        )
        bumble_host.on_packet(bytes(stale))
        await asyncio.sleep(0.02)
        assert not task.done()  # still waiting for its own completion
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        release_host(host)
        await close_hosts()
