//! Optional OAuth 2.1 resource server, as MCP's authorization spec asks: the
//! host publishes RFC 9728 Protected Resource Metadata, validates JWT access
//! tokens itself against the issuers' published keys, enforces the scopes
//! each tool declares, and hands a component only the claims its policy names.
//! Off by default; when off nothing here runs.

mod access;
mod challenge;
mod jwks;

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use clap::ValueEnum;
use http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use mcp_protocol::http::HttpResponse;
use mcp_protocol::jsonrpc::{Incoming, RpcError};
use mcp_protocol::{JsonObject, Op};
use serde_json::{Value, json};

use crate::sources::Catalog;
use crate::untrusted::Untrusted;
pub use access::Access;
use challenge::Refusal;
use jwks::{Jwks, Lookup};

/// Where RFC 9728 puts the metadata.
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";
/// Longest `Authorization` header considered.
const MAX_TOKEN_BYTES: usize = 16 << 10;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// No authentication: every tool is callable by anyone who reaches the host.
    #[default]
    None,
    /// OAuth 2.1 bearer tokens (JWT), validated by this host.
    Oauth,
}

#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// Authentication: `none`, or `oauth` (bearer tokens from the issuers below).
    #[arg(long = "auth", env = "MCP_AUTH", value_enum, default_value_t = Mode::None)]
    pub mode: Mode,

    /// Authorization servers whose tokens are accepted, by issuer identifier
    /// (the tokens' `iss`), comma-separated. Required for `oauth`.
    #[arg(long = "auth-issuers", env = "MCP_AUTH_ISSUERS", value_delimiter = ',')]
    pub issuers: Vec<String>,

    /// This server's resource identifier: the public URL of its MCP endpoint,
    /// e.g. `https://weather.example.com/mcp`. Required for `oauth`.
    #[arg(long = "auth-resource", env = "MCP_AUTH_RESOURCE")]
    pub resource: Option<String>,

    /// Accepted token audiences (`aud`), comma-separated. Default: the resource
    /// identifier. Microsoft Entra ID puts the API's application id here.
    #[arg(long = "auth-audiences", env = "MCP_AUTH_AUDIENCES", value_delimiter = ',')]
    pub audiences: Vec<String>,

    /// Scopes advertised in the metadata (`scopes_supported`), comma-separated.
    #[arg(long = "auth-scopes", env = "MCP_AUTH_SCOPES", value_delimiter = ',')]
    pub scopes: Vec<String>,

    /// What names this API's scopes at the authorization server, such as
    /// `api://<application id>/` for Microsoft Entra ID: added to every scope
    /// advertised (metadata and challenges), optional in tokens' scopes.
    #[arg(long = "auth-scope-prefix", env = "MCP_AUTH_SCOPE_PREFIX", default_value = "")]
    pub scope_prefix: String,

    /// The issuer's JWK Set URL, for a single issuer. Default: the `jwks_uri`
    /// of its OpenID Connect Discovery or RFC 8414 metadata.
    #[arg(long = "auth-jwks-url", env = "MCP_AUTH_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// How long the issuers' signing keys are used before they are fetched
    /// again, in seconds; meanwhile tokens are still checked with the old ones.
    #[arg(long = "auth-keys-ttl-secs", env = "MCP_AUTH_KEYS_TTL_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub keys_ttl_secs: u64,

    /// Clock skew tolerated when checking `exp` and `nbf`, in seconds.
    #[arg(long = "auth-leeway-secs", env = "MCP_AUTH_LEEWAY_SECS", default_value_t = 30)]
    pub leeway_secs: u64,
}

struct Issuer {
    name: String,
    jwks: Jwks,
}

/// The resource server, when OAuth is on.
pub struct Auth {
    issuers: Vec<Issuer>,
    audiences: Vec<String>,
    leeway: u64,
    scope_prefix: String,
    /// Where the metadata is: the URL challenges point to, and the paths served.
    metadata_url: String,
    metadata_paths: Vec<String>,
    metadata: Value,
}

