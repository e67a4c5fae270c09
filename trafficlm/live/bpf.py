"""BPF capture filters: compiled by libpcap (tcpdump's syntax), run by the kernel.

libpcap compiles the expression for the interface's link type without
opening a device (``pcap_open_dead``); the instructions go to the socket
with ``SO_ATTACH_FILTER``, so filtered-out frames never reach the ring.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import socket

from trafficlm.errors import TrafficLMError

SO_ATTACH_FILTER = 26
PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF


class FilterError(TrafficLMError):
    """A capture filter that cannot be compiled or attached."""


class _Instruction(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


class _Program(ctypes.Structure):  # struct bpf_program and struct sock_fprog share a layout
    _fields_ = [("len", ctypes.c_uint), ("insns", ctypes.POINTER(_Instruction))]


def _libpcap() -> ctypes.CDLL:
    name = ctypes.util.find_library("pcap")
    if name is None:
        raise FilterError("a capture filter needs libpcap (apt-get install libpcap0.8)")
    lib = ctypes.CDLL(name)
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Program), ctypes.c_char_p,
                                 ctypes.c_int, ctypes.c_uint]
    lib.pcap_geterr.restype = ctypes.c_char_p
    lib.pcap_geterr.argtypes = [ctypes.c_void_p]
    lib.pcap_freecode.argtypes = [ctypes.POINTER(_Program)]
    lib.pcap_close.argtypes = [ctypes.c_void_p]
    return lib


def compile_filter(expression: str, linktype: int, snaplen: int = 262144) -> bytes:
    """The filter's instructions (8 bytes each); a bad expression names libpcap's reason."""
    lib = _libpcap()
    handle = lib.pcap_open_dead(linktype, snaplen)
    program = _Program()
    try:
        if lib.pcap_compile(handle, ctypes.byref(program), expression.encode(), 1,
                            PCAP_NETMASK_UNKNOWN) != 0:
            reason = lib.pcap_geterr(handle).decode(errors="replace")
            raise FilterError(f"bad capture filter {expression!r}: {reason}")
        code = ctypes.string_at(program.insns, program.len * ctypes.sizeof(_Instruction))
        lib.pcap_freecode(ctypes.byref(program))
        return code
    finally:
        lib.pcap_close(handle)


def attach_filter(sock: socket.socket, expression: str, linktype: int, iface: str) -> None:
    """Compile ``expression`` for the interface's link type and attach it to ``sock``."""
    code = compile_filter(expression, linktype)
    buffer = ctypes.create_string_buffer(code, len(code))
    program = _Program(len(code) // ctypes.sizeof(_Instruction),
                       ctypes.cast(buffer, ctypes.POINTER(_Instruction)))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(program))
    except OSError as err:
        raise FilterError(f"{iface}: kernel refused the filter {expression!r}: "
                          f"{err.strerror or err}") from None
