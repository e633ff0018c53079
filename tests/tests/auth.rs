//! OAuth: the real host as a resource server for a local issuer on loopback.
//! Metadata at both well-known paths, public tools without a token, every
//! rejection with its exact status and challenge, the claims a component
//! sees, the key refresh on an unknown key id and in the background, request
//! state bound to its caller, and nothing of this when off.

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_e2e::fake;
use mcp_e2e::harness::{Host, Reply, host_bin, weather_policy, weather_wasm, whoami_wasm};
use mcp_e2e::issuer::{Issuer, SigningKey, now};
use serde_json::{Value, json};

const RESOURCE: &str = "https://weather.example.test/mcp";
const METADATA: &str = "https://weather.example.test/.well-known/oauth-protected-resource/mcp";

fn start(issuer: &Issuer) -> Host {
    start_with(issuer, &[])
}

fn start_with(issuer: &Issuer, extra_env: &[(&str, &str)]) -> Host {
    let api = fake::shared().url();
    let whoami_policy = "[identity]\nclaims = [\"sub\", \"scope\"]\n";
    let components = [
        ("weather", &*weather_wasm(), weather_policy(&api)),
        ("whoami", &*whoami_wasm(), whoami_policy.into()),
    ];
    let components: Vec<_> = components.iter().map(|(n, w, p)| (*n, *w, p.as_str())).collect();
    let issuers = issuer.url();
    let mut env = vec![
        ("MCP_AUTH", "oauth"),
        ("MCP_AUTH_ISSUERS", issuers.as_str()),
        ("MCP_AUTH_RESOURCE", RESOURCE),
        ("MCP_AUTH_SCOPES", "profile.read"),
    ];
    env.extend_from_slice(extra_env);
    Host::start_with_env(&components, &[], &env)
}

async fn call(host: &Host, tool: &str, token: Option<&str>) -> Reply {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("authorization", b.as_str())).collect();
    let body = json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":tool,"arguments":{}}});
    host.post(&body, &headers).await
}

/// A refused tool call (`call`'s, id 9): its status and exact challenge, and
/// the refused-call result with the request's id, the challenge in `_meta`.
fn assert_refused(reply: &Reply, status: u16, challenge: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.header("www-authenticate"), Some(challenge), "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["id"], 9, "{body}");
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert_eq!(body["result"]["_meta"]["mcp/www_authenticate"], json!([challenge]), "{body}");
}

fn invalid_token(why: &str) -> String {
    format!("Bearer error=\"invalid_token\", error_description=\"{why}\", resource_metadata=\"{METADATA}\"")
}

/// What the tool saw of its caller.
fn identity(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_ne!(body["result"]["isError"], true, "{body}");
    body["result"]["structuredContent"]["identity"].clone()
}

