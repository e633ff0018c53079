//! Per-component policy: what a component may reach and use. Deny by default.
//!
//! The policy of `NAME.wasm` is `NAME.toml` beside it; without one the component
//! gets no outbound access and no environment. See the README for the format.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::digest::Digest;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    /// The component's digest, hex: a `.wasm` with any other digest is refused.
    sha256: Option<String>,
    #[serde(default)]
    outbound: OutboundFile,
    #[serde(default)]
    env: EnvFile,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    identity: IdentityFile,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityFile {
    #[serde(default)]
    claims: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundFile {
    #[serde(default)]
    allow: Vec<String>,
    timeout_ms: Option<u64>,
    max_requests: Option<usize>,
    max_response_bytes: Option<usize>,
    cache_ttl_s: Option<u64>,
    cache_max_entries: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvFile {
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    inherit: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    memory_mb: Option<u64>,
    timeout_ms: Option<u64>,
    max_concurrent: Option<usize>,
    max_result_bytes: Option<usize>,
    max_catalog_bytes: Option<usize>,
    max_tasks: Option<usize>,
}

/// A destination a component may call: scheme, host and port must all match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl Destination {
    /// `https://name[:port]`, `http://name[:port]` (plain HTTP must be explicit)
    /// or `name[:port]` (HTTPS).
    pub fn parse(entry: &str) -> anyhow::Result<Self> {
        let (https, rest) = match entry.split_once("://") {
            Some(("https", rest)) => (true, rest),
            Some(("http", rest)) => (false, rest),
            Some((scheme, _)) => bail!("outbound entry {entry:?}: scheme {scheme:?} is not http or https"),
            None => (true, entry),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', '*']) {
            bail!(
                "outbound entry {entry:?} must be a scheme, host and optional port, without path or wildcard"
            );
        }
        let uri: http::uri::Authority = authority
            .parse()
            .with_context(|| format!("outbound entry {entry:?} is not a valid host[:port]"))?;
        // `Authority::port` hides a port that does not parse; look at the text.
        let port_text = authority.rsplit_once(':').map(|(_, p)| p).filter(|p| !p.ends_with(']'));
        let port = match port_text {
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(text) => match text.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => bail!("outbound entry {entry:?}: port {text:?} is not between 1 and 65535"),
            },
        };
        let host = uri.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        Ok(Destination { https, host, port })
    }

    pub fn matches(&self, https: bool, host: &str, port: u16) -> bool {
        self.https == https && self.port == port && self.host.eq_ignore_ascii_case(host)
    }
}

/// What one component is granted.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The only digest of the component's wasm this policy accepts, if pinned.
    pub sha256: Option<Digest>,
    pub outbound: Vec<Destination>,
    /// Longest any one outbound request may take, connect to last byte.
    pub outbound_timeout: Duration,
    /// Environment variables the component sees, and nothing else.
    pub env: Vec<(String, String)>,
    /// Outbound requests one call may make.
    pub max_requests: usize,
    /// Largest outbound response body.
    pub max_response_bytes: usize,
    pub memory_bytes: usize,
    /// Longest one call may run, in wall-clock time.
    pub call_timeout: Duration,
    /// Instances of this component that may run at once; more calls wait briefly, then are refused.
    pub max_concurrent: usize,
    /// Largest result a call may return (content, structured content and `_meta` together).
    pub max_result_bytes: usize,
    /// Largest catalog (tools, resources, templates and prompts, as JSON) the component may list.
    pub max_catalog_bytes: usize,
    /// Tasks of this component one instance keeps at once (running, waiting
    /// for input, or finished and not yet expired); more calls are refused.
    pub max_tasks: usize,
    /// Claims of the caller's validated access token the component sees (never the token).
    pub identity_claims: Vec<String>,
    /// The shared cache of the component's outbound GETs; `None`: not cached.
    pub cache: Option<CachePolicy>,
}

/// How long and how many outbound GET responses a component's cache keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CachePolicy {
    /// The longest a response is reused; less when its `Cache-Control` says so.
    pub ttl: Duration,
    pub max_entries: usize,
}

/// A numeric policy key: its value when the file does not set it, and the
/// largest it accepts (far above any sensible value, low enough that no
/// arithmetic or allocation on it can overflow). Every key is at least 1.
struct Bounded {
    key: &'static str,
    default: u64,
    max: u64,
}

