"""Outbound HTTP GET through `wasi:http/outgoing-handler`, bounded in time
and size. The host decides where a component may connect (its policy's
`outbound.allow`); a refused destination is `FetchError.denied`."""

from dataclasses import dataclass

from componentize_py_types import Err
from wit_world.imports import monotonic_clock, outgoing_handler, poll, streams
from wit_world.imports import wasi_http_types as http


@dataclass
class Response:
    status: int
    body: bytes


class FetchError(Exception):
    """Why a request got no response. `kind` is one of `bad_url`, `denied`,
    `timeout`, `too_large`, `failed`; `str()` reads as a sentence."""

    def __init__(self, kind: str, message: str, detail=None):
        super().__init__(message)
        self.kind = kind
        self.detail = detail


def _bad_url(url: str) -> FetchError:
    return FetchError("bad_url", f"not an http(s) URL: {url}", url)


def get(url: str, timeout_s: float = 10.0, max_body: int = 4 << 20,
        headers: dict[str, str] | None = None) -> Response:
    """GETs `url`, waiting at most `timeout_s` for the whole exchange and
    reading at most `max_body` bytes; raises `FetchError`."""
    if url.startswith("https://"):
        scheme, rest = http.Scheme_Https(), url[len("https://"):]
    elif url.startswith("http://"):
        scheme, rest = http.Scheme_Http(), url[len("http://"):]
    else:
        raise _bad_url(url)
    slash = rest.find("/")
    authority, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    if not authority:
        raise _bad_url(url)
    entries = [("accept", b"application/json")]
    entries += [(name.lower(), value.encode()) for name, value in (headers or {}).items()]
    try:
        fields = http.Fields.from_list(entries)
    except Err as error:
        raise FetchError("failed", repr(error.value)) from None
    request = http.OutgoingRequest(fields)
    try:
        request.set_method(http.Method_Get())
        request.set_scheme(scheme)
        request.set_authority(authority)
        request.set_path_with_query(path)
    except Err:
        raise _bad_url(url) from None

    nanos = int(timeout_s * 1e9)
    options = http.RequestOptions()
    # The host clamps these to its own limits; they are best effort here.
    for setter in (options.set_connect_timeout, options.set_first_byte_timeout, options.set_between_bytes_timeout):
        try:
            setter(nanos)
        except Err:
            pass
    deadline = monotonic_clock.now() + nanos
    try:
        pending = outgoing_handler.handle(request, options)
    except Err as error:
        raise _error(error.value) from None
    with pending:
        while True:
            ready = pending.get()
            if ready is not None:
                break
            with pending.subscribe() as pollable:
                _wait(pollable, deadline)
    if isinstance(ready, Err):
        raise FetchError("failed", "response already taken")
    outcome = ready.value
    if isinstance(outcome, Err):
        raise _error(outcome.value)
    with outcome.value as response:
        status = response.status()
        body = response.consume()
        with body, body.stream() as stream:
            data = bytearray()
            while True:
                try:
                    chunk = stream.read(64 * 1024)
                except Err as error:
                    if isinstance(error.value, streams.StreamError_Closed):
                        break
                    raise FetchError("failed", error.value.value.to_debug_string()) from None
                if not chunk:
                    with stream.subscribe() as pollable:
                        _wait(pollable, deadline)
                    continue
                if len(data) + len(chunk) > max_body:
                    raise FetchError("too_large", f"the response is larger than {max_body} bytes", max_body)
                data += chunk
    return Response(status, bytes(data))


def _wait(pollable: poll.Pollable, deadline: int) -> None:
    """Blocks until `pollable` is ready, or raises once `deadline` has passed."""
    with monotonic_clock.subscribe_instant(deadline) as timer:
        if 0 not in poll.poll([pollable, timer]):
            raise FetchError("timeout", "no answer in time")


def _error(code) -> FetchError:
    if isinstance(code, http.ErrorCode_HttpRequestDenied):
        return FetchError("denied", "the destination is not allowed by this component's policy")
    if isinstance(code, (http.ErrorCode_ConnectionTimeout, http.ErrorCode_ConnectionReadTimeout,
                         http.ErrorCode_ConnectionWriteTimeout)):
        return FetchError("timeout", "no answer in time")
    if isinstance(code, (http.ErrorCode_DnsError, http.ErrorCode_DnsTimeout)):
        return FetchError("failed", "its host name could not be resolved")
    if isinstance(code, http.ErrorCode_ConnectionRefused):
        return FetchError("failed", "the connection was refused")
    if isinstance(code, (http.ErrorCode_DestinationUnavailable, http.ErrorCode_DestinationNotFound)):
        return FetchError("failed", "the server could not be reached")
    if isinstance(code, (http.ErrorCode_TlsCertificateError, http.ErrorCode_TlsProtocolError,
                         http.ErrorCode_TlsAlertReceived)):
        return FetchError("failed", "the secure connection failed")
    if isinstance(code, http.ErrorCode_HttpResponseBodySize):
        return FetchError("failed", "the response was larger than allowed")
    return FetchError("failed", type(code).__name__.removeprefix("ErrorCode_"))


__all__ = ["FetchError", "Response", "get"]
