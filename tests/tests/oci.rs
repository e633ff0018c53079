//! Components from an OCI registry (Debian's docker-registry on loopback),
//! pushed with the project's publisher: a tag moved under load over TLS with
//! basic auth, a pinned digest, an outage, the signature refusals, and Azure
//! Container Registry's token flow with the app's managed identity.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_e2e::acr::FakeAcr;
use mcp_e2e::harness::{Host, sha256, text, versioned_wasm};
use mcp_e2e::identity::IDENTITY_SECRET;
use mcp_e2e::load::{COMPILE_BOUND, Load, assert_clean_swap};
use mcp_e2e::registry::{Registry, signing_key};
use serde_json::{Value, json};

const POLL_MS: u64 = 300;
const REPOSITORY: &str = "tools/versioned";

fn v(version: u8) -> Vec<u8> {
    std::fs::read(versioned_wasm(version)).expect("a versioned build")
}

/// `wasm` with a custom section appended: the same component, other bytes.
fn variant(wasm: &[u8], mark: u8) -> Vec<u8> {
    let mut bytes = wasm.to_vec();
    bytes.extend_from_slice(&[0, 3, 2, b'm', mark]);
    bytes
}

/// The host serving `reference` only, with `env` beside the registry's.
fn host_for(registry: &Registry, reference: &str, env: &[(&str, String)]) -> Host {
    let mut all = registry.client_env();
    all.extend(env.iter().map(|(k, v)| (*k, v.clone())));
    let env: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let poll = POLL_MS.to_string();
    Host::start_with_env(&[], &["--components-oci", reference, "--poll-interval-ms", &poll], &env)
}

async fn which(host: &Host) -> String {
    text(&host.call("which_version", json!({})).await).to_owned()
}

