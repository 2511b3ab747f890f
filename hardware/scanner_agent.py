"""The serial scanner agent behind ``yaofang scanner-agent``: read a USB-COM scanner, post each code to the register.

A serial (USB-COM / CDC-ACM) scanner keeps the GS1 group separator (GS, 0x1D) that a keyboard wedge loses, so the agent
sends every code byte-exact to ``POST {server}/api/v1/registers/{register}/scans`` as ``{"raw": "..."}``; the server
decodes and classifies it (:mod:`hardware.scan`).

* :func:`read_codes` turns the byte stream of an open pyserial port into codes: a code ends at CR, LF or CRLF, empty
  codes are skipped, every other byte (GS, the AIM prefix ``]d2``, …) is kept. UTF-8 bytes are decoded as UTF-8,
  anything else as latin-1 (one character per byte, nothing lost).
* :func:`post_scan` posts one code. A 4xx answer raises :class:`ScanRejected` (the server refused the code: unknown
  barcode, no open shift, bad token …): it is logged and never retried. A connection error, timeout, 3xx or 5xx answer
  raises :class:`ServerUnavailable`: the code is retried.
* :func:`run_agent` ties them together. A reader thread fills an in-memory FIFO; the calling thread posts the codes in
  scan order, retrying the oldest one with exponential back-off (0.5 s doubling to 10 s) while the server is
  unavailable, so no scan is lost or reordered while the agent runs. A serial device that disappears (unplugged
  scanner) is reopened every 2 s. Codes still queued when the agent is stopped are logged, not posted.

The agent connects to the server directly (no HTTP proxy from the environment) and does not follow redirects.
Standard library + pyserial only; nothing from the rest of Yaofang.
"""
from __future__ import annotations

import http.client
import json
import logging
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from typing import Any, Callable, Iterator

import serial

log = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 9600
READ_TIMEOUT = 0.1           # serial read timeout: how often the reader looks at the stop event (seconds)
HTTP_TIMEOUT = 5.0           # one POST, connect + answer (seconds)
BACKOFF_INITIAL = 0.5        # first wait after the server was unavailable (seconds)
BACKOFF_MAX = 10.0           # longest wait between two attempts (seconds)
REOPEN_INTERVAL = 2.0        # wait between attempts to (re)open a missing serial device (seconds)
MAX_CODE_BYTES = 4096        # bytes without a CR/LF after which the buffer is dropped (scanner suffix misconfigured)

_TERMINATOR = re.compile(rb"[\r\n]")

__all__ = [
    "ScanRejected", "ServerUnavailable", "read_codes", "post_scan", "run_agent", "scans_url", "decode_code",
]


class ServerUnavailable(Exception):
    """The server could not take the scan now (connection refused, timeout, 3xx or 5xx). Retrying later may succeed."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ScanRejected(Exception):
    """The server answered 4xx: it refused this code (unknown barcode, no open shift, bad token …). Not retried.

    ``status`` is the HTTP status, ``body`` the parsed JSON answer (the text if it is not JSON), usually
    ``{"error": {"code": "...", "message": "..."}}``.
    """

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        super().__init__(f"HTTP {status}: {_describe_error(body)}")

    @property
    def code(self) -> str | None:
        """The machine error code from ``{"error": {"code": ...}}``, if the server sent one."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return error.get("code") if isinstance(error, dict) else None


