//! Outbound connections for components: DNS resolved here, every address
//! vetted, and the connection made to the vetted address, so a name that
//! resolves (or re-resolves) to a private address cannot reach inside.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use hyper_util::rt::TokioIo;
use ip_network::{Ipv4Network, Ipv6Network};
use tokio::net::TcpStream;
use wasmtime_wasi_http::Error;

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
pub async fn resolve(host: &str, port: u16, named_address: bool) -> Result<SocketAddr, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if named_address || is_public(ip) {
            Ok(SocketAddr::new(ip, port))
        } else {
            Err(Error::HttpRequestDenied)
        };
    }
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| Error::DnsError { rcode: None, info_code: None })?
        .collect();
    // All or nothing: a name with any private address is refused outright.
    if addresses.is_empty() || !addresses.iter().all(|a| is_public(a.ip())) {
        return Err(Error::HttpRequestDenied);
    }
    Ok(addresses[0])
}

static TLS: LazyLock<tokio_rustls::TlsConnector> = LazyLock::new(|| {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
});

/// Connects to `address`, speaking TLS for `https` with `host` as the name the
/// certificate must carry.
pub async fn connect<B: Sendable>(
    address: SocketAddr,
    host: &str,
    https: bool,
    timeout: Duration,
) -> Result<hyper::client::conn::http1::SendRequest<B>, Error> {
    let connect = async {
        let stream = TcpStream::connect(address).await.map_err(Error::Connect)?;
        let _ = stream.set_nodelay(true);
        if https {
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(|_| Error::HttpRequestUriInvalid)?;
            let tls = TLS.connect(name, stream).await.map_err(Error::Tls)?;
            handshake(tls).await
        } else {
            handshake(stream).await
        }
    };
    tokio::time::timeout(timeout, connect).await.map_err(|_| Error::ConnectionTimeout)?
}

/// A request body hyper's client can send from a spawned connection.
pub trait Sendable:
    Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send + 'static
{
}

impl<B> Sendable for B where
    B: Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send + 'static
{
}

async fn handshake<S, B: Sendable>(stream: S) -> Result<hyper::client::conn::http1::SendRequest<B>, Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(Error::from)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
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
}