/// A caller whose token passed validation. The token itself is not kept.
#[derive(Debug, Clone)]
pub struct Identity {
    claims: JsonObject,
    scopes: BTreeSet<String>,
}

impl Identity {
    /// Who the caller is: the token's issuer and subject.
    pub fn subject(&self) -> Option<(String, String)> {
        let claim = |name: &str| self.claims.get(name)?.as_str().map(str::to_owned);
        Some((claim("iss")?, claim("sub")?))
    }
}

impl Auth {
    /// The resource server the arguments configure; `None` for `none`.
    /// An incomplete or unsafe `oauth` configuration is refused.
    pub fn from_args(args: &AuthArgs) -> anyhow::Result<Option<Auth>> {
        if args.mode == Mode::None {
            return Ok(None);
        }
        let resource = args
            .resource
            .as_deref()
            .context("MCP_AUTH=oauth needs MCP_AUTH_RESOURCE, the public URL of /mcp")?;
        let uri = jwks::check_url(resource).context("MCP_AUTH_RESOURCE")?;
        ensure!(
            uri.query().is_none() && !resource.contains('#'),
            "MCP_AUTH_RESOURCE must have no query or fragment"
        );
        ensure!(
            !args.issuers.is_empty(),
            "MCP_AUTH=oauth needs MCP_AUTH_ISSUERS, the authorization server(s)"
        );
        for issuer in &args.issuers {
            jwks::check_url(issuer).with_context(|| format!("MCP_AUTH_ISSUERS entry {issuer:?}"))?;
        }
        if let Some(url) = &args.jwks_url {
            ensure!(args.issuers.len() == 1, "MCP_AUTH_JWKS_URL can only be used with a single issuer");
            jwks::check_url(url).context("MCP_AUTH_JWKS_URL")?;
        }
        ensure!(args.leeway_secs <= 300, "MCP_AUTH_LEEWAY_SECS must be at most 300");
        let qualified: Vec<String> =
            args.scopes.iter().map(|s| format!("{}{s}", args.scope_prefix)).collect();
        for scope in &qualified {
            Access::of(
                json!({ access::SECURITY_SCHEMES: [{ "type": "oauth2", "scopes": [scope] }] }).as_object(),
            )
            .with_context(|| format!("MCP_AUTH_SCOPES entry {scope:?} (with MCP_AUTH_SCOPE_PREFIX)"))?;
        }
        let origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("https"),
            uri.authority().map_or("", |a| a.as_str())
        );
        let path = uri.path().trim_end_matches('/');
        let mut metadata_paths = vec![WELL_KNOWN.to_owned()];
        if !path.is_empty() {
            metadata_paths.push(format!("{WELL_KNOWN}{path}"));
        }
        let mut metadata = json!({
            "resource": resource,
            "authorization_servers": args.issuers,
            "bearer_methods_supported": ["header"],
        });
        if !qualified.is_empty() {
            metadata["scopes_supported"] = json!(qualified);
        }
        let audiences =
            if args.audiences.is_empty() { vec![resource.to_owned()] } else { args.audiences.clone() };
        if audiences.iter().any(String::is_empty) {
            bail!("MCP_AUTH_AUDIENCES has an empty entry");
        }
        Ok(Some(Auth {
            issuers: args
                .issuers
                .iter()
                .map(|name| Issuer {
                    name: name.clone(),
                    jwks: Jwks::new(
                        name.clone(),
                        args.jwks_url.clone(),
                        std::time::Duration::from_secs(args.keys_ttl_secs),
                    ),
                })
                .collect(),
            audiences,
            leeway: args.leeway_secs,
            scope_prefix: args.scope_prefix.clone(),
            metadata_url: format!("{origin}{}", metadata_paths.last().expect("one path at least")),
            metadata_paths,
            metadata,
        }))
    }

    /// Reads each tool's access rule once, when the catalog is published (a
    /// tool with invalid schemes is refused to every caller, and logged), and
    /// lists its schemes as its top-level `securitySchemes` too, where the Apps
    /// SDK documents them.
    pub fn apply(&self, catalog: &mut Catalog) {
        let mut rules = HashMap::new();
        for tool in &mut catalog.tools {
            let name = tool["name"].as_str().unwrap_or_default().to_owned();
            let meta = tool.get("_meta").and_then(Value::as_object);
            let access = Access::of(meta).unwrap_or_else(|error| {
                let error = format!("{error:#}");
                tracing::error!(tool = %Untrusted(&name), error = %Untrusted(&error), "tool refused to every caller: its securitySchemes are invalid");
                Access::nobody()
            });
            if let Some(schemes) = meta.and_then(|m| m.get(access::SECURITY_SCHEMES)).cloned() {
                tool[access::SECURITY_SCHEMES] = schemes;
            }
            rules.insert(name, access);
        }
        catalog.extensions.insert(Rules(rules));
    }

    /// The caller behind the request's bearer token: `None` without one; a
    /// token that fails validation is refused whatever the request asks.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Identity>, Rejected> {
        let Some(value) = headers.get(http::header::AUTHORIZATION) else { return Ok(None) };
        let invalid = |why| Rejected::Invalid { why, metadata_url: self.metadata_url.clone() };
        let token = value
            .to_str()
            .ok()
            .filter(|v| v.len() <= MAX_TOKEN_BYTES)
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or_else(|| invalid("the Authorization header is not a Bearer token"))?;
        match self.validate(token).await {
            Ok(identity) => Ok(Some(identity)),
            Err(Failure::Invalid(why)) => {
                tracing::info!(why, "bearer token refused");
                Err(invalid(why))
            }
            Err(Failure::Unavailable(error)) => {
                tracing::warn!(error = %format!("{error:#}"), "a bearer token could not be checked");
                Err(Rejected::Unavailable)
            }
        }
    }

    async fn validate(&self, token: &str) -> Result<Identity, Failure> {
        // `alg: none` and unknown algorithms fail here: jsonwebtoken has no such algorithm.
        let header = decode_header(token).map_err(|_| Failure::Invalid("the token is not a signed JWT"))?;
        let claimed = unverified_issuer(token).ok_or(Failure::Invalid("the token has no issuer"))?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.name == claimed)
            .ok_or(Failure::Invalid("the token's issuer is not accepted"))?;
        let key = issuer.jwks.key(header.kid.as_deref()).await.map_err(|lookup| match lookup {
            Lookup::Unknown => Failure::Invalid("the token's signing key is unknown"),
            Lookup::Unavailable(error) => Failure::Unavailable(error),
        })?;
        // Only the key's own asymmetric algorithm: never HS*, never another family.
        if header.alg != key.algorithm {
            return Err(Failure::Invalid("the token's algorithm does not match its key"));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&issuer.name]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        let claims = decode::<JsonObject>(token, &key.key, &validation)
            .map_err(|e| {
                Failure::Invalid(match e.kind() {
                    ErrorKind::InvalidSignature => "the token's signature is invalid",
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::ImmatureSignature => "the token is not valid yet",
                    ErrorKind::InvalidAudience => "the token is meant for another audience",
                    ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                    ErrorKind::MissingRequiredClaim(_) => "the token lacks exp, iss or aud",
                    _ => "the token could not be validated",
                })
            })?
            .claims;
        let scopes = ["scope", "scp"]
            .iter()
            .filter_map(|name| claims.get(*name))
            .flat_map(|value| match value {
                Value::String(list) => list.split_whitespace().collect(),
                Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            })
            .map(|scope| scope.strip_prefix(self.scope_prefix.as_str()).unwrap_or(scope).to_owned())
            .collect();
        Ok(Identity { claims, scopes })
    }

    /// Refuses the request if it calls a tool this caller may not call.
    fn authorize(
        &self,
        identity: Option<&Identity>,
        messages: &[Incoming],
        catalog: &Catalog,
    ) -> Result<(), HttpResponse> {
        for incoming in messages {
            let Incoming::Message(message) = incoming else { continue };
            if message.method != "tools/call" {
                continue;
            }
            let Some(name) = message.params.get("name").and_then(Value::as_str) else { continue };
            // Unknown tools are answered as usual; no need to sign in for an error.
            let rules = catalog.extensions.get::<Rules>();
            let Some(access) = rules.and_then(|Rules(rules)| rules.get(name)) else { continue };
            if let Err(refusal) = access.check(identity.map(|i| &i.scopes)) {
                let refusal = refusal.qualified(&self.scope_prefix);
                tracing::info!(tool = %Untrusted(name), status = refusal.status(), "tool call refused");
                let id = message.id.as_ref().unwrap_or(&Value::Null);
                return Err(refusal.response(&self.metadata_url, id, true));
            }
        }
        Ok(())
    }
}

