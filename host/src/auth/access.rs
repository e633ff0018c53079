//! Who may call a tool, from the `securitySchemes` its component declares in
//! the tool's `_meta` (the OpenAI Apps SDK form): `{"type": "noauth"}` lets
//! anyone call it, `{"type": "oauth2", "scopes": [...]}` needs a token with
//! every scope listed; the list gives alternatives. A tool that declares
//! nothing needs a valid token with any scopes: with OAuth on, a tool is public
//! only when it says so.

use std::collections::BTreeSet;

use anyhow::{bail, ensure};
use mcp_protocol::JsonObject;
use serde_json::Value;

use super::challenge::Refusal;

/// The `_meta` key and tools/list field that carry the schemes.
pub const SECURITY_SCHEMES: &str = "securitySchemes";

#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// Callable without a token.
    anonymous: bool,
    /// Scope sets, any one of which a token may hold.
    scopes: Vec<Vec<String>>,
}

impl Default for Access {
    fn default() -> Self {
        Access { anonymous: false, scopes: vec![Vec::new()] }
    }
}

impl Access {
    /// Refuses every caller: what a tool with unreadable schemes gets.
    pub fn nobody() -> Access {
        Access { anonymous: false, scopes: Vec::new() }
    }

    /// Reads a tool's `_meta.securitySchemes`, if any.
    pub fn of(meta: Option<&JsonObject>) -> anyhow::Result<Access> {
        let Some(schemes) = meta.and_then(|m| m.get(SECURITY_SCHEMES)) else { return Ok(Access::default()) };
        let schemes = match schemes.as_array() {
            Some(list) if !list.is_empty() => list,
            _ => bail!("{SECURITY_SCHEMES} must be a non-empty array"),
        };
        let mut access = Access { anonymous: false, scopes: Vec::new() };
        for scheme in schemes {
            match scheme.get("type").and_then(Value::as_str) {
                Some("noauth") => access.anonymous = true,
                Some("oauth2") => {
                    let scopes = match scheme.get("scopes") {
                        None => Vec::new(),
                        Some(Value::Array(scopes)) => scopes
                            .iter()
                            .map(|s| match s.as_str() {
                                Some(s) if is_scope_token(s) => Ok(s.to_owned()),
                                _ => bail!("scope {s} is not an OAuth scope token"),
                            })
                            .collect::<anyhow::Result<_>>()?,
                        Some(_) => bail!("oauth2 scopes must be an array of strings"),
                    };
                    access.scopes.push(scopes);
                }
                _ => bail!("security scheme {scheme} is not of type \"noauth\" or \"oauth2\""),
            }
        }
        ensure!(access.scopes.len() <= 16, "at most 16 security schemes");
        Ok(access)
    }

    /// Whether a caller with these granted scopes (`None`: no token) may call.
    pub fn check(&self, granted: Option<&BTreeSet<String>>) -> Result<(), Refusal> {
        let Some(granted) = granted else {
            return if self.anonymous {
                Ok(())
            } else {
                Err(Refusal::Unauthenticated { scopes: self.first() })
            };
        };
        if self.anonymous || self.scopes.iter().any(|set| set.iter().all(|s| granted.contains(s))) {
            Ok(())
        } else {
            Err(Refusal::InsufficientScope { scopes: self.first() })
        }
    }

    /// The scopes a challenge asks for: those of the first scheme.
    fn first(&self) -> Vec<String> {
        self.scopes.first().cloned().unwrap_or_default()
    }
}

/// RFC 6749 §3.3 `scope-token`: printable ASCII without space, `"` or `\`.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope.len() <= 256
        && scope.bytes().all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn granted(scopes: &[&str]) -> BTreeSet<String> {
        scopes.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn undeclared_tools_need_a_token() {
        let access = Access::of(None).unwrap();
        assert_eq!(access.check(None), Err(Refusal::Unauthenticated { scopes: vec![] }));
        assert_eq!(access.check(Some(&granted(&[]))), Ok(()));
        assert_eq!(Access::of(json!({"other": 1}).as_object()).unwrap(), access);
    }

    #[test]
    fn schemes() {
        let public = Access::of(json!({"securitySchemes": [{"type": "noauth"}]}).as_object()).unwrap();
        assert_eq!(public.check(None), Ok(()));
        assert_eq!(public.check(Some(&granted(&["x"]))), Ok(()));

        let meta = json!({"securitySchemes": [{"type": "oauth2", "scopes": ["a.read", "b"]}]});
        let scoped = Access::of(meta.as_object()).unwrap();
        let wanted = vec!["a.read".to_string(), "b".to_string()];
        assert_eq!(scoped.check(None), Err(Refusal::Unauthenticated { scopes: wanted.clone() }));
        assert_eq!(
            scoped.check(Some(&granted(&["a.read"]))),
            Err(Refusal::InsufficientScope { scopes: wanted })
        );
        assert_eq!(scoped.check(Some(&granted(&["b", "a.read", "c"]))), Ok(()));

        let mixed =
            json!({"securitySchemes": [{"type": "noauth"}, {"type": "oauth2", "scopes": ["a.read"]}]});
        let mixed = Access::of(mixed.as_object()).unwrap();
        assert_eq!(mixed.check(None), Ok(()));
        assert_eq!(mixed.check(Some(&granted(&[]))), Ok(()));
    }

    #[test]
    fn malformed_schemes_are_refused() {
        for bad in [
            json!({"securitySchemes": []}),
            json!({"securitySchemes": {"type": "noauth"}}),
            json!({"securitySchemes": [{"type": "apiKey"}]}),
            json!({"securitySchemes": [{"type": "oauth2", "scopes": "a"}]}),
            json!({"securitySchemes": [{"type": "oauth2", "scopes": ["has space"]}]}),
            json!({"securitySchemes": [{"type": "oauth2", "scopes": ["quo\"te"]}]}),
            json!({"securitySchemes": [{"type": "oauth2", "scopes": [""]}]}),
        ] {
            assert!(Access::of(bad.as_object()).is_err(), "{bad}");
        }
    }
}
