//! The `mcp:tool` exports, for any [`Server`](crate::Server): protocol types in,
//! WIT types out.

use std::cell::RefCell;

use base64::Engine as _;
use mcp_protocol as p;
use serde_json::Value;

use crate::bindings::exports::mcp::tool::{completion, prompts, resources, tools};
use crate::bindings::mcp::tool::types as wit;
use crate::call::{Running, Step};
use crate::{Exported, Server};

impl<E: Exported> tools::Guest for E {
    type ToolCall = ToolCall<E::Server>;

    fn list_tools() -> Vec<wit::Tool> {
        E::Server::tools().into_iter().map(tool).collect()
    }
}

impl<E: Exported> resources::Guest for E {
    fn list_resources() -> Vec<wit::Resource> {
        E::Server::resources().into_iter().map(resource).collect()
    }

    fn list_resource_templates() -> Vec<wit::ResourceTemplate> {
        E::Server::resource_templates()
            .into_iter()
            .map(|t| wit::ResourceTemplate {
                uri_template: t.uri_template,
                name: t.name,
                title: t.title,
                description: t.description,
                mime_type: t.mime_type,
                meta: t.meta.map(json),
            })
            .collect()
    }

    fn read_resource(uri: String) -> Result<Vec<wit::ResourceContents>, wit::ReadError> {
        match E::Server::read(&uri) {
            Ok(contents) => Ok(contents.into_iter().map(resource_contents).collect()),
            Err(p::ReadError::NotFound) => Err(wit::ReadError::NotFound),
            Err(p::ReadError::Internal(message)) => Err(wit::ReadError::Internal(message)),
        }
    }
}

impl<E: Exported> prompts::Guest for E {
    fn list_prompts() -> Vec<wit::Prompt> {
        E::Server::prompts()
            .into_iter()
            .map(|prompt| wit::Prompt {
                name: prompt.name,
                title: prompt.title,
                description: prompt.description,
                arguments: prompt
                    .arguments
                    .into_iter()
                    .map(|a| wit::PromptArgument {
                        name: a.name,
                        title: a.title,
                        description: a.description,
                        required: a.required,
                    })
                    .collect(),
                meta: prompt.meta.map(json),
            })
            .collect()
    }

    fn get_prompt(
        name: String,
        arguments: String,
        inputs: Option<wit::Inputs>,
    ) -> Result<wit::PromptResult, wit::CallError> {
        let arguments = match serde_json::from_str(&arguments) {
            Ok(Value::Object(arguments)) => arguments,
            _ => return Err(wit::CallError::InvalidParams("arguments must be a JSON object".into())),
        };
        let inputs = inputs.map(self::inputs).transpose().map_err(wit::CallError::InvalidParams)?;
        let result = E::Server::get_prompt(&name, &arguments, inputs.as_ref()).map_err(call_error)?;
        Ok(wit::PromptResult {
            description: result.description,
            messages: result
                .messages
                .into_iter()
                .map(|m| wit::PromptMessage {
                    role: match m.role {
                        p::Role::User => wit::Role::User,
                        p::Role::Assistant => wit::Role::Assistant,
                    },
                    content: content_block(m.content),
                })
                .collect(),
        })
    }
}

impl<E: Exported> completion::Guest for E {
    fn complete(request: wit::CompletionRequest) -> Result<wit::Completion, wit::CallError> {
        let context = match serde_json::from_str(&request.context) {
            Ok(Value::Object(context)) => context,
            _ => p::JsonObject::new(),
        };
        let request = p::CompletionRequest {
            reference: match request.target {
                wit::CompletionTarget::Prompt(name) => p::CompletionRef::Prompt(name),
                wit::CompletionTarget::ResourceTemplate(uri) => p::CompletionRef::ResourceTemplate(uri),
            },
            argument: request.argument,
            value: request.value,
            context,
        };
        let completion = E::Server::complete(&request).map_err(call_error)?;
        Ok(wit::Completion {
            values: completion.values,
            total: completion.total,
            has_more: completion.has_more,
        })
    }
}

/// The `tool-call` resource: a call the host steps through.
pub struct ToolCall<S> {
    running: RefCell<Result<Running, Option<String>>>,
    server: std::marker::PhantomData<S>,
}

impl<S: Server> tools::GuestToolCall for ToolCall<S> {
    fn new(request: wit::CallRequest) -> Self {
        let running = match call_request(request) {
            Ok(request) => Ok(Running::start::<S>(request, None)),
            Err(message) => Err(Some(message)),
        };
        Self { running: RefCell::new(running), server: std::marker::PhantomData }
    }

    fn next(&self) -> wit::CallEvent {
        match &mut *self.running.borrow_mut() {
            Ok(running) => match running.next() {
                Step::Event(event) => call_event(event),
                Step::Done(result) => wit::CallEvent::Done(result.map(call_result).map_err(call_error)),
            },
            Err(message) => {
                let message = message.take().unwrap_or_else(|| "the call has already finished".into());
                wit::CallEvent::Done(Err(wit::CallError::Internal(message)))
            }
        }
    }
}

