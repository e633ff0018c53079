//! Outbound connections for components: DNS resolved here, every address
//! vetted, and the connection made to the vetted address, so a name that
//! resolves (or re-resolves) to a private address cannot reach inside. Each
//! component has its own keep-alive client (hyper-util's), and response
//! bodies are bounded in size and time.

use std::error::Error as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http::uri::Scheme;
use http_body::{Body, Frame};
use hyper_rustls::MaybeHttpsStream;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use ip_network::{Ipv4Network, Ipv6Network};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tower_service::Service;
use wasmtime_wasi_http::p2::bindings::http::types::{DnsErrorPayload, ErrorCode};
use wasmtime_wasi_http::{Error, WasiBody};

use crate::cache::Cache;
use crate::policy::CachePolicy;

/// Whether `ip` is an ordinary public Internet address: globally routable
/// as IANA's special-purpose registries say (so not loopback, private,
/// link-local with cloud metadata at 169.254.169.254, shared CGNAT,
/// documentation, benchmarking or reserved), and besides neither multicast,
/// IETF protocol assignments, NAT64 nor Azure's platform address. An
/// IPv4-mapped IPv6 address is judged as the IPv4 address it carries.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let single = Ipv4Network::from(v4);
            single.is_global()
                && !single.is_multicast()
                // `is_global` lets two anycast addresses of 192.0.0.0/24 through.
                && !single.is_ietf_protocol_assignments()
                && v4 != AZURE_WIRESERVER
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            // Unicast only: `is_global` admits global-scope multicast.
            None => Ipv6Network::from(v6).is_unicast_global() && !nat64().contains(v6),
        },
    }
}

/// Azure's platform endpoint (DHCP, DNS, instance health), reachable from any VM.
const AZURE_WIRESERVER: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);

/// `64:ff9b::/32`: the well-known and local-use NAT64 prefixes, which reach
/// whatever IPv4 address they embed.
fn nat64() -> Ipv6Network {
    Ipv6Network::new(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 32).expect("a valid prefix")
}

/// Where a request may connect: the first address of `host` that is public,
/// or `host` itself when it is an IP address the policy names exactly.
pub async fn resolve(host: &str, port: u16, named_address: bool) -> Result<SocketAddr, ErrorCode> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if named_address || is_public(ip) {
            Ok(SocketAddr::new(ip, port))
        } else {
            Err(ErrorCode::HttpRequestDenied)
        };
    }
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| ErrorCode::DnsError(DnsErrorPayload { rcode: None, info_code: None }))?
        .collect();
    // All or nothing: a name with any private address is refused outright.
    if addresses.is_empty() || !addresses.iter().all(|a| is_public(a.ip())) {
        return Err(ErrorCode::HttpRequestDenied);
    }
    Ok(addresses[0])
}

/// Idle keep-alive connections kept per component and destination.
const MAX_IDLE: usize = 16;
/// How long an idle connection is kept. A server may close it sooner; a
/// request it was never sent on is then sent again on a new connection.
const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Components whose clients and caches are kept at once; an evicted one is made anew.
const MAX_COMPONENTS: u64 = 4096;

/// An HTTP client whose connections go only to vetted addresses.
pub type Client = hyper_util::client::legacy::Client<Connector, WasiBody>;

/// What outbound requests share in one runtime: the TLS roots, each
/// component's own client, whose keep-alive connections no other component
/// ever gets, and each component's response cache. A connection is pooled
/// only once its response was read to the end; it was vetted (allow-list,
/// public address) when it was opened.
pub struct Egress {
    tls: tokio_rustls::TlsConnector,
    clients: moka::sync::Cache<Arc<str>, Client>,
    caches: moka::sync::Cache<Arc<str>, Arc<Cache>>,
}

impl Egress {
    pub fn new() -> Arc<Self> {
        let clients =
            moka::sync::Cache::builder().max_capacity(MAX_COMPONENTS).time_to_idle(IDLE_TIMEOUT).build();
        let caches = moka::sync::Cache::new(MAX_COMPONENTS);
        Arc::new(Self { tls: tokio_rustls::TlsConnector::from(Arc::new(tls_config())), clients, caches })
    }

    /// The response cache of `component`, made anew when its policy changed.
    pub fn cache(&self, component: &Arc<str>, policy: CachePolicy) -> Arc<Cache> {
        let cache = self.caches.get_with_by_ref(component, || Arc::new(Cache::new(policy)));
        if cache.policy() == policy {
            return cache;
        }
        let cache = Arc::new(Cache::new(policy));
        self.caches.insert(component.clone(), cache.clone());
        cache
    }