def _describe_error(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return f"{error.get('code', '?')}: {error.get('message', '')}".rstrip(": ")
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return text[:200]


# --- serial side ------------------------------------------------------------------------------------------------------

def decode_code(data: bytes) -> str:
    """One code's bytes as text: UTF-8 when the bytes are valid UTF-8, otherwise latin-1 (every byte kept as-is)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_codes(serial_port, stop: threading.Event | None = None) -> Iterator[str]:
    """Yield the codes read from an open pyserial port, in order, until ``stop`` is set.

    A code ends at CR, LF or CRLF (a CR and LF arriving in separate reads still make one terminator); empty codes are
    skipped; GS (0x1D), AIM prefixes and every other byte are kept. Partial reads are buffered until the terminator
    arrives. A read timeout (``b""``) just reads again, so open the port with a ``timeout`` (e.g. 0.1 s): ``stop`` is
    checked between reads. Serial errors (:class:`serial.SerialException`, an :class:`OSError`) propagate; the port
    stays open (the caller owns it).
    """
    buffer = bytearray()
    while stop is None or not stop.is_set():
        try:
            waiting = serial_port.in_waiting
        except AttributeError:
            waiting = 0
        chunk = serial_port.read(waiting or 1)
        if not chunk:
            continue
        buffer += chunk
        start = 0
        for match in _TERMINATOR.finditer(buffer):
            code = bytes(buffer[start:match.start()])
            start = match.end()
            if code:
                yield decode_code(code)
        del buffer[:start]
        if len(buffer) > MAX_CODE_BYTES:
            log.warning("dropped %d bytes without a CR/LF terminator: is the scanner's suffix (CR or LF) enabled?",
                        len(buffer))
            buffer.clear()


# --- server side ------------------------------------------------------------------------------------------------------

# Direct connections only (no proxy from the environment) and no redirect following: a POST must not turn into a GET.
_OPENER = urllib.request.OpenerDirector()
for _handler in (urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(),
                 urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
    _OPENER.add_handler(_handler)


def scans_url(server: str, register_code: str) -> str:
    """``{server}/api/v1/registers/{register_code}/scans`` (the register code is URL-quoted)."""
    return f"{server.rstrip('/')}/api/v1/registers/{urllib.parse.quote(register_code, safe='')}/scans"


def _parse_body(data: bytes) -> Any:
    text = data.decode("utf-8", errors="replace")
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text


def post_scan(server: str, register_code: str, token: str, raw: str, timeout: float = HTTP_TIMEOUT) -> dict:
    """POST ``{"raw": raw}`` to the register's scans endpoint with ``Authorization: Bearer <token>``.

    Returns the parsed JSON answer (``{}`` for an empty or non-JSON 2xx answer). Raises :class:`ScanRejected` on 4xx
    and :class:`ServerUnavailable` on connection errors, timeouts, 3xx and 5xx.
    """
    request = urllib.request.Request(
        scans_url(server, register_code),
        data=json.dumps({"raw": raw}).encode("ascii"),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "Accept": "application/json", "User-Agent": "yaofang-scanner-agent"},
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body = _parse_body(response.read())
    except urllib.error.HTTPError as exc:
        status = exc.code
        try:
            body = _parse_body(exc.read())
        except (OSError, http.client.HTTPException):
            body = {}
        finally:
            exc.close()
        if 400 <= status < 500:
            raise ScanRejected(status, body) from None
        if 300 <= status < 400:
            message = f"HTTP {status} redirect to {exc.headers.get('Location')!r}: check the server URL"
        else:
            message = f"HTTP {status}: {_describe_error(body)}"
        raise ServerUnavailable(message, status=status, body=body) from None
    except urllib.error.URLError as exc:
        raise ServerUnavailable(f"cannot reach {server}: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, broken answers
        raise ServerUnavailable(f"cannot reach {server}: {exc!r}") from exc
    return body if isinstance(body, dict) else {}


# --- the agent --------------------------------------------------------------------------------------------------------

def run_agent(
    port: str,
    register_code: str,
    server: str,
    token: str,
    *,
    baudrate: int = DEFAULT_BAUDRATE,
    stop: threading.Event | None = None,
    on_result: Callable[[str, Any], None] | None = None,
    open_serial: Callable[..., Any] = serial.Serial,
    http_timeout: float = HTTP_TIMEOUT,
    backoff_initial: float = BACKOFF_INITIAL,
    backoff_max: float = BACKOFF_MAX,
    reopen_interval: float = REOPEN_INTERVAL,
) -> None:
    """Read codes from the serial ``port`` and post each, in scan order, to ``register_code`` on ``server``.

    Runs until ``stop`` is set (or KeyboardInterrupt) and then returns within a fraction of a second. The port is
    opened with ``open_serial(port, baudrate=baudrate, timeout=READ_TIMEOUT)``; if it cannot be opened or disappears,
    it is reopened every ``reopen_interval`` seconds. Codes wait in an in-memory FIFO while the server is unavailable;
    the oldest is retried after ``backoff_initial`` seconds, doubling up to ``backoff_max``. ``on_result(raw, outcome)``
    is called once per code, in order, with the server's JSON answer (a dict) or the :class:`ScanRejected` error.
    Raises ``ValueError`` for a server URL that is not http(s)://… and re-raises any unexpected error of the serial
    layer other than an ``OSError``.
    """
    if urllib.parse.urlsplit(server).scheme not in ("http", "https"):
        raise ValueError(f"server must be an http:// or https:// URL, not {server!r}")
    stop = stop if stop is not None else threading.Event()
    halt = threading.Event()              # tells the reader thread to finish
    pending: deque[str] = deque()         # scanned, not yet delivered; pending[0] is the next to post
    ready = threading.Condition()
    failure: list[BaseException] = []

    def add(code: str) -> None:
        with ready:
            pending.append(code)
            ready.notify()

    reader = threading.Thread(
        target=_read_loop, name=f"yaofang-scanner-reader-{port}", daemon=True,
        args=(port, baudrate, open_serial, reopen_interval, halt, add, failure, ready),
    )
    log.info("scanner agent: %s → %s for register %s", port, scans_url(server, register_code), register_code)
    reader.start()
    try:
        _post_loop(register_code, server, token, stop, pending, ready, failure, on_result,
                   http_timeout, backoff_initial, backoff_max)
    finally:
        halt.set()
        reader.join()
        if pending:
            log.warning("scanner agent stopped with %d undelivered scan(s), scan again: %s",
                        len(pending), ", ".join(repr(code) for code in pending))
    if failure:
        raise failure[0]
    log.info("scanner agent stopped")


def _read_loop(port, baudrate, open_serial, reopen_interval, halt, add, failure, ready) -> None:
    """Reader thread: open the port (again and again if it is missing) and queue every code read from it."""
    missing = False
    while not halt.is_set():
        try:
            device = open_serial(port, baudrate=baudrate, timeout=READ_TIMEOUT)
        except OSError as exc:  # serial.SerialException is an OSError
            if not missing:
                log.error("cannot open scanner %s: %s (trying again every %g s)", port, exc, reopen_interval)
                missing = True
            halt.wait(reopen_interval)
            continue
        except BaseException as exc:  # bad settings (ValueError …): no point in trying again
            failure.append(exc)
            with ready:
                ready.notify_all()
            return
        log.info("scanner %s %s at %d baud", port, "reopened" if missing else "opened", baudrate)
        missing = False
        try:
            for code in read_codes(device, halt):
                log.debug("scanned %r", code)
                add(code)
        except OSError as exc:
            if not halt.is_set():
                log.error("scanner %s lost: %s (reopening every %g s)", port, exc, reopen_interval)
                missing = True
        except BaseException as exc:
            failure.append(exc)
            with ready:
                ready.notify_all()
            return
        finally:
            try:
                device.close()
            except Exception:  # closing a vanished device may fail too
                pass
        if missing:
            halt.wait(reopen_interval)


def _post_loop(register_code, server, token, stop, pending, ready, failure, on_result,
               http_timeout, backoff_initial, backoff_max) -> None:
    """Calling thread: post the oldest queued code until delivered or rejected, then the next, until ``stop``."""
    delay = backoff_initial
    unavailable_since_attempt = 0
    while not stop.is_set():
        with ready:
            while not pending and not failure and not stop.is_set():
                ready.wait(READ_TIMEOUT)
            if failure or stop.is_set():
                return
            raw = pending[0]
        try:
            outcome: Any = post_scan(server, register_code, token, raw, timeout=http_timeout)
        except ServerUnavailable as exc:
            unavailable_since_attempt += 1
            if unavailable_since_attempt == 1:
                log.warning("server unavailable (%s); %d scan(s) queued, retrying with back-off", exc, len(pending))
            else:
                log.info("server still unavailable (%s); %d scan(s) queued, next try in %g s",
                         exc, len(pending), delay)
            stop.wait(delay)
            delay = min(delay * 2, backoff_max)
            continue
        except ScanRejected as exc:
            outcome = exc
            log.warning("%s: scan %r rejected: %s", register_code, raw, exc)
        else:
            log.info("%s: scan %r → %s", register_code, raw, json.dumps(outcome, ensure_ascii=False)[:300])
        if unavailable_since_attempt:
            log.info("server reachable again after %d failed attempt(s)", unavailable_since_attempt)
            unavailable_since_attempt = 0
        delay = backoff_initial
        with ready:
            pending.popleft()
        if on_result is not None:
            try:
                on_result(raw, outcome)
            except Exception:
                log.exception("on_result failed for scan %r", raw)
