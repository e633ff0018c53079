//! Azure Container Registry with the app's managed identity, no keys: an Entra
//! token for the registry audience, from the Functions identity endpoint
//! (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`, as App Service sets them) or else the
//! instance metadata service, is exchanged at the registry's `/oauth2/exchange`
//! for a refresh token. The registry's own token flow then takes that as the
//! password of the null-GUID user, as `az acr login` does.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use oci_client::secrets::RegistryAuth;
use serde_json::Value;

/// The Entra audience of every Azure Container Registry.
const RESOURCE: &str = "https://containerregistry.azure.net";
/// The user ACR expects beside a refresh token.
const USER: &str = "00000000-0000-0000-0000-000000000000";
/// The instance metadata service, where there is no identity endpoint.
const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// The most an identity endpoint or a registry may answer: tokens are a few KB.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Refresh tokens last three hours; each is renewed well before.
const RENEW_AFTER: Duration = Duration::from_secs(60 * 60);

/// Where the managed identity's tokens come from.
pub struct Identity {
    /// The Functions / App Service endpoint and the secret header it expects.
    endpoint: Option<(String, String)>,
    /// A user-assigned identity's client id (`AZURE_CLIENT_ID`); else the system one.
    client_id: Option<String>,
}

impl Identity {
    pub fn from_env() -> Identity {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Identity {
            endpoint: var("IDENTITY_ENDPOINT").zip(var("IDENTITY_HEADER")),
            client_id: var("AZURE_CLIENT_ID"),
        }
    }
}

/// One registry's credentials from the identity, and when they were obtained.
pub struct Exchanged {
    pub auth: RegistryAuth,
    obtained: Instant,
}

impl Exchanged {
    pub fn fresh(&self) -> bool {
        self.obtained.elapsed() < RENEW_AFTER
    }
}

/// Registry credentials for `registry` (`host[:port]`), reached over `scheme`.
pub async fn exchange(
    http: &reqwest::Client,
    identity: &Identity,
    registry: &str,
    scheme: &str,
) -> anyhow::Result<Exchanged> {
    let entra = entra_token(http, identity).await.context("the managed identity gave no token")?;
    let form = [("grant_type", "access_token"), ("service", registry), ("access_token", entra.as_str())];
    let response = http.post(format!("{scheme}://{registry}/oauth2/exchange")).form(&form).send().await;
    let answer = read_json(response).await.with_context(|| format!("{registry}/oauth2/exchange"))?;
    let Some(refresh) = answer.get("refresh_token").and_then(Value::as_str) else {
        bail!("{registry}/oauth2/exchange answered no refresh_token");
    };
    Ok(Exchanged { auth: RegistryAuth::Basic(USER.to_owned(), refresh.to_owned()), obtained: Instant::now() })
}

async fn entra_token(http: &reqwest::Client, identity: &Identity) -> anyhow::Result<String> {
    let mut query = vec![("resource", RESOURCE)];
    query.extend(identity.client_id.as_deref().map(|id| ("client_id", id)));
    let request = match &identity.endpoint {
        Some((endpoint, secret)) => {
            query.push(("api-version", "2019-08-01"));
            http.get(endpoint).header("X-IDENTITY-HEADER", secret)
        }
        None => {
            query.push(("api-version", "2018-02-01"));
            http.get(IMDS).header("Metadata", "true")
        }
    };
    let answer = read_json(request.query(&query).send().await).await?;
    match answer.get("access_token").and_then(Value::as_str) {
        Some(token) => Ok(token.to_owned()),
        None => bail!("the identity endpoint answered no access_token"),
    }
}

/// A JSON answer of at most `MAX_ANSWER_BYTES`; any other status is an error
/// that quotes the start of the body (escaped: it is the remote's text).
async fn read_json(response: reqwest::Result<reqwest::Response>) -> anyhow::Result<Value> {
    let mut response = response?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            bail!("answered more than {MAX_ANSWER_BYTES} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        bail!("answered {status}: {}", text.escape_debug());
    }
    serde_json::from_slice(&body).context("the answer is not JSON")
}