    /// The client of `component`, made on its first request.
    pub fn client(&self, component: &Arc<str>) -> Client {
        self.clients.get_with_by_ref(component, || {
            hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(MAX_IDLE)
                .pool_idle_timeout(IDLE_TIMEOUT)
                .pool_timer(TokioTimer::new())
                .build(Connector { tls: self.tls.clone() })
        })
    }
}

/// Web PKI roots, no client certificate.
pub fn tls_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
    rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()
}

tokio::task_local! {
    /// How the request being sent may connect. The client's `request` takes
    /// nothing but the request, so the connector reads this when it starts
    /// connecting, within the request's task (as Spin's outbound HTTP does).
    static CONNECT: Connect;
}

/// How one request may open a connection.
#[derive(Debug, Clone, Copy)]
pub struct Connect {
    /// The request's host is an IP address its policy names exactly.
    pub named_address: bool,
    /// For the TCP connection and the TLS handshake.
    pub timeout: Duration,
}

impl Connect {
    /// Runs `send` (a request on a [`Client`]) with these rules for any
    /// connection it opens.
    pub async fn scope<F: Future>(self, send: F) -> F::Output {
        CONNECT.scope(self, send).await
    }
}

/// Opens connections to vetted addresses only: resolves the host here,
/// refuses a non-public address unless the policy names it, and connects to
/// the address it vetted (so a name that re-resolves elsewhere cannot reach
/// inside), speaking TLS for `https`.
#[derive(Clone)]
pub struct Connector {
    tls: tokio_rustls::TlsConnector,
}

type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;

impl Service<Uri> for Connector {
    type Response = Stream;
    type Error = ErrorCode;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, ErrorCode>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ErrorCode>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        // Outside a request's scope nothing may connect.
        let Ok(connect) = CONNECT.try_with(|connect| *connect) else {
            return Box::pin(async { Err(ErrorCode::HttpRequestDenied) });
        };
        let tls = self.tls.clone();
        Box::pin(async move {
            let https = uri.scheme() == Some(&Scheme::HTTPS);
            let host =
                uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let address = resolve(&host, port, connect.named_address).await?;
            let open = async {
                let stream = TcpStream::connect(address).await.map_err(|e| match e.kind() {
                    io::ErrorKind::AddrNotAvailable => ErrorCode::DnsError(DnsErrorPayload {
                        rcode: Some("address not available".into()),
                        info_code: None,
                    }),
                    _ => ErrorCode::ConnectionRefused,
                })?;
                let _ = stream.set_nodelay(true);
                if !https {
                    return Ok(MaybeHttpsStream::Http(TokioIo::new(stream)));
                }
                let name = ServerName::try_from(host).map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
                let stream = tls
                    .connect(name, TokioIo::new(TokioIo::new(stream)))
                    .await
                    .map_err(|_| ErrorCode::TlsProtocolError)?;
                Ok(MaybeHttpsStream::Https(TokioIo::new(stream)))
            };
            tokio::time::timeout(connect.timeout, open).await.map_err(|_| ErrorCode::ConnectionTimeout)?
        })
    }
}

/// The `wasi:http` error for a request the client could not send: the
/// connector's own when it refused or failed, else a protocol error.
pub fn failed(error: &hyper_util::client::legacy::Error) -> Error {
    let mut cause = error.source();
    while let Some(inner) = cause {
        if let Some(code) = inner.downcast_ref::<ErrorCode>() {
            return code.clone().into();
        }
        cause = inner.source();
    }
    tracing::debug!(error = %format!("{error:#}"), "outbound request failed");
    Error::HttpProtocolError
}

