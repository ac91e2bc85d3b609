"""A function run over a batch of texts in a killable child process, each text under a CPU-time limit.

`KillableMap(fn, timeout).map(items)` sends the whole batch to a forked child in one message; the
child runs `fn` on one item after another and sends each outcome back as soon as it has it, with its
CPU time so far. The parent watches the child's CPU time (/proc/<pid>/stat) from the end of the last
item: an item that takes more than `timeout` CPU seconds has its child killed and is marked
`timeout`, and a new child gets the rest of the batch; a child that dies (the OOM killer) marks its
item `process_died` the same way. CPU time, not wall time, so that a loaded machine does not turn
ordinary items into timeouts; a wall-clock backstop of `wall_factor` x timeout still bounds a child
that sleeps or is starved.

Items are texts (or byte strings): a text goes through a socket as UTF-8, a byte string as it is,
without pickling; the outcomes are pickled. The child is forked (modules already loaded: it starts
in milliseconds) and runs `fn` as it was when the child started. Only the standard library is used.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import select
import socket
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["DIED", "ERROR", "OK", "TIMEOUT", "KillableMap", "cpu_seconds", "portable_exception"]

# the outcome of an item: (status, value); value is fn's result (OK), the exception it raised
# (ERROR), or None (TIMEOUT: killed over its CPU limit; DIED: the child died on it)
OK, ERROR, TIMEOUT, DIED = "ok", "error", "timeout", "process_died"
Outcome = tuple[str, Any]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_POLL_MS = 50  # how often the parent looks at the child's CPU time while an item runs
_START_SECONDS = 5.0  # a new child must say it is ready within this wall time (it only needs to be scheduled)
_FRAME = struct.Struct("!I")  # the length of a pickled message from the child
_COUNT = struct.Struct("!Q")  # the number of items of a batch
_ITEM = struct.Struct("!?Q")  # an item: a text (UTF-8) or bytes, and its length in bytes
_RECEIVE_CHUNK = 1 << 18


def portable_exception(exc: BaseException) -> Exception:
    """`exc` if it survives a trip through pickle, else a RuntimeError that names it (an exception
    whose class takes other arguments than its message pickles, but does not unpickle)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (0.0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def _own_cpu_seconds() -> float:
    """This process's CPU seconds, from the same kernel counters as /proc/<pid>/stat."""
    times = os.times()
    return times.user + times.system


class KillableMap:
    """`fn(item)` over batches of texts or byte strings in a forked child, at most `timeout` CPU seconds
    an item."""

    def __init__(self, fn: Callable[[Any], Any], timeout: float, wall_factor: float = 10.0):
        self.fn = fn
        self.timeout = timeout
        self.wall_timeout = timeout * wall_factor
        self._process = None
        self._sock: socket.socket | None = None
        self._poller = None
        self._inbox = bytearray()  # bytes received from the child; messages before `_read` are read
        self._read = 0
        self._owner = os.getpid()  # the process that starts children: a forked copy leaves them alone

    # a copy (datatrove deep-copies and pickles pipeline steps) starts its own child
    def __getstate__(self):
        return {**self.__dict__, "_process": None, "_sock": None, "_poller": None, "_inbox": bytearray(), "_read": 0}

    def __setstate__(self, state):
        self.__dict__.update(state, _owner=os.getpid())

    def __enter__(self) -> KillableMap:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter exit, modules may already be gone
            pass

    def map(self, items: Sequence[str | bytes]) -> list[Outcome]:
        """(status, value) for every item, in order (see OK, ERROR, TIMEOUT, DIED)."""
        outcomes: list[Outcome] = []
        while len(outcomes) < len(items):
            outcomes += self._run(items[len(outcomes) :])
        return outcomes

    def close(self) -> None:
        """Ends the child (a later map() starts a new one)."""
        if os.getpid() != self._owner:  # a copy of this object in a forked process: not its child
            return
        if self._sock is not None:
            self._sock.close()
            self._sock = self._poller = None
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=1)
            self._process = None

    # ---- parent ---------------------------------------------------------------------------------

    def _run(self, items: Sequence[str | bytes]) -> list[Outcome]:
        """The child's outcomes for `items`, up to and including the first item it was killed or died
        on (map() sends the rest to a new child)."""
        if not self._start():
            return [(TIMEOUT, None)]  # no child could start: the item cannot be decided in time
        try:  # one message: the count, then each item's kind, length and bytes
            self._sock.sendall(_COUNT.pack(len(items)))
            for item in items:
                is_text = isinstance(item, str)
                data = item.encode("utf-8", "surrogatepass") if is_text else item
                self._sock.sendall(_ITEM.pack(is_text, len(data)))
                self._sock.sendall(data)
        except OSError:  # the child died while it read the batch
            self.close()
            return [(DIED, None)]
        # the child's first answer: its CPU seconds once it has read the batch (not an item's time)
        cpu, failure = self._receive(None, max(_START_SECONDS, self.wall_timeout))
        outcomes: list[Outcome] = []
        while failure is None and len(outcomes) < len(items):
            message, failure = self._receive(cpu, self.wall_timeout)
            if failure is None:
                outcome, cpu = message
                outcomes.append(outcome)
        if failure is not None:
            self.close()
            outcomes.append((failure, None))
        return outcomes

    def _receive(self, cpu_start: float | None, wall_seconds: float) -> tuple[Any, str | None]:
        """(the child's next message, None); or (None, TIMEOUT) when the child has spent more than
        `timeout` CPU seconds since `cpu_start` (None: no CPU limit, the child is reading a batch) or
        `wall_seconds` have passed; or (None, DIED) when the child is gone."""
        wall_deadline = time.monotonic() + wall_seconds
        while True:
            message = self._next_message()
            if message is not None:
                try:
                    return pickle.loads(message), None
                except Exception as exc:  # an outcome that does not unpickle here: an error of its item
                    return ((ERROR, portable_exception(exc)), cpu_seconds(self._process.pid)), None
            if self._poller.poll(_POLL_MS):
                try:
                    received = self._sock.recv(_RECEIVE_CHUNK)
                except OSError:
                    received = b""
                if not received:  # the child's end is closed: it is gone
                    return None, DIED
                if self._read:  # the read messages are dropped before more come in
                    del self._inbox[: self._read]
                    self._read = 0
                self._inbox += received
                continue
            if not self._process.is_alive():
                return None, DIED
            over_cpu = cpu_start is not None and cpu_seconds(self._process.pid) - cpu_start > self.timeout
            if over_cpu or time.monotonic() > wall_deadline:
                return None, TIMEOUT

    def _next_message(self) -> bytes | None:
        """The next whole message in the inbox (read past), or None."""
        start = self._read
        if len(self._inbox) - start < _FRAME.size:
            return None
        (size,) = _FRAME.unpack_from(self._inbox, start)
        end = start + _FRAME.size + size
        if len(self._inbox) < end:
            return None
        message = bytes(self._inbox[start + _FRAME.size : end])
        if end == len(self._inbox):
            self._inbox.clear()
            self._read = 0
        else:
            self._read = end
        return message

    def _start(self) -> bool:
        """A live child, started if needed; False when a new one did not answer in time."""
        if self._process is not None and self._process.is_alive():
            return True
        self.close()
        self._sock, child_sock = socket.socketpair()
        self._inbox, self._read = bytearray(), 0
        self._poller = select.poll()
        self._poller.register(self._sock, select.POLLIN)
        self._process = multiprocessing.get_context("fork").Process(target=self._serve, args=(child_sock,), daemon=True)
        self._process.start()
        child_sock.close()
        _, failure = self._receive(None, max(_START_SECONDS, self.wall_timeout))
        if failure is None:
            return True
        self.close()
        return False

    # ---- child ----------------------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        # the child holds a copy of the parent's end: closed, so that when the parent dies (kill -9)
        # the child reads EOF and exits instead of living on
        self._sock.close()
        with contextlib.suppress(OSError):  # the kernel's OOM killer takes this process first
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000\n")
        buffer = bytearray()
        try:
            _send(sock, pickle.dumps(None))  # ready
            while True:
                items = _receive_batch(sock, buffer)
                if items is None:  # the parent is gone
                    return
                _send(sock, pickle.dumps(_own_cpu_seconds()))
                for i, item in enumerate(items):
                    items[i] = b""  # each page freed once done
                    try:
                        outcome = (OK, self.fn(item))
                    except Exception as exc:
                        outcome = (ERROR, portable_exception(exc))
                    del item
                    try:
                        message = pickle.dumps((outcome, _own_cpu_seconds()), pickle.HIGHEST_PROTOCOL)
                    except Exception as exc:  # a result that does not pickle
                        message = pickle.dumps(((ERROR, portable_exception(exc)), _own_cpu_seconds()))
                    _send(sock, message)
        except OSError:  # the parent is gone
            return


