//! The other side of the OCI source: pushes a component in the layout the
//! host (and wkg, wassette) reads, and signs its manifest digest the way
//! cosign does. `mcp-publish` (`make publish-component OCI=...`) calls it.

use std::collections::BTreeMap;

use anyhow::Context as _;
use oci_client::client::{Config, ImageLayer};
use oci_client::{Reference, RegistryOperation};

use super::cosign;
use super::oci::{self, Settings, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE};
use crate::digest::Digest;

/// Pushes `wasm` as `reference` (`registry[:port]/repository:tag`), signs it
/// with `signing_key` (PKCS#8 PEM) if given, and returns the manifest digest.
pub async fn publish(
    reference: &str,
    wasm: Vec<u8>,
    signing_key: Option<&str>,
    settings: &Settings,
) -> anyhow::Result<String> {
    let image: Reference = reference.parse().with_context(|| format!("OCI reference {reference:?}"))?;
    anyhow::ensure!(image.digest().is_none(), "push to a tag, not to a digest");
    let (client, auth) = oci::connect(settings)?;
    client.auth(&image, &auth, RegistryOperation::Push).await.context("signing in to the registry")?;
    let layer_digest = format!("sha256:{}", Digest::of(&wasm));
    // What wkg writes, less the component's WIT summary, which the host does not read.
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
    }))?;
    let layers = [ImageLayer::new(wasm, WASM_LAYER_MEDIA_TYPE.into(), None)];
    let config = Config::new(config, WASM_CONFIG_MEDIA_TYPE.into(), None);
    client.push(&image, &layers, config, &auth, None).await.context("pushing the component")?;
    let digest = client.fetch_manifest_digest(&image, &auth).await.context("reading back the digest")?;
    if let Some(key) = signing_key {
        sign(&client, &auth, &image, &digest, key).await?;
    }
    Ok(digest)
}

/// Pushes a cosign signature of `digest` beside `image`.
async fn sign(
    client: &oci_client::Client,
    auth: &oci_client::secrets::RegistryAuth,
    image: &Reference,
    digest: &str,
    key: &str,
) -> anyhow::Result<()> {
    let identity = format!("{}/{}", image.registry(), image.repository());
    let (payload, signature) = cosign::sign(key, &identity, digest)?;
    let payload_digest = format!("sha256:{}", Digest::of(&payload));
    let annotations = BTreeMap::from([(cosign::SIGNATURE_ANNOTATION.to_owned(), signature)]);
    let layers = [ImageLayer::new(payload, cosign::PAYLOAD_MEDIA_TYPE.into(), Some(annotations))];
    // The image config cosign writes for its signature images.
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [payload_digest]},
    }))?;
    let config = Config::oci_v1(config, None);
    let tag = cosign::signature_tag(digest);
    let target = Reference::with_tag(image.registry().to_owned(), image.repository().to_owned(), tag);
    client.push(&target, &layers, config, auth, None).await.context("pushing the signature")?;
    Ok(())
}
