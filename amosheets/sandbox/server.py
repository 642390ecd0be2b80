"""The HTTP plumbing shared by both emulators.

An emulator is a plain object with a ``handle`` method that turns a parsed request into a
``Response``; this module serves it on loopback with the behaviour that the real services
add around every request: latency, injected faults (seeded, so a failing test can be
replayed), request counters and a control interface under ``/_sandbox/`` — a path neither
real API uses.

The control interface is a table: each emulator method marked with :func:`control_route` is one
endpoint, and ``GET /_sandbox/`` lists that same table (method, path, one line of description), so
the index cannot say something the router does not do. Control requests carry a JSON object (or
nothing); anything else is a 400 in the emulator's own error shape.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

CONTROL_PREFIX = "/_sandbox"
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Request:
    method: str
    path: str  # percent-decoded
    raw_path: str  # as sent, still percent-encoded
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        h = {"Content-Type": "application/json; charset=utf-8"}
        h.update(headers or {})
        return cls(status, body, h)

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status, b"", {})

    @classmethod
    def html(cls, status: int, text: str) -> Response:
        return cls(status, text.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})


class Clock:
    """The server's clock. Real time plus an offset that tests can move forward or back (a clock correction)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def now(self) -> int:
        return int(self.time())

    def advance(self, seconds: float) -> None:
        """Move the clock by ``seconds``; a negative number sets it back."""
        with self._lock:
            self._offset += seconds


# "html": a 200 whose body is an HTML page; "truncated": the real answer, cut off halfway;
# "stall": no answer until the faults are changed (or STALL_SECONDS), then the real one, as from a
# service that hangs; "echo400"/"echo403": that error, its text echoing the request's Authorization
# header, as some error pages and proxies do.
# "…-after": the request is carried out, then the answer is lost (the connection drops, or a
# gateway answers 504 having given up waiting): the worst case for a create.
APPLIED_FAULTS = ("drop-after", "504-after")
FAULT_KINDS = (
    "429", "500", "502", "503", "504", "drop", "html", "truncated", "stall", "echo400", "echo403", *APPLIED_FAULTS
)  # fmt: skip
STALL_SECONDS = 600.0


@dataclass
class FaultPlan:
    """Random faults drawn from a seeded generator, plus scripted ones that fire first.

    ``rates`` maps a kind in FAULT_KINDS to a probability per request. ``script`` is a
    list of (kind, path_regex or None, method or None) fired, in order, on the next
    matching requests. ``only`` restricts random faults to paths matching a regex.
    """

    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    only: str | None = None
    script: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for kind in list(self.rates) + [s[0] for s in self.script]:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
        self._rng = random.Random(self.seed)

    def draw(self, method: str, path: str) -> str | None:
        for i, (kind, pattern, meth) in enumerate(self.script):
            if (pattern is None or re.search(pattern, path)) and (meth is None or meth == method):
                del self.script[i]
                return kind
        if not self.rates or (self.only and not re.search(self.only, path)):
            return None
        roll = self._rng.random()
        acc = 0.0
        for kind in FAULT_KINDS:
            acc += self.rates.get(kind, 0.0)
            if roll < acc:
                return kind
        return None


_Handler_T = TypeVar("_Handler_T", bound=Callable[..., Any])
_PLACEHOLDER = re.compile(r"\{(\w+)(:int)?\}")


@dataclass(frozen=True)
class ControlRoute:
    """One control endpoint: ``METHOD /_sandbox{path}``, answered by the emulator's method ``handler``.

    In ``path``, ``{name}`` stands for one path segment and ``{name:int}`` for digits; the handler is
    called as ``handler(req, body, **params)`` with ``body`` the request's JSON object.
    """

    method: str
    path: str
    description: str
    handler: str

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        parts, pos = [], 0
        for m in _PLACEHOLDER.finditer(self.path):
            parts.append(re.escape(self.path[pos : m.start()]))
            parts.append(rf"(?P<{m[1]}>\d+)" if m[2] else rf"(?P<{m[1]}>[^/]+)")
            pos = m.end()
        parts.append(re.escape(self.path[pos:]))
        return re.compile("".join(parts))

    def match(self, sub: str) -> dict[str, Any] | None:
        """The path's parameters (``{x:int}`` ones as ints) when ``sub`` is this route's path, else None."""
        m = self._regex.fullmatch(sub)
        if m is None:
            return None
        ints = {p[1] for p in _PLACEHOLDER.finditer(self.path) if p[2]}
        return {k: int(v) if k in ints else v for k, v in m.groupdict().items()}

    def describe(self) -> dict[str, str]:
        path = CONTROL_PREFIX + self.path.replace(":int}", "}")
        return {"method": self.method, "path": path, "description": self.description}


