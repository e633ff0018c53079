//! `prompts/get`.

use serde_json::Value;

use super::request::{take_arguments, take_string};
use super::{Era, input};
use crate::jsonrpc::RpcError;
use crate::types::{Inputs, JsonObject};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct GetPromptParams {
    pub name: String,
    /// The prompt's arguments, all strings.
    pub arguments: JsonObject,
    pub inputs: Option<Inputs>,
}

impl GetPromptParams {
    pub(super) fn parse(mut params: JsonObject, era: Era) -> Result<Self, RpcError> {
        let name = take_string(&mut params, "name", "prompts/get needs a prompt name string")?;
        let all_strings = |arguments: &JsonObject| arguments.values().all(Value::is_string);
        let arguments =
            take_arguments(&mut params, all_strings, "prompt arguments must be an object of strings")?;
        Ok(Self { name, arguments, inputs: input::parse(&mut params, era)? })
    }
}