/// A response body that fails past `limit` bytes, after `idle` without data,
/// or at a deadline if given (so a server that drips bytes cannot hold a call).
pub struct Bounded {
    inner: hyper::body::Incoming,
    limit: usize,
    read: usize,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Bounded {
    pub fn new(inner: hyper::body::Incoming, limit: usize, idle: Duration) -> Self {
        Self { inner, limit, read: 0, idle, timer: Box::pin(tokio::time::sleep(idle)), deadline: None }
    }

    /// Fails the body at `deadline`, however steadily it arrives.
    pub fn until(self, deadline: tokio::time::Instant) -> Self {
        Self { deadline: Some(Box::pin(tokio::time::sleep_until(deadline))), ..self }
    }
}

impl Body for Bounded {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.deadline.as_mut().is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready()) {
            return Poll::Ready(Some(Err(Error::ConnectionReadTimeout)));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                self.read += frame.data_ref().map_or(0, Bytes::len);
                if self.read > self.limit {
                    return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(self.limit as u64)))));
                }
                let deadline = tokio::time::Instant::now() + self.idle;
                self.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "168.63.129.16",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::",
            "192.0.0.9",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "ff0e::1",
            "2001:db8::1",
            "64:ff9b::a00:1",
            "fec0::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn names_and_addresses_are_vetted() {
        assert!(resolve("127.0.0.1", 80, false).await.is_err(), "a private literal needs naming");
        assert_eq!(resolve("127.0.0.1", 80, true).await.unwrap(), "127.0.0.1:80".parse().unwrap());
        assert!(resolve("169.254.169.254", 80, false).await.is_err());
        // `localhost` resolves to loopback: refused even though a name was allowed.
        assert!(resolve("localhost", 80, false).await.is_err());
    }

    async fn send(client: &Client, url: &str, connect: Option<Connect>) -> Error {
        use http_body_util::BodyExt as _;
        let empty = http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync();
        let request = http::Request::get(url).body(empty).unwrap();
        let outcome = match connect {
            Some(connect) => connect.scope(client.request(request)).await,
            None => client.request(request).await,
        };
        failed(&outcome.expect_err("no server answers"))
    }

    #[tokio::test]
    async fn the_connector_refuses_private_addresses() {
        let client = Egress::new().client(&Arc::from("c"));
        let rules = |named_address| Some(Connect { named_address, timeout: Duration::from_secs(5) });
        for url in
            ["http://127.0.0.1:9/", "http://169.254.169.254/", "http://localhost:9/", "http://[::1]:9/"]
        {
            assert!(matches!(send(&client, url, rules(false)).await, Error::HttpRequestDenied), "{url}");
        }
        // Outside a request's rules nothing connects.
        assert!(matches!(send(&client, "http://1.1.1.1/", None).await, Error::HttpRequestDenied));
        // An address the policy names is connected to (nothing listens on port 9).
        let named = send(&client, "http://127.0.0.1:9/", rules(true)).await;
        assert!(matches!(named, Error::ConnectionRefused), "{named:?}");
    }

    #[tokio::test]
    async fn connections_are_kept_per_component_and_runtime() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let ok = hyper::service::service_fn(|_| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                        Bytes::from("ok"),
                    )))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), ok),
                );
            }
        });
        let get = async |egress: &Egress, component: &str| {
            use http_body_util::BodyExt as _;
            let empty = http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync();
            let request = http::Request::get(&url).body(empty).unwrap();
            let rules = Connect { named_address: true, timeout: Duration::from_secs(5) };
            let response = rules.scope(egress.client(&Arc::from(component)).request(request)).await.unwrap();
            response.into_body().collect().await.unwrap();
            // The connection goes back to its pool once the body has ended.
            tokio::time::sleep(Duration::from_millis(50)).await;
            accepted.load(Ordering::SeqCst)
        };
        let (runtime, other) = (Egress::new(), Egress::new());
        assert_eq!(get(&runtime, "a").await, 1);
        assert_eq!(get(&runtime, "a").await, 1, "kept alive for the same component");
        assert_eq!(get(&runtime, "b").await, 2, "never another component's connection");
        assert_eq!(get(&other, "a").await, 3, "never another runtime's connection");
    }

    #[test]
    fn caches_are_kept_per_component_policy_and_runtime() {
        let policy = CachePolicy { ttl: Duration::from_secs(60), max_entries: 8 };
        let (runtime, other) = (Egress::new(), Egress::new());
        let (a, b) = (Arc::from("a"), Arc::from("b"));
        let cache = runtime.cache(&a, policy);
        assert!(Arc::ptr_eq(&cache, &runtime.cache(&a, policy)));
        assert!(!Arc::ptr_eq(&cache, &runtime.cache(&b, policy)));
        assert!(!Arc::ptr_eq(&cache, &other.cache(&a, policy)));
        let changed = CachePolicy { max_entries: 9, ..policy };
        assert!(!Arc::ptr_eq(&cache, &runtime.cache(&a, changed)), "made anew for a new policy");
    }
}
