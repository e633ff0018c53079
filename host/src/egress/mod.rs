//! Outbound HTTP for components: the `wasi:http` hooks that apply each
//! component's policy (`outbound`), address vetting (`address`), the
//! connector every client connects through (`connector`), bounded response
//! bodies (`bounded`) and the response cache (`cache`). A runtime owns one
//! `Egress`: no state is shared between runtimes, nor connections or cached
//! answers between components.

mod address;
mod bounded;
mod cache;
mod connector;
mod outbound;

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use wasmtime_wasi_http::WasiBody;

pub use bounded::Bounded;
use cache::Cache;
pub use connector::{Connect, Connector, failed, tls_config};
pub use outbound::Outbound;

use crate::policy::CachePolicy;

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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use hyper_util::rt::TokioIo;

    use super::*;

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
