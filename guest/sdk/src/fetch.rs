//! Outbound HTTP GET through `wasi:http/outgoing-handler`, bounded in time and size.

use std::fmt;
use std::time::Duration;

use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingRequest, RequestOptions, Scheme};
use wasip2::io::streams::StreamError;

/// An HTTP response with its whole body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchError {
    /// The URL is not `http(s)://authority/...`.
    BadUrl(String),
    /// The host's policy does not allow this destination.
    Denied,
    /// No complete answer within the time limit.
    Timeout,
    /// The body is larger than the limit.
    TooLarge(usize),
    /// DNS, connection, TLS or protocol failure.
    Failed(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::BadUrl(url) => write!(f, "not an http(s) URL: {url}"),
            FetchError::Denied => f.write_str("the destination is not allowed by this component's policy"),
            FetchError::Timeout => f.write_str("no answer in time"),
            FetchError::TooLarge(limit) => write!(f, "the response is larger than {limit} bytes"),
            FetchError::Failed(reason) => f.write_str(reason),
        }
    }
}

/// GETs `url`, waiting at most `timeout` for the whole exchange and reading at
/// most `max_body` bytes.
pub fn get(url: &str, timeout: Duration, max_body: usize) -> Result<Response, FetchError> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(FetchError::BadUrl(url.into()));
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    if authority.is_empty() {
        return Err(FetchError::BadUrl(url.into()));
    }
    let headers = Fields::from_list(&[("accept".into(), b"application/json".to_vec())])
        .map_err(|e| FetchError::Failed(format!("{e:?}")))?;
    let request = OutgoingRequest::new(headers);
    let invalid = |_| FetchError::BadUrl(url.into());
    request.set_method(&Method::Get).map_err(invalid)?;
    request.set_scheme(Some(&scheme)).map_err(invalid)?;
    request.set_authority(Some(authority)).map_err(invalid)?;
    request.set_path_with_query(Some(path)).map_err(invalid)?;

    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    let options = RequestOptions::new();
    // The host clamps these to its own limits; they are best effort here.
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));

    let deadline = monotonic_clock::now().saturating_add(nanos);
    let pending = outgoing_handler::handle(request, Some(options)).map_err(error)?;
    let response = loop {
        if let Some(ready) = pending.get() {
            break ready.map_err(|()| FetchError::Failed("response already taken".into()))?.map_err(error)?;
        }
        wait(&pending.subscribe(), deadline)?;
    };
    let status = response.status();
    let body = response.consume().map_err(|()| FetchError::Failed("no response body".into()))?;
    let stream = body.stream().map_err(|()| FetchError::Failed("no response body stream".into()))?;
    let mut bytes = Vec::new();
    loop {
        match stream.read(64 * 1024) {
            Ok(chunk) if chunk.is_empty() => wait(&stream.subscribe(), deadline)?,
            Ok(chunk) => {
                if bytes.len() + chunk.len() > max_body {
                    return Err(FetchError::TooLarge(max_body));
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(FetchError::Failed(e.to_debug_string())),
        }
    }
    Ok(Response { status, body: bytes })
}

/// Blocks until `pollable` is ready, or fails once `deadline` has passed.
fn wait(pollable: &wasip2::io::poll::Pollable, deadline: u64) -> Result<(), FetchError> {
    let timer = monotonic_clock::subscribe_instant(deadline);
    let ready = wasip2::io::poll::poll(&[pollable, &timer]);
    if ready.contains(&0) { Ok(()) } else { Err(FetchError::Timeout) }
}

fn error(code: ErrorCode) -> FetchError {
    match code {
        ErrorCode::HttpRequestDenied => FetchError::Denied,
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout => FetchError::Timeout,
        ErrorCode::DnsError(_) | ErrorCode::DnsTimeout => {
            FetchError::Failed("its host name could not be resolved".into())
        }
        ErrorCode::ConnectionRefused => FetchError::Failed("the connection was refused".into()),
        ErrorCode::DestinationUnavailable | ErrorCode::DestinationNotFound => {
            FetchError::Failed("the server could not be reached".into())
        }
        ErrorCode::TlsCertificateError | ErrorCode::TlsProtocolError | ErrorCode::TlsAlertReceived(_) => {
            FetchError::Failed("the secure connection failed".into())
        }
        ErrorCode::HttpResponseBodySize(_) => {
            FetchError::Failed("the response was larger than allowed".into())
        }
        other => FetchError::Failed(format!("{other:?}")),
    }
}
