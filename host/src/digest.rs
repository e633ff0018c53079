//! A component's identity: the sha256 of its wasm.

use std::fmt;

use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// 64 hexadecimal digits.
    pub fn parse(digits: &str) -> Option<Self> {
        let mut digest = [0u8; 32];
        // Exactly 64 digits: `decode_to_slice` refuses any other length.
        hex::decode_to_slice(digits, &mut digest).ok()?;
        Some(Self(digest))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixty_four_digits_round_trip() {
        let digest = Digest::of(b"wasm");
        let shown = digest.to_string();
        assert_eq!(shown.len(), 64);
        assert_eq!(Digest::parse(&shown), Some(digest));
        assert_eq!(Digest::parse(&shown.to_uppercase()), Some(digest));
        for wrong in [&shown[..62], &format!("{shown}00"), &shown.replacen(&shown[..1], "g", 1), ""] {
            assert_eq!(Digest::parse(wrong), None, "{wrong}");
        }
    }
}
