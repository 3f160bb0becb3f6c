"""The emulator's HTTP side: routing, bearer auth, idempotency replay, faults, and the server.

Every request outside /_emulator/ is an API request: it is logged (never its Authorization
header), then a pending fault may answer, drop or delay it before routing, as a failing proxy or
load balancer would; otherwise it is routed under the state lock. /_emulator/ requests are the
admin endpoints (admin.py): no auth, no faults, not logged, so a test can always steer.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from flowslurm.emulator import admin
from flowslurm.emulator.model import ApiError, invalid
from flowslurm.emulator.routes import ROUTES, Request
from flowslurm.emulator.state import DEFAULT_API_KEY, Logged, State

TICK_S = 0.02


def dispatch(state: State, method: str, target: str, headers: dict[str, str],
             raw_body: bytes) -> tuple[int, Any, dict[str, str]]:
    """Route one API request under the state lock: (status, JSON or None, extra headers)."""
    split = urlsplit(target)
    path, query = unquote(split.path), parse_qs(split.query, keep_blank_values=True)
    allowed = [(m, match, handler) for m, pattern, handler in ROUTES if (match := pattern.match(path))]
    if not allowed:
        raise ApiError(404, "Not Found")
    found = [(match, handler) for m, match, handler in allowed if m == method]
    if not found:
        raise ApiError(405, "Method Not Allowed")
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
    if token not in state.tokens:
        raise ApiError(401, "Invalid credentials", {"WWW-Authenticate": "Bearer"})
    try:
        body = json.loads(raw_body) if raw_body else None
    except ValueError:
        raise invalid(["body"], "JSON decode error", "json_invalid") from None
    key = headers.get("idempotency-key")
    match, handler = found[0]
    req = Request(state, method, path, query, body, match.groupdict(), key)
    if key is None or method != "POST" or not state.honour_idempotency:
        status, data = handler(req)
        return status, data, {}
    # The spec does not document Idempotency-Key; flow-compute sends it and research saw it
    # honoured, so the same key with the same request replays the first answer.
    fingerprint = hashlib.sha256(f"{method} {path} ".encode() + json.dumps(body, sort_keys=True).encode()).hexdigest()
    scoped = f"{state.tokens[token] or 'root'}:{key}"
    if scoped in state.idempotency:
        seen, status, data = state.idempotency[scoped]
        if seen != fingerprint:
            raise ApiError(409, "Idempotency-Key was already used with a different request")
        return status, data, {"Idempotent-Replayed": "true"}
    status, data = handler(req)
    if 200 <= status < 300:
        state.idempotency[scoped] = (fingerprint, status, data)
    return status, data, {}


def _logged_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    state: State  # set on the subclass each EmulatorServer makes

    def log_message(self, format: str, *args: Any) -> None:  # the request log is /_emulator/requests
        pass

    def _serve(self) -> None:
        state = self.state
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        path = unquote(split.path)
        if path.startswith(admin.PREFIX):
            return self._admin(path, raw_body)
        headers = {k.lower(): v for k, v in self.headers.items()}
        logged = Logged(self.command, path, parse_qs(split.query, keep_blank_values=True),
                        headers.get("idempotency-key"), _logged_body(raw_body))
        with state.lock:
            state.requests.append(logged)
            request_id = f"req_{len(state.requests)}"
        fault = state.take_fault(self.command, logged.path)
        if fault is not None and fault.kind == "delay":
            state.stopping.wait(fault.seconds)
        if fault is not None and fault.kind == "drop" and not fault.after_handling:
            return self._hang_up()
        extra: dict[str, str] = {"X-Request-Id": request_id}
        data: Any
        if fault is not None and fault.kind == "status":
            status, data = fault.status, {"detail": fault.detail}
            if fault.retry_after is not None:
                extra["Retry-After"] = fault.retry_after
        else:
            try:
                with state.lock:
                    status, data, more = dispatch(state, self.command, self.path, headers, raw_body)
                extra.update(more)
            except ApiError as err:
                status, data = err.status, {"detail": err.detail}
                extra.update(err.headers)
            except Exception:
                state.internal_errors.append(traceback.format_exc())
                status, data = 500, {"detail": "Internal Server Error"}
        if fault is not None and fault.kind == "drop":
            return self._hang_up()
        logged.status = status
        self._answer(status, data, extra)

    def _admin(self, path: str, raw_body: bytes) -> None:
        try:
            try:
                body = json.loads(raw_body) if raw_body else {}
            except ValueError:
                raise invalid(["body"], "JSON decode error", "json_invalid") from None
            status, data = admin.handle(self.state, self.command, path, body)
        except ApiError as err:
            status, data = err.status, {"detail": err.detail}
        except Exception:
            self.state.internal_errors.append(traceback.format_exc())
            status, data = 500, {"detail": "Internal Server Error"}
        self._answer(status, data, {})

    def _answer(self, status: int, data: Any, extra: dict[str, str]) -> None:
        payload = b"" if data is None else json.dumps(data).encode()
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        try:
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            self.close_connection = True

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve


class EmulatorServer:
    """The emulated API served from threads of this process.

    Tests in one process use it with the manual clock (`state.advance()`) and no sandboxes;
    `python -m flowslurm.emulator` uses it with the real clock and sandboxes under `state_dir`.
    """

    def __init__(self, api_key: str = DEFAULT_API_KEY, seed: int = 0, *, host: str = "127.0.0.1", port: int = 0,
                 manual_clock: bool = True, allocate_after: float = 1.0, boot_after: float = 1.0,
                 state_dir: Path | None = None, ssh_user: str | None = None) -> None:
        sandboxes = None
        if state_dir is not None:
            from flowslurm.emulator.sandbox import Sandboxes

            sandboxes = Sandboxes(Path(state_dir) / "instances", ssh_user or _current_user())
        self.api_key = api_key
        self.state = State(api_key, seed, manual_clock=manual_clock, allocate_after=allocate_after,
                           boot_after=boot_after, sandboxes=sandboxes)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._host = host
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name="mithril-emulator", daemon=True)
        self._ticker = threading.Thread(target=self._tick, name="mithril-emulator-clock", daemon=True)
        self._stopped = False

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._server.server_port}"

    def start(self) -> EmulatorServer:
        self._thread.start()
        if not self.state.manual_clock:
            self._ticker.start()
        return self

    def _tick(self) -> None:
        while not self.state.stopping.wait(TICK_S):
            try:
                self.state.tick()
            except Exception:
                self.state.internal_errors.append(traceback.format_exc())

    def stop(self) -> None:
        """Stop answering, stop the clock, then stop every sandbox (bounded waits throughout)."""
        if self._stopped:
            return
        self._stopped = True
        self.state.stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self._ticker.is_alive():
            self._ticker.join(timeout=5)
        if self.state.sandboxes is not None:
            self.state.join_boots()
            self.state.sandboxes.stop_all()


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name

