//! What a refused request is told: RFC 6750 Bearer challenges pointing at the
//! RFC 9728 metadata, as the `WWW-Authenticate` header and, for tool calls,
//! also as `_meta["mcp/www_authenticate"]` on an error result (the form the
//! OpenAI Apps SDK reads to start sign-in).

use mcp_protocol::http::HttpResponse;
use mcp_protocol::jsonrpc::{self, RpcError};
use serde_json::{Value, json};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// No token, for something that needs one (401, no error code, per RFC 6750 §3.1).
    Unauthenticated { scopes: Vec<String> },
    /// A token that failed validation (401 `invalid_token`).
    InvalidToken(&'static str),
    /// A valid token without the scopes needed (403 `insufficient_scope`).
    InsufficientScope { scopes: Vec<String> },
}

impl Refusal {
    /// The same refusal naming its scopes as the authorization server knows them.
    pub fn qualified(self, prefix: &str) -> Refusal {
        let qualify = |scopes: Vec<String>| scopes.into_iter().map(|s| format!("{prefix}{s}")).collect();
        match self {
            Refusal::Unauthenticated { scopes } => Refusal::Unauthenticated { scopes: qualify(scopes) },
            Refusal::InsufficientScope { scopes } => Refusal::InsufficientScope { scopes: qualify(scopes) },
            invalid => invalid,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Refusal::InsufficientScope { .. } => 403,
            _ => 401,
        }
    }

    /// The `WWW-Authenticate` value.
    pub fn challenge(&self, metadata_url: &str) -> String {
        let mut parts = Vec::new();
        let scopes = match self {
            Refusal::Unauthenticated { scopes } => scopes.as_slice(),
            Refusal::InvalidToken(why) => {
                parts.push(r#"error="invalid_token""#.to_owned());
                parts.push(format!("error_description=\"{why}\""));
                &[]
            }
            Refusal::InsufficientScope { scopes } => {
                parts.push(r#"error="insufficient_scope""#.to_owned());
                &scopes[..]
            }
        };
        if !scopes.is_empty() {
            parts.push(format!("scope=\"{}\"", scopes.join(" ")));
        }
        parts.push(format!("resource_metadata=\"{metadata_url}\""));
        format!("Bearer {}", parts.join(", "))
    }

    fn message(&self) -> String {
        match self {
            Refusal::Unauthenticated { scopes } if scopes.is_empty() => {
                "Sign-in is required for this tool.".into()
            }
            Refusal::Unauthenticated { scopes } => {
                format!("Sign-in is required for this tool (scopes: {}).", scopes.join(" "))
            }
            Refusal::InvalidToken(why) => format!("The access token was refused: {why}."),
            Refusal::InsufficientScope { scopes } => {
                format!("The access token lacks the scopes this tool needs: {}.", scopes.join(" "))
            }
        }
    }

    /// The HTTP answer to request `id`. A refused tool call (`call`) is
    /// answered with an error result carrying the challenge in `_meta`, so
    /// that a client which reads the body instead of the status still learns
    /// how to sign in; any other request with a JSON-RPC error.
    pub fn response(&self, metadata_url: &str, id: &Value, call: bool) -> HttpResponse {
        let challenge = self.challenge(metadata_url);
        let body = if call {
            json!({
                "jsonrpc": "2.0",
                "id": id,
                "result": {
                    "content": [{ "type": "text", "text": self.message() }],
                    "isError": true,
                    "_meta": { "mcp/www_authenticate": [challenge] },
                },
            })
        } else {
            jsonrpc::failure(id, &RpcError::new(-32001, self.message()))
        };
        HttpResponse::json(self.status(), &body).with_header("www-authenticate", challenge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

    #[test]
    fn challenges() {
        let none = Refusal::Unauthenticated { scopes: vec![] };
        assert_eq!(none.challenge(PRM), format!("Bearer resource_metadata=\"{PRM}\""));
        let scoped = Refusal::Unauthenticated { scopes: vec!["a.read".into(), "b".into()] };
        assert_eq!(scoped.challenge(PRM), format!("Bearer scope=\"a.read b\", resource_metadata=\"{PRM}\""));
        let invalid = Refusal::InvalidToken("the token has expired");
        assert_eq!(
            invalid.challenge(PRM),
            format!(
                "Bearer error=\"invalid_token\", error_description=\"the token has expired\", resource_metadata=\"{PRM}\""
            )
        );
        let scope = Refusal::InsufficientScope { scopes: vec!["a.read".into()] };
        assert_eq!(
            scope.challenge(PRM),
            format!("Bearer error=\"insufficient_scope\", scope=\"a.read\", resource_metadata=\"{PRM}\"")
        );
        assert_eq!((none.status(), invalid.status(), scope.status()), (401, 401, 403));
        assert_eq!(
            scope.qualified("api://app/"),
            Refusal::InsufficientScope { scopes: vec!["api://app/a.read".into()] }
        );
        assert_eq!(invalid.clone().qualified("api://app/"), invalid);
    }

    #[test]
    fn refused_calls_carry_the_challenge_in_meta() {
        let refusal = Refusal::InsufficientScope { scopes: vec!["a.read".into()] };
        let response = refusal.response(PRM, &json!(7), true);
        assert_eq!(response.status, 403);
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["id"], 7);
        assert_eq!(body["result"]["isError"], true);
        assert_eq!(body["result"]["_meta"]["mcp/www_authenticate"][0], refusal.challenge(PRM));
        let header = response.headers.iter().find(|(n, _)| *n == "www-authenticate").unwrap();
        assert_eq!(header.1, refusal.challenge(PRM));
    }
}
