//! cosign-compatible signatures of a manifest digest, with ECDSA P-256 keys
//! (cosign's default): the "simple signing" payload naming the digest, signed
//! as DER, base64 in the `dev.cosignproject.cosign/signature` annotation of the
//! payload's layer, in the manifest tagged `sha256-<hex>.sig` beside the image.
//! Verified with RustCrypto's `p256` (no OpenSSL, and a small fraction of the
//! `sigstore` crate's dependency tree); keyless (Fulcio/Rekor) is not supported.

use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};

/// The annotation that carries the signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of the signed payload's layer.
pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Largest payload accepted (cosign's are a few hundred bytes).
pub const MAX_PAYLOAD_BYTES: u64 = 16 << 10;
const PAYLOAD_TYPE: &str = "cosign container image signature";

/// The tag cosign stores the signatures of `digest` (`sha256:HEX`) under.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// The public keys a component's signature must verify with (one is enough).
pub struct Keys(Vec<VerifyingKey>);

impl Keys {
    /// PEM public keys (`-----BEGIN PUBLIC KEY-----`, as `cosign generate-key-pair` writes them).
    pub fn load(paths: &[impl AsRef<Path>]) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let key = VerifyingKey::from_public_key_pem(&text)
                .with_context(|| format!("{}: not an ECDSA P-256 public key in PEM", path.display()))?;
            keys.push(key);
        }
        anyhow::ensure!(!keys.is_empty(), "no verification keys");
        Ok(Self(keys))
    }

    /// Whether `signature` (base64 of DER) over `payload` is by one of the keys,
    /// and the payload a cosign image signature of `digest`; why not otherwise.
    pub fn verify(&self, payload: &[u8], signature: &str, digest: &str) -> Result<(), String> {
        let der = STANDARD.decode(signature.trim()).map_err(|_| "the signature is not base64".to_owned())?;
        let signature = Signature::from_der(&der).map_err(|_| "the signature is not DER ECDSA".to_owned())?;
        if !self.0.iter().any(|key| key.verify(payload, &signature).is_ok()) {
            return Err("the signature is not valid for any of the trusted keys".into());
        }
        let payload: serde_json::Value =
            serde_json::from_slice(payload).map_err(|_| "the signed payload is not JSON".to_owned())?;
        let critical = &payload["critical"];
        if critical["type"] != PAYLOAD_TYPE {
            return Err(format!("the signed payload is not a {PAYLOAD_TYPE}"));
        }
        match critical["image"]["docker-manifest-digest"].as_str() {
            Some(signed) if signed == digest => Ok(()),
            Some(signed) => Err(format!("the signature is for {signed}, not this manifest")),
            None => Err("the signed payload names no manifest digest".into()),
        }
    }
}

/// The simple-signing payload for `digest` of `reference` (`registry/repository`),
/// and its signature (base64 DER) by the PKCS#8 PEM private key `key`.
pub fn sign(key: &str, reference: &str, digest: &str) -> anyhow::Result<(Vec<u8>, String)> {
    let key = SigningKey::from_pkcs8_pem(key)
        .context("the signing key is not an unencrypted PKCS#8 PEM ECDSA P-256 private key")?;
    let payload = serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": PAYLOAD_TYPE,
        },
        "optional": null,
    }))?;
    let signature: DerSignature = key.sign(&payload);
    Ok((payload.clone(), STANDARD.encode(signature.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};

    fn pair(seed: u8) -> (String, Keys) {
        let key = SigningKey::from_slice(&[seed; 32]).unwrap();
        let private = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let public = key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pub");
        std::fs::write(&path, public).unwrap();
        (private, Keys::load(&[path]).unwrap())
    }

    #[test]
    fn a_signature_verifies_with_its_key_only_and_for_its_digest_only() {
        let (private, keys) = pair(7);
        let (_, other) = pair(9);
        let digest = format!("sha256:{}", "ab".repeat(32));
        let (payload, signature) = sign(&private, "127.0.0.1:5000/tools/weather", &digest).unwrap();
        assert_eq!(keys.verify(&payload, &signature, &digest), Ok(()));
        let wrong_key = other.verify(&payload, &signature, &digest).unwrap_err();
        assert!(wrong_key.contains("not valid for any"), "{wrong_key}");
        let elsewhere =
            keys.verify(&payload, &signature, &format!("sha256:{}", "cd".repeat(32))).unwrap_err();
        assert!(elsewhere.contains("is for sha256:abab"), "{elsewhere}");
        let mut tampered = payload.clone();
        tampered[3] ^= 1;
        assert!(keys.verify(&tampered, &signature, &digest).is_err());
        assert!(keys.verify(&payload, "not base64!", &digest).unwrap_err().contains("base64"));
        assert_eq!(signature_tag(&digest), format!("sha256-{}.sig", "ab".repeat(32)));
    }
}
