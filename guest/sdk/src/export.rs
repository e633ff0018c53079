//! The `mcp:tool` exports, for any [`Server`](crate::Server): protocol types in,
//! WIT types out.

use std::cell::RefCell;

use base64::Engine as _;
use mcp_protocol as p;
use serde_json::Value;

use crate::bindings::exports::mcp::tool::{resources, tools};
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

    fn read_resource(uri: String) -> Result<Vec<wit::ResourceContents>, wit::ReadError> {
        match E::Server::read(&uri) {
            Ok(contents) => Ok(contents.into_iter().map(resource_contents).collect()),
            Err(p::ReadError::NotFound) => Err(wit::ReadError::NotFound),
            Err(p::ReadError::Internal(message)) => Err(wit::ReadError::Internal(message)),
        }
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
            Ok(request) => Ok(Running::start::<S>(request)),
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
    })
}

fn json(value: impl serde::Serialize) -> String {
    serde_json::to_string(&value).expect("JSON values always serialize")
}

fn log_level(level: wit::LogLevel) -> p::LogLevel {
    match level {
        wit::LogLevel::Debug => p::LogLevel::Debug,
        wit::LogLevel::Info => p::LogLevel::Info,
        wit::LogLevel::Notice => p::LogLevel::Notice,
        wit::LogLevel::Warning => p::LogLevel::Warning,
        wit::LogLevel::Error => p::LogLevel::Error,
        wit::LogLevel::Critical => p::LogLevel::Critical,
        wit::LogLevel::Alert => p::LogLevel::Alert,
        wit::LogLevel::Emergency => p::LogLevel::Emergency,
    }
}

fn wit_log_level(level: p::LogLevel) -> wit::LogLevel {
    match level {
        p::LogLevel::Debug => wit::LogLevel::Debug,
        p::LogLevel::Info => wit::LogLevel::Info,
        p::LogLevel::Notice => wit::LogLevel::Notice,
        p::LogLevel::Warning => wit::LogLevel::Warning,
        p::LogLevel::Error => wit::LogLevel::Error,
        p::LogLevel::Critical => wit::LogLevel::Critical,
        p::LogLevel::Alert => wit::LogLevel::Alert,
        p::LogLevel::Emergency => wit::LogLevel::Emergency,
    }
}

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
