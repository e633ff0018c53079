//! The app's managed identity, no keys: Entra tokens for an audience from the
//! Functions identity endpoint (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`, as App
//! Service sets them) or else the instance metadata service. Used for Azure
//! Container Registry (`sources::acr`) and for OTLP export (`telemetry`).

use anyhow::{Context as _, bail};
use serde_json::Value;

/// The instance metadata service, where there is no identity endpoint.
const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// The most an identity endpoint (or a service it is exchanged at) may
/// answer: tokens are a few KB.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

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

    /// An Entra access token for `resource` (the audience, e.g.
    /// `https://monitor.azure.com`).
    pub async fn token(&self, http: &reqwest::Client, resource: &str) -> anyhow::Result<String> {
        let mut query = vec![("resource", resource)];
        query.extend(self.client_id.as_deref().map(|id| ("client_id", id)));
        let request = match &self.endpoint {
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
}

/// A JSON answer of at most `MAX_ANSWER_BYTES`; any other status is an error
/// that quotes the start of the body (escaped: it is the remote's text).
pub async fn read_json(response: reqwest::Result<reqwest::Response>) -> anyhow::Result<Value> {
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
