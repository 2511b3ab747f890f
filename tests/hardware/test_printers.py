"""Printer URLs and delivery over real transports: TCP to a sink on 127.0.0.1, a file, a pseudo-terminal, memory."""
from __future__ import annotations

import os
import select
import socket
import time

import pytest

from hardware.printers import (
    PrinterNotSupported, PrinterUnavailable, clear_dummy, dummy_jobs, dummy_output, parse_printer_url, send, status,
)
from hardware.receipt import profile, render_escpos
from tests.hardware.printer_sink import PrinterSink, escpos_text
from tests.hardware.test_receipt import make_receipt

ALL_BYTES = bytes(range(256)) * 64  # 16 KiB: every byte value, including ESC/POS command bytes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- URLs ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, expected", [
    ("network://10.0.0.5:9100", {"kind": "network", "host": "10.0.0.5", "port": 9100}),
    ("network://10.0.0.5", {"kind": "network", "host": "10.0.0.5", "port": 9100}),
    ("network://printer-1.shop.lan:9101", {"kind": "network", "host": "printer-1.shop.lan", "port": 9101}),
    ("network://[fe80::1]:9100", {"kind": "network", "host": "fe80::1", "port": 9100}),
    ("usb://04b8:0202", {"kind": "usb", "vendor_id": 0x04B8, "product_id": 0x0202}),
    ("usb://0416:5011?out_ep=0x03&in_ep=0x81", {"kind": "usb", "vendor_id": 0x0416, "product_id": 0x5011,
                                                "options": (("in_ep", "0x81"), ("out_ep", "0x03"))}),
    ("serial:///dev/ttyUSB0?baudrate=19200", {"kind": "serial", "path": "/dev/ttyUSB0",
                                              "options": (("baudrate", "19200"),)}),
    ("serial:///dev/ttyS1?baudrate=115200&parity=e&stopbits=2&flow=rtscts",
     {"kind": "serial", "path": "/dev/ttyS1",
      "options": (("baudrate", "115200"), ("flow", "rtscts"), ("parity", "E"), ("stopbits", "2"))}),
    ("serial:///dev/ttyUSB0", {"kind": "serial", "path": "/dev/ttyUSB0", "options": ()}),
    ("file:///dev/usb/lp0", {"kind": "file", "path": "/dev/usb/lp0"}),
    ("dummy:", {"kind": "dummy", "name": ""}),
    ("dummy:pos2", {"kind": "dummy", "name": "pos2"}),
])
def test_parse_good_urls(url, expected):
    address = parse_printer_url(url)
    assert address.url == url
    for key, value in expected.items():
        assert getattr(address, key) == value, key


@pytest.mark.parametrize("url", [
    "", " ", None, 9100, "http://printer:9100", "tcp://10.0.0.5:9100", "network:10.0.0.5", "network://",
    "network://10.0.0.5:0", "network://10.0.0.5:65536", "network://10.0.0.5:port", "network://10.0.0.5:9100/path",
    "network://user@10.0.0.5", "network://10.0.0.5:9100?x=1", "network://300.1.1.1", "network://bad_host",
    "network://[zz::1]", "network://10.0.0.5 :9100", "usb://4b8:202", "usb://04b8", "usb://0000:0202",
    "usb://04b8:0202?out_ep=0x100", "usb://04b8:0202?timeout=5", "serial://dev/ttyUSB0",
    "serial:///dev/ttyUSB0?baud=9600", "serial:///dev/ttyUSB0?baudrate=fast", "serial:///dev/ttyUSB0?parity=X",
    "serial:///dev/ttyUSB0?baudrate=1&baudrate=2",
    "serial:///", "file://", "file:///", "file://relative/lp0", "file:///dev/usb/", "file:///tmp/x?mode=a",
    "file:///tmp/a%20b", "file:///tmp/../etc/passwd", "dummy:two words", "dummy:a/b", "network://10.0.0.5\n",
])
def test_parse_bad_urls(url):
    with pytest.raises(ValueError):
        parse_printer_url(url)


def test_send_refuses_bad_input():
    with pytest.raises(ValueError):
        send("lpt1:", b"x")
    with pytest.raises(TypeError):
        send("dummy:", "text, not bytes")
    with pytest.raises(ValueError):
        send("dummy:", b"x", timeout=0)


# --- network ---------------------------------------------------------------------------------------------------------

def test_send_to_a_network_printer_arrives_byte_for_byte():
    ticket = render_escpos(make_receipt(), profile("gbk-80mm"), kick_drawer=True)
    with PrinterSink() as sink:
        assert sink.url == f"network://127.0.0.1:{sink.port}"
        assert status(sink.url, timeout=2)
        sink.wait_for_jobs(1)  # status() connected and closed without sending
        sink.clear()
        send(sink.url, ticket)
        send(sink.url, ALL_BYTES)
        assert sink.wait_for_jobs(2) == [ticket, ALL_BYTES]
        assert sink.data == ticket + ALL_BYTES
        assert "连花清瘟胶囊" in escpos_text(sink.jobs[0], "gbk")


def test_wait_for_accepts_a_predicate_and_times_out_with_what_arrived():
    with PrinterSink() as sink:
        send(sink.url, b"\x1b@hello")
        assert sink.wait_for(lambda data: data.endswith(b"hello"), timeout=5) == b"\x1b@hello"
        with pytest.raises(TimeoutError, match="7 bytes received"):
            sink.wait_for(100, timeout=0.2)


