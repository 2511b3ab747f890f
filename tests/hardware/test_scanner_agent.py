"""The serial scanner agent (hardware/scanner_agent.py) against a real pseudo-terminal and a real HTTP server.

A pty pair stands in for the USB-COM scanner: the agent opens the slave's device name with real pyserial, and the tests
write into the master fd exactly the bytes a scanner sends (code + CR / CRLF, GS 0x1D, AIM prefix, split reads).
"""
from __future__ import annotations

import json
import os
import queue
import threading
import time
import tty
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import serial

from hardware.scanner_agent import (
    ScanRejected, ServerUnavailable, decode_code, post_scan, read_codes, run_agent, scans_url,
)

GS = "\x1d"
TOKEN = "yf_test_0123456789abcdef"
EAN13 = "6901234567892"
GS1 = "]d2010690000000000510ABC" + GS + "17261231"
SPLIT = "0106901234567892" + "10LOT42"
UNKNOWN = "9999999999994"   # the test server answers 404 for this one
WAIT = 5.0                  # upper bound for anything that should happen "soon"

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs POSIX pseudo-terminals")


# --- a scanner: a pty pair ---------------------------------------------------------------------------------------

class Scanner:
    """A pty pair: the agent opens ``device`` (the slave's name); ``send`` writes into the master like a scanner."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)            # no line discipline: CR, LF and 0x1D pass unchanged
        self.device = os.ttyname(self.slave)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view):]

    def unplug(self) -> None:
        """Close both ends: the agent's open port then fails with EIO, as when a USB scanner is pulled out."""
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self.master = self.slave = -1


@pytest.fixture
def scanner():
    made = []

    def make() -> Scanner:
        made.append(Scanner())
        return made[-1]

    yield make
    for each in made:
        each.unplug()


# --- a server: ThreadingHTTPServer recording every request ----------------------------------------------------------

class ScanServer:
    """Answers POST …/scans with 201 {"kind": "added"}, 404 {"error": …} for ``reject``, 503 for the first
    ``fail_first`` requests. ``requests`` records (path, Authorization header, JSON body) of every request."""

    def __init__(self, *, reject=(UNKNOWN,), fail_first: int = 0, listen: bool = True) -> None:
        self.reject = set(reject)
        self.fail_first = fail_first
        self.requests: list[tuple[str, str | None, dict]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length).decode("utf-8"))
                with owner.lock:
                    owner.requests.append((self.path, self.headers.get("Authorization"), body))
                    failing = len(owner.requests) <= owner.fail_first
                if failing:
                    self.answer(503, {"error": {"code": "unavailable", "message": "starting up"}})
                elif body.get("raw") in owner.reject:
                    self.answer(404, {"error": {"code": "unknown_barcode", "message": "条码未找到"}})
                else:
                    self.answer(201, {"kind": "added", "raw": body.get("raw")})

            def answer(self, status, payload):
                data = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        # Bound at once (the port is ours), listening only from start(): before that, connections are refused.
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.httpd.daemon_threads = True
        self.httpd.server_bind()
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread: threading.Thread | None = None
        if listen:
            self.start()

    def start(self) -> None:
        self.httpd.server_activate()
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        if self.thread is not None:
            self.httpd.shutdown()
            self.thread.join(WAIT)
        self.httpd.server_close()

    def raws(self) -> list[str]:
        with self.lock:
            return [body["raw"] for _, _, body in self.requests]


@pytest.fixture
def make_server():
    made = []

    def make(**kwargs) -> ScanServer:
        made.append(ScanServer(**kwargs))
        return made[-1]

    yield make
    for each in made:
        each.close()


# --- running the agent ----------------------------------------------------------------------------------------------

class Results:
    """``on_result`` recorder (waits until n outcomes arrived) and counter of serial ports the agent opened."""

    def __init__(self) -> None:
        self.items: list[tuple[str, object]] = []
        self.opened = 0
        self.cond = threading.Condition()

    def wrap(self, open_serial):
        """Wrap the agent's open_serial to count the ports really opened. pyserial flushes the input buffer when it
        opens a port, so the tests send only once the agent holds the port, as with a scanner plugged in."""
        def opener(port, **kwargs):
            device = open_serial(port, **kwargs)
            with self.cond:
                self.opened += 1
                self.cond.notify_all()
            return device
        return opener

    def wait_opened(self, n: int = 1, timeout: float = WAIT) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.opened >= n, timeout), f"port opened {self.opened} times"

    def __call__(self, raw, outcome) -> None:
        with self.cond:
            self.items.append((raw, outcome))
            self.cond.notify_all()

    def wait_for(self, n: int, timeout: float = WAIT) -> list[tuple[str, object]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.items) >= n, timeout), f"only {self.items!r} after {timeout} s"
            return list(self.items)


