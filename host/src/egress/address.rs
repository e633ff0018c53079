//! Which addresses a component may reach: public ones (IANA's special-purpose
//! registries, plus the few the registries leave open), and an address its
//! policy names exactly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ip_network::{Ipv4Network, Ipv6Network};
use wasmtime_wasi_http::p2::bindings::http::types::{DnsErrorPayload, ErrorCode};

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
