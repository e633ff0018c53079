//! The Skills extension (`io.modelcontextprotocol/skills`, SEP-2640): skills
//! are `skill://<path>/SKILL.md` resources with their files beside them;
//! `skills/list` and `skills/get` answer with entries (frontmatter and a
//! digest of every file) the caller builds when it publishes its catalog.

use super::request::take_string;
use crate::jsonrpc::RpcError;
use crate::types::JsonObject;

/// The extension's key in the server's `capabilities.extensions`.
pub const SKILLS_EXTENSION: &str = "io.modelcontextprotocol/skills";

/// `skills/get`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct GetSkillParams {
    /// The URI of the skill's `SKILL.md`.
    pub uri: String,
}

impl GetSkillParams {
    pub(super) fn parse(mut params: JsonObject) -> Result<Self, RpcError> {
        Ok(Self { uri: take_string(&mut params, "uri", "skills/get needs the uri of a SKILL.md")? })
    }
}
