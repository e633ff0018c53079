//! Components in OCI registries, in the layout wkg and wassette use: an image
//! manifest whose config is `application/vnd.wasm.config.v0+json` and whose one
//! layer is the `application/wasm` component. Each reference names one
//! component, after its repository's last segment (`tools/weather` is `weather`).
//!
//! A tag is resolved to a digest at every poll (one HEAD request) and the
//! content fetched only when the digest moves; a digest reference is fetched
//! once and never changes. Sizes are checked against the manifest before
//! anything is downloaded, and the layer's sha256 against its digest. With
//! keys, a version loads only with a valid cosign signature of its manifest
//! digest. A registry that fails is retried with a growing delay, meanwhile the
//! last good version keeps serving. Credentials are anonymous, basic, or
//! exchanged from the app's managed identity (Azure Container Registry, `acr.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use futures::StreamExt as _;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use sha2::{Digest as _, Sha256};

use super::acr::{self, Exchanged};
use super::cosign::{self, Keys};
use super::{MAX_WASM_BYTES, component_name};
use crate::digest::Digest;
use crate::identity::Identity;

/// The config media type of a Wasm component artifact.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The media type of its one layer.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The media type of a Wasm component's manifest.
const OCI_IMAGE_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The largest manifest read (registries store up to 4 MiB; a component's or a
/// signature's is under 2 KiB).
const MAX_MANIFEST_BYTES: usize = 1024 * 1024;
/// Most signature layers looked at in one signature manifest.
const MAX_SIGNATURES: usize = 16;
/// How long one reference's check may take, every request included.
const CHECK_LIMIT: Duration = Duration::from_secs(60);
/// The longest wait between attempts at a failing registry.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Waits of every request to a registry or the identity endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const USER_AGENT: &str = concat!("mcp-host/", env!("CARGO_PKG_VERSION"));

/// How the host reaches registries (`MCP_OCI_*`).
pub struct Settings {
    /// Registries (`host[:port]`) reached over plain HTTP.
    pub insecure: Vec<String>,
    /// A PEM file of extra root certificates, trusted beside the system's.
    pub ca_file: Option<PathBuf>,
    /// Basic credentials, used as they are or for the registry's token flow.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Credentials from the app's managed identity (Azure Container Registry).
    pub managed_identity: bool,
    /// PEM public keys; with any, only signed components load.
    pub verify_keys: Vec<PathBuf>,
}

/// One wasm, as a registry holds it under one manifest digest.
#[derive(Clone)]
pub struct Pulled {
    pub manifest: String,
    pub wasm: Arc<[u8]>,
    pub digest: Digest,
}

/// Why a reference gives no new version this time.
enum Problem {
    /// The registry could not be read: retried later, with back-off.
    Unreachable(anyhow::Error),
    /// What it holds is refused (layout, size, digest, signature).
    Refused(String),
}

impl From<anyhow::Error> for Problem {
    fn from(error: anyhow::Error) -> Self {
        Problem::Unreachable(error)
    }
}

impl From<OciDistributionError> for Problem {
    fn from(error: OciDistributionError) -> Self {
        Problem::Unreachable(error.into())
    }
}

struct Tracked {
    reference: Reference,
    name: String,
    /// The last version that passed every check.
    good: Option<Pulled>,
    /// The last content downloaded, checked or not: a version signed after it
    /// was pushed is not downloaded again.
    fetched: Option<Pulled>,
    /// The manifest the last check was about.
    current: Option<String>,
    /// The last refusal, and of which manifest.
    refused: Option<(String, String)>,
    /// A manifest whose content was refused, and why: not downloaded again.
    bad: Option<(String, String)>,
    failures: u32,
    retry_at: Option<Instant>,
    outage: Option<String>,
}

/// How the host proves who it is to registries.
enum Credentials {
    /// Anonymous or basic, the same for every registry.
    Fixed(RegistryAuth),
    /// Exchanged per registry from the managed identity, renewed when old.
    Identity { identity: Identity, exchanged: HashMap<String, Exchanged> },
}

/// Plain HTTP requests of the host's own to registries and the identity
/// endpoint, where oci-client reads answers without a bound: the manifests and
/// ACR's token exchange.
struct Web {
    http: reqwest::Client,
    insecure: Vec<String>,
}

impl Web {
    fn new(settings: &Settings) -> anyhow::Result<Web> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT);
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path).with_context(|| format!("MCP_OCI_CA_FILE {}", path.display()))?;
            for certificate in reqwest::Certificate::from_pem_bundle(&pem).context("MCP_OCI_CA_FILE")? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder.build().context("configuring the registry client")?;
        Ok(Web { http, insecure: settings.insecure.clone() })
    }

    fn scheme(&self, registry: &str) -> &'static str {
        if self.insecure.iter().any(|host| host == registry) { "http" } else { "https" }
    }
}

