"""Vectorised IPv4/IPv6/TCP/UDP/ICMP decoding of a whole RecordBatch at once.

Every field is read for all packets with one numpy gather; per-packet Python
never runs here. Header chains (IPv6 extension headers, TCP options) are
walked one hop per iteration over the packets that still have a hop to go.
"""

from __future__ import annotations

import numpy as np

from trafficlm.capture import linktype as lt
from trafficlm.capture.batch import PacketBatch, PacketStatus, RecordBatch, TcpOption
from trafficlm.capture.gather import be16, be32, be64, header_rows, padded, u8, u16be, u32be

TCP, UDP, ICMP, ICMPV6, SCTP = 6, 17, 1, 58, 132
IPV6_HOP_BY_HOP, IPV6_ROUTING, IPV6_FRAGMENT, IPV6_AH, IPV6_DEST_OPTS = 0, 43, 44, 51, 60
IPV6_MOBILITY, IPV6_HIP, IPV6_SHIM6 = 135, 139, 140
IPV6_EXTENSIONS = (IPV6_HOP_BY_HOP, IPV6_ROUTING, IPV6_FRAGMENT, IPV6_AH, IPV6_DEST_OPTS,
                   IPV6_MOBILITY, IPV6_HIP, IPV6_SHIM6)
MAX_IPV6_EXTENSIONS = 64  # more than any real stack sends; THC's DoS captures use dozens
IPV4_MAPPED_PREFIX = np.uint64(0x0000FFFF00000000)
TCP_OPTION_BITS = {2: TcpOption.MSS, 3: TcpOption.WINDOW_SCALE, 4: TcpOption.SACK_PERMITTED,
                   5: TcpOption.SACK, 8: TcpOption.TIMESTAMP}
# header length a protocol's payload starts after, where we know it
L4_HEADER_LEN = {UDP: 8, ICMP: 8, ICMPV6: 8, SCTP: 12}


class _Fields:
    """Output columns, allocated zeroed for the whole batch and filled by masks."""

    def __init__(self, n: int) -> None:
        z64, z32 = np.zeros(n, np.int64), np.zeros(n, np.int32)
        self.status = np.full(n, PacketStatus.UNSUPPORTED_LINK, np.uint8)
        self.ip_version = np.zeros(n, np.uint8)
        self.src_hi, self.src_lo = np.zeros(n, np.uint64), np.zeros(n, np.uint64)
        self.dst_hi, self.dst_lo = np.zeros(n, np.uint64), np.zeros(n, np.uint64)
        self.proto = np.zeros(n, np.uint8)
        self.sport, self.dport = z32.copy(), z32.copy()
        self.ip_len = z32.copy()
        self.ttl = np.zeros(n, np.uint8)
        self.ip_id = np.zeros(n, np.uint32)
        self.frag_offset = z32.copy()
        self.more_fragments = np.zeros(n, bool)
        self.tcp_flags = np.zeros(n, np.uint16)
        self.tcp_seq, self.tcp_ack = np.zeros(n, np.uint32), np.zeros(n, np.uint32)
        self.tcp_window = np.zeros(n, np.uint16)
        self.tcp_options = np.zeros(n, np.uint8)
        self.udp_len = z32.copy()
        self.icmp_type, self.icmp_code = np.full(n, -1, np.int16), np.full(n, -1, np.int16)
        self.payload_off = z64.copy()
        self.payload_len, self.payload_cap = z32.copy(), z32.copy()
        self.ip_payload_len = z64.copy()
        # working columns, not part of the PacketBatch
        self.l4_off = z64.copy()
        self.ip_end = z64.copy()


def decode(records: RecordBatch) -> PacketBatch:
    """Decode link, network and transport headers of every record in the batch."""
    buf = padded(records.buf)  # fixed headers are read as rows; see gather.header_rows
    out = _Fields(len(records))
    net_off, version = _network_offsets(records, out)
    cap_end = records.data_off + records.caplen
    _ipv4(buf, net_off, cap_end, version == 4, out)
    _ipv6(buf, net_off, cap_end, version == 6, out)
    _transport(buf, out)
    return PacketBatch(
        buf=records.buf, ts_ns=records.ts_ns, wirelen=records.wirelen,
        file_offset=records.file_offset,
        **{name: getattr(out, name) for name in PacketBatch.__dataclass_fields__
           if name not in ("buf", "ts_ns", "wirelen", "file_offset")},
    )


