"""Receipt printers addressed by URL; :func:`send` delivers ready ESC/POS bytes (see :mod:`hardware.receipt`).

===========================================  =========================================================================
``network://host[:port]``                    raw TCP ("JetDirect"), port 9100 by default; IPv6 as ``[::1]:9100``
``usb://VID:PID[?out_ep=0x01&in_ep=0x82]``   python-escpos ``Usb`` (needs the ``python-escpos[usb]`` extra, pyusb)
``serial:///dev/ttyUSB0[?baudrate=19200]``   pyserial; also ``bytesize``, ``parity`` (N/E/O/M/S), ``stopbits``
                                             (1/1.5/2), ``flow`` (none, xonxoff, rtscts, dsrdtr); 9600 8N1 by default
``file:///dev/usb/lp0``                      append to a file or device (a missing path under /dev is never created)
``dummy:`` or ``dummy:NAME``                 kept in memory (the last 100 jobs); read with :func:`dummy_output`
===========================================  =========================================================================

Every failure to deliver — connection refused, timeout, device missing or busy, missing optional driver — raises
:class:`PrinterUnavailable`, which the print queue catches to retry with back-off. A printer that is switched off
fails fast: refused connections return at once, everything else within ``timeout`` seconds.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import re
import select
import socket
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import parse_qsl

DEFAULT_NETWORK_PORT = 9100
DEFAULT_BAUDRATE = 9600
DUMMY_JOBS_KEPT = 100


class PrinterUnavailable(Exception):
    """The printer could not take the job now (off, unplugged, busy, unreachable). Retrying later may succeed."""

    retryable: bool = True


class PrinterNotSupported(PrinterUnavailable):
    """This machine cannot drive the printer (an optional driver is not installed). Retrying will not help until the
    installation changes; ``retryable`` is False."""

    retryable = False



@dataclass(frozen=True)
class PrinterAddress:
    kind: str  # "network" | "usb" | "serial" | "file" | "dummy"
    url: str
    host: str | None = None
    port: int | None = None
    path: str | None = None  # serial device or file path
    vendor_id: int | None = None
    product_id: int | None = None
    name: str = ""  # dummy buffer name
    options: tuple[tuple[str, str], ...] = ()  # validated query parameters (serial, usb)

    def option(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)


_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")
_SERIAL_OPTIONS = {
    "baudrate": re.compile(r"[1-9][0-9]{1,6}"),
    "bytesize": re.compile(r"[5-8]"),
    "parity": re.compile(r"[NEOMS]"),
    "stopbits": re.compile(r"1|1\.5|2"),
    "flow": re.compile(r"none|xonxoff|rtscts|dsrdtr"),
}
_ENDPOINT = re.compile(r"0x[0-9a-fA-F]{1,2}|[0-9]{1,3}")
_USB_OPTIONS = {"in_ep": _ENDPOINT, "out_ep": _ENDPOINT}


def _bad(url: object, why: str) -> ValueError:
    return ValueError(f"printer URL not understood ({why}): {url!r}; expected network://host:9100, usb://04b8:0202, "
                      "serial:///dev/ttyUSB0?baudrate=19200, file:///dev/usb/lp0 or dummy:")


def _query(url: str, query: str, allowed: dict[str, re.Pattern]) -> tuple[tuple[str, str], ...]:
    if not query:
        return ()
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise _bad(url, "malformed query") from None
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            raise _bad(url, f"unknown option {key!r}")
        if key in seen:
            raise _bad(url, f"option {key!r} given twice")
        value = value.upper() if key == "parity" else value.lower() if key == "flow" else value
        if not allowed[key].fullmatch(value):
            raise _bad(url, f"bad value for {key!r}")
        seen[key] = value
    return tuple(sorted(seen.items()))


def parse_printer_url(url: str) -> PrinterAddress:
    """Parse and validate a printer URL (see the module docstring); ValueError for anything else."""
    if not isinstance(url, str) or not url or len(url) > 255 or any(c.isspace() or not c.isprintable() for c in url):
        raise _bad(url, "empty, too long or contains spaces")
    scheme, sep, rest = url.partition(":")
    scheme = scheme.lower()
    if not sep:
        raise _bad(url, "no scheme")

    if scheme == "dummy":
        if rest and not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", rest):
            raise _bad(url, "dummy name")
        return PrinterAddress("dummy", url, name=rest)

    if not rest.startswith("//"):
        raise _bad(url, "missing //")
    rest = rest[2:]
    rest, _, query = rest.partition("?")
    if "#" in rest or "#" in query:
        raise _bad(url, "fragment")

    if scheme == "network":
        if query or "@" in rest:
            raise _bad(url, "no query or user part allowed")
        rest = rest[:-1] if rest.endswith("/") else rest
        m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?|([^:/\[\]]+)(?::(\d{1,5}))?", rest)
        if not m:
            raise _bad(url, "host[:port]")
        host = m.group(1) or m.group(3)
        port_text = m.group(2) or m.group(4)
        if m.group(1):
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise _bad(url, "IPv6 address") from None
        elif re.fullmatch(r"[0-9.]+", host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise _bad(url, "IPv4 address") from None
        elif not _HOSTNAME.fullmatch(host):
            raise _bad(url, "host name")
        port = int(port_text) if port_text else DEFAULT_NETWORK_PORT
        if not 1 <= port <= 65535:
            raise _bad(url, "port out of range")
        return PrinterAddress("network", url, host=host, port=port)

    if scheme == "usb":
        m = re.fullmatch(r"([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})/?", rest)
        if not m:
            raise _bad(url, "usb://VID:PID with 4 hex digits each")
        vendor, product = int(m.group(1), 16), int(m.group(2), 16)
        if vendor == 0:
            raise _bad(url, "vendor id 0000")
        options = _query(url, query, _USB_OPTIONS)
        for _, value in options:
            if not 0 < int(value, 0) < 256:
                raise _bad(url, "endpoint out of range")
        return PrinterAddress("usb", url, vendor_id=vendor, product_id=product, options=options)

    if scheme in ("serial", "file"):
        if not rest.startswith("/") or rest.startswith("//") or rest.endswith("/") or "/../" in rest + "/":
            raise _bad(url, f"{scheme}:/// needs an absolute path")
        if "%" in rest:
            raise _bad(url, "percent-encoded path (paths are taken literally)")
        if scheme == "file" and query:
            raise _bad(url, "file:// takes no options")
        options = _query(url, query, _SERIAL_OPTIONS) if scheme == "serial" else ()
        return PrinterAddress(scheme, url, path=rest, options=options)

    raise _bad(url, f"unknown scheme {scheme!r}")


# --- sending ---------------------------------------------------------------------------------------------------------

_dummy_lock = threading.Lock()
_dummy_jobs: dict[str, deque[bytes]] = {}


def send(url: str, data: bytes, *, timeout: float = 5.0) -> None:
    """Deliver ``data`` to the printer at ``url`` as one job. Raises ValueError for a bad URL, TypeError for data
    that is not bytes, and :class:`PrinterUnavailable` when the printer cannot take it (retry later)."""
    address = parse_printer_url(url)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("printer data must be bytes")
    data = bytes(data)
    if not timeout or timeout <= 0:
        raise ValueError("timeout must be a positive number of seconds")
    kind = address.kind
    if kind == "network":
        _send_network(address, data, timeout)
    elif kind == "file":
        _send_file(address, data, timeout)
    elif kind == "serial":
        _send_serial(address, data, timeout)
    elif kind == "usb":
        _send_usb(address, data, timeout)
    else:
        with _dummy_lock:
            _dummy_jobs.setdefault(address.name, deque(maxlen=DUMMY_JOBS_KEPT)).append(data)


def status(url: str, timeout: float = 2.0) -> bool:
    """Whether the printer can be reached now (TCP connect, device present and openable). Never raises for an
    unreachable printer; ValueError for a bad URL."""
    address = parse_printer_url(url)
    try:
        if address.kind == "network":
            with _connect(address, timeout):
                return True
        if address.kind == "file":
            path = address.path or ""
            if os.path.exists(path):
                return os.access(path, os.W_OK)
            return not path.startswith("/dev/") and os.access(os.path.dirname(path) or "/", os.W_OK)
        if address.kind == "serial":
            with _open_serial(address, timeout):
                return True
        if address.kind == "usb":
            printer = _usb_printer(address, timeout)
            try:
                printer.open()
            finally:
                printer.close()
            return True
        return True
    except (PrinterUnavailable, OSError):
        return False
    except Exception as exc:  # driver-specific errors (usb.core.USBError, escpos DeviceNotFoundError)
        if _is_device_error(exc):
            return False
        raise


def dummy_output(url: str = "dummy:") -> bytes:
    """All bytes kept for a ``dummy:`` printer (the last 100 jobs), oldest first."""
    name = parse_printer_url(url).name
    with _dummy_lock:
        return b"".join(_dummy_jobs.get(name, ()))


def dummy_jobs(url: str = "dummy:") -> list[bytes]:
    name = parse_printer_url(url).name
    with _dummy_lock:
        return list(_dummy_jobs.get(name, ()))


def clear_dummy(url: str | None = None) -> None:
    """Forget the jobs of one ``dummy:`` printer, or of all when ``url`` is None."""
    with _dummy_lock:
        if url is None:
            _dummy_jobs.clear()
        else:
            _dummy_jobs.pop(parse_printer_url(url).name, None)


def _connect(address: PrinterAddress, timeout: float) -> socket.socket:
    try:
        return socket.create_connection((address.host, address.port), timeout=timeout)
    except OSError as exc:  # refused, unreachable, timed out, name not resolved
        raise PrinterUnavailable(f"{address.url}: cannot connect: {_why(exc)}") from exc


def _send_network(address: PrinterAddress, data: bytes, timeout: float) -> None:
    sock = _connect(address, timeout)
    try:
        with sock:
            sock.settimeout(timeout)
            sock.sendall(data)
            try:
                sock.shutdown(socket.SHUT_WR)  # end of job: the printer sees EOF
            except OSError:
                pass
    except OSError as exc:
        raise PrinterUnavailable(f"{address.url}: sending failed: {_why(exc)}") from exc


def _send_file(address: PrinterAddress, data: bytes, timeout: float) -> None:
    path = address.path or ""
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    if not path.startswith("/dev/"):
        flags |= os.O_CREAT  # a log or spool file may be new; a device node never is
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:  # missing device, permission, a FIFO without a reader (ENXIO)
        raise PrinterUnavailable(f"{address.url}: cannot open: {_why(exc)}") from exc
    deadline = time.monotonic() + timeout
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise PrinterUnavailable(f"{address.url}: is a directory")
        view = memoryview(data)
        while view:
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                if exc.errno != errno.EINTR:
                    raise PrinterUnavailable(f"{address.url}: write failed: {_why(exc)}") from exc
                written = 0
            view = view[written:]
            if view and written == 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PrinterUnavailable(f"{address.url}: timed out after {timeout:g} s with "
                                             f"{len(view)} of {len(data)} bytes unwritten")
                select.select([], [fd], [], min(remaining, 0.2))
    finally:
        os.close(fd)


def _open_serial(address: PrinterAddress, timeout: float):
    try:
        import serial
    except ImportError as exc:
        raise PrinterNotSupported(f"{address.url}: serial printers need pyserial "
                                  "(python-escpos[serial])") from exc
    flow = address.option("flow", "none")
    try:
        return serial.Serial(
            port=address.path, baudrate=int(address.option("baudrate", str(DEFAULT_BAUDRATE))),
            bytesize=int(address.option("bytesize", "8")), parity=address.option("parity", "N"),
            stopbits={"1": 1, "1.5": 1.5, "2": 2}[address.option("stopbits", "1") or "1"],
            timeout=timeout, write_timeout=timeout,
            xonxoff=flow == "xonxoff", rtscts=flow == "rtscts", dsrdtr=flow == "dsrdtr")
    except (serial.SerialException, OSError, ValueError) as exc:
        raise PrinterUnavailable(f"{address.url}: cannot open: {_why(exc)}") from exc


def _send_serial(address: PrinterAddress, data: bytes, timeout: float) -> None:
    import serial  # _open_serial checked it is there

    port = _open_serial(address, timeout)
    try:
        with port:
            port.write(data)  # raises SerialTimeoutException after write_timeout (e.g. flow control holding)
            if address.option("flow", "none") == "none":
                port.flush()  # tcdrain; with hardware flow control it could wait forever, so close drains instead
    except (serial.SerialException, OSError) as exc:
        raise PrinterUnavailable(f"{address.url}: write failed: {_why(exc)}") from exc


def _usb_printer(address: PrinterAddress, timeout: float):
    from escpos.printer import Usb

    if not Usb.is_usable():
        # checked first: without pyusb even Usb.close() (run from __del__) raises RuntimeError
        raise PrinterNotSupported(f"{address.url}: USB printers need pyusb (pip install 'python-escpos[usb]')")
    return Usb(address.vendor_id, address.product_id, timeout=max(1, int(timeout * 1000)),  # pyusb: milliseconds
               in_ep=int(address.option("in_ep", "0x82"), 0), out_ep=int(address.option("out_ep", "0x01"), 0),
               profile="default")


def _send_usb(address: PrinterAddress, data: bytes, timeout: float) -> None:
    printer = _usb_printer(address, timeout)
    try:
        printer.open()
        printer._raw(data)
    except PrinterUnavailable:
        raise
    except Exception as exc:
        if _is_device_error(exc):
            raise PrinterUnavailable(f"{address.url}: {_why(exc)}") from exc
        raise
    finally:
        try:
            printer.close()
        except Exception:  # noqa: BLE001 — releasing a vanished device must not hide the real error
            pass


def _is_device_error(exc: BaseException) -> bool:
    from escpos.exceptions import DeviceNotFoundError

    if isinstance(exc, (DeviceNotFoundError, OSError)):
        return True
    try:
        import usb.core
    except ImportError:
        return False
    return isinstance(exc, usb.core.USBError)


def _why(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["PrinterAddress", "PrinterUnavailable", "PrinterNotSupported", "parse_printer_url", "send", "status",
           "dummy_output", "dummy_jobs", "clear_dummy", "DEFAULT_NETWORK_PORT"]