def control_route(method: str, path: str, description: str) -> Callable[[_Handler_T], _Handler_T]:
    """Make an emulator method the handler of ``METHOD /_sandbox{path}`` (stack it for several routes).

    ``description`` is the route's one line in the ``GET /_sandbox/`` index: what it does and the
    body or query it takes.
    """

    def mark(fn: _Handler_T) -> _Handler_T:
        specs = fn.__dict__.setdefault("_control_specs", [])
        specs.insert(0, (method, path, description))  # decorators apply bottom-up; keep the written order
        return fn

    return mark


class _MissingKey(ValueError):
    pass


class ControlBody(dict[str, Any]):
    """A control request's JSON object; a key the handler needs and the body lacks is a 400 naming it."""

    def __missing__(self, key: str) -> Any:
        raise _MissingKey(f"the JSON body needs {key!r}")


class Emulator:
    """Base of both emulators: counters, latency, faults and control routing.

    Subclasses implement ``route`` (the API itself), ``fault_response`` (what an injected
    fault looks like on that service), ``route_name`` (a path with ids replaced, for the
    counters), ``error_response`` (their error shape) and their part of the control interface
    as methods marked with :func:`control_route`.
    """

    name = "emulator"
    _control_table: ClassVar[list[ControlRoute]]  # made by control_routes(), per class

    def __init__(self, latency: float = 0.0) -> None:
        self.lock = threading.RLock()
        self.latency = latency
        self.faults = FaultPlan()
        self._unstall = threading.Event()
        self.clock = Clock()
        self._counts: Counter[str] = Counter()
        self._faults_injected: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._in_flight = 0
        self._max_in_flight = 0  # the most API requests it was working on at once
        # Called as hook(phase, request) with phase "before" (not yet processed) and "after"
        # (processed, answer not yet sent): lets a test kill the client at exactly that point.
        # True from "before" means the request never arrived (its sender died before sending it).
        self.hook: Callable[[str, Request], bool | None] | None = None

    # -- counters -------------------------------------------------------------------
    def _count(self, req: Request) -> None:
        with self._count_lock:
            self._counts[f"{req.method} {self.route_name(req.path)}"] += 1

    def stats(self) -> dict[str, Any]:
        """Every request received so far, by ``METHOD route``, and the totals.

        ``requests`` counts them all; ``reads`` and ``mutating`` those that ``request_kind`` calls a read or
        a write (with the default kinds, every request is one or the other).
        """
        with self._count_lock:
            by_route = dict(self._counts)
            faults = dict(self._faults_injected)
        kinds: Counter[str] = Counter()
        for key, n in by_route.items():
            kinds[self.request_kind(key)] += n
        return {
            "requests": sum(by_route.values()),
            "reads": kinds["read"],
            "mutating": kinds["write"],
            "by_route": by_route,
            "faults_injected": faults,
            "max_in_flight": self._max_in_flight,
            **self.extra_stats(),
        }

    def request_kind(self, key: str) -> str:
        """What a counter key (``METHOD route``) counts as: "read", "write" (in ``mutating``), or another kind
        that an emulator names (counted in ``requests`` only, e.g. a token exchange)."""
        return "write" if key.split(" ", 1)[0] in MUTATING_METHODS else "read"

    def extra_stats(self) -> dict[str, Any]:
        return {}

    def reset_stats(self) -> None:
        with self._count_lock:
            self._counts.clear()
            self._faults_injected.clear()
            self._max_in_flight = 0
        self.reset_extra_stats()

    def reset_extra_stats(self) -> None:
        pass

    def set_faults(
        self,
        rates: dict[str, float] | None = None,
        seed: int = 0,
        only: str | None = None,
        script: list[tuple[str, str | None, str | None]] | None = None,
    ) -> None:
        self.faults = FaultPlan(rates=dict(rates or {}), seed=seed, only=only, script=list(script or []))
        # Requests held by "stall" answer now: the test that stalled the service is done with them.
        self._unstall.set()
        self._unstall = threading.Event()

    # -- dispatch -------------------------------------------------------------------
    def dispatch(self, req: Request) -> Response:
        if req.path == CONTROL_PREFIX or req.path.startswith(CONTROL_PREFIX + "/"):
            return self._control(req)
        self._count(req)
        with self._count_lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            return self._answer(req)
        finally:
            with self._count_lock:
                self._in_flight -= 1

    def _answer(self, req: Request) -> Response:
        if self.latency:
            time.sleep(self.latency)
        with self.lock:
            kind = self.faults.draw(req.method, req.path)
        if kind is not None:
            with self._count_lock:
                self._faults_injected[kind] += 1
            if kind == "drop":
                return Response(drop=True)
            if kind == "html":
                return Response.html(200, "<!DOCTYPE html><html><body><h1>Maintenance</h1></body></html>")
            if kind.startswith("echo"):
                return self.echo_response(int(kind[4:]), req)
            if kind == "stall":
                self._unstall.wait(STALL_SECONDS)
            elif kind != "truncated" and kind not in APPLIED_FAULTS:
                return self.fault_response(int(kind), req)
        if self.hook is not None and self.hook("before", req):
            return Response(drop=True)
        try:
            resp = self.route(req)
        except ApiError as e:
            resp = e.response
        except Exception as e:  # an emulator bug must surface as a 500, not hang
            resp = self.internal_error(e)
        if self.hook is not None:
            self.hook("after", req)
        if kind == "truncated" and resp.body:
            resp.body = resp.body[: len(resp.body) // 2]
        if kind == "drop-after":
            return Response(drop=True)
        if kind == "504-after":
            return self.fault_response(504, req)
        return resp

    # -- control -------------------------------------------------------------------
    @classmethod
    def control_routes(cls) -> list[ControlRoute]:
        """Every control endpoint of this emulator, the base class's first: the one table that both the
        router and the ``GET /_sandbox/`` index read."""
        table: list[ControlRoute] | None = cls.__dict__.get("_control_table")
        if table is None:
            routes: dict[tuple[str, str], ControlRoute] = {}
            for klass in reversed(cls.__mro__):
                for name, attr in vars(klass).items():
                    for method, path, description in getattr(attr, "_control_specs", ()):
                        routes[(method, path)] = ControlRoute(method, path, description, name)
            table = list(routes.values())
            cls._control_table = table
        return table

    def _control(self, req: Request) -> Response:
        sub = req.path[len(CONTROL_PREFIX) :].rstrip("/") or "/"
        matches = [(r, params) for r in self.control_routes() if (params := r.match(sub)) is not None]
        if not matches:
            return self.error_response(404, f"no control route {sub}; GET {CONTROL_PREFIX}/ lists them")
        found = next(((r, p) for r, p in matches if r.method == req.method), None)
        if found is None:
            allowed = ", ".join(r.method for r, _ in matches)
            return self.error_response(
                405, f"no control route {req.method} {sub}; it takes {allowed}", {"Allow": allowed}
            )
        route, params = found
        try:
            body = self._control_body(req)
        except ApiError as e:
            return e.response
        try:
            result = self.call_control(getattr(self, route.handler), req, body, params)
        except ApiError as e:
            return e.response
        except (KeyError, TypeError, ValueError) as e:
            detail = e.args[0] if isinstance(e, KeyError) and e.args else e
            return self.error_response(400, f"bad control request: {detail}")
        except Exception as e:  # an emulator bug must surface as a 500, not a dropped connection
            return self.internal_error(e)
        return result if isinstance(result, Response) else Response.json(200, result)

    def _control_body(self, req: Request) -> ControlBody:
        if not req.body.strip():
            return ControlBody()
        try:
            data = json.loads(req.body.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ApiError(self.bad_json(f"The body is not UTF-8 ({e.reason} at byte {e.start}).")) from None
        except ValueError as e:
            raise ApiError(self.bad_json(str(e))) from None
        if not isinstance(data, dict):
            raise ApiError(self.bad_json(f"Expected a JSON object, got {_json_kind(data)}."))
        return ControlBody(data)

    def call_control(self, handler: Callable[..., Any], req: Request, body: ControlBody, params: dict[str, Any]) -> Any:
        """Run a control handler (an emulator can wrap it: a lock, its own exceptions)."""
        return handler(req, body, **params)

    @control_route("GET", "/", "this index: every control endpoint with its method and what it does")
    def _c_index(self, req: Request, body: ControlBody) -> Any:
        return {
            "emulator": self.name,
            "control": [r.describe() for r in self.control_routes()],
            "note": f"Control requests take a JSON object (or no body) and are never counted, limited or faulted; "
            f"paths are under {CONTROL_PREFIX}/.",
        }

    @control_route("GET", "/stats", "request counters: totals, by route, injected faults, most in flight at once")
    def _c_stats(self, req: Request, body: ControlBody) -> Any:
        return self.stats()

    @control_route("POST", "/stats/reset", "zero the request counters")
    def _c_stats_reset(self, req: Request, body: ControlBody) -> Any:
        self.reset_stats()
        return {"ok": True}

    @control_route(
        "POST",
        "/faults",
        '{"rates"?: {"500": 0.1, …}, "seed"?, "only"?: path regex, "script"?: [[kind, path regex|null, '
        f"method|null]]}}: inject faults (kinds: {', '.join(FAULT_KINDS)}); {{}} turns them off",
    )
    def _c_faults(self, req: Request, body: ControlBody) -> Any:
        self.set_faults(
            rates=body.get("rates"),
            seed=int(body.get("seed", 0)),
            only=body.get("only"),
            script=[tuple(s) for s in body.get("script", [])],
        )
        return {"ok": True}

    @control_route("POST", "/latency", '{"seconds"}: how long every API request takes')
    def _c_latency(self, req: Request, body: ControlBody) -> Any:
        self.latency = float(body["seconds"])
        return {"ok": True}

    @control_route("GET", "/clock", "the server's clock (Unix seconds)")
    def _c_clock(self, req: Request, body: ControlBody) -> Any:
        return {"now": self.clock.now()}

    @control_route("POST", "/clock/advance", '{"seconds"}: move the server\'s clock (negative: back)')
    def _c_clock_advance(self, req: Request, body: ControlBody) -> Any:
        self.clock.advance(float(body["seconds"]))
        return {"now": self.clock.now()}

    # -- for subclasses -------------------------------------------------------------
    def route(self, req: Request) -> Response:
        raise NotImplementedError

    def route_name(self, path: str) -> str:
        return path

    def fault_response(self, status: int, req: Request) -> Response:
        return Response.json(status, {"status": status, "title": "Injected fault"})

    def echo_response(self, status: int, req: Request) -> Response:
        auth = req.headers.get("authorization", "")
        return Response.json(status, {"status": status, "title": "Rejected", "detail": f"Rejected: {auth}"})

    def internal_error(self, exc: Exception) -> Response:
        return Response.json(500, {"status": 500, "title": "Internal Server Error", "detail": repr(exc)})

    def error_response(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        """An error of the control interface, in the service's own error shape."""
        return Response.json(status, {"error": message}, headers)

    def bad_json(self, detail: str) -> Response:
        """The 400 for a body that is not a JSON object, as the service words it."""
        return self.error_response(400, f"Request body is not a JSON object: {detail}")

    def date_header(self) -> str:
        return formatdate(self.clock.time(), usegmt=True)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


class ApiError(Exception):
    """Raised inside a route to answer with an error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _ascii_target(target: str) -> str:
    """The request target with raw non-ASCII bytes percent-encoded.

    http.server reads the request line as Latin-1, so a client that sends UTF-8 unencoded (curl with
    ``Сделки`` in the URL) would reach the router as mojibake; encoded, the path and the query are
    then percent-decoded as UTF-8 like any other.
    """
    if target.isascii():
        return target
    return "".join(ch if ch.isascii() else f"%{ord(ch):02X}" for ch in target)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client's delayed ACK
    # adds ~40 ms to every response.
    disable_nagle_algorithm = True
    emulator: Emulator  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        split = urlsplit(_ascii_target(self.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(
            method=self.command,
            path=unquote(split.path),
            raw_path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        resp = self.emulator.dispatch(req)
        if resp.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        self.send_response(resp.status)
        headers = {"Date": self.emulator.date_header(), **resp.headers}
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if resp.body and self.command != "HEAD":
            self.wfile.write(resp.body)

    def send_response(self, code: int, message: str | None = None) -> None:
        # The stdlib adds its own Date and Server headers; the emulator sends Date in its clock.
        self.log_request(code)
        self.send_response_only(code, message)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away (killed by a test, or timed out) is not an emulator error.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class PortUnavailable(OSError):
    """The emulator's port is taken (or not ours to use): says which emulator and port."""

    def __init__(self, service: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror)
        self.service = service
        self.port = port


class RunningServer:
    """An emulator served on loopback in a background thread."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = type(f"{emulator.name}Handler", (_Handler,), {"emulator": emulator})
        self.emulator = emulator
        try:
            self._httpd = _Server((host, port), handler)
        except OSError as e:
            raise PortUnavailable(emulator.name, port, e) from None
        bound, self.port = self._httpd.server_address[:2]
        self.host = str(bound)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{emulator.name}-server",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