fn call_request(request: wit::CallRequest) -> Result<p::CallRequest, String> {
    let arguments = match serde_json::from_str(&request.arguments) {
        Ok(Value::Object(arguments)) => arguments,
        _ => return Err("the host sent arguments that are not a JSON object".into()),
    };
    let meta = match request.meta.as_deref().map(serde_json::from_str) {
        None => None,
        Some(Ok(Value::Object(meta))) => Some(meta),
        Some(_) => return Err("the host sent _meta that is not a JSON object".into()),
    };
    Ok(p::CallRequest {
        name: request.name,
        arguments,
        log_level: request.log_level.map(log_level),
        // The host keeps the client's token; the component only needs to know one exists.
        progress_token: request.progress.then_some(Value::Bool(true)),
        meta,
        inputs: request.inputs.map(inputs).transpose()?,
        client_capabilities: match serde_json::from_str(&request.client_capabilities) {
            Ok(Value::Object(capabilities)) => capabilities,
            _ => p::JsonObject::new(),
        },
        identity: match request.identity.as_deref().map(serde_json::from_str) {
            None => None,
            Some(Ok(Value::Object(identity))) => Some(identity),
            Some(_) => return Err("the host sent an identity that is not a JSON object".into()),
        },
    })
}

fn inputs(inputs: wit::Inputs) -> Result<p::Inputs, String> {
    match serde_json::from_str(&inputs.responses) {
        Ok(Value::Object(responses)) => Ok(p::Inputs { responses, state: inputs.state }),
        _ => Err("the host sent input responses that are not a JSON object".into()),
    }
}

fn json(value: impl serde::Serialize) -> String {
    serde_json::to_string(&value).expect("JSON values always serialize")
}

mcp_protocol::log_level_conversions!(wit::LogLevel);

fn tool(tool: p::Tool) -> wit::Tool {
    wit::Tool {
        name: tool.name,
        title: tool.title,
        description: tool.description,
        input_schema: json(tool.input_schema),
        output_schema: tool.output_schema.map(json),
        annotations: tool.annotations.map(|a| wit::Annotations {
            title: a.title,
            read_only_hint: a.read_only_hint,
            destructive_hint: a.destructive_hint,
            idempotent_hint: a.idempotent_hint,
            open_world_hint: a.open_world_hint,
        }),
        meta: tool.meta.map(json),
    }
}

fn resource(resource: p::Resource) -> wit::Resource {
    wit::Resource {
        uri: resource.uri,
        name: resource.name,
        title: resource.title,
        description: resource.description,
        mime_type: resource.mime_type,
        size: resource.size,
        meta: resource.meta.map(json),
    }
}

fn decode(base64: &str) -> Vec<u8> {
    // Our own constructors always encode valid base64.
    base64::engine::general_purpose::STANDARD.decode(base64).unwrap_or_default()
}

fn resource_contents(contents: p::ResourceContents) -> wit::ResourceContents {
    let body = match (contents.text, contents.blob) {
        (Some(text), _) => wit::ResourceBody::Text(text),
        (None, Some(blob)) => wit::ResourceBody::Blob(decode(&blob)),
        (None, None) => wit::ResourceBody::Text(String::new()),
    };
    wit::ResourceContents {
        uri: contents.uri,
        mime_type: contents.mime_type,
        body,
        meta: contents.meta.map(json),
    }
}

fn content_block(block: p::ContentBlock) -> wit::ContentBlock {
    match block {
        p::ContentBlock::Text { text } => wit::ContentBlock::Text(text),
        p::ContentBlock::Image { data, mime_type } => {
            wit::ContentBlock::Image(wit::Media { data: decode(&data), mime_type })
        }
        p::ContentBlock::Audio { data, mime_type } => {
            wit::ContentBlock::Audio(wit::Media { data: decode(&data), mime_type })
        }
        p::ContentBlock::Resource { resource } => wit::ContentBlock::Resource(resource_contents(resource)),
        p::ContentBlock::ResourceLink(link) => wit::ContentBlock::ResourceLink(resource(link)),
    }
}

fn call_result(result: p::CallToolResult) -> wit::CallResult {
    wit::CallResult {
        content: result.content.into_iter().map(content_block).collect(),
        structured_content: result.structured_content.map(json),
        is_error: result.is_error,
        meta: result.meta.map(json),
    }
}

fn call_error(error: p::CallError) -> wit::CallError {
    match error {
        p::CallError::UnknownTool => wit::CallError::UnknownTool,
        p::CallError::InvalidParams(message) => wit::CallError::InvalidParams(message),
        p::CallError::InputRequired(needed) => wit::CallError::InputRequired(wit::InputRequired {
            requests: needed
                .requests
                .into_iter()
                .map(|(key, r)| wit::InputRequest { key, method: r.method, params: json(r.params) })
                .collect(),
            state: needed.state,
        }),
        p::CallError::Internal(message) => wit::CallError::Internal(message),
    }
}

fn call_event(event: p::CallEvent) -> wit::CallEvent {
    match event {
        p::CallEvent::Log { level, logger, data } => {
            wit::CallEvent::Log(wit::LogMessage { level: wit_log_level(level), logger, data: json(data) })
        }
        p::CallEvent::Progress { progress, total, message } => {
            wit::CallEvent::Progress(wit::ProgressUpdate { progress, total, message })
        }
    }
}
