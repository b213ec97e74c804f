"""JSON-RPC hygiene pygls 2.1 leaves out, added at its extension points.

* A request after ``shutdown`` gets ``InvalidRequest`` (pygls drops it silently, so the
  client waits forever); notifications other than ``exit`` are still dropped.
* A second ``initialize`` is refused with ``InvalidRequest`` (pygls would build a new
  workspace and lose every open document).
* A message whose params do not fit the method's type: a request gets an ``InvalidParams``
  response, a notification a log line (pygls raises out of its reader, which shows an
  error dialog and never answers).
* A client response that does not fit the expected result (``workspace/configuration``
  answered with ``null``) fails that one request quietly instead of leaving it pending.
* A notification's future leaves ``_request_futures`` when it is done: pygls files the
  future of a generator or threaded notification handler (``didOpen``, ``didChange``, ...)
  under a fresh id and never removes it, about 2 MiB per 1,000 edits.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger(__name__)


class _Handled:
    """What the reader gets for a message already answered here; ``handle_message`` skips it."""

    jsonrpc = None


_HANDLED = _Handled()


class DbosProtocol(LanguageServerProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._initialize_seen = False

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "jsonrpc" not in data:
                raise
            return self._unstructurable(data, exc)

    def _unstructurable(self, data: dict[str, Any], exc: JsonRpcException) -> _Handled:
        method, msg_id = data.get("method"), data.get("id")
        cause = exc.__cause__ or exc
        if method is not None and msg_id is not None:
            log.info("dbos-lsp: invalid params for %s: %s", method, cause)
            error = JsonRpcInvalidParams(f"Invalid params for {method}: {_first_line(cause)}")
            self._send_response(msg_id, None, error.to_response_error())
        elif method is not None:
            log.info("dbos-lsp: ignoring %s with invalid params: %s", method, cause)
        elif msg_id is not None:
            future = self._request_futures.pop(msg_id, None)
            log.info("dbos-lsp: unexpected response to %s: %s", msg_id, cause)
            if future is not None and not future.done():
                future.set_exception(JsonRpcInvalidParams(f"unexpected response: {_first_line(cause)}"))
        return _HANDLED

    def _execute_handler(self, msg_id: Any, handler: Any, callback: Any, args: Any = None, kwargs: Any = None):
        if callback == self._check_handler_result:  # how pygls runs a notification's handler

            def forget(future: Any, check: Any = callback) -> None:
                self._request_futures.pop(msg_id, None)
                check(future)

            callback = forget
        return super()._execute_handler(msg_id, handler, callback, args, kwargs)

    def handle_message(self, message: Any) -> None:
        if message is _HANDLED:
            return
        method = getattr(message, "method", None)
        msg_id = getattr(message, "id", None)
        if method is None or msg_id is None:  # a notification or a response
            super().handle_message(message)
            return
        if self._shutdown and method != types.EXIT:
            error = JsonRpcInvalidRequest(f"{method} after shutdown")
            self._send_response(msg_id, None, error.to_response_error())
            return
        if method == types.INITIALIZE:
            if self._initialize_seen:
                error = JsonRpcInvalidRequest("the server is already initialized")
                self._send_response(msg_id, None, error.to_response_error())
                return
            self._initialize_seen = True
        super().handle_message(message)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


__all__ = ["DbosProtocol"]
