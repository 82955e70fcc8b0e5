"""Bleak scanner backend on a Bumble host (:class:`BumbleScanner`)."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Literal

from bleak.backends.scanner import (
    AdvertisementData,
    AdvertisementDataCallback,
    BaseBleakScanner,
)
from bumble.core import AdvertisingData
from bumble.device import Advertisement

from sensors.bumble_backend.host import BumbleHost, acquire_host, address_str, release_host

logger = logging.getLogger(__name__)

_T = AdvertisingData.Type
_UUID16_LISTS = (
    _T.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    _T.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
)
_UUID32_LISTS = (
    _T.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    _T.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
)
_UUID128_LISTS = (
    _T.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    _T.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)


def _sig(short: int) -> str:
    return f"{short:08x}-0000-1000-8000-00805f9b34fb"


def _uuid128(le_bytes: bytes) -> str:
    return str(uuid.UUID(bytes=bytes(reversed(le_bytes))))


def parse_advertising_data(
    data: AdvertisingData,
) -> tuple[str | None, list[str], dict[int, bytes], dict[str, bytes], int | None]:
    """Split Bumble advertising data into bleak's fields.

    Returns
    -------
    tuple
        ``(local_name, service_uuids, manufacturer_data, service_data, tx_power)``
        with UUIDs as lower-case 128-bit strings (bleak's form). Malformed structures
        are skipped with a debug log, never raised: a scan must survive a noisy neighbour.
    """
    name: str | None = None
    short_name: str | None = None
    uuids: list[str] = []
    manufacturer: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    tx_power: int | None = None
    for ad_type, value in data.ad_structures:
        value = bytes(value)
        try:
            if ad_type == _T.COMPLETE_LOCAL_NAME:
                name = value.decode("utf-8", errors="replace")
            elif ad_type == _T.SHORTENED_LOCAL_NAME:
                short_name = value.decode("utf-8", errors="replace")
            elif ad_type in _UUID16_LISTS:
                uuids += [
                    _sig(int.from_bytes(value[i : i + 2], "little"))
                    for i in range(0, len(value) - 1, 2)
                ]
            elif ad_type in _UUID32_LISTS:
                uuids += [
                    _sig(int.from_bytes(value[i : i + 4], "little"))
                    for i in range(0, len(value) - 3, 4)
                ]
            elif ad_type in _UUID128_LISTS:
                uuids += [_uuid128(value[i : i + 16]) for i in range(0, len(value) - 15, 16)]
            elif ad_type == _T.MANUFACTURER_SPECIFIC_DATA and len(value) >= 2:
                manufacturer[int.from_bytes(value[:2], "little")] = value[2:]
            elif ad_type == _T.SERVICE_DATA_16_BIT_UUID and len(value) >= 2:
                service_data[_sig(int.from_bytes(value[:2], "little"))] = value[2:]
            elif ad_type == _T.SERVICE_DATA_32_BIT_UUID and len(value) >= 4:
                service_data[_sig(int.from_bytes(value[:4], "little"))] = value[4:]
            elif ad_type == _T.SERVICE_DATA_128_BIT_UUID and len(value) >= 16:
                service_data[_uuid128(value[:16])] = value[16:]
            elif ad_type == _T.TX_POWER_LEVEL and len(value) == 1:
                tx_power = int.from_bytes(value, "little", signed=True)
        except Exception as exc:  # pragma: no cover - defensive
            logger.debug("skipping malformed AD structure %s: %s", ad_type, exc)
    # de-duplicate while keeping order (scan responses repeat the advertising data)
    uuids = list(dict.fromkeys(uuids))
    return name or short_name, uuids, manufacturer, service_data, tx_power


class BumbleScanner(BaseBleakScanner):
    """Bleak scanner backend that scans through a Bumble host.

    Use through bleak's public API::

        BleakScanner(backend=BumbleScanner, bumble={"transport": link_or_string})

    Parameters
    ----------
    detection_callback, service_uuids, scanning_mode
        As for :class:`bleak.BleakScanner`.
    bumble
        ``{"transport": VirtualLink | str}``: which radio to use (see
        :mod:`sensors.bumble_backend.host`).
    """

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        *,
        bumble: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._transport = (bumble or {}).get("transport")
        if self._transport is None:
            raise TypeError(
                "BumbleScanner needs bumble={'transport': VirtualLink | 'tcp-client:HOST:PORT' "
                "| 'usb:0' ...}"
            )
        self._active = scanning_mode != "passive"
        self._host: BumbleHost | None = None
        self._token = object()
        self._names: dict[str, str] = {}

    async def start(self) -> None:
        """Start scanning (clears :attr:`seen_devices`)."""
        self.seen_devices = {}
        if self._host is None:
            self._host = await acquire_host(self._transport)
        await self._host.add_scan_listener(self._token, self._on_advertisement, self._active)

    async def stop(self) -> None:
        """Stop scanning and release the shared host."""
        if self._host is None:
            return
        host, self._host = self._host, None
        await host.remove_scan_listener(self._token)
        release_host(host)

    def _on_advertisement(self, adv: Advertisement) -> None:
        name, uuids, manufacturer, service_data, tx_power = parse_advertising_data(adv.data)
        if not self.is_allowed_uuid(uuids):
            return
        address = address_str(adv.address)
        # Like an OS stack, remember the name from a scan response for later advertisements
        # (Bumble merges a scan response with the advertisement before it, not after).
        if name:
            self._names[address] = name
        else:
            name = self._names.get(address)
        advertisement_data = AdvertisementData(
            local_name=name,
            manufacturer_data=manufacturer,
            service_data=service_data,
            service_uuids=uuids,
            tx_power=None if tx_power is None else tx_power,
            rssi=int(adv.rssi),
            platform_data=(adv,),
        )
        device = self.create_or_update_device(
            address, address, name, adv.address, advertisement_data
        )
        self.call_detection_callbacks(device, advertisement_data)