impl Credentials {
    async fn for_registry(&mut self, web: &Web, registry: &str) -> anyhow::Result<RegistryAuth> {
        let (identity, exchanged) = match self {
            Credentials::Fixed(auth) => return Ok(auth.clone()),
            Credentials::Identity { identity, exchanged } => (identity, exchanged),
        };
        if let Some(current) = exchanged.get(registry).filter(|e| e.fresh()) {
            return Ok(current.auth.clone());
        }
        let fresh = acr::exchange(&web.http, identity, registry, web.scheme(registry)).await?;
        let auth = fresh.auth.clone();
        exchanged.insert(registry.to_owned(), fresh);
        Ok(auth)
    }

    /// After a failed check: the next one exchanges again (the token may be revoked).
    fn forget(&mut self, registry: &str) {
        if let Credentials::Identity { exchanged, .. } = self {
            exchanged.remove(registry);
        }
    }
}

pub struct Registries {
    client: Client,
    web: Web,
    credentials: Credentials,
    keys: Option<Keys>,
    tracked: Vec<Tracked>,
}

/// What one poll found: per component, the wasm or why not; and what could not be reached.
pub type Found = (Vec<(String, Result<Pulled, String>)>, Option<String>);

impl Registries {
    pub fn new(references: &[String], settings: &Settings) -> anyhow::Result<Self> {
        let mut tracked: Vec<Tracked> = Vec::new();
        for text in references {
            let reference: Reference = text.parse().with_context(|| {
                format!("OCI reference {text:?}: expected registry/repository[:tag|@sha256:digest]")
            })?;
            // Without a registry, the parser assumes Docker Hub: say where, always.
            anyhow::ensure!(
                text.starts_with(reference.registry()) || reference.registry() != "docker.io",
                "OCI reference {text:?}: name the registry (registry[:port]/repository[:tag])"
            );
            if let Some(digest) = reference.digest() {
                anyhow::ensure!(
                    digest.strip_prefix("sha256:").and_then(Digest::parse).is_some(),
                    "OCI reference {text:?}: only sha256 digests are accepted"
                );
            }
            let last = reference.repository().rsplit('/').next().unwrap_or_default();
            let name = component_name(&format!("{last}.wasm"), "wasm").ok_or_else(|| {
                anyhow!(
                    "OCI reference {text:?}: {last:?} is not a component name (letters, digits, '-', '_')"
                )
            })?;
            if let Some(other) = tracked.iter().find(|t| t.name == name) {
                bail!("OCI references {} and {text} both name the component {name}", other.reference);
            }
            tracked.push(Tracked {
                reference,
                name,
                good: None,
                fetched: None,
                current: None,
                refused: None,
                bad: None,
                failures: 0,
                retry_at: None,
                outage: None,
            });
        }
        let (client, auth) = connect(settings)?;
        let credentials = if settings.managed_identity {
            anyhow::ensure!(
                matches!(auth, RegistryAuth::Anonymous),
                "MCP_OCI_MANAGED_IDENTITY replaces MCP_OCI_USERNAME and MCP_OCI_PASSWORD: set one or the other"
            );
            Credentials::Identity { identity: Identity::from_env(), exchanged: HashMap::new() }
        } else {
            Credentials::Fixed(auth)
        };
        let keys = if settings.verify_keys.is_empty() {
            None
        } else {
            Some(Keys::load(&settings.verify_keys).context("MCP_OCI_VERIFY_KEYS")?)
        };
        Ok(Self { client, web: Web::new(settings)?, credentials, keys, tracked })
    }

    pub fn describe(&self) -> String {
        let refs: Vec<String> = self.tracked.iter().map(|t| t.reference.whole()).collect();
        let signed = if self.keys.is_some() { " (signed only)" } else { "" };
        let identity =
            if matches!(self.credentials, Credentials::Identity { .. }) { " (managed identity)" } else { "" };
        format!("OCI {}{signed}{identity}", refs.join(", "))
    }