impl Bounded {
    const MEMORY_MB: Self = Self { key: "limits.memory_mb", default: 64, max: 4096 };
    const TIMEOUT_MS: Self = Self { key: "limits.timeout_ms", default: 30_000, max: 3_600_000 };
    const MAX_CONCURRENT: Self = Self { key: "limits.max_concurrent", default: 32, max: 10_000 };
    const MAX_RESULT_BYTES: Self = Self { key: "limits.max_result_bytes", default: 1 << 20, max: 256 << 20 };
    const MAX_CATALOG_BYTES: Self = Self { key: "limits.max_catalog_bytes", default: 1 << 20, max: 64 << 20 };
    const MAX_TASKS: Self = Self { key: "limits.max_tasks", default: 256, max: 100_000 };
    const OUTBOUND_TIMEOUT_MS: Self = Self { key: "outbound.timeout_ms", default: 10_000, max: 3_600_000 };
    const MAX_REQUESTS: Self = Self { key: "outbound.max_requests", default: 8, max: 10_000 };
    const MAX_RESPONSE_BYTES: Self =
        Self { key: "outbound.max_response_bytes", default: 4 << 20, max: 1 << 30 };
    /// Set to turn the cache on, so it has no default.
    const CACHE_TTL_S: Self = Self { key: "outbound.cache_ttl_s", default: 0, max: 86_400 };
    const CACHE_MAX_ENTRIES: Self = Self { key: "outbound.cache_max_entries", default: 256, max: 100_000 };

    fn read(&self, value: Option<u64>) -> anyhow::Result<u64> {
        match value.unwrap_or(self.default) {
            value if (1..=self.max).contains(&value) => Ok(value),
            _ => bail!("{} must be between 1 and {}", self.key, self.max),
        }
    }

    fn read_usize(&self, value: Option<usize>) -> anyhow::Result<usize> {
        Ok(usize::try_from(self.read(value.map(|v| v as u64))?)?)
    }
}

impl Policy {
    /// Reads a policy file; `lookup` resolves `inherit`ed variables.
    pub fn parse(text: &str, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let file: PolicyFile = toml::from_str(text)?;
        let outbound = file
            .outbound
            .allow
            .iter()
            .map(|entry| Destination::parse(entry))
            .collect::<anyhow::Result<_>>()?;
        let mut env: BTreeMap<String, String> = file.env.vars;
        for name in &file.env.inherit {
            if let Some(value) = lookup(name) {
                env.insert(name.clone(), value);
            }
        }
        let memory_mb = Bounded::MEMORY_MB.read(file.limits.memory_mb)?;
        let sha256 = match file.sha256 {
            None => None,
            Some(hex) => Some(Digest::parse(&hex).context("sha256 must be 64 hexadecimal digits")?),
        };
        let identity_claims = file.identity.claims;
        if identity_claims.len() > 32 || identity_claims.iter().any(|c| c.is_empty() || c.len() > 64) {
            bail!("identity.claims must name at most 32 claims, each 1 to 64 characters");
        }
        let cache = match (file.outbound.cache_ttl_s, file.outbound.cache_max_entries) {
            (None, None) => None,
            (None, Some(_)) => bail!("outbound.cache_max_entries needs outbound.cache_ttl_s"),
            (Some(ttl), entries) => Some(CachePolicy {
                ttl: Duration::from_secs(Bounded::CACHE_TTL_S.read(Some(ttl))?),
                max_entries: Bounded::CACHE_MAX_ENTRIES.read_usize(entries)?,
            }),
        };
        Ok(Policy {
            sha256,
            identity_claims,
            outbound,
            outbound_timeout: Duration::from_millis(
                Bounded::OUTBOUND_TIMEOUT_MS.read(file.outbound.timeout_ms)?,
            ),
            env: env.into_iter().collect(),
            max_requests: Bounded::MAX_REQUESTS.read_usize(file.outbound.max_requests)?,
            max_response_bytes: Bounded::MAX_RESPONSE_BYTES.read_usize(file.outbound.max_response_bytes)?,
            memory_bytes: usize::try_from(memory_mb << 20)?,
            call_timeout: Duration::from_millis(Bounded::TIMEOUT_MS.read(file.limits.timeout_ms)?),
            max_concurrent: Bounded::MAX_CONCURRENT.read_usize(file.limits.max_concurrent)?,
            max_result_bytes: Bounded::MAX_RESULT_BYTES.read_usize(file.limits.max_result_bytes)?,
            max_catalog_bytes: Bounded::MAX_CATALOG_BYTES.read_usize(file.limits.max_catalog_bytes)?,
            max_tasks: Bounded::MAX_TASKS.read_usize(file.limits.max_tasks)?,
            cache,
        })
    }

