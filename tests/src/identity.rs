//! A stand-in for the app's managed identity as the host sees it: the
//! Functions identity endpoint (`IDENTITY_ENDPOINT`, checked against
//! `IDENTITY_HEADER`), which gives a token for the audience asked. `answer` is
//! the route itself, which the ACR stand-in serves beside its registry;
//! `IdentityEndpoint` serves it alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::issuer::now;

/// The identity endpoint's secret, as Functions sets `IDENTITY_HEADER`.
pub const IDENTITY_SECRET: &str = "identity-header-secret";
/// Where the endpoint answers.
pub const PATH: &str = "/msi/token";

/// The token the endpoint gives for `resource`, one per audience, named by its
/// host's first label (`https://monitor.azure.com`: `entra-token-for-monitor`).
pub fn token_for(resource: &str) -> String {
    let host = resource.trim_start_matches("https://");
    format!("entra-token-for-{}", host.split(['.', '/']).next().unwrap_or_default())
}

/// A request's query, decoded.
pub fn query(request: &Request<hyper::body::Incoming>) -> HashMap<String, String> {
    let query = request.uri().query().unwrap_or_default();
    url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// The endpoint's answer to a request that asked for `query` and presented
/// `secret`: a token for its `resource` when the secret and the Functions
/// `api-version` are right, 400 otherwise.
pub fn answer(query: &HashMap<String, String>, secret: &str) -> Response<Full<Bytes>> {
    let resource = query.get("resource").map(String::as_str).unwrap_or_default();
    if secret != IDENTITY_SECRET || query.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return reply(StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}));
    }
    reply(
        StatusCode::OK,
        json!({"access_token": token_for(resource), "expires_on": (now() + 3600).to_string()}),
    )
}

/// A JSON answer.
pub fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid response")
}

/// The identity endpoint on a loopback port of its own; records each
/// request's `resource` and secret.
pub struct IdentityEndpoint {
    url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl IdentityEndpoint {
    pub async fn start() -> IdentityEndpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("http://{}{PATH}", listener.local_addr().expect("bound"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        crate::fake::serve(listener, Default::default(), move |request: Request<hyper::body::Incoming>| {
            let record = record.clone();
            async move {
                let query = query(&request);
                let secret = request.headers().get("x-identity-header").and_then(|v| v.to_str().ok());
                let secret = secret.unwrap_or_default().to_owned();
                let resource = query.get("resource").cloned().unwrap_or_default();
                record.lock().expect("no panics while locked").push((resource, secret.clone()));
                answer(&query, &secret)
            }
        });
        IdentityEndpoint { url, seen }
    }

    /// `IDENTITY_ENDPOINT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many tokens it gave for `resource`.
    pub fn tokens_given(&self, resource: &str) -> usize {
        let seen = self.seen.lock().expect("no panics while locked");
        seen.iter().filter(|(asked, secret)| asked == resource && secret == IDENTITY_SECRET).count()
    }
}