def _send(sock: socket.socket, message: bytes) -> None:
    sock.sendall(_FRAME.pack(len(message)) + message)


def _receive_exactly(sock: socket.socket, size: int) -> bytes | None:
    """`size` bytes from the socket, or None at its end."""
    data = sock.recv(size, socket.MSG_WAITALL) if size else b""
    if len(data) == size:
        return data
    parts = [data]
    got = len(data)
    while got < size:  # MSG_WAITALL may return early (a signal)
        more = sock.recv(size - got, socket.MSG_WAITALL)
        if not more:
            return None
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _receive_batch(sock: socket.socket, buffer: bytearray) -> list[str | bytes] | None:
    """The items of one batch, or None when the parent is gone. Each item is read into `buffer` (one
    for the child's life, grown to the largest item: no fresh memory to fault in for every page)."""
    head = _receive_exactly(sock, _COUNT.size)
    if head is None:
        return None
    items: list[str | bytes] = []
    for _ in range(_COUNT.unpack(head)[0]):
        head = _receive_exactly(sock, _ITEM.size)
        if head is None:
            return None
        is_text, size = _ITEM.unpack(head)
        if len(buffer) < size:
            buffer.extend(bytes(size - len(buffer)))
        with memoryview(buffer) as view:
            got = 0
            while got < size:
                n = sock.recv_into(view[got:size], size - got, socket.MSG_WAITALL)
                if not n:
                    return None
                got += n
            items.append(str(view[:size], "utf-8", "surrogatepass") if is_text else bytes(view[:size]))
    return items
