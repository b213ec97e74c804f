"""Process lifecycle for the stdio server: exit codes and leaving when the client is gone.

pygls 2.1 handles ``shutdown`` and ``exit`` but loses the exit code (its ``sys.exit`` inside the
``exit`` handler is swallowed by ``start_io``, so the process always ends with 0), and after the
client is gone it waits for every running analysis thread before the process ends.  The LSP
asks for code 0 after ``shutdown`` + ``exit`` and 1 for ``exit`` without ``shutdown``, and a
server whose client died should not linger.

:func:`run_stdio` runs the server with three additions:

- the ``exit`` notification (seen when pygls closes its output stream) or EOF on stdin ends
  the process within :data:`GRACE_SECONDS`, even when worker threads are still busy;
- the exit code is 0 when ``shutdown`` was received before, 1 otherwise;
- a watchdog ends the process when the client process dies without closing our stdin: when
  we are re-parented (the process that started us is gone) or when the ``processId`` the
  client sent in ``initialize`` no longer exists (only checked when it existed at first,
  so a client in another PID namespace, e.g. a container, is never mistaken for dead).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from typing import Any, BinaryIO

from pygls.io_ import StdoutWriter, run_async

log = logging.getLogger(__name__)

GRACE_SECONDS = 0.3  # time for a clean unwind before the process is ended by force
POLL_SECONDS = 0.25  # watchdog period


class Lifecycle:
    def __init__(self, server: Any) -> None:
        self.server = server
        self._ending = threading.Event()
        self._parent = os.getppid()
        self._client_pid: int | None = None
        self._client_pid_checked = False

    # ----- state ----------------------------------------------------------------------------

    def exit_code(self) -> int:
        return 0 if getattr(self.server.protocol, "_shutdown", False) else 1

    def end(self, reason: str) -> None:
        """Arrange for the process to end with the LSP exit code, even if threads hang."""
        if self._ending.is_set():
            return
        self._ending.set()
        code = self.exit_code()
        log.debug("dbos-lsp: %s; exiting with code %s", reason, code)
        timer = threading.Timer(GRACE_SECONDS, self._force_exit, args=(code,))
        timer.daemon = True
        timer.start()

    @staticmethod
    def _force_exit(code: int) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)

    # ----- the client process -----------------------------------------------------------------

    def client_gone(self) -> str | None:
        if os.getppid() != self._parent:
            return "the process that started the server is gone"
        pid = getattr(self.server, "process_id", None)
        if pid is None or os.name != "posix":  # os.kill(pid, 0) terminates processes on Windows
            return None
        if pid != self._client_pid:
            self._client_pid = pid
            self._client_pid_checked = _alive(pid)  # only watch a process we could see at first
            return None
        if self._client_pid_checked and not _alive(pid):
            return f"the client process {pid} is gone"
        return None

    def watch(self) -> None:
        while not self._ending.wait(POLL_SECONDS):
            reason = self.client_gone()
            if reason is not None:
                sys.stderr.write(f"dbos-lsp: {reason}; exiting\n")
                self.end(reason)
                return

    def start_watchdog(self) -> threading.Thread:
        thread = threading.Thread(target=self.watch, name="dbos-lsp-watchdog", daemon=True)
        thread.start()
        return thread


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    try:  # a zombie (dead, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


class ChunkedInput:
    """stdin for pygls's message loop, read in chunks by one thread and served from a
    buffer on the event loop.

    pygls's own reader hands every header line and every body to a worker thread and back.
    While an analysis thread holds the GIL each hand-off waits for a GIL switch (5 ms), so
    during an edit storm the server read about one message per analysis, and analysed
    every version.  Here one blocking read takes whatever the client has sent (the GIL is
    released while it waits) and the loop parses every buffered message in one go; the
    analyses then see the newest text.  EOF means the client is gone."""

    CHUNK = 1 << 16

    def __init__(self, stream: BinaryIO, lifecycle: Lifecycle) -> None:
        self._stream = stream
        self._lifecycle = lifecycle
        self._buffer: asyncio.StreamReader | None = None

    def _start(self) -> asyncio.StreamReader:
        loop = asyncio.get_running_loop()
        buffer = self._buffer = asyncio.StreamReader(limit=1 << 30, loop=loop)
        read = getattr(self._stream, "read1", self._stream.read)

        def pump() -> None:
            while True:
                try:
                    data = read(self.CHUNK)
                except (OSError, ValueError):
                    data = b""
                try:
                    if data:
                        loop.call_soon_threadsafe(buffer.feed_data, data)
                    else:
                        loop.call_soon_threadsafe(buffer.feed_eof)
                except RuntimeError:  # the loop is closed: the server is going away
                    return
                if not data:
                    # Here, not on the loop: a loop busy for seconds must not keep a
                    # server whose client is gone alive.
                    self._lifecycle.end("stdin closed")
                    return

        threading.Thread(target=pump, name="dbos-lsp-stdin", daemon=True).start()
        return buffer

    async def readline(self) -> bytes:
        buffer = self._buffer or self._start()
        data = await buffer.readline()
        if not data:
            self._lifecycle.end("stdin closed")
        return data

    async def readexactly(self, n: int) -> bytes:
        buffer = self._buffer or self._start()
        try:
            return await buffer.readexactly(n)
        except asyncio.IncompleteReadError:
            self._lifecycle.end("stdin closed")
            return b""


class _WatchedOutput:
    """stdout for pygls: pygls closes it when the ``exit`` notification arrives."""

    def __init__(self, stream: BinaryIO, lifecycle: Lifecycle) -> None:
        self._stream = stream
        self._lifecycle = lifecycle

    def write(self, data: bytes) -> Any:
        return self._stream.write(data)

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        try:
            self._stream.flush()
        except Exception:
            pass
        self._lifecycle.end("exit notification")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _serve(server: Any, reader: ChunkedInput, output: _WatchedOutput) -> None:
    """What pygls 2's ``start_io`` does, with our reader (it builds its own)."""
    server._stop_event = threading.Event()
    server.protocol.set_writer(StdoutWriter(output))  # type: ignore[arg-type]
    try:
        asyncio.run(
            run_async(
                stop_event=server._stop_event,
                reader=reader,
                protocol=server.protocol,
                logger=log,
                error_handler=server.report_server_error,
            )
        )
    except BrokenPipeError:
        log.error("dbos-lsp: the client is gone")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()


def run_stdio(server: Any) -> None:
    """Serve over stdin/stdout until the client leaves; then end the process with the LSP
    exit code (never returns)."""
    lifecycle = Lifecycle(server)
    lifecycle.start_watchdog()
    try:
        _serve(server, ChunkedInput(sys.stdin.buffer, lifecycle), _WatchedOutput(sys.stdout.buffer, lifecycle))
    finally:
        lifecycle.end("the message loop ended")
    code = lifecycle.exit_code()
    Lifecycle._force_exit(code)  # worker threads may still be busy: do not wait for them


__all__ = ["GRACE_SECONDS", "ChunkedInput", "Lifecycle", "run_stdio"]