    /// Checks every reference that is due, side by side.
    pub async fn scan(&mut self, interval: Duration) -> Found {
        let now = Instant::now();
        // Credentials first, once per registry; then the due references side by side.
        let mut auths = Vec::with_capacity(self.tracked.len());
        for tracked in &self.tracked {
            let due = tracked.retry_at.is_none_or(|at| at <= now);
            let registry = tracked.reference.resolve_registry();
            let auth = match due {
                true => Some(timed(self.credentials.for_registry(&self.web, registry)).await),
                false => None,
            };
            auths.push(auth);
        }
        let (client, web, keys) = (&self.client, &self.web, self.keys.as_ref());
        let checks = self.tracked.iter_mut().zip(auths).map(|(tracked, auth)| async move {
            let outcome = match auth {
                None => None,
                Some(Ok(auth)) => Some(timed(check(client, web, &auth, keys, tracked)).await),
                Some(Err(error)) => Some(Err(Problem::Unreachable(error))),
            };
            let failed = matches!(outcome, Some(Err(Problem::Unreachable(_))));
            if let Some(outcome) = outcome {
                tracked.settle(outcome, interval);
            }
            (tracked.state(), failed.then(|| tracked.reference.resolve_registry().to_owned()))
        });
        let states = futures::future::join_all(checks).await;
        let (states, failed): (Vec<_>, Vec<_>) = states.into_iter().unzip();
        for registry in failed.into_iter().flatten() {
            self.credentials.forget(&registry);
        }
        let mut found = Vec::new();
        let mut outages = Vec::new();
        for (name, state, outage) in states {
            found.push((name, state));
            outages.extend(outage);
        }
        (found, (!outages.is_empty()).then(|| outages.join("; ")))
    }
}

/// `work`, given at most `CHECK_LIMIT`.
async fn timed<T, E: From<anyhow::Error>>(work: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    tokio::time::timeout(CHECK_LIMIT, work)
        .await
        .unwrap_or_else(|_| Err(anyhow!("no answer within {} s", CHECK_LIMIT.as_secs()).into()))
}

/// A client for the registries `settings` describe, and its credentials.
pub fn connect(settings: &Settings) -> anyhow::Result<(Client, RegistryAuth)> {
    let mut extra_root_certificates = Vec::new();
    if let Some(path) = &settings.ca_file {
        let data = std::fs::read(path).with_context(|| format!("MCP_OCI_CA_FILE {}", path.display()))?;
        extra_root_certificates.push(Certificate { encoding: CertificateEncoding::Pem, data });
    }
    let config = ClientConfig {
        protocol: ClientProtocol::HttpsExcept(settings.insecure.clone()),
        extra_root_certificates,
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        user_agent: USER_AGENT,
        ..Default::default()
    };
    let client = Client::try_from(config).context("configuring the OCI client")?;
    let auth = match (&settings.username, &settings.password) {
        (Some(user), Some(password)) => RegistryAuth::Basic(user.clone(), password.clone()),
        (None, None) => RegistryAuth::Anonymous,
        _ => bail!("set both MCP_OCI_USERNAME and MCP_OCI_PASSWORD, or neither"),
    };
    Ok((client, auth))
}

impl Tracked {
    /// Takes in one check's outcome.
    fn settle(&mut self, outcome: Result<Pulled, Problem>, interval: Duration) {
        match outcome {
            Ok(pulled) => {
                if self.good.as_ref().is_none_or(|good| good.manifest != pulled.manifest) {
                    tracing::info!(reference = %self.reference, manifest = pulled.manifest, "new OCI version");
                }
                self.good = Some(pulled);
                self.refused = None;
                self.failures = 0;
                self.retry_at = None;
                self.outage = None;
            }
            Err(Problem::Refused(why)) => {
                self.failures = 0;
                self.retry_at = None;
                self.outage = None;
                self.refused = Some((self.current.clone().unwrap_or_default(), shorten(why)));
            }
            Err(Problem::Unreachable(error)) => {
                self.failures = self.failures.saturating_add(1);
                let delay =
                    interval.saturating_mul(1u32 << self.failures.min(10)).min(MAX_BACKOFF).max(interval);
                self.retry_at = Some(Instant::now() + delay);
                self.outage = Some(format!(
                    "{}: {} ({} failed attempt(s); next in {} s)",
                    self.reference,
                    shorten(format!("{error:#}")),
                    self.failures,
                    delay.as_secs()
                ));
            }
        }
    }

