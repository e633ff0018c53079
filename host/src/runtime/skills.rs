//! The Skills extension's entries (SEP-2640), built once when a component is
//! loaded: a skill is a `skill://<path>/SKILL.md` resource whose YAML
//! frontmatter names it after its path's last segment; its files are every
//! `skill://<path>/…` resource, each listed with its SHA-256 digest and size.

use base64::Engine as _;
use mcp_protocol as p;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const SCHEME: &str = "skill://";
const SKILL_FILE: &str = "/SKILL.md";
/// The extension's per-skill limits: every conforming host loads up to these.
const MAX_FILES: usize = 512;
const MAX_BYTES: usize = 16 * 1024 * 1024;

/// The `skill://` resources a component lists: the files to read at load.
pub fn files(resources: &[p::Resource]) -> Vec<String> {
    resources.iter().filter(|r| r.uri.starts_with(SCHEME)).map(|r| r.uri.clone()).collect()
}

/// A read resource's raw bytes (text as UTF-8, blobs decoded).
pub fn bytes(contents: &[p::ResourceContents]) -> Result<Vec<u8>, String> {
    let mut raw = Vec::new();
    for part in contents {
        match (&part.text, &part.blob) {
            (Some(text), _) => raw.extend_from_slice(text.as_bytes()),
            (None, Some(blob)) => raw.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(blob)
                    .map_err(|_| format!("{} is not valid base64", part.uri))?,
            ),
            (None, None) => {}
        }
    }
    Ok(raw)
}

/// One entry per skill, from the `skill://` files and their bytes, or why the
/// component's skills cannot be served.
pub fn entries(files: &[(String, Vec<u8>)]) -> Result<Vec<Value>, String> {
    let mut entries = Vec::new();
    for (uri, content) in files {
        let Some(path) = uri.strip_prefix(SCHEME).and_then(|rest| rest.strip_suffix(SKILL_FILE)) else {
            continue;
        };
        let name = path.rsplit('/').next().unwrap_or_default();
        if !valid_name(name) {
            return Err(format!(
                "{uri}: {name:?} is not a skill name (a-z, 0-9 and single inner hyphens, ≤ 64)"
            ));
        }
        let frontmatter = frontmatter(content).map_err(|why| format!("{uri}: {why}"))?;
        if frontmatter.get("name").and_then(Value::as_str) != Some(name) {
            return Err(format!("{uri}: the frontmatter's name must be {name:?}, the path's last segment"));
        }
        let root = format!("{SCHEME}{path}/");
        let resources: Vec<(&String, &Vec<u8>)> =
            files.iter().filter(|(file, _)| file.starts_with(&root)).map(|(f, c)| (f, c)).collect();
        let total: usize = resources.iter().map(|(_, c)| c.len()).sum();
        if resources.len() > MAX_FILES || total > MAX_BYTES {
            return Err(format!("{uri}: more than {MAX_FILES} files or {MAX_BYTES} bytes"));
        }
        let resources: Vec<Value> = resources
            .into_iter()
            .map(|(file, content)| {
                json!({
                    "uri": file,
                    "digest": format!("sha256:{:x}", Sha256::digest(content)),
                    "size": content.len(),
                })
            })
            .collect();
        entries.push(json!({ "uri": uri, "frontmatter": frontmatter, "resources": resources }));
    }
    Ok(entries)
}

/// The Agent Skills naming rule: 1–64 lowercase letters, digits and hyphens,
/// no hyphen first, last or doubled.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// A `SKILL.md`'s YAML frontmatter as JSON, with its required string `name`
/// and `description`.
fn frontmatter(content: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(content).map_err(|_| "SKILL.md is not UTF-8".to_owned())?;
    let rest = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n"));
    let Some(rest) = rest else { return Err("SKILL.md must begin with YAML frontmatter (---)".into()) };
    let Some(end) = rest.find("\n---") else { return Err("the frontmatter has no closing ---".into()) };
    let yaml = rest.get(..end).unwrap_or_default();
    let value: Value =
        serde_norway::from_str(yaml).map_err(|e| format!("the frontmatter is not YAML: {e}"))?;
    let has = |key: &str| value.get(key).is_some_and(Value::is_string);
    if !value.is_object() || !has("name") || !has("description") {
        return Err("the frontmatter needs string name and description fields".into());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(uri: &str, text: &str) -> (String, Vec<u8>) {
        (uri.into(), text.as_bytes().to_vec())
    }

    #[test]
    fn a_skill_lists_its_frontmatter_and_every_file() {
        let skill =
            "---\nname: refunds\ndescription: Refund requests\nmetadata:\n  version: \"2\"\n---\n# Refunds\n";
        let files = [
            file("skill://acme/refunds/SKILL.md", skill),
            file("skill://acme/refunds/examples/email.md", "hi"),
            file("skill://acme/other.md", "not in the skill"),
        ];
        let entries = entries(&files).unwrap();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert_eq!(
            entry["frontmatter"],
            json!({"name":"refunds","description":"Refund requests","metadata":{"version":"2"}})
        );
        let resources = entry["resources"].as_array().unwrap();
        assert_eq!(resources.len(), 2);
        assert_eq!(resources[1]["size"], 2);
        // sha256("hi")
        assert_eq!(
            resources[1]["digest"],
            "sha256:8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"
        );
    }

    #[test]
    fn bad_skills_are_refused() {
        for (uri, text) in [
            ("skill://refunds/SKILL.md", "---\nname: other\ndescription: d\n---\n"),
            ("skill://refunds/SKILL.md", "no frontmatter"),
            ("skill://refunds/SKILL.md", "---\nname: refunds\n---\n"),
            ("skill://Refunds/SKILL.md", "---\nname: Refunds\ndescription: d\n---\n"),
            ("skill://refunds/SKILL.md", "---\nname: [refunds\n---\n"),
        ] {
            assert!(entries(&[file(uri, text)]).is_err(), "{text}");
        }
    }
}