    /// Nothing granted, default limits.
    pub fn deny_all() -> Self {
        Self::parse("", |_| None).expect("the empty policy is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let d = Destination::parse("api.open-meteo.com").unwrap();
        assert_eq!(d, Destination { https: true, host: "api.open-meteo.com".into(), port: 443 });
        assert!(d.matches(true, "API.open-meteo.com", 443));
        assert!(!d.matches(false, "api.open-meteo.com", 443), "plain HTTP needs an explicit entry");
        assert!(!d.matches(true, "api.open-meteo.com", 8443));
        let local = Destination::parse("http://127.0.0.1:9000/").unwrap();
        assert!(local.matches(false, "127.0.0.1", 9000));
        assert_eq!(Destination::parse("https://[::1]:8443").unwrap().host, "::1");
        for bad in ["ftp://x", "https://x/path", "*.example.com", "https://", "user@host", "x:99999"] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policy_files() {
        let text = r#"
            [outbound]
            allow = ["https://api.open-meteo.com"]
            timeout_ms = 5000
            [env]
            vars = { OPEN_METEO_URL = "https://api.open-meteo.com" }
            inherit = ["OPEN_METEO_API_KEY", "MISSING"]
            [limits]
            memory_mb = 32
            timeout_ms = 2000
        "#;
        let policy = Policy::parse(text, |name| (name == "OPEN_METEO_API_KEY").then(|| "k".into())).unwrap();
        assert_eq!(policy.outbound.len(), 1);
        assert_eq!(policy.outbound_timeout, Duration::from_secs(5));
        assert_eq!(
            policy.env,
            vec![
                ("OPEN_METEO_API_KEY".into(), "k".into()),
                ("OPEN_METEO_URL".into(), "https://api.open-meteo.com".into())
            ]
        );
        assert_eq!(policy.memory_bytes, 32 << 20);
        assert_eq!(policy.call_timeout, Duration::from_secs(2));

        let denied = Policy::deny_all();
        assert!(denied.outbound.is_empty() && denied.env.is_empty());
        assert!(Policy::parse("[outbound]\nallowed = []", |_| None).is_err(), "typos are errors");
        assert!(Policy::parse("[limits]\nmemory_mb = 0", |_| None).is_err());
    }

    #[test]
    fn every_number_is_range_checked() {
        for (key, bad) in [
            ("limits.memory_mb", "4097"),
            ("limits.timeout_ms", "0"),
            ("limits.timeout_ms", "9223372036854775807"),
            ("limits.max_concurrent", "0"),
            ("limits.max_concurrent", "9223372036854775807"),
            ("limits.max_result_bytes", "9223372036854775807"),
            ("limits.max_catalog_bytes", "0"),
            ("outbound.timeout_ms", "99999999999"),
            ("outbound.max_requests", "10001"),
            ("outbound.max_response_bytes", "9223372036854775807"),
        ] {
            let (table, field) = key.split_once('.').unwrap();
            let error = Policy::parse(&format!("[{table}]\n{field} = {bad}"), |_| None).unwrap_err();
            assert!(format!("{error:#}").contains(key), "{key} = {bad}: {error:#}");
        }
        let most = "[limits]\nmax_concurrent = 10000\ntimeout_ms = 3600000\nmax_catalog_bytes = 67108864";
        assert_eq!(Policy::parse(most, |_| None).unwrap().max_concurrent, 10_000);
    }

    #[test]
    fn digest_pins() {
        let pinned = Policy::parse(&format!("sha256 = \"{}\"", "0a".repeat(32)), |_| None).unwrap();
        assert_eq!(pinned.sha256, Some(Digest([10; 32])));
        assert_eq!(Policy::deny_all().sha256, None);
        for bad in ["0a", "zz".repeat(32).as_str(), "0a".repeat(33).as_str()] {
            assert!(Policy::parse(&format!("sha256 = \"{bad}\""), |_| None).is_err(), "{bad}");
        }
    }

    #[test]
    fn identity_claims() {
        assert!(Policy::deny_all().identity_claims.is_empty(), "no claims unless named");
        let policy = Policy::parse("[identity]\nclaims = [\"sub\", \"scope\"]", |_| None).unwrap();
        assert_eq!(policy.identity_claims, ["sub", "scope"]);
        assert!(Policy::parse("[identity]\nclaims = [\"\"]", |_| None).is_err());
        assert!(Policy::parse("[identity]\ntoken = true", |_| None).is_err(), "unknown keys are errors");
    }

    #[test]
    fn the_outbound_cache_is_opt_in_and_bounded() {
        assert_eq!(Policy::deny_all().cache, None);
        let cached = Policy::parse("[outbound]\ncache_ttl_s = 60", |_| None).unwrap();
        assert_eq!(cached.cache, Some(CachePolicy { ttl: Duration::from_secs(60), max_entries: 256 }));
        let sized = Policy::parse("[outbound]\ncache_ttl_s = 5\ncache_max_entries = 10", |_| None).unwrap();
        assert_eq!(sized.cache.unwrap().max_entries, 10);
        for bad in [
            "cache_ttl_s = 0",
            "cache_ttl_s = 86401",
            "cache_max_entries = 10",
            "cache_ttl_s = 5\ncache_max_entries = 0",
            "cache_ttl_s = 5\ncache_max_entries = 100001",
        ] {
            assert!(Policy::parse(&format!("[outbound]\n{bad}"), |_| None).is_err(), "{bad}");
        }
    }
}
