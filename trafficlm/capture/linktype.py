"""Link layers: where the IP header starts in each frame, for every link type we read.

Returns, for a whole batch at once, the offset of the network header and the
IP version the link layer announces (4, 6, 0 for not IP, or -1 for "look at
the version nibble", as raw-IP link types require).
"""

from __future__ import annotations

import numpy as np

from trafficlm.capture.gather import u8, u16be, u32be, u32le

ETHERNET, NULL, LOOP, PPP, PPP_HDLC = 1, 0, 108, 9, 50
LINUX_SLL, LINUX_SLL2 = 113, 276
RAW_TYPES = (12, 14, 101)
IPV4_ONLY, IPV6_ONLY = 228, 229

NAMES = {
    0: "NULL (BSD loopback)", 1: "ETHERNET", 6: "IEEE802_5 (token ring)", 9: "PPP",
    10: "FDDI", 12: "RAW", 14: "RAW", 50: "PPP_HDLC", 101: "RAW", 104: "C_HDLC",
    105: "IEEE802_11", 108: "LOOP", 113: "LINUX_SLL", 119: "PRISM_HEADER",
    127: "IEEE802_11_RADIOTAP", 163: "IEEE802_11_AVS", 187: "BLUETOOTH_HCI_H4",
    192: "PPI", 195: "IEEE802_15_4", 201: "BLUETOOTH_HCI_H4_WITH_PHDR",
    220: "USB_LINUX_MMAPPED", 228: "IPV4", 229: "IPV6", 249: "USBPCAP", 253: "NETLINK",
    276: "LINUX_SLL2",
}
SUPPORTED = frozenset({ETHERNET, NULL, LOOP, PPP, PPP_HDLC, LINUX_SLL, LINUX_SLL2,
                       *RAW_TYPES, IPV4_ONLY, IPV6_ONLY})

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
PPPOE_SESSION = 0x8864
PPP_IPV4, PPP_IPV6 = 0x0021, 0x0057
BSD_AF_INET6 = (10, 24, 28, 30)  # Linux, NetBSD/OpenBSD, FreeBSD, macOS


def name(linktype: int) -> str:
    """A human name for a link type number, e.g. ``127 (IEEE802_11_RADIOTAP)``."""
    return f"{linktype} ({NAMES.get(linktype, 'unknown')})"


def network_layer(buf: np.ndarray, data_off: np.ndarray,
                  linktype: int) -> tuple[np.ndarray, np.ndarray]:
    """(offset of the network header, announced IP version) for frames of one link type."""
    if linktype == ETHERNET:
        return _ethernet(buf, data_off)
    if linktype in (LINUX_SLL, LINUX_SLL2):
        proto_at, header = (14, 16) if linktype == LINUX_SLL else (0, 20)
        return data_off + header, _ethertype_version(u16be(buf, data_off + proto_at))
    if linktype in (NULL, LOOP):
        return data_off + 4, _bsd_family_version(buf, data_off, linktype)
    if linktype in (PPP, PPP_HDLC):
        return _ppp(buf, data_off)
    version = {IPV4_ONLY: 4, IPV6_ONLY: 6}.get(linktype, -1)
    return data_off.copy(), np.full(len(data_off), version, dtype=np.int64)


def _ethertype_version(ethertype: np.ndarray) -> np.ndarray:
    return np.where(ethertype == ETH_IPV4, 4, np.where(ethertype == ETH_IPV6, 6, 0))


def _ethernet(buf: np.ndarray, data_off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    header = np.full(len(data_off), 14, dtype=np.int64)
    ethertype = u16be(buf, data_off + 12)
    for _ in range(2):  # 802.1Q, and QinQ's outer tag
        tagged = np.isin(ethertype, VLAN_TAGS)
        ethertype = np.where(tagged, u16be(buf, data_off + header + 2), ethertype)
        header = np.where(tagged, header + 4, header)
    net_off, version = data_off + header, _ethertype_version(ethertype)
    pppoe = ethertype == PPPOE_SESSION
    if pppoe.any():  # 6-byte PPPoE session header, then a PPP protocol field
        ppp_off, ppp_version = _ppp_protocol(buf, net_off + 6)
        net_off = np.where(pppoe, ppp_off, net_off)
        version = np.where(pppoe, ppp_version, version)
    return net_off, version


def _bsd_family_version(buf: np.ndarray, data_off: np.ndarray, linktype: int) -> np.ndarray:
    if linktype == LOOP:
        family = u32be(buf, data_off)
    else:  # host byte order of the machine that wrote it: accept either
        family = u32le(buf, data_off)
        family = np.where(family > 0xFFFF, u32be(buf, data_off), family)
    return np.where(family == 2, 4, np.where(np.isin(family, BSD_AF_INET6), 6, 0))


def _ppp(buf: np.ndarray, data_off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    has_address_control = (u8(buf, data_off) == 0xFF) & (u8(buf, data_off + 1) == 0x03)
    return _ppp_protocol(buf, data_off + np.where(has_address_control, 2, 0))


def _ppp_protocol(buf: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Read a PPP protocol field (one byte when compressed) at ``start``."""
    first = u8(buf, start)
    compressed = (first & 1) == 1  # protocol field compression: one byte
    proto = np.where(compressed, first, u16be(buf, start))
    header = np.where(compressed, 1, 2)
    version = np.where(proto == PPP_IPV4, 4, np.where(proto == PPP_IPV6, 6, 0))
    return start + header, version