def _network_offsets(records: RecordBatch, out: _Fields) -> tuple[np.ndarray, np.ndarray]:
    """Network header offset and IP version per packet; marks non-IP and unsupported links."""
    n = len(records)
    net_off = np.zeros(n, np.int64)
    announced = np.zeros(n, np.int64)
    for linktype in np.unique(records.linktype):
        mine = records.linktype == linktype
        if int(linktype) not in lt.SUPPORTED:
            continue
        net_off[mine], announced[mine] = lt.network_layer(
            records.buf, records.data_off[mine], int(linktype))
        out.status[mine] = PacketStatus.NON_IP
    nibble = u8(records.buf, net_off) >> 4
    version = np.where(announced == -1, nibble, announced)
    linked = out.status == PacketStatus.NON_IP
    version = np.where(linked & ((version == 4) | (version == 6)), version, 0)
    # the link layer said IP but the header disagrees: a malformed packet
    mismatch = linked & (version > 0) & (nibble != version)
    out.status[mismatch] = PacketStatus.MALFORMED
    version[mismatch] = 0
    return net_off, version


def _ipv4(buf, net_off, cap_end, is_v4, out: _Fields) -> None:
    idx = np.flatnonzero(is_v4)
    base = net_off[idx]
    avail = cap_end[idx] - base
    h = header_rows(buf, base, 20)
    ihl = (h[:, 0].astype(np.int64) & 0x0F) * 4
    total = be16(h, 2)
    total = np.where(total == 0, avail, total)  # TSO captures leave it zero
    good = (avail >= 20) & (ihl >= 20) & (avail >= ihl) & (total >= ihl)
    _mark(out, idx, good)
    idx, base, avail, ihl, total, h = (a[good] for a in (idx, base, avail, ihl, total, h))
    out.ip_version[idx] = 4
    out.src_lo[idx] = IPV4_MAPPED_PREFIX | be32(h, 12).astype(np.uint64)
    out.dst_lo[idx] = IPV4_MAPPED_PREFIX | be32(h, 16).astype(np.uint64)
    out.proto[idx] = h[:, 9]
    out.ttl[idx] = h[:, 8]
    out.ip_id[idx] = be16(h, 4)
    flags_frag = be16(h, 6)
    out.more_fragments[idx] = (flags_frag & 0x2000) != 0
    out.frag_offset[idx] = (flags_frag & 0x1FFF) * 8
    out.ip_len[idx] = total
    out.l4_off[idx] = base + ihl
    out.ip_payload_len[idx] = total - ihl
    out.ip_end[idx] = base + np.minimum(total, avail)


def _ipv6(buf, net_off, cap_end, is_v6, out: _Fields) -> None:
    idx = np.flatnonzero(is_v6)
    base = net_off[idx]
    avail = cap_end[idx] - base
    good = avail >= 40
    _mark(out, idx, good)
    idx, base, avail = idx[good], base[good], avail[good]
    h = header_rows(buf, base, 40)
    payload = be16(h, 4)
    total = np.where(payload == 0, avail, payload + 40)  # jumbograms say 0
    out.ip_version[idx] = 6
    out.src_hi[idx], out.src_lo[idx] = be64(h, 8), be64(h, 16)
    out.dst_hi[idx], out.dst_lo[idx] = be64(h, 24), be64(h, 32)
    out.ttl[idx] = h[:, 7]
    out.ip_len[idx] = total
    out.ip_end[idx] = base + np.minimum(total, avail)
    end = out.ip_end[idx]
    next_header, pos, ok = _ipv6_extensions(buf, idx, h[:, 6].astype(np.int64), base + 40, end,
                                            out)
    _mark(out, idx, ok)
    out.proto[idx] = next_header
    out.l4_off[idx] = pos
    out.ip_payload_len[idx] = np.maximum(base + total - pos, 0)


def _ipv6_extensions(buf, idx, next_header, pos, end, out: _Fields):
    """Follow the extension-header chain; stop at the upper layer or a non-first fragment."""
    next_header, pos = next_header.copy(), pos.copy()
    ok = np.ones(len(idx), bool)
    active = np.flatnonzero(np.isin(next_header, IPV6_EXTENSIONS))
    for _ in range(MAX_IPV6_EXTENSIONS):
        if len(active) == 0:
            break
        p, nh = pos[active], next_header[active]
        short = p + 8 > end[active]
        ok[active[short]] = False
        length = np.where(nh == IPV6_AH, (u8(buf, p + 1) + 2) * 4, (u8(buf, p + 1) + 1) * 8)
        length = np.where(nh == IPV6_FRAGMENT, 8, length)
        frag = (nh == IPV6_FRAGMENT) & ~short
        if frag.any():
            rows = idx[active[frag]]
            field = u16be(buf, p[frag] + 2)
            out.frag_offset[rows] = (field >> 3) * 8
            out.more_fragments[rows] = (field & 1) == 1
            out.ip_id[rows] = u32be(buf, p[frag] + 4)
        next_header[active] = u8(buf, p)
        pos[active] = p + length
        stop = short | (frag & (out.frag_offset[idx[active]] > 0))
        active = active[~stop & np.isin(next_header[active], IPV6_EXTENSIONS)]
    ok[active] = False  # a chain longer than any real stack sends
    return next_header, pos, ok