/// Who may call each tool of a catalog, read by [`Auth::apply`] at publish.
#[derive(Clone)]
struct Rules(HashMap<String, Access>);

/// A request whose bearer token was refused; answered once its body is read,
/// so that the answer carries the request's id.
#[derive(Debug)]
pub enum Rejected {
    /// The token failed validation.
    Invalid { why: &'static str, metadata_url: String },
    /// The issuer's keys could not be fetched: the token may well be good.
    Unavailable,
}

impl Rejected {
    /// The answer to the request's `messages` (none for a batch, a GET or a
    /// DELETE): a single tools/call is answered with the refused-call result,
    /// any other single request with a JSON-RPC error, both with its id.
    pub fn response(&self, messages: &[Incoming]) -> HttpResponse {
        let (id, call) = match messages {
            [Incoming::Message(message)] => {
                (message.id.clone().unwrap_or(Value::Null), message.method == "tools/call")
            }
            _ => (Value::Null, false),
        };
        match self {
            Rejected::Invalid { why, metadata_url } => {
                Refusal::InvalidToken(why).response(metadata_url, &id, call)
            }
            Rejected::Unavailable => {
                let error = RpcError::new(
                    -32000,
                    "The server cannot check access tokens right now; try again shortly.",
                );
                HttpResponse::json(503, &mcp_protocol::jsonrpc::failure(&id, &error))
                    .with_header("retry-after", "30")
            }
        }
    }
}

enum Failure {
    Invalid(&'static str),
    Unavailable(anyhow::Error),
}

/// The `iss` of a token's payload, read before its signature is checked only
/// to pick whose keys check it.
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: JsonObject = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// The caller of a request to `/mcp` (`Ok(None)`: anonymous, or auth is off),
/// or the answer that refuses it.
pub async fn authenticate(auth: Option<&Auth>, headers: &HeaderMap) -> Result<Option<Identity>, Rejected> {
    match auth {
        Some(auth) => auth.authenticate(headers).await,
        None => Ok(None),
    }
}

/// Refuses calls to tools the caller may not use (nothing when auth is off).
pub fn authorize(
    auth: Option<&Auth>,
    identity: Option<&Identity>,
    messages: &[Incoming],
    catalog: &Catalog,
) -> Result<(), HttpResponse> {
    auth.map_or(Ok(()), |auth| auth.authorize(identity, messages, catalog))
}

/// Gives a tool call the claims the owning component's policy lets it see.
pub fn pass_on(op: &mut Op, catalog: &Catalog, identity: Option<&Identity>) {
    let (Op::CallTool(request), Some(identity)) = (op, identity) else { return };
    let Some(owner) = catalog.tool_owner(&request.name) else { return };
    let wanted = &owner.policy.identity_claims;
    if wanted.is_empty() {
        return;
    }
    let claims: JsonObject =
        wanted.iter().filter_map(|name| Some((name.clone(), identity.claims.get(name)?.clone()))).collect();
    request.identity = Some(claims);
}

/// `GET /.well-known/oauth-protected-resource[/path]`: the metadata, or 404
/// when OAuth is off.
pub fn metadata(auth: Option<&Auth>, path: &str, method: &http::Method) -> HttpResponse {
    let Some(auth) = auth.filter(|a| a.metadata_paths.iter().any(|p| p == path)) else {
        return HttpResponse::empty(404);
    };
    match *method {
        http::Method::GET | http::Method::HEAD => HttpResponse::json(200, &auth.metadata)
            // Public metadata: browser-based clients fetch it from other origins.
            .with_header("access-control-allow-origin", "*")
            .with_header("cache-control", "public, max-age=3600"),
        http::Method::OPTIONS => HttpResponse::empty(204)
            .with_header("access-control-allow-origin", "*")
            .with_header("access-control-allow-methods", "GET, HEAD, OPTIONS"),
        _ => HttpResponse::empty(405).with_header("allow", "GET, HEAD, OPTIONS"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        auth: AuthArgs,
    }

    fn configure(args: &[&str]) -> anyhow::Result<Option<Auth>> {
        let cli = Cli::try_parse_from(std::iter::once("mcp-host").chain(args.iter().copied()))?;
        Auth::from_args(&cli.auth)
    }

    #[test]
    fn off_by_default() {
        assert!(configure(&[]).unwrap().is_none());
    }

    #[test]
    fn incomplete_or_unsafe_configurations_are_refused() {
        let resource = "--auth-resource=https://mcp.example.com/mcp";
        let issuer = "--auth-issuers=https://id.example.com";
        for (args, needle) in [
            (vec!["--auth=oauth", issuer], "MCP_AUTH_RESOURCE"),
            (vec!["--auth=oauth", resource], "MCP_AUTH_ISSUERS"),
            (vec!["--auth=oauth", resource, "--auth-issuers=http://id.example.com"], "https"),
            (vec!["--auth=oauth", "--auth-resource=http://mcp.example.com/mcp", issuer], "https"),
            (
                vec![
                    "--auth=oauth",
                    resource,
                    "--auth-issuers=https://a.example,https://b.example",
                    "--auth-jwks-url=https://a.example/k",
                ],
                "single issuer",
            ),
            (vec!["--auth=oauth", resource, issuer, "--auth-scopes=bad scope"], "MCP_AUTH_SCOPES"),
        ] {
            let error = configure(&args).err().unwrap_or_else(|| panic!("{args:?} accepted"));
            assert!(format!("{error:#}").contains(needle), "{args:?}: {error:#}");
        }
    }

    #[test]
    fn metadata_names_the_resource_its_issuers_and_scopes() {
        let auth = configure(&[
            "--auth=oauth",
            "--auth-resource=https://mcp.example.com/mcp",
            "--auth-issuers=https://id.example.com",
            "--auth-scopes=weather.read,profile",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(auth.metadata_url, "https://mcp.example.com/.well-known/oauth-protected-resource/mcp");
        assert_eq!(auth.audiences, ["https://mcp.example.com/mcp"]);
        for path in [WELL_KNOWN, "/.well-known/oauth-protected-resource/mcp"] {
            let response = metadata(Some(&auth), path, &http::Method::GET);
            assert_eq!(response.status, 200, "{path}");
            let document: Value = serde_json::from_slice(&response.body).unwrap();
            assert_eq!(
                document,
                json!({
                    "resource": "https://mcp.example.com/mcp",
                    "authorization_servers": ["https://id.example.com"],
                    "scopes_supported": ["weather.read", "profile"],
                    "bearer_methods_supported": ["header"],
                })
            );
        }
        assert_eq!(
            metadata(Some(&auth), "/.well-known/oauth-protected-resource/other", &http::Method::GET).status,
            404
        );
        assert_eq!(metadata(Some(&auth), WELL_KNOWN, &http::Method::POST).status, 405);
        assert_eq!(metadata(None, WELL_KNOWN, &http::Method::GET).status, 404);
    }

    #[test]
    fn reads_the_issuer_before_verifying() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"iss":"https://id.example.com"}"#);
        assert_eq!(
            unverified_issuer(&format!("e30.{payload}.sig")).as_deref(),
            Some("https://id.example.com")
        );
        assert_eq!(unverified_issuer("e30.bm90IGpzb24.sig"), None);
        assert_eq!(unverified_issuer("nodots"), None);
    }
}