/// Waits until the component is refused with `needle` in the reason, and checks that `serving` still serves.
async fn refused(host: &Host, needle: &str, serving: &[u8]) -> Value {
    let entry = host
        .wait_for("versioned", Duration::from_secs(20), |c| {
            c["refused"]["error"].as_str().is_some_and(|e| e.contains(needle))
        })
        .await;
    assert_eq!(entry["serving"]["sha256"], sha256(serving), "{entry:#}");
    println!("refused: {}", entry["refused"]["error"]);
    entry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_moved_tag_swaps_under_load_over_tls_with_basic_auth() {
    let registry = Registry::secure();
    let (v1, v2) = (v(1), v(2));
    registry.publish(REPOSITORY, "live", &v1, None);
    let reference = format!("{}/{REPOSITORY}:live", registry.host());
    let host = Arc::new(host_for(&registry, &reference, &[]));
    let entry = host.wait_for("versioned", Duration::from_secs(30), |c| c["serving"].is_object()).await;
    assert_eq!(entry["serving"]["sha256"], sha256(&v1), "{entry:#}");
    let status = host.status().await;
    assert!(status["source"].as_str().unwrap().contains(&format!("OCI {reference}")), "{status}");
    assert!(status["scan_error"].is_null(), "{status}");

    let load = Load::start(&host);
    load.first("version 1", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    registry.publish(REPOSITORY, "live", &v2, None);
    let moved = Instant::now();
    let switched = load.first("version 2", Duration::from_millis(POLL_MS) + COMPILE_BOUND).await;
    println!("tag move to first answer by v2: {} ms", switched.duration_since(moved).as_millis());
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The policy is the operator's, from the host's folder: a pin there refuses the registry's v1.
    std::fs::write(host.components_dir().join("versioned.toml"), format!("sha256 = \"{}\"\n", sha256(&v2)))
        .unwrap();
    registry.publish(REPOSITORY, "live", &v1, None);
    let entry =
        host.wait_for("versioned", Duration::from_secs(10), |c| c["refused"]["sha256"] == sha256(&v1)).await;
    assert!(entry["refused"]["error"].as_str().unwrap().contains("pins sha256"), "{entry}");
    assert_eq!(entry["serving"]["sha256"], sha256(&v2), "{entry:#}");

    let samples = load.stop().await;
    assert!(samples.len() > 100, "only {} calls", samples.len());
    assert_clean_swap(&samples, switched, "version 1", "version 2");
    println!("{} calls, none failed", samples.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_or_an_unknown_ca_are_reported_and_nothing_loads() {
    let registry = Registry::secure();
    let stranger = Registry::secure();
    registry.publish(REPOSITORY, "live", &v(1), None);
    let reference = format!("{}/{REPOSITORY}:live", registry.host());
    for (env, needle) in [
        (vec![("MCP_OCI_PASSWORD", "wrong".to_owned())], "not authorized"),
        (vec![("MCP_OCI_CA_FILE", path(&stranger.ca_file()))], "certificate"),
    ] {
        let host = host_for(&registry, &reference, &env);
        let status = host.status().await;
        let error = status["scan_error"].as_str().unwrap_or_default().to_lowercase();
        assert!(error.contains(&reference) && error.contains("failed attempt"), "{status:#}");
        assert!(error.contains(needle), "{needle}: {status:#}");
        assert!(status["components"]["versioned"]["serving"].is_null(), "{status:#}");
        println!("{needle}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_reference_never_moves() {
    let registry = Registry::plain();
    let digest = registry.publish(REPOSITORY, "live", &v(1), None);
    let host = host_for(&registry, &format!("{}/{REPOSITORY}@{digest}", registry.host()), &[]);
    assert_eq!(which(&host).await, "version 1");
    registry.publish(REPOSITORY, "live", &v(2), None);
    // Polls later (`last_scan` is in seconds: two of them are several polls), still the pinned version.
    let started = host.status().await["last_scan"].as_u64().unwrap();
    while host.status().await["last_scan"].as_u64().unwrap() < started + 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(which(&host).await, "version 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_keeps_the_version_serving_and_backs_off() {
    let mut registry = Registry::plain();
    registry.publish(REPOSITORY, "live", &v(1), None);
    let host = host_for(&registry, &format!("{}/{REPOSITORY}:live", registry.host()), &[]);
    assert_eq!(which(&host).await, "version 1");

    registry.stop();
    let mut delays = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while delays.len() < 3 {
        let status = host.status().await;
        if let Some(error) = status["scan_error"].as_str() {
            let next: u64 = error.rsplit("next in ").next().unwrap().trim_end_matches(" s)").parse().unwrap();
            if delays.last() != Some(&next) {
                delays.push(next);
            }
        }
        assert!(Instant::now() < deadline, "no growing back-off: {delays:?} {status:#}");
        assert_eq!(which(&host).await, "version 1");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(delays.windows(2).all(|w| w[0] < w[1]), "the retries do not back off: {delays:?}");
    println!("retry delays while down: {delays:?} s");
    let status = host.status().await;
    assert_eq!(status["components"]["versioned"]["serving"]["sha256"], sha256(&v(1)), "{status:#}");

    registry.resume();
    registry.publish(REPOSITORY, "live", &v(2), None);
    let limit = Duration::from_secs(delays.last().unwrap() * 2 + 2) + COMPILE_BOUND;
    host.wait_for("versioned", limit, |c| c["serving"]["sha256"] == sha256(&v(2))).await;
    assert!(host.status().await["scan_error"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_components_signed_by_a_trusted_key_load() {
    let registry = Registry::plain();
    let keys = tempfile::tempdir().unwrap();
    let (trusted, trusted_pub) = signing_key(keys.path(), "trusted");
    let (other, _) = signing_key(keys.path(), "other");
    let (v1, v2) = (v(1), v(2));
    let signed_v1 = registry.publish(REPOSITORY, "live", &v1, Some(&trusted));
    let reference = format!("{}/{REPOSITORY}:live", registry.host());
    let host = host_for(&registry, &reference, &[("MCP_OCI_VERIFY_KEYS", path(&trusted_pub))]);
    assert_eq!(which(&host).await, "version 1");
    let source = host.status().await["source"].as_str().unwrap().to_owned();
    assert!(source.ends_with("(signed only)"), "{source}");

    // Unsigned.
    let digest = registry.publish(REPOSITORY, "live", &v2, None);
    let entry = refused(&host, "not signed", &v1).await;
    assert!(entry["refused"]["error"].as_str().unwrap().contains(&digest), "{entry}");

    // Signed, by a key the host does not trust.
    registry.publish(REPOSITORY, "live", &v2, Some(&other));
    refused(&host, "not valid for any of the trusted keys", &v1).await;

    // Signed by the trusted key, then the layer changed in the registry's storage.
    let tampered = variant(&v2, b't');
    let staged = registry.publish(REPOSITORY, "staging", &tampered, Some(&trusted));
    registry.corrupt_blob(&format!("sha256:{}", sha256(&tampered)));
    registry.retag(REPOSITORY, "live", &staged);
    refused(&host, "does not match its digest", &v1).await;

    // A valid signature of another version, copied beside this one.
    let copied = variant(&v2, b'c');
    let unsigned = registry.publish(REPOSITORY, "staging", &copied, None);
    registry.retag(
        REPOSITORY,
        &format!("{}.sig", unsigned.replace(':', "-")),
        &signature_of(&registry, &signed_v1),
    );
    registry.retag(REPOSITORY, "live", &unsigned);
    refused(&host, &format!("the signature is for {signed_v1}"), &v1).await;
    assert_eq!(which(&host).await, "version 1");

    // Signed by the trusted key: it loads.
    registry.publish(REPOSITORY, "live", &v2, Some(&trusted));
    host.wait_for("versioned", Duration::from_secs(20), |c| c["serving"]["sha256"] == sha256(&v2)).await;
    assert_eq!(which(&host).await, "version 2");
}

/// The digest of the signature manifest cosign-tagged beside `digest`.
fn signature_of(registry: &Registry, digest: &str) -> String {
    registry.tag_target(REPOSITORY, &format!("{}.sig", digest.replace(':', "-")))
}

fn path(file: &Path) -> String {
    file.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_container_registry_with_the_managed_identity_and_no_keys() {
    let acr = FakeAcr::start().await;
    acr.publish(REPOSITORY, "live", &v(1));
    let reference = format!("{}/{REPOSITORY}:live", acr.host());
    let poll = POLL_MS.to_string();
    let args = ["--components-oci", reference.as_str(), "--poll-interval-ms", poll.as_str()];
    let start = |secret: &str| {
        let env = acr.identity_env(secret);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Host::start_with_env(&[], &args, &env)
    };

    // An identity the endpoint does not recognise: nothing loads, and /status says why.
    let host = start("not-the-secret");
    let status = host.status().await;
    let error = status["scan_error"].as_str().unwrap_or_default();
    assert!(error.contains("managed identity gave no token") && error.contains("400"), "{status:#}");
    assert!(status["components"]["versioned"]["serving"].is_null(), "{status:#}");
    drop(host);

    let host = start(IDENTITY_SECRET);
    assert_eq!(which(&host).await, "version 1");
    let status = host.status().await;
    assert!(status["source"].as_str().unwrap().contains("(managed identity)"), "{status}");
    assert!(status["scan_error"].is_null(), "{status}");
    // The flow ACR documents: an Entra token for the registry audience, exchanged for a
    // refresh token, which the token flow takes as the null-GUID user's password.
    let seen = acr.seen();
    let index = |route: &str, what: &str| {
        seen.iter()
            .position(|(r, w)| r == route && w == what)
            .unwrap_or_else(|| panic!("{route} {what}: {seen:?}"))
    };
    let identity = index("identity", &format!("https://containerregistry.azure.net {IDENTITY_SECRET}"));
    let exchange =
        index("exchange", &format!("access_token {} entra-token-for-containerregistry", acr.host()));
    let token = index("token", "00000000-0000-0000-0000-000000000000:acr-refresh-token");
    assert!(identity < exchange && exchange < token, "{seen:?}");

    // Later versions come through the same credentials, exchanged once.
    acr.publish(REPOSITORY, "live", &v(2));
    host.wait_for("versioned", Duration::from_secs(20), |c| c["serving"]["sha256"] == sha256(&v(2))).await;
    assert_eq!(which(&host).await, "version 2");
    let exchanges = acr.seen().iter().filter(|(route, _)| route == "exchange").count();
    assert_eq!(exchanges, 1, "{:?}", acr.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_over_the_size_limit_is_refused_unread() {
    let registry = Registry::plain();
    let v1 = v(1);
    registry.publish(REPOSITORY, "live", &v1, None);
    let host = host_for(&registry, &format!("{}/{REPOSITORY}:live", registry.host()), &[]);
    assert_eq!(which(&host).await, "version 1");
    // A well-formed Wasm component manifest, 2 MiB long by an annotation (the
    // registry itself serves manifests up to 4 MiB).
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.wasm.config.v0+json", "size": 2,
                   "digest": format!("sha256:{}", sha256(b"{}"))},
        "layers": [{"mediaType": "application/wasm", "size": v1.len(),
                    "digest": format!("sha256:{}", sha256(&v1))}],
        "annotations": {"padding": "x".repeat(2 << 20)},
    });
    registry.plant_manifest(REPOSITORY, "live", manifest.to_string().as_bytes());
    refused(&host, "the manifest is over 1048576 bytes", &v1).await;
    assert_eq!(which(&host).await, "version 1");
}