def _mark(out: _Fields, idx: np.ndarray, good: np.ndarray) -> None:
    out.status[idx[good]] = PacketStatus.OK
    out.status[idx[~good]] = PacketStatus.MALFORMED


def _transport(buf, out: _Fields) -> None:
    """Ports, flags and payload bounds of every packet that carries an L4 header."""
    is_ip = out.status == PacketStatus.OK
    first = is_ip & (out.frag_offset == 0)
    out.payload_off[is_ip] = out.l4_off[is_ip]
    out.payload_len[is_ip] = out.ip_payload_len[is_ip]
    _tcp(buf, np.flatnonzero(first & (out.proto == TCP)), out)
    for proto, header_len in L4_HEADER_LEN.items():
        _simple_l4(buf, np.flatnonzero(first & (out.proto == proto)), proto, header_len, out)
    out.payload_cap[is_ip] = np.clip(out.ip_end[is_ip] - out.payload_off[is_ip], 0, None)
    out.payload_len[is_ip] = np.maximum(out.payload_len[is_ip], 0)


def _ports(buf, idx, out: _Fields) -> np.ndarray:
    """Read source/destination ports; return the bytes available after the L4 offset."""
    l4 = out.l4_off[idx]
    avail = out.ip_end[idx] - l4
    has_ports = avail >= 4
    h = header_rows(buf, l4, 4)
    out.sport[idx] = np.where(has_ports, be16(h, 0), 0)
    out.dport[idx] = np.where(has_ports, be16(h, 2), 0)
    return avail


def _short_header(out: _Fields, idx, avail, needed) -> np.ndarray:
    """Rows whose L4 header is cut short; a short first fragment is evasion, not malformed."""
    short = avail < needed
    out.status[idx[short & ~out.more_fragments[idx]]] = PacketStatus.MALFORMED
    return short


def _tcp(buf, idx, out: _Fields) -> None:
    avail = _ports(buf, idx, out)
    keep = ~_short_header(out, idx, avail, 20)
    idx, l4 = idx[keep], out.l4_off[idx[keep]]
    h = header_rows(buf, l4, 20)
    header_len = (h[:, 12].astype(np.int64) >> 4) * 4
    out.tcp_seq[idx] = be32(h, 4)
    out.tcp_ack[idx] = be32(h, 8)
    out.tcp_flags[idx] = ((h[:, 12].astype(np.uint16) & 1) << 8) | h[:, 13]
    out.tcp_window[idx] = be16(h, 14)
    bad = header_len < 20
    out.status[idx[bad]] = PacketStatus.MALFORMED
    header_len = np.maximum(header_len, 20)
    out.payload_off[idx] = l4 + header_len
    out.payload_len[idx] = out.ip_payload_len[idx] - header_len
    with_options = np.flatnonzero(header_len > 20)
    out.tcp_options[idx[with_options]] = _tcp_options(
        buf, l4[with_options] + 20,
        np.minimum(l4 + header_len, out.ip_end[idx])[with_options])


def _tcp_options(buf, start, end) -> np.ndarray:
    """Bit set of the TCP options present between start and end of each header."""
    found = np.zeros(len(start), np.uint8)
    pos = start.copy()
    active = np.flatnonzero(pos < end)
    for _ in range(40):  # at most 40 option bytes
        if len(active) == 0:
            break
        p = pos[active]
        kind = u8(buf, p)
        length = np.where(kind == 1, 1, u8(buf, p + 1))
        for option_kind, bit in TCP_OPTION_BITS.items():
            found[active[kind == option_kind]] |= np.uint8(bit)
        pos[active] = p + length
        alive = (kind != 0) & (length >= 1) & ((kind == 1) | (length >= 2))
        active = active[alive & (pos[active] < end[active])]
    return found


def _simple_l4(buf, idx, proto: int, header_len: int, out: _Fields) -> None:
    if proto in (ICMP, ICMPV6):
        avail = out.ip_end[idx] - out.l4_off[idx]
        l4 = out.l4_off[idx]
        out.icmp_type[idx] = np.where(avail >= 2, u8(buf, l4), -1)
        out.icmp_code[idx] = np.where(avail >= 2, u8(buf, l4 + 1), -1)
        needed = 4
    else:
        avail = _ports(buf, idx, out)
        needed = header_len if proto == UDP else 4
        if proto == UDP:
            out.udp_len[idx] = u16be(buf, out.l4_off[idx] + 4)
    keep = ~_short_header(out, idx, avail, needed)
    idx = idx[keep]
    skip = np.minimum(header_len, out.ip_end[idx] - out.l4_off[idx])
    out.payload_off[idx] = out.l4_off[idx] + skip
    out.payload_len[idx] = out.ip_payload_len[idx] - header_len