@contextmanager
def agent(device: str, server_url: str, *, open_serial=serial.Serial, wait_open: bool = True, **kwargs):
    """Run run_agent in a thread (yielding once it has opened the port); on exit set stop and require the thread
    to finish promptly."""
    stop = threading.Event()
    results = Results()
    errors: list[BaseException] = []

    def target():
        try:
            run_agent(device, "POS1", server_url, TOKEN, stop=stop, on_result=results,
                      open_serial=results.wrap(open_serial), **kwargs)
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        if wait_open:
            results.wait_opened(1)
        yield results
    finally:
        stop.set()
        thread.join(WAIT)
        assert not thread.is_alive(), "run_agent did not return after stop was set"
        assert not errors, errors
    leftovers = [t for t in threading.enumerate() if t.name.startswith("yaofang-scanner-reader")]
    assert not leftovers, leftovers


def send_scanner_session(sc: Scanner) -> None:
    """The bytes of a real session: EAN-13 + CR, GS1 DataMatrix + CRLF, a code split over two reads, empty lines."""
    sc.send(EAN13.encode() + b"\r")
    sc.send(GS1.encode() + b"\r\n")
    sc.send(SPLIT[:9].encode())
    time.sleep(0.3)                       # longer than the agent's read timeout: the first half waits in the buffer
    sc.send(SPLIT[9:].encode() + b"\r")
    sc.send(b"\r\n\n")                    # empty lines: ignored
    sc.send(UNKNOWN.encode() + b"\n")


EXPECTED = [EAN13, GS1, SPLIT, UNKNOWN]


# --- read_codes -----------------------------------------------------------------------------------------------------

def test_read_codes_splits_on_cr_lf_crlf_and_keeps_every_byte(scanner):
    sc = scanner()
    port = serial.Serial(sc.device, baudrate=9600, timeout=0.05)
    stop = threading.Event()
    out: queue.Queue = queue.Queue()

    def consume():
        for code in read_codes(port, stop):
            out.put(code)
        out.put(None)                     # the iterator ended

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    try:
        send_scanner_session(sc)
        sc.send(b"A\r")
        time.sleep(0.2)
        sc.send(b"\nB\n")                 # CR and LF in separate reads still make one terminator
        high = bytes(b for b in range(1, 256) if b not in (0x0A, 0x0D))   # not UTF-8 → latin-1, byte for byte
        sc.send(high + b"\r\n")
        sc.send("批号B123".encode("utf-8") + b"\r")
        got = [out.get(timeout=WAIT) for _ in range(len(EXPECTED) + 4)]
        assert got == EXPECTED + ["A", "B", high.decode("latin-1"), "批号B123"]
        assert got[1].count(GS) == 1 and got[1].startswith("]d2")
        assert got[-2].encode("latin-1") == high
        time.sleep(0.3)                   # idle timeouts (read → b"") do not end the iterator
        assert out.empty() and thread.is_alive()
    finally:
        stop.set()
        thread.join(WAIT)
        port.close()
    assert not thread.is_alive()
    assert out.get_nowait() is None


def test_decode_code():
    assert decode_code(b"]C1010690000000000510AB\x1d17261231") == "]C1010690000000000510AB\x1d17261231"
    assert decode_code("药".encode("utf-8")) == "药"
    gbk = "批号".encode("gbk")            # not valid UTF-8: kept one character per byte
    assert decode_code(gbk) == gbk.decode("latin-1") and decode_code(gbk).encode("latin-1") == gbk


# --- post_scan ------------------------------------------------------------------------------------------------------