    /// The component as of now: the last good version serves through outages
    /// and refusals (which the swapper reports); without one, why not.
    fn state(&self) -> (String, Result<Pulled, String>, Option<String>) {
        let state = match (&self.refused, &self.good) {
            (Some((manifest, why)), _) => Err(format!("{}@{manifest}: {why}", self.reference)),
            (None, Some(good)) => Ok(good.clone()),
            (None, None) => {
                Err(self.outage.clone().unwrap_or_else(|| format!("{}: not read yet", self.reference)))
            }
        };
        (self.name.clone(), state, self.outage.clone())
    }
}

/// One reference: its digest now, and, if that moved, its content and signature.
async fn check(
    client: &Client,
    web: &Web,
    auth: &RegistryAuth,
    keys: Option<&Keys>,
    tracked: &mut Tracked,
) -> Result<Pulled, Problem> {
    let reference = &tracked.reference;
    let manifest = match reference.digest() {
        Some(digest) => digest.to_owned(),
        None => client.fetch_manifest_digest(reference, auth).await?,
    };
    tracked.current = Some(manifest.clone());
    if let Some(good) = tracked.good.as_ref().filter(|good| good.manifest == manifest) {
        return Ok(good.clone());
    }
    if let Some((_, why)) = tracked.bad.as_ref().filter(|(bad, _)| *bad == manifest) {
        return Err(Problem::Refused(why.clone()));
    }
    let pulled = match tracked.fetched.as_ref().filter(|f| f.manifest == manifest) {
        Some(fetched) => fetched.clone(),
        None => match fetch(client, web, auth, reference, &manifest).await {
            Ok(pulled) => {
                tracked.fetched = Some(pulled.clone());
                pulled
            }
            Err(Problem::Refused(why)) => {
                tracked.bad = Some((manifest, why.clone()));
                return Err(Problem::Refused(why));
            }
            Err(unreachable) => return Err(unreachable),
        },
    };
    if let Some(keys) = keys {
        verify(client, web, auth, keys, reference, &manifest).await?;
    }
    Ok(pulled)
}

/// The manifest `digest` of `reference` and its component, every size and digest checked.
async fn fetch(
    client: &Client,
    web: &Web,
    auth: &RegistryAuth,
    reference: &Reference,
    digest: &str,
) -> Result<Pulled, Problem> {
    let pinned = reference.clone_with_digest(digest.to_owned());
    let Some(manifest) = pull_manifest(client, web, auth, &pinned).await? else {
        return Err(Problem::Unreachable(anyhow!("the manifest {digest} is not there (any more)")));
    };
    let layer = wasm_layer(&manifest).map_err(Problem::Refused)?;
    let wasm = pull_bounded(client, &pinned, layer, MAX_WASM_BYTES).await?;
    let digest_now = Digest::of(&wasm);
    Ok(Pulled { manifest: digest.to_owned(), wasm: wasm.into(), digest: digest_now })
}

