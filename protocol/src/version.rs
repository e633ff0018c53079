//! Protocol revisions and negotiation.

use std::fmt;

/// A protocol revision this crate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V2025_03_26,
    V2025_06_18,
    V2025_11_25,
    /// The stateless revision: no `initialize`, no sessions, per-request `_meta`.
    V2026_07_28,
}

impl Version {
    /// Every supported revision, newest first.
    pub const ALL: [Version; 4] =
        [Version::V2026_07_28, Version::V2025_11_25, Version::V2025_06_18, Version::V2025_03_26];
    /// The newest revision that starts with `initialize`.
    pub const LATEST_LEGACY: Version = Version::V2025_11_25;

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2025_03_26 => "2025-03-26",
            Version::V2025_06_18 => "2025-06-18",
            Version::V2025_11_25 => "2025-11-25",
            Version::V2026_07_28 => "2026-07-28",
        }
    }

    /// Whether this revision is the stateless, per-request one.
    pub fn is_stateless(self) -> bool {
        self >= Version::V2026_07_28
    }

    /// The answer to `initialize`: the client's revision when we speak it and it
    /// uses `initialize`, else the newest one that does.
    pub fn negotiate(requested: &str) -> Version {
        match Self::parse(requested) {
            Some(v) if !v.is_stateless() => v,
            _ => Self::LATEST_LEGACY,
        }
    }

    pub fn supported_strings() -> Vec<&'static str> {
        Self::ALL.iter().map(|v| v.as_str()).collect()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Version;

    #[test]
    fn negotiation_echoes_known_legacy_versions() {
        assert_eq!(Version::negotiate("2025-03-26"), Version::V2025_03_26);
        assert_eq!(Version::negotiate("2025-06-18"), Version::V2025_06_18);
        assert_eq!(Version::negotiate("2025-11-25"), Version::V2025_11_25);
    }

    #[test]
    fn negotiation_falls_back_to_latest_legacy() {
        assert_eq!(Version::negotiate("1999-01-01"), Version::V2025_11_25);
        assert_eq!(Version::negotiate("2024-11-05"), Version::V2025_11_25);
        // 2026-07-28 has no initialize; an initialize naming it gets the newest legacy one.
        assert_eq!(Version::negotiate("2026-07-28"), Version::V2025_11_25);
    }

    #[test]
    fn round_trips() {
        for v in Version::ALL {
            assert_eq!(Version::parse(v.as_str()), Some(v));
        }
        assert_eq!(Version::parse("2025-11-26"), None);
    }
}