def test_post_scan_sends_the_raw_code_with_the_bearer_token(make_server):
    srv = make_server()
    assert post_scan(srv.url + "/", "POS1", TOKEN, GS1) == {"kind": "added", "raw": GS1}
    assert srv.requests == [("/api/v1/registers/POS1/scans", f"Bearer {TOKEN}", {"raw": GS1})]
    with pytest.raises(ScanRejected) as rejected:
        post_scan(srv.url, "POS1", TOKEN, UNKNOWN)
    assert rejected.value.status == 404 and rejected.value.code == "unknown_barcode"
    assert scans_url("http://h:8000/", "POS 1") == "http://h:8000/api/v1/registers/POS%201/scans"


def test_post_scan_server_unavailable(make_server):
    down = make_server(listen=False)      # bound, not listening: connection refused
    with pytest.raises(ServerUnavailable):
        post_scan(down.url, "POS1", TOKEN, EAN13, timeout=2)
    failing = make_server(fail_first=1)
    with pytest.raises(ServerUnavailable) as exc:
        post_scan(failing.url, "POS1", TOKEN, EAN13, timeout=2)
    assert exc.value.status == 503


# --- run_agent ------------------------------------------------------------------------------------------------------

def test_agent_posts_every_code_in_order_exactly_once(scanner, make_server):
    sc = scanner()
    srv = make_server()
    with agent(sc.device, srv.url) as results:
        send_scanner_session(sc)
        got = results.wait_for(len(EXPECTED))
        time.sleep(0.2)                   # nothing else arrives (no retry of the rejected code)
    assert [raw for raw, _ in got] == EXPECTED
    assert srv.raws() == EXPECTED         # each exactly once, in scan order, byte-exact (GS kept)
    assert {(path, auth) for path, auth, _ in srv.requests} == {("/api/v1/registers/POS1/scans", f"Bearer {TOKEN}")}
    assert [outcome for _, outcome in got[:3]] == [{"kind": "added", "raw": raw} for raw in EXPECTED[:3]]
    rejected = got[3][1]
    assert isinstance(rejected, ScanRejected) and rejected.status == 404 and rejected.code == "unknown_barcode"
    assert len(results.items) == len(EXPECTED)


def test_agent_keeps_codes_while_the_server_is_down(scanner, make_server):
    sc = scanner()
    srv = make_server(listen=False)       # connection refused until start()
    with agent(sc.device, srv.url) as results:
        send_scanner_session(sc)
        time.sleep(1.0)
        assert results.items == [] and srv.requests == []
        srv.start()
        got = results.wait_for(len(EXPECTED))
    assert [raw for raw, _ in got] == EXPECTED
    assert srv.raws() == EXPECTED


def test_agent_retries_5xx_without_losing_or_reordering(scanner, make_server):
    sc = scanner()
    srv = make_server(fail_first=2)       # 503, 503, then normal answers
    with agent(sc.device, srv.url) as results:
        send_scanner_session(sc)
        got = results.wait_for(len(EXPECTED))
    assert [raw for raw, _ in got] == EXPECTED
    assert srv.raws() == [EAN13, EAN13] + EXPECTED   # only the refused attempts are repeated


def test_agent_reopens_an_unplugged_scanner(scanner, make_server):
    first = scanner()
    srv = make_server()
    current = {"device": first.device}

    def open_serial(port, **kwargs):      # the "same" scanner comes back under a new pty name
        return serial.serial_for_url(current["device"], **kwargs)

    with agent(first.device, srv.url, open_serial=open_serial) as results:
        first.send(EAN13.encode() + b"\r")
        results.wait_for(1)
        first.unplug()
        second = scanner()
        current["device"] = second.device
        results.wait_opened(2)            # reopened within 2 s
        second.send(GS1.encode() + b"\r\n")
        got = results.wait_for(2)
    assert [raw for raw, _ in got] == [EAN13, GS1]
    assert srv.raws() == [EAN13, GS1]


def test_agent_waits_for_a_missing_device_and_stops_cleanly(tmp_path, make_server):
    srv = make_server()
    started = time.monotonic()
    with agent(str(tmp_path / "ttyACM9"), srv.url, wait_open=False) as results:
        time.sleep(0.3)
        assert results.opened == 0
    assert time.monotonic() - started < 2.0
    assert results.items == [] and srv.requests == []


def test_agent_rejects_a_server_that_is_not_a_url():
    with pytest.raises(ValueError):
        run_agent("/dev/null", "POS1", "127.0.0.1:8000", TOKEN, stop=threading.Event())