def test_printer_switched_off_fails_fast():
    url = f"network://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(PrinterUnavailable, match="cannot connect"):
        send(url, b"\x1b@test", timeout=5.0)
    assert time.monotonic() - started < 2.0
    assert PrinterUnavailable.retryable
    assert status(url, timeout=1) is False


def test_printer_off_and_on_again_on_the_same_port():
    with PrinterSink() as sink:
        url, port = sink.url, sink.port
        send(url, b"first")
        sink.wait_for(5)

        sink.stop()  # switched off
        assert not sink.running
        with pytest.raises(PrinterUnavailable):
            send(url, b"lost")
        assert status(url, timeout=1) is False

        sink.start()  # switched on again
        assert sink.port == port and sink.url == url
        assert status(url, timeout=2)
        send(url, b"second")
        assert sink.wait_for(lambda data: data.endswith(b"second")) == b"firstsecond"

        sink.restart()
        send(url, b"third")
        assert sink.wait_for(lambda data: data.endswith(b"third")).endswith(b"secondthird")


def test_sink_on_a_given_port():
    port = free_port()
    with PrinterSink(port=port) as sink:
        assert sink.url == f"network://127.0.0.1:{port}"
        send(sink.url, b"x")
        assert sink.wait_for(1) == b"x"


# --- file ------------------------------------------------------------------------------------------------------------

def test_file_printer_appends(tmp_path):
    target = tmp_path / "lp0"
    url = f"file://{target}"
    assert status(url)
    send(url, b"\x1b@one")
    send(url, ALL_BYTES)
    assert target.read_bytes() == b"\x1b@one" + ALL_BYTES
    assert status(url)


def test_file_printer_failures_are_printer_unavailable(tmp_path):
    with pytest.raises(PrinterUnavailable):
        send(f"file://{tmp_path}/no-such-dir/lp0", b"x")
    with pytest.raises(PrinterUnavailable):
        send(f"file://{tmp_path}", b"x")  # a directory
    missing_device = "/dev/yaofang-test-no-such-printer"
    with pytest.raises(PrinterUnavailable):
        send(f"file://{missing_device}", b"x")
    assert not os.path.exists(missing_device)  # device paths are never created
    assert status(f"file://{missing_device}") is False


def test_file_printer_that_is_not_listening_fails_fast(tmp_path):
    fifo = tmp_path / "printer.fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(PrinterUnavailable):  # a FIFO with no reader: ENXIO at once, no hang
        send(f"file://{fifo}", b"x", timeout=5)
    assert time.monotonic() - started < 2.0


def test_file_printer_that_stops_reading_times_out(tmp_path):
    fifo = tmp_path / "printer.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads: the pipe fills up
    try:
        started = time.monotonic()
        with pytest.raises(PrinterUnavailable, match="timed out"):
            send(f"file://{fifo}", b"x" * (4 << 20), timeout=0.5)
        assert time.monotonic() - started < 3.0
    finally:
        os.close(reader)


# --- serial (pseudo-terminal) ----------------------------------------------------------------------------------------

def _read_all(fd: int, n: int, timeout: float = 5.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            out += os.read(fd, 65536)
    return out


def test_serial_printer_through_a_pseudo_terminal():
    pytest.importorskip("serial")
    import tty

    controller, device = os.openpty()
    tty.setraw(device)  # the printer end sees raw bytes (no CR/LF translation)
    try:
        path = os.ttyname(device)
        url = f"serial://{path}?baudrate=19200"
        ticket = render_escpos(make_receipt(), profile("gbk-58mm"), kick_drawer=False)
        assert status(url, timeout=1)
        send(url, ticket, timeout=5)
        received = _read_all(controller, len(ticket))
        assert received == ticket
        assert "连花清瘟胶囊" in escpos_text(received, "gbk")
    finally:
        os.close(controller)
        os.close(device)


def test_serial_device_missing():
    pytest.importorskip("serial")
    with pytest.raises(PrinterUnavailable, match="cannot open"):
        send("serial:///dev/yaofang-no-such-tty?baudrate=9600", b"x", timeout=1)
    assert status("serial:///dev/yaofang-no-such-tty", timeout=1) is False


# --- usb -------------------------------------------------------------------------------------------------------------

def test_usb_printer_absent_or_driver_missing_is_unavailable():
    from escpos.printer import Usb

    with pytest.raises(PrinterUnavailable) as caught:
        send("usb://0001:0001", b"x", timeout=0.5)  # no such device on any machine
    if not Usb.is_usable():
        assert isinstance(caught.value, PrinterNotSupported) and caught.value.retryable is False
        assert "pyusb" in str(caught.value)
    assert status("usb://0001:0001", timeout=0.5) is False


# --- dummy -----------------------------------------------------------------------------------------------------------

def test_dummy_keeps_jobs_in_memory():
    clear_dummy()
    ticket = render_escpos(make_receipt(), profile("gbk-80mm"), kick_drawer=False)
    send("dummy:", ticket)
    send("dummy:", b"second")
    send("dummy:pos2", b"other counter")
    assert dummy_output() == ticket + b"second"
    assert dummy_jobs("dummy:") == [ticket, b"second"]
    assert dummy_output("dummy:pos2") == b"other counter"
    assert status("dummy:")
    clear_dummy("dummy:")
    assert dummy_output() == b"" and dummy_output("dummy:pos2") == b"other counter"
    for i in range(150):
        send("dummy:pos2", b"%d;" % i)
    jobs = dummy_jobs("dummy:pos2")
    assert len(jobs) == 100 and jobs[-1] == b"149;"  # bounded: a demo store prints forever
    clear_dummy()
    assert dummy_output("dummy:pos2") == b""
