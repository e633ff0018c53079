//! Write an MCP tool component in Rust.
//!
//! Implement [`Server`] with the protocol crate's types, then `mcp_guest::export!(MyServer);`.
//! That one line exports the `mcp:tool` contract for `mcp-host` *and*
//! `wasi:http/incoming-handler`, so the same `.wasm` also runs alone as an MCP
//! server under `wasmtime serve -S cli`, answering through the same protocol
//! crate as the host.

use std::future::Future;

pub use mcp_protocol as protocol;
use mcp_protocol::{
    CallError, CallRequest, CallToolResult, Completion, CompletionRequest, GetPromptResult, Inputs,
    JsonObject, Prompt, ReadError, Resource, ResourceContents, ResourceTemplate, Tool,
};
#[doc(hidden)]
pub use wasip2;

mod call;
mod export;
pub mod fetch;
#[doc(hidden)]
pub mod serve;

pub use call::Context;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "mcp:tool/tool-component",
        pub_export_macro: true,
        export_macro_name: "__export_tool_component",
    });
}

/// A tool component: what it offers and how it answers.
pub trait Server: 'static {
    /// Every tool, in a fixed order.
    fn tools() -> Vec<Tool>;

    /// Runs one call. Report logs and progress through `cx` as the call goes;
    /// return a result with `is_error` for anything the model can act on.
    fn call(request: CallRequest, cx: Context) -> impl Future<Output = Result<CallToolResult, CallError>>;

    /// Every resource, in a fixed order.
    fn resources() -> Vec<Resource> {
        Vec::new()
    }

    /// Every resource template, in a fixed order; reads of matching URIs come to `read`.
    fn resource_templates() -> Vec<ResourceTemplate> {
        Vec::new()
    }

    fn read(uri: &str) -> Result<Vec<ResourceContents>, ReadError> {
        let _ = uri;
        Err(ReadError::NotFound)
    }

    /// Every prompt, in a fixed order.
    fn prompts() -> Vec<Prompt> {
        Vec::new()
    }

    /// Fills in one prompt; `inputs` holds answers to input it asked for before.
    fn get_prompt(
        name: &str,
        arguments: &JsonObject,
        inputs: Option<&Inputs>,
    ) -> Result<GetPromptResult, CallError> {
        let _ = (name, arguments, inputs);
        Err(CallError::UnknownTool)
    }

    /// Suggestions for a prompt argument or template variable.
    fn complete(request: &CompletionRequest) -> Result<Completion, CallError> {
        let _ = request;
        Ok(Completion::default())
    }

    /// What the component offers besides tools, for its capabilities.
    fn offers() -> protocol::Offers {
        let prompts = !Self::prompts().is_empty();
        let templates = !Self::resource_templates().is_empty();
        protocol::Offers {
            resources: templates || !Self::resources().is_empty(),
            prompts,
            completions: prompts || templates,
            // Alone under `wasmtime serve`, every request meets a fresh
            // instance: nothing stays to notify anyone.
            list_changed: false,
            // Skill entries are built by `mcp-host` (see `serve`).
            skills: false,
            // A task outlives its request: only `mcp-host` keeps them.
            tasks: false,
        }
    }

    /// Name and version reported when the component serves HTTP alone.
    fn implementation() -> protocol::Implementation;
}

/// Exports `$server` (a [`Server`]) as an MCP tool component that also
/// answers MCP over HTTP under `wasmtime serve`.
#[macro_export]
macro_rules! export {
    ($server:ty) => {
        #[doc(hidden)]
        struct __McpGuestExport;

        impl $crate::Exported for __McpGuestExport {
            type Server = $server;
        }

        impl $crate::wasip2::exports::http::incoming_handler::Guest for __McpGuestExport {
            fn handle(
                request: $crate::wasip2::http::types::IncomingRequest,
                response: $crate::wasip2::http::types::ResponseOutparam,
            ) {
                $crate::serve::handle::<$server>(request, response)
            }
        }

        $crate::bindings::__export_tool_component!(__McpGuestExport with_types_in $crate::bindings);
        $crate::wasip2::http::proxy::export!(__McpGuestExport with_types_in $crate::wasip2);
    };
}

/// Links the type `export!` defines to the component's [`Server`].
#[doc(hidden)]
pub trait Exported: 'static {
    type Server: Server;
}