#[tokio::test]
async fn publishes_metadata_and_keeps_public_tools_open() {
    let issuer = Issuer::start().await;
    let host = start(&issuer);
    let expected = json!({
        "resource": RESOURCE,
        "authorization_servers": [issuer.url()],
        "scopes_supported": ["profile.read"],
        "bearer_methods_supported": ["header"],
    });
    for path in ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"] {
        let reply = host.send("GET", path, &[], "").await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.json(), expected, "{path}");
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    }
    assert_eq!(host.send("GET", "/.well-known/oauth-protected-resource/other", &[], "").await.status, 404);

    // Initialize and the lists need no token; the lists show each tool's schemes.
    let init = host
        .rpc(
            "initialize",
            json!({"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}),
        )
        .await;
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    let tools = host.rpc("tools/list", json!({})).await;
    let tools = tools["result"]["tools"].as_array().expect("a tool list").clone();
    let schemes =
        |name: &str| tools.iter().find(|t| t["name"] == name).expect(name)["securitySchemes"].clone();
    assert_eq!(schemes("whoami"), json!([{"type":"oauth2","scopes":["profile.read"]}]));
    assert_eq!(schemes("whoami_public"), json!([{"type":"noauth"}]));
    assert_eq!(schemes("get_current_weather"), json!([{"type":"noauth"}]));
    assert_eq!(schemes("whoami_signed_in"), Value::Null, "nothing declared, nothing listed");

    // Public tools answer without a token, and see no identity.
    assert_eq!(identity(&call(&host, "whoami_public", None).await), Value::Null);
    let weather = host.call_weather(52.52, 13.41).await;
    assert_eq!(weather["structuredContent"]["current"]["temperature"], 6.3, "{weather}");
    assert_eq!(issuer.jwks_fetches(), 0, "no token, no keys needed");
}

#[tokio::test]
async fn refuses_every_bad_or_missing_token_with_its_challenge() {
    let issuer = Issuer::start().await;
    let host = start(&issuer);
    let valid = |changes: Value| {
        let mut claims = issuer.claims(RESOURCE, "profile.read");
        for (name, value) in changes.as_object().expect("an object") {
            match value {
                Value::Null => drop(claims.as_object_mut().expect("an object").remove(name)),
                value => claims[name] = value.clone(),
            }
        }
        claims
    };

    // No token for a tool that needs a scope, and for one that declares nothing.
    let reply = call(&host, "whoami", None).await;
    assert_refused(&reply, 401, &format!("Bearer scope=\"profile.read\", resource_metadata=\"{METADATA}\""));
    let reply = call(&host, "whoami_signed_in", None).await;
    assert_refused(&reply, 401, &format!("Bearer resource_metadata=\"{METADATA}\""));

    // A valid token without the scope.
    let token = issuer.key.sign(&valid(json!({"scope": "email"})));
    let reply = call(&host, "whoami", Some(&token)).await;
    assert_refused(
        &reply,
        403,
        &format!(
            "Bearer error=\"insufficient_scope\", scope=\"profile.read\", resource_metadata=\"{METADATA}\""
        ),
    );

    let forged = SigningKey::generate(&issuer.key.kid);
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(valid(json!({})).to_string());
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some(issuer.key.kid.clone());
    let hs256 =
        jsonwebtoken::encode(&hs256, &valid(json!({})), &EncodingKey::from_secret(b"guessable")).unwrap();
    let cases = [
        ("expired", issuer.key.sign(&valid(json!({"exp": now() - 120}))), "the token has expired"),
        ("not yet valid", issuer.key.sign(&valid(json!({"nbf": now() + 120}))), "the token is not valid yet"),
        (
            "wrong audience",
            issuer.key.sign(&valid(json!({"aud": "https://other.example.test/mcp"}))),
            "the token is meant for another audience",
        ),
        (
            "wrong issuer",
            issuer.key.sign(&valid(json!({"iss": "https://evil.example.test"}))),
            "the token's issuer is not accepted",
        ),
        ("bad signature", forged.sign(&valid(json!({}))), "the token's signature is invalid"),
        ("alg none", format!("{header}.{payload}."), "the token is not a signed JWT"),
        ("HS256 on an EC key", hs256, "the token's algorithm does not match its key"),
        ("no exp", issuer.key.sign(&valid(json!({"exp": null}))), "the token lacks exp, iss or aud"),
        ("not a JWT", "opaque-token".into(), "the token is not a signed JWT"),
    ];
    for (case, token, why) in cases {
        // Invalid is invalid whatever is asked, even a public tool or a list.
        for tool in ["whoami", "whoami_public"] {
            let reply = call(&host, tool, Some(&token)).await;
            assert_eq!(reply.status, 401, "{case} / {tool}: {}", reply.body);
            assert_refused(&reply, 401, &invalid_token(why));
        }
    }
    // Any other request gets a JSON-RPC error, with its id too.
    let reply = host
        .post(
            &json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
            &[("authorization", "Basic dXNlcjpwdw==")],
        )
        .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    let challenge = invalid_token("the Authorization header is not a Bearer token");
    assert_eq!(reply.header("www-authenticate"), Some(challenge.as_str()));
    assert_eq!(
        (reply.json()["id"].clone(), reply.json()["error"]["code"].clone()),
        (json!(1), json!(-32001))
    );
    host.logged("bearer token refused");
}

#[tokio::test]
async fn a_valid_token_reaches_the_tool_as_the_claims_its_policy_names() {
    let issuer = Issuer::start().await;
    let host = start(&issuer);
    let token = issuer.key.sign(&issuer.claims(RESOURCE, "profile.read email"));
    let seen = identity(&call(&host, "whoami", Some(&token)).await);
    // `email` is in the token but not in the policy; the token itself never reaches the tool.
    assert_eq!(seen, json!({"sub": "user-42", "scope": "profile.read email"}));
    assert_eq!(identity(&call(&host, "whoami_signed_in", Some(&token)).await), seen);
    assert_eq!(
        identity(&call(&host, "whoami_public", Some(&token)).await),
        seen,
        "signed in on a public tool"
    );
    // Microsoft Entra ID puts the scopes in `scp`.
    let scp = issuer.key.sign(&{
        let mut claims = issuer.claims(RESOURCE, "");
        claims["scp"] = json!("profile.read");
        claims
    });
    assert_eq!(call(&host, "whoami", Some(&scp)).await.status, 200);
    assert_eq!(issuer.jwks_fetches(), 1, "keys are cached");
}

#[tokio::test]
async fn an_unknown_key_id_refreshes_the_keys_once() {
    let issuer = Issuer::start().await;
    let host = start(&issuer);
    let claims = issuer.claims(RESOURCE, "profile.read");
    assert_eq!(call(&host, "whoami", Some(&issuer.key.sign(&claims))).await.status, 200);
    assert_eq!(issuer.jwks_fetches(), 1);

    // The issuer rotates to a new key: the first token naming it makes the host look again.
    let rotated = SigningKey::generate("key-2");
    issuer.publish(&rotated);
    assert_eq!(identity(&call(&host, "whoami", Some(&rotated.sign(&claims))).await)["sub"], "user-42");
    assert_eq!(issuer.jwks_fetches(), 2);

    // Made-up key ids right after do not make it fetch again.
    for kid in ["key-3", "key-4", "key-5"] {
        let reply = call(&host, "whoami", Some(&SigningKey::generate(kid).sign(&claims))).await;
        assert_refused(&reply, 401, &invalid_token("the token's signing key is unknown"));
    }
    assert_eq!(issuer.jwks_fetches(), 2, "at most one refresh per interval");
    assert_eq!(call(&host, "whoami", Some(&issuer.key.sign(&claims))).await.status, 200);
}

#[tokio::test]
async fn stale_keys_are_refreshed_in_the_background() {
    let issuer = Issuer::start().await;
    let host = start_with(&issuer, &[("MCP_AUTH_KEYS_TTL_SECS", "1")]);
    let token = issuer.key.sign(&issuer.claims(RESOURCE, "profile.read"));
    assert_eq!(call(&host, "whoami", Some(&token)).await.status, 200);
    assert_eq!(issuer.jwks_fetches(), 1);

    // The keys outlive their 1 s; the issuer now takes 3 s to answer.
    issuer.delay_jwks(Duration::from_secs(3));
    // The scenario: the keys' time to live runs out.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(call(&host, "whoami", Some(&token)).await.status, 200);
        assert!(started.elapsed() < Duration::from_secs(1), "waited {:?} on the refresh", started.elapsed());
    }
    // One refresh, in the background, however many requests saw stale keys.
    let deadline = Instant::now() + Duration::from_secs(5);
    while issuer.jwks_fetches() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(issuer.jwks_fetches(), 2);
}

