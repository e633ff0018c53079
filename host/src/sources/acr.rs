//! Azure Container Registry with the app's managed identity, no keys: an Entra
//! token for the registry audience (`crate::identity`) is exchanged at the
//! registry's `/oauth2/exchange` for a refresh token. The registry's own token flow then takes that as the
//! password of the null-GUID user, as `az acr login` does.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use oci_client::secrets::RegistryAuth;
use serde_json::Value;

use crate::identity::{self, Identity};

/// The Entra audience of every Azure Container Registry.
const RESOURCE: &str = "https://containerregistry.azure.net";
/// The user ACR expects beside a refresh token.
const USER: &str = "00000000-0000-0000-0000-000000000000";
/// Refresh tokens last three hours; each is renewed well before.
const RENEW_AFTER: Duration = Duration::from_secs(60 * 60);

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
    let entra = identity.token(http, RESOURCE).await.context("the managed identity gave no token")?;
    let form = [("grant_type", "access_token"), ("service", registry), ("access_token", entra.as_str())];
    let response = http.post(format!("{scheme}://{registry}/oauth2/exchange")).form(&form).send().await;
    let answer =
        identity::read_json(response).await.with_context(|| format!("{registry}/oauth2/exchange"))?;
    let Some(refresh) = answer.get("refresh_token").and_then(Value::as_str) else {
        bail!("{registry}/oauth2/exchange answered no refresh_token");
    };
    Ok(Exchanged { auth: RegistryAuth::Basic(USER.to_owned(), refresh.to_owned()), obtained: Instant::now() })
}