/// The image manifest `reference` names (`None` if there is none), read here
/// rather than by oci-client (which reads any length) so that its size is
/// bounded, and checked against the reference's digest if it has one;
/// oci-client does the registry's token flow.
async fn pull_manifest(
    client: &Client,
    web: &Web,
    auth: &RegistryAuth,
    reference: &Reference,
) -> Result<Option<OciImageManifest>, Problem> {
    let registry = reference.resolve_registry();
    let token = client.auth(reference, auth, RegistryOperation::Pull).await?;
    let name = reference.digest().or(reference.tag()).unwrap_or("latest");
    let url = format!("{}://{registry}/v2/{}/manifests/{name}", web.scheme(registry), reference.repository());
    let mut request = web.http.get(url).header(http::header::ACCEPT, OCI_IMAGE_MEDIA_TYPE);
    request = match (token, auth) {
        (Some(token), _) => request.bearer_auth(token),
        (None, RegistryAuth::Basic(user, password)) => request.basic_auth(user, Some(password)),
        (None, _) => request,
    };
    let mut response = request.send().await.map_err(anyhow::Error::from)?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !response.status().is_success() {
        return Err(Problem::Unreachable(anyhow!("the manifest {name}: HTTP {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(anyhow::Error::from)? {
        if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
            return Err(Problem::Refused(format!("the manifest is over {MAX_MANIFEST_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    if let Some(digest) = reference.digest()
        && format!("sha256:{}", hex::encode(Sha256::digest(&body))) != digest
    {
        return Err(Problem::Refused(format!("the manifest does not match its digest {digest}")));
    }
    let manifest = serde_json::from_slice(&body)
        .map_err(|e| Problem::Refused(format!("the manifest is not an OCI image manifest: {e}")))?;
    Ok(Some(manifest))
}

/// The one `application/wasm` layer of a Wasm component manifest.
fn wasm_layer(manifest: &OciImageManifest) -> Result<&OciDescriptor, String> {
    if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        return Err(format!(
            "the config is {:?}, not {WASM_CONFIG_MEDIA_TYPE} (not a Wasm component artifact)",
            manifest.config.media_type
        ));
    }
    let [layer] = manifest.layers.as_slice() else {
        return Err(format!("{} layers; a Wasm component artifact has one", manifest.layers.len()));
    };
    if layer.media_type != WASM_LAYER_MEDIA_TYPE {
        return Err(format!("the layer is {:?}, not {WASM_LAYER_MEDIA_TYPE}", layer.media_type));
    }
    Ok(layer)
}

/// A blob, refused by its declared size before any byte is read, cut off past
/// it, and checked against its sha256 digest.
async fn pull_bounded(
    client: &Client,
    reference: &Reference,
    layer: &OciDescriptor,
    limit: u64,
) -> Result<Vec<u8>, Problem> {
    let declared = u64::try_from(layer.size).unwrap_or(u64::MAX);
    if declared > limit {
        return Err(Problem::Refused(format!(
            "the layer is {} bytes; at most {limit} are accepted",
            layer.size
        )));
    }
    let Some(expected) = layer.digest.strip_prefix("sha256:").and_then(Digest::parse) else {
        return Err(Problem::Refused(format!("the layer's digest {:?} is not sha256", layer.digest)));
    };
    let mut stream = client.pull_blob_stream(reference, layer).await?;
    let mut bytes = Vec::with_capacity(declared as usize);
    let mut hash = Sha256::new();
    let mut failed = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            // The client's own digest check ends the stream with an error: judged below.
            Err(error) => {
                failed = Some(error);
                break;
            }
        };
        if (bytes.len() + chunk.len()) as u64 > declared {
            return Err(Problem::Refused(format!("the layer is larger than the {declared} bytes declared")));
        }
        hash.update(&chunk);
        bytes.extend_from_slice(&chunk);
    }
    let complete = bytes.len() as u64 == declared;
    if complete && Digest(hash.finalize().into()) != expected {
        return Err(Problem::Refused(format!("the layer does not match its digest {}", layer.digest)));
    }
    if let Some(error) = failed {
        return Err(Problem::Unreachable(anyhow!(error).context("downloading the layer")));
    }
    if !complete {
        return Err(Problem::Unreachable(anyhow!(
            "the layer ended after {} of {declared} bytes",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// A valid signature of `digest` by one of `keys`, in the cosign signature
/// manifest beside it; why not otherwise.
async fn verify(
    client: &Client,
    web: &Web,
    auth: &RegistryAuth,
    keys: &Keys,
    reference: &Reference,
    digest: &str,
) -> Result<(), Problem> {
    let tag = cosign::signature_tag(digest);
    let signatures =
        Reference::with_tag(reference.registry().to_owned(), reference.repository().to_owned(), tag.clone());
    let Some(manifest) = pull_manifest(client, web, auth, &signatures).await? else {
        return Err(Problem::Refused(format!("not signed (no {tag})")));
    };
    let mut reasons = Vec::new();
    for layer in
        manifest.layers.iter().filter(|l| l.media_type == cosign::PAYLOAD_MEDIA_TYPE).take(MAX_SIGNATURES)
    {
        let Some(signature) = layer.annotations.as_ref().and_then(|a| a.get(cosign::SIGNATURE_ANNOTATION))
        else {
            continue;
        };
        let payload = match pull_bounded(client, &signatures, layer, cosign::MAX_PAYLOAD_BYTES).await {
            Ok(payload) => payload,
            Err(Problem::Refused(why)) => {
                reasons.push(why);
                continue;
            }
            Err(unreachable) => return Err(unreachable),
        };
        match keys.verify(&payload, signature, digest) {
            Ok(()) => return Ok(()),
            Err(why) => reasons.push(why),
        }
    }
    if reasons.is_empty() {
        reasons.push(format!("{tag} holds no cosign signature"));
    }
    reasons.dedup();
    Err(Problem::Refused(format!("signature refused: {}", reasons.join("; "))))
}

/// What a registry said, cut to a length `/status` can carry.
fn shorten(mut text: String) -> String {
    const MAX: usize = 1024;
    if text.len() > MAX {
        let mut end = MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}
