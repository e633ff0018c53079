//! Azure Blob Storage, through `object_store`: the clients for the components
//! container (`sources/blob.rs`) and for the state many instances share
//! (`Shared`: session log levels and answers to input requests, see
//! `http/relay.rs`), built the same way from a container URL or a storage
//! connection string.
//!
//! Credentials, in order: a SAS in the URL or connection string, an account
//! key in the connection string, else whatever `AZURE_*` variables and the
//! Functions identity endpoint (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`,
//! `AZURE_CLIENT_ID` for a user-assigned identity) provide.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use object_store::azure::{AzureConfigKey, MicrosoftAzure, MicrosoftAzureBuilder};
use object_store::memory::InMemory;
use object_store::{ClientOptions, ObjectStore, RetryConfig};

/// A container client and how to name it in logs (never with its secrets).
pub struct Client {
    pub store: MicrosoftAzure,
    pub description: String,
}

/// `https://ACCOUNT.blob.core.windows.net/CONTAINER`, optionally with a SAS as
/// its query string.
pub fn from_url(url: &str, timeout: Duration) -> anyhow::Result<Client> {
    let (base, sas) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let mut builder = MicrosoftAzureBuilder::from_env().with_url(base);
    if let Some(sas) = sas {
        builder = builder.with_config(AzureConfigKey::SasKey, sas);
    }
    build(builder, false, timeout, format!("blob container {base}"))
}

/// A storage connection string (for development: Azurite, or an account key
/// or SAS), and the container's name.
pub fn from_connection_string(text: &str, container: &str, timeout: Duration) -> anyhow::Result<Client> {
    let mut fields = HashMap::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            bail!("the connection string has a part without '=' (expected Key=Value;...)");
        };
        fields.insert(key.to_ascii_lowercase(), value.to_owned());
    }
    let mut builder = MicrosoftAzureBuilder::new().with_container_name(container);
    if fields.get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        builder = builder.with_use_emulator(true);
    } else {
        let Some(account) = fields.get("accountname") else {
            bail!("the connection string has no AccountName");
        };
        builder = builder.with_account(account);
    }
    if let Some(endpoint) = fields.get("blobendpoint") {
        builder = builder.with_endpoint(endpoint.trim_end_matches('/').to_owned());
    }
    let plain_http = fields.get("blobendpoint").is_some_and(|e| e.starts_with("http://"));
    if let Some(key) = fields.get("accountkey") {
        builder = builder.with_access_key(key);
    }
    if let Some(sas) = fields.get("sharedaccesssignature") {
        builder = builder.with_config(AzureConfigKey::SasKey, sas.trim_start_matches('?'));
    }
    let endpoint = fields.get("blobendpoint").map_or("the account's endpoint", String::as_str);
    build(builder, plain_http, timeout, format!("blob container {container} at {endpoint}"))
}

/// `plain_http`: allow an `http://` endpoint (Azurite on loopback).
fn build(
    builder: MicrosoftAzureBuilder,
    plain_http: bool,
    timeout: Duration,
    description: String,
) -> anyhow::Result<Client> {
    let retry = RetryConfig { max_retries: 2, retry_timeout: timeout / 3, ..Default::default() };
    let options = ClientOptions::new()
        .with_allow_http(plain_http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(timeout);
    let store = builder
        .with_retry(retry)
        .with_client_options(options)
        .build()
        .with_context(|| format!("configuring the {description}"))?;
    Ok(Client { store, description })
}

/// Where the state lives that a request may need on whichever instance it
/// lands: a blob container all instances share, or this process's memory
/// when none is configured (one instance behaves exactly as before).
#[derive(Clone)]
pub struct Shared {
    pub store: Arc<dyn ObjectStore>,
    pub description: String,
    /// Names this process in the state it writes (which instance runs a task).
    pub instance: String,
    /// Whether other instances see this state.
    pub shared: bool,
}

/// How long one request to the shared state may take.
const STATE_TIMEOUT: Duration = Duration::from_secs(10);

impl Shared {
    pub fn local() -> Self {
        Self {
            store: Arc::new(InMemory::new()),
            description: "this instance's memory".into(),
            instance: instance(),
            shared: false,
        }
    }

    /// `--state-connection-string` (Azurite in the tests) or
    /// `--state-account-url` (the managed identity on Azure), and the container.
    pub fn open(
        connection_string: Option<&str>,
        account_url: Option<&str>,
        container: &str,
    ) -> anyhow::Result<Self> {
        let client = match (connection_string, account_url) {
            (Some(text), _) => from_connection_string(text, container, STATE_TIMEOUT)?,
            (None, Some(url)) => {
                let url = url.split('?').next().unwrap_or_default().trim_end_matches('/');
                if !url.starts_with("https://") {
                    bail!("the state account URL must be https://ACCOUNT.blob.core.windows.net");
                }
                from_url(&format!("{url}/{container}"), STATE_TIMEOUT)?
            }
            (None, None) => return Ok(Self::local()),
        };
        Ok(Self {
            store: Arc::new(client.store),
            description: client.description,
            instance: instance(),
            shared: true,
        })
    }
}

/// A random name for this process, different at every start.
fn instance() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    hex::encode(bytes)
}
