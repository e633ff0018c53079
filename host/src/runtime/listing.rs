//! The limits on what a component lists: a bounded number of entries of each
//! kind, unique names, and at most `limits.max_catalog_bytes` of JSON.

use std::collections::HashSet;

use anyhow::bail;

use super::budget;
use super::component::Loaded;

/// Most tools, resources, templates or prompts one component may list (each kind).
pub const MAX_ENTRIES: usize = 1_000;

/// Refuses a component whose catalog repeats a name (MCP identifies tools and
/// prompts by name, resources and templates by URI), lists more than
/// [`MAX_ENTRIES`] of a kind, or takes more than its policy's
/// `limits.max_catalog_bytes`, counted as the JSON sent to clients.
pub fn check(component: &Loaded) -> anyhow::Result<()> {
    let kinds: [(&str, Vec<&str>); 4] = [
        ("tool", component.tools.iter().map(|t| t.name.as_str()).collect()),
        ("prompt", component.prompts.iter().map(|p| p.name.as_str()).collect()),
        ("resource", component.resources.iter().map(|r| r.uri.as_str()).collect()),
        ("resource template", component.templates.iter().map(|t| t.uri_template.as_str()).collect()),
    ];
    for (kind, names) in kinds {
        if names.len() > MAX_ENTRIES {
            bail!(
                "the component lists {} entries of kind {kind}; at most {MAX_ENTRIES} are accepted",
                names.len()
            );
        }
        let mut seen = HashSet::new();
        if let Some(twice) = names.into_iter().find(|name| !seen.insert(*name)) {
            bail!("the component lists {kind} {twice:?} more than once");
        }
    }
    let bytes = json_len(&component.tools)
        + json_len(&component.prompts)
        + json_len(&component.resources)
        + json_len(&component.templates);
    let limit = component.policy.max_catalog_bytes;
    if bytes > limit {
        bail!("the component's catalog is {bytes} bytes of JSON; limits.max_catalog_bytes allows {limit}");
    }
    Ok(())
}

/// The bytes of `items` as JSON, each counted on its own.
fn json_len<T: serde::Serialize>(items: &[T]) -> usize {
    items.iter().map(budget::json_size).sum()
}