/// Known to the test, so that it can seal states as the host does.
const SESSION_KEY: &str = "an-e2e-session-key-of-at-least-32-chars";

fn ask_modern(extra: Value) -> Value {
    let mut params = json!({"name":"whoami_ask","arguments":{"count":1},"_meta":{
        "io.modelcontextprotocol/protocolVersion":"2026-07-28",
        "io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}});
    for (name, value) in extra.as_object().expect("an object") {
        params[name] = value.clone();
    }
    json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":params})
}

async fn post_modern(host: &Host, body: &Value, token: Option<&str>) -> Value {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "whoami_ask"),
    ];
    headers.extend(bearer.iter().map(|b| ("authorization", b.as_str())));
    host.post(body, &headers).await.json()
}

fn hmac(data: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SESSION_KEY.as_bytes());
    ring::hmac::sign(&key, data).as_ref()[..16].to_vec()
}

/// A state sealed as the host seals it (format `v1`) for `whoami_ask`,
/// `subject` of `issuer`, no session, expiring at `expires`.
fn seal(expires: i64, issuer: &str, subject: &str, state: &str) -> String {
    let payload = [&(expires as u64).to_be_bytes()[..], state.as_bytes()].concat();
    let fields: [&[u8]; 7] =
        [b"v1", b"whoami_ask", &[1], issuer.as_bytes(), subject.as_bytes(), b"", &payload];
    let mut signed = b"request-state\0".to_vec();
    for field in fields {
        signed.extend_from_slice(&(field.len() as u64).to_be_bytes());
        signed.extend_from_slice(field);
    }
    format!("v1.{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(hmac(&signed)))
}

#[tokio::test]
async fn request_state_is_bound_to_its_caller_and_expires() {
    let issuer = Issuer::start().await;
    let host = start_with(&issuer, &[("MCP_SESSION_KEY", SESSION_KEY)]);
    let alice = issuer.key.sign(&issuer.claims(RESOURCE, "profile.read"));
    let mut claims = issuer.claims(RESOURCE, "profile.read");
    claims["sub"] = json!("user-43");
    let bob = issuer.key.sign(&claims);

    let asked = post_modern(&host, &ask_modern(json!({})), Some(&alice)).await;
    assert_eq!(asked["result"]["resultType"], "input_required", "{asked}");
    let state = asked["result"]["requestState"].as_str().expect("a request state").to_owned();
    let retry = |state: &str| {
        ask_modern(json!({"inputResponses":{"q0":{"action":"accept","content":{}}},"requestState":state}))
    };
    let done = post_modern(&host, &retry(&state), Some(&alice)).await;
    assert_eq!(done["result"]["structuredContent"]["state"], "whoami-state", "{done}");

    // Replayed by another caller, or by no one in particular: refused.
    for token in [Some(bob.as_str()), None] {
        let refused = post_modern(&host, &retry(&state), token).await;
        assert_eq!((refused["id"].clone(), refused["error"]["code"].clone()), (json!(9), json!(-32602)));
    }

    // States sealed with the host's key: in time, accepted; expired, refused.
    let fresh = seal(now() + 60, &issuer.url(), "user-42", "whoami-state");
    let done = post_modern(&host, &retry(&fresh), Some(&alice)).await;
    assert_eq!(done["result"]["structuredContent"]["state"], "whoami-state", "{done}");
    let expired = seal(now() - 1, &issuer.url(), "user-42", "whoami-state");
    let refused = post_modern(&host, &retry(&expired), Some(&alice)).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("expired"), "{refused}");

    // The format before versions (state and tag over the tool name only) is refused.
    let old_tag = hmac(b"request-state\0whoami_ask\0whoami-state");
    let old = format!("{}.{}", URL_SAFE_NO_PAD.encode("whoami-state"), URL_SAFE_NO_PAD.encode(old_tag));
    let refused = post_modern(&host, &retry(&old), Some(&alice)).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
}

