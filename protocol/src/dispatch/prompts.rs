//! `prompts/get`.

use serde_json::{Map, Value};

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
        let name = match params.remove("name") {
            Some(Value::String(name)) => name,
            _ => return Err(RpcError::invalid_params("prompts/get needs a prompt name string")),
        };
        let arguments = match params.remove("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(arguments)) if arguments.values().all(Value::is_string) => arguments,
            Some(_) => return Err(RpcError::invalid_params("prompt arguments must be an object of strings")),
        };
        Ok(Self { name, arguments, inputs: input::parse(&mut params, era)? })
    }
}
