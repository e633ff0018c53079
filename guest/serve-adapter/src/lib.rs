//! MCP over HTTP for any `mcp:tool` component: this component exports
//! `wasi:http/incoming-handler` and answers through the same protocol crate and
//! guest SDK as a Rust tool under `wasmtime serve`, calling the tool component
//! it is composed with (`wac plug`) through the contract's exports. So a tool
//! written in Python or TypeScript, which brings no HTTP server of its own,
//! runs alone as the Rust ones do: `make build` writes `weather.serve.wasm`.

#![allow(unsafe_code, reason = "the imports and exports wit-bindgen and wasip2 generate for a component")]

use mcp_guest::Context;
use mcp_protocol::{
    self as p, CallError, CallRequest, CallToolResult, Completion, CompletionRequest, GetPromptResult,
    Inputs, JsonObject, Prompt, ReadError, Resource, ResourceContents, ResourceTemplate, Tool,
};

wit_bindgen::generate!({ path: ["../../wit", "wit"], world: "mcp:serve-adapter/adapter", generate_all });

use mcp::tool::{completion, prompts, resources, tools};

/// The contract's values into protocol types, as `mcp-host` reads them.
mod convert {
    use super::mcp::tool::types as wit;

    mcp_protocol::wit_conversions!();
}

/// Keeps what converts; a value the component got wrong is left out, as the
/// host would refuse the component for it at load.
fn all<T, U>(items: Vec<T>, convert: fn(T) -> Result<U, String>) -> Vec<U> {
    items.into_iter().filter_map(|item| convert(item).ok()).collect()
}

struct Adapter;

impl mcp_guest::Server for Adapter {
    fn tools() -> Vec<Tool> {
        all(tools::list_tools(), convert::tool)
    }

    async fn call(request: CallRequest, cx: Context) -> Result<CallToolResult, CallError> {
        let call = tools::ToolCall::new(&convert::call_request(&request));
        loop {
            match call.next() {
                mcp::tool::types::CallEvent::Log(message) => {
                    if let Some(p::CallEvent::Log { level, data, .. }) = convert::call_event(message) {
                        cx.log(level, data).await;
                    }
                }
                mcp::tool::types::CallEvent::Progress(update) => {
                    cx.progress(update.progress, update.total, update.message.as_deref()).await;
                }
                mcp::tool::types::CallEvent::Done(Ok(result)) => {
                    return convert::call_result(result).map_err(CallError::Internal);
                }
                mcp::tool::types::CallEvent::Done(Err(error)) => return Err(convert::call_error(error)),
            }
        }
    }

    fn resources() -> Vec<Resource> {
        all(resources::list_resources(), convert::resource)
    }

    fn resource_templates() -> Vec<ResourceTemplate> {
        all(resources::list_resource_templates(), convert::resource_template)
    }

    fn read(uri: &str) -> Result<Vec<ResourceContents>, ReadError> {
        match resources::read_resource(uri) {
            Ok(contents) => contents
                .into_iter()
                .map(convert::resource_contents)
                .collect::<Result<_, _>>()
                .map_err(ReadError::Internal),
            Err(mcp::tool::types::ReadError::NotFound) => Err(ReadError::NotFound),
            Err(mcp::tool::types::ReadError::Internal(message)) => Err(ReadError::Internal(message)),
        }
    }

    fn prompts() -> Vec<Prompt> {
        all(prompts::list_prompts(), convert::prompt)
    }

    fn get_prompt(
        name: &str,
        arguments: &JsonObject,
        inputs: Option<&Inputs>,
    ) -> Result<GetPromptResult, CallError> {
        let arguments = serde_json::to_string(arguments).expect("JSON values always serialize");
        let inputs = inputs.map(convert::inputs);
        match prompts::get_prompt(name, &arguments, inputs.as_ref()) {
            Ok(result) => convert::prompt_result(result).map_err(CallError::Internal),
            Err(error) => Err(convert::call_error(error)),
        }
    }

    fn complete(request: &CompletionRequest) -> Result<Completion, CallError> {
        match completion::complete(&convert::completion_request(request)) {
            Ok(completion) => Ok(convert::completion(completion)),
            Err(error) => Err(convert::call_error(error)),
        }
    }

    fn implementation() -> p::Implementation {
        p::Implementation {
            name: "mcp-serve-adapter".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            title: None,
        }
    }
}

struct Handler;

impl mcp_guest::wasip2::exports::http::incoming_handler::Guest for Handler {
    fn handle(
        request: mcp_guest::wasip2::http::types::IncomingRequest,
        response: mcp_guest::wasip2::http::types::ResponseOutparam,
    ) {
        mcp_guest::serve::handle::<Adapter>(request, response)
    }
}

mcp_guest::wasip2::http::proxy::export!(Handler with_types_in mcp_guest::wasip2);