#[tokio::test]
async fn entra_style_audience_and_qualified_scopes() {
    let issuer = Issuer::start().await;
    let client_id = "6e1f2b0c-3a5d-4c7e-9f10-2b3c4d5e6f70";
    let prefix = format!("api://{client_id}/");
    let host =
        start_with(&issuer, &[("MCP_AUTH_AUDIENCES", client_id), ("MCP_AUTH_SCOPE_PREFIX", prefix.as_str())]);
    let qualified = format!("{prefix}profile.read");
    let metadata = host.send("GET", "/.well-known/oauth-protected-resource/mcp", &[], "").await.json();
    assert_eq!(metadata["scopes_supported"], json!([qualified]));
    let reply = call(&host, "whoami", None).await;
    assert_refused(&reply, 401, &format!("Bearer scope=\"{qualified}\", resource_metadata=\"{METADATA}\""));

    // Entra ID v2 tokens: `aud` is the application id, `scp` the scopes without the prefix.
    let mut claims = issuer.claims(client_id, "");
    claims["scp"] = json!("profile.read");
    assert_eq!(identity(&call(&host, "whoami", Some(&issuer.key.sign(&claims))).await)["sub"], "user-42");
    claims["scp"] = json!("other");
    let reply = call(&host, "whoami", Some(&issuer.key.sign(&claims))).await;
    assert_refused(
        &reply,
        403,
        &format!(
            "Bearer error=\"insufficient_scope\", scope=\"{qualified}\", resource_metadata=\"{METADATA}\""
        ),
    );
    // The resource identifier is no longer an accepted audience.
    let reply = call(&host, "whoami", Some(&issuer.key.sign(&issuer.claims(RESOURCE, "profile.read")))).await;
    assert_refused(&reply, 401, &invalid_token("the token is meant for another audience"));
}

