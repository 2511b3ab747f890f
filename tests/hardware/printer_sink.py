"""Test helpers for receipt printers: a TCP sink that stands in for a network printer, and a decoder that turns the
ESC/POS bytes Yaofang sends back into text.

    with PrinterSink() as sink:
        send(sink.url, data)
        sink.wait_for(len(data))
        assert sink.data == data
        sink.stop()      # printer switched off: connections are refused
        sink.start()     # switched on again, same port
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Union

__all__ = ["PrinterSink", "escpos_text", "escpos_commands"]


class PrinterSink:
    """Listens on ``host`` (127.0.0.1) on ``port`` (0: a free port, kept across restarts) and collects every byte
    received. ``jobs`` holds one bytes object per finished connection, in the order the connections were accepted
    (not the order their reader threads happened to finish), and ``data`` is every connection's bytes in that same
    order — so two jobs sent one after the other compare deterministically."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._cond = threading.Condition()
        self._received: dict[int, bytearray] = {}  # accept sequence number -> bytes of that connection
        self._finished: set[int] = set()
        self._sequence = 0
        self.connections = 0
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._workers: list[threading.Thread] = []

    # lifecycle
    def start(self) -> "PrinterSink":
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind at once after stop()
        listener.bind((self.host, self.port))
        listener.listen(16)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, name=f"printer-sink-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop open connections (the printer is switched off). Data collected so far is kept."""
        if self._listener is None:
            return
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._listener.close()
        self._listener = None
        for conn in list(self._conns):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for worker in self._workers:
            worker.join(timeout=5)
        self._workers.clear()

    def restart(self) -> "PrinterSink":
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self._listener is not None

    def __enter__(self) -> "PrinterSink":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what was received
    @property
    def url(self) -> str:
        return f"network://{self.host}:{self.port}"

    def _data_locked(self) -> bytes:
        return b"".join(bytes(self._received[seq]) for seq in sorted(self._received))

    def _jobs_locked(self) -> list[bytes]:
        return [bytes(self._received[seq]) for seq in sorted(self._finished)]

    @property
    def data(self) -> bytes:
        with self._cond:
            return self._data_locked()

    @property
    def jobs(self) -> list[bytes]:
        with self._cond:
            return self._jobs_locked()

    def clear(self) -> None:
        """Forget what was received (connections still open keep collecting into fresh buffers)."""
        with self._cond:
            for seq in list(self._received):
                self._received[seq] = bytearray()
                if seq in self._finished:
                    del self._received[seq]
            self._finished.clear()

    def wait_for(self, until: Union[int, Callable[[bytes], bool]], timeout: float = 5.0) -> bytes:
        """Wait until at least ``until`` bytes arrived (or ``until(data)`` is true); returns the data.
        Raises TimeoutError saying what did arrive."""
        check = until if callable(until) else (lambda data: len(data) >= until)
        deadline = time.monotonic() + timeout
        with self._cond:
            while not check(data := self._data_locked()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"printer sink on port {self.port}: condition not met after {timeout} s; "
                                       f"{len(data)} bytes received: {data[:80]!r}…")
                self._cond.wait(remaining)
            return data

    def wait_for_jobs(self, count: int, timeout: float = 5.0) -> list[bytes]:
        """Wait until ``count`` connections have been closed by the sender; returns the jobs."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._finished) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"printer sink: {len(self._finished)} of {count} jobs after {timeout} s")
                self._cond.wait(remaining)
            return self._jobs_locked()

    # internals
    def _accept_loop(self) -> None:
        assert self._listener is not None
        listener = self._listener
        while not self._stopping.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self._conns.add(conn)
            with self._cond:
                self.connections += 1
                self._sequence += 1
                seq = self._sequence
                self._received[seq] = bytearray()
            worker = threading.Thread(target=self._read, args=(conn, seq), daemon=True)
            self._workers.append(worker)
            worker.start()

    def _read(self, conn: socket.socket, seq: int) -> None:
        try:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                with self._cond:
                    self._received.setdefault(seq, bytearray()).extend(chunk)
                    self._cond.notify_all()
        finally:
            self._conns.discard(conn)
            conn.close()
            with self._cond:
                self._received.setdefault(seq, bytearray())
                self._finished.add(seq)
                self._cond.notify_all()


# --- ESC/POS decoding ------------------------------------------------------------------------------------------------

ESC, GS, FS = 0x1B, 0x1D, 0x1C
_ESC_ARGS = {ord("@"): 0, ord("E"): 1, ord("a"): 1, ord("!"): 1, ord("d"): 1, ord("-"): 1, ord("M"): 1, ord("t"): 1,
             ord("p"): 3, ord("J"): 1, ord("2"): 0, ord("3"): 1, ord("G"): 1, ord("{"): 1, ord("V"): 1}
_GS_ARGS = {ord("!"): 1, ord("h"): 1, ord("w"): 1, ord("H"): 1, ord("f"): 1, ord("B"): 1, ord("L"): 2, ord("W"): 2}
_FS_ARGS = {ord("&"): 0, ord("."): 0, ord("!"): 1, ord("-"): 1, ord("C"): 1, ord("W"): 1}


def escpos_commands(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split an ESC/POS stream into ``(command, argument bytes)`` pairs; text runs come as ``(b"", text bytes)``.
    Knows the commands Yaofang sends; raises ValueError on anything else, so a new command is noticed."""
    out: list[tuple[bytes, bytes]] = []
    text = bytearray()
    i, n = 0, len(data)

    def flush() -> None:
        if text:
            out.append((b"", bytes(text)))
            text.clear()

    while i < n:
        b = data[i]
        if b not in (ESC, GS, FS):
            text.append(b)
            i += 1
            continue
        flush()
        if i + 1 >= n:
            raise ValueError(f"truncated command at byte {i}")
        cmd = data[i:i + 2]
        op = data[i + 1]
        if b == GS and op == ord("V"):  # GS V m | GS V m n (m = 65, 66, 97, 98, 103, 104)
            m = data[i + 2]
            length = 4 if m in (65, 66, 97, 98, 103, 104) else 3
        elif b == GS and op == ord("k"):  # GS k m d1…dk NUL (m ≤ 6) | GS k m n d1…dn (m ≥ 65)
            m = data[i + 2]
            if m <= 6:
                end = data.index(b"\x00", i + 3)
                length = end + 1 - i
            else:
                length = 4 + data[i + 3]
        else:
            table = {ESC: _ESC_ARGS, GS: _GS_ARGS, FS: _FS_ARGS}[b]
            if op not in table:
                raise ValueError(f"unknown command {bytes(cmd)!r} at byte {i}")
            length = 2 + table[op]
        if i + length > n:
            raise ValueError(f"truncated command {bytes(cmd)!r} at byte {i}")
        out.append((bytes(cmd), bytes(data[i + 2:i + length])))
        i += length
    flush()
    return out


def escpos_text(data: bytes, encoding: str) -> str:
    """The printed text of an ESC/POS stream: commands (and barcode data) removed, the rest decoded with
    ``encoding`` (``big5`` decodes 0xA244 as ``¥``, the way Python's codec maps it)."""
    raw = b"".join(arg for cmd, arg in escpos_commands(data) if cmd == b"")
    return raw.decode(encoding, errors="replace")