#[tokio::test]
async fn an_unreachable_issuer_makes_tokens_wait_not_fail() {
    // A port nothing listens on: the keys cannot be fetched.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let issuer = format!("http://{closed}");
    let host = Host::start_with_env(
        &[("whoami", &whoami_wasm(), "")],
        &[],
        &[("MCP_AUTH", "oauth"), ("MCP_AUTH_ISSUERS", &issuer), ("MCP_AUTH_RESOURCE", RESOURCE)],
    );
    let claims = json!({"iss": issuer, "sub": "u", "aud": RESOURCE, "exp": now() + 60});
    let reply = call(&host, "whoami_public", Some(&SigningKey::generate("k").sign(&claims))).await;
    // The token may well be good: 503, so the client retries rather than signing in again.
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.header("retry-after"), Some("30"));
    assert_eq!(reply.json()["id"], 9, "the answer carries the request's id");
    assert_eq!(reply.header("www-authenticate"), None);
    host.logged("fetching the issuer's keys failed");
    // Without a token, public tools still answer.
    assert_eq!(identity(&call(&host, "whoami_public", None).await), Value::Null);
}

#[tokio::test]
async fn with_auth_off_there_is_no_metadata_and_no_check() {
    let api = fake::shared().url();
    let host = Host::start(
        &[("weather", &weather_wasm(), &weather_policy(&api)), ("whoami", &whoami_wasm(), "")],
        &[],
    );
    for path in ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"] {
        assert_eq!(host.send("GET", path, &[], "").await.status, 404, "{path}");
    }
    // Every tool is callable as before, a stray Authorization header changes nothing,
    // and no tool sees an identity.
    for token in [None, Some("not-even-a-jwt")] {
        assert_eq!(identity(&call(&host, "whoami", token).await), Value::Null);
    }
    let tools = host.rpc("tools/list", json!({})).await;
    assert!(tools["result"]["tools"].as_array().unwrap().iter().all(|t| t.get("securitySchemes").is_none()));
}

#[test]
fn an_incomplete_oauth_configuration_stops_the_host() {
    for (env, needle) in [
        (vec![("MCP_AUTH", "oauth"), ("MCP_AUTH_RESOURCE", RESOURCE)], "MCP_AUTH_ISSUERS"),
        (vec![("MCP_AUTH", "oauth"), ("MCP_AUTH_ISSUERS", "https://id.example.test")], "MCP_AUTH_RESOURCE"),
        (
            vec![
                ("MCP_AUTH", "oauth"),
                ("MCP_AUTH_RESOURCE", RESOURCE),
                ("MCP_AUTH_ISSUERS", "http://id.example.test"),
            ],
            "https",
        ),
    ] {
        let output = Command::new(host_bin())
            .args(["--components", "/nonexistent", "--listen", "127.0.0.1:0"])
            .envs(env.iter().copied())
            .output()
            .expect("the host runs");
        assert!(!output.status.success(), "{env:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{env:?}: {stderr}");
    }
}
