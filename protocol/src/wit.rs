//! The contract's WIT values into protocol types, checking every JSON text a
//! component hands over: the same conversions for every binding generator
//! (wasmtime's in `mcp-host`, wit-bindgen's in the `wasmtime serve` adapter),
//! so both read a component alike.

/// Defines the conversions between the WIT module `wit` in scope (the
/// `mcp:tool/types` bindings) and the protocol types: `tool`, `resource`,
/// `resource_contents`, `resource_template`, `prompt`, `prompt_result`,
/// `completion`, `call_error`, `call_result`, `call_event` one way,
/// `completion_request`, `inputs`, `call_request` the other.
#[macro_export]
macro_rules! wit_conversions {
    () => {
        use $crate as p;
        use serde_json::Value;

        fn object(text: &str, what: &str) -> Result<p::JsonObject, String> {
            match serde_json::from_str(text) {
                Ok(Value::Object(object)) => Ok(object),
                Ok(_) => Err(format!("{what} is not a JSON object")),
                Err(e) => Err(format!("{what} is not valid JSON: {e}")),
            }
        }

        fn optional_object(text: Option<&str>, what: &str) -> Result<Option<p::JsonObject>, String> {
            text.map(|t| object(t, what)).transpose()
        }

        pub fn tool(tool: wit::Tool) -> Result<p::Tool, String> {
            let what = |field: &str| format!("tool {:?}: {field}", tool.name);
            let converted = p::Tool {
                input_schema: object(&tool.input_schema, &what("input-schema"))?,
                output_schema: optional_object(tool.output_schema.as_deref(), &what("output-schema"))?,
                meta: optional_object(tool.meta.as_deref(), &what("meta"))?,
                annotations: tool.annotations.map(|a| {
                    p::move_fields!(a => p::ToolAnnotations {
                        title, read_only_hint, destructive_hint, idempotent_hint, open_world_hint
                    })
                }),
                name: tool.name,
                title: tool.title,
                description: tool.description,
            };
            converted.validate()?;
            Ok(converted)
        }

        pub fn resource(resource: wit::Resource) -> Result<p::Resource, String> {
            let meta = optional_object(resource.meta.as_deref(), &format!("resource {:?}: meta", resource.uri))?;
            let info =
                p::move_fields!(resource => p::ResourceInfo { name, title, description, mime_type; meta: meta });
            Ok(p::Resource { uri: resource.uri, info, size: resource.size })
        }

        pub fn resource_contents(contents: wit::ResourceContents) -> Result<p::ResourceContents, String> {
            let meta = optional_object(contents.meta.as_deref(), "resource contents meta")?;
            let converted = match contents.body {
                wit::ResourceBody::Text(text) => p::ResourceContents::text(contents.uri, contents.mime_type, text),
                wit::ResourceBody::Blob(bytes) => p::ResourceContents::blob(contents.uri, contents.mime_type, &bytes),
            };
            Ok(p::ResourceContents { meta, ..converted })
        }

        pub fn resource_template(template: wit::ResourceTemplate) -> Result<p::ResourceTemplate, String> {
            let meta =
                optional_object(template.meta.as_deref(), &format!("template {:?}: meta", template.uri_template))?;
            let info =
                p::move_fields!(template => p::ResourceInfo { name, title, description, mime_type; meta: meta });
            Ok(p::ResourceTemplate { uri_template: template.uri_template, info })
        }

        pub fn prompt(prompt: wit::Prompt) -> Result<p::Prompt, String> {
            let checked_meta = optional_object(prompt.meta.as_deref(), &format!("prompt {:?}: meta", prompt.name))?;
            let arguments = prompt.arguments.into_iter();
            let arguments =
                arguments.map(|a| p::move_fields!(a => p::PromptArgument { name, title, description, required }));
            Ok(p::move_fields!(prompt => p::Prompt {
                name, title, description;
                arguments: arguments.collect(), meta: checked_meta
            }))
        }

        pub fn prompt_result(result: wit::PromptResult) -> Result<p::GetPromptResult, String> {
            let messages = result
                .messages
                .into_iter()
                .map(|m| {
                    let role = match m.role {
                        wit::Role::User => p::Role::User,
                        wit::Role::Assistant => p::Role::Assistant,
                    };
                    Ok(p::PromptMessage { role, content: content_block(m.content)? })
                })
                .collect::<Result<_, String>>()?;
            Ok(p::GetPromptResult { description: result.description, messages })
        }

        pub fn completion(completion: wit::Completion) -> p::Completion {
            // MCP allows at most 100 values.
            let mut values = completion.values;
            let has_more = completion.has_more || values.len() > 100;
            values.truncate(100);
            p::Completion { values, total: completion.total, has_more }
        }

        pub fn completion_request(request: &p::CompletionRequest) -> wit::CompletionRequest {
            wit::CompletionRequest {
                target: match &request.reference {
                    p::CompletionRef::Prompt(name) => wit::CompletionTarget::Prompt(name.clone()),
                    p::CompletionRef::ResourceTemplate(uri) => wit::CompletionTarget::ResourceTemplate(uri.clone()),
                },
                argument: request.argument.clone(),
                value: request.value.clone(),
                context: serde_json::to_string(&request.context).expect("JSON values always serialize"),
            }
        }

        /// A component's refusal, its input requests checked.
        pub fn call_error(error: wit::CallError) -> p::CallError {
            match error {
                wit::CallError::UnknownTool => p::CallError::UnknownTool,
                wit::CallError::InvalidParams(message) => p::CallError::InvalidParams(message),
                wit::CallError::Internal(message) => p::CallError::Internal(message),
                wit::CallError::InputRequired(needed) => {
                    let mut requests = Vec::new();
                    for request in needed.requests {
                        let params = match serde_json::from_str(&request.params) {
                            Ok(params @ Value::Object(_)) => params,
                            _ => {
                                return p::CallError::Internal(format!(
                                    "input request {:?}: params are not a JSON object",
                                    request.key
                                ));
                            }
                        };
                        let request = (request.key, p::InputRequest { method: request.method, params });
                        if request.1.capability().is_none() || requests.iter().any(|(key, _)| *key == request.0) {
                            return p::CallError::Internal(format!(
                                "input request {:?} is not a client request or repeats a key",
                                request.0
                            ));
                        }
                        requests.push(request);
                    }
                    p::CallError::InputRequired(p::InputRequired { requests, state: needed.state })
                }
            }
        }

        pub fn inputs(inputs: &p::Inputs) -> wit::Inputs {
            wit::Inputs {
                responses: serde_json::to_string(&inputs.responses).expect("JSON values always serialize"),
                state: inputs.state.clone(),
            }
        }

        fn content_block(block: wit::ContentBlock) -> Result<p::ContentBlock, String> {
            Ok(match block {
                wit::ContentBlock::Text(text) => p::ContentBlock::Text { text },
                wit::ContentBlock::Image(m) => {
                    p::ContentBlock::Image { data: p::encode_base64(&m.data), mime_type: m.mime_type }
                }
                wit::ContentBlock::Audio(m) => {
                    p::ContentBlock::Audio { data: p::encode_base64(&m.data), mime_type: m.mime_type }
                }
                wit::ContentBlock::Resource(r) => p::ContentBlock::Resource { resource: resource_contents(r)? },
                wit::ContentBlock::ResourceLink(r) => p::ContentBlock::ResourceLink(resource(r)?),
            })
        }

        pub fn call_result(result: wit::CallResult) -> Result<p::CallToolResult, String> {
            // The WIT asks for an object, and revisions before 2026-07-28 require one.
            let structured_content = optional_object(result.structured_content.as_deref(), "structured-content")?;
            Ok(p::CallToolResult {
                content: result.content.into_iter().map(content_block).collect::<Result<_, _>>()?,
                structured_content: structured_content.map(Value::Object),
                is_error: result.is_error,
                meta: optional_object(result.meta.as_deref(), "result meta")?,
            })
        }

        $crate::log_level_conversions!(pub wit::LogLevel);

        pub fn call_request(request: &p::CallRequest) -> wit::CallRequest {
            let json = |v: &p::JsonObject| serde_json::to_string(v).expect("JSON values always serialize");
            wit::CallRequest {
                name: request.name.clone(),
                arguments: json(&request.arguments),
                log_level: request.log_level.map(wit_log_level),
                progress: request.progress_token.is_some(),
                meta: request.meta.as_ref().map(json),
                inputs: request.inputs.as_ref().map(inputs),
                client_capabilities: json(&request.client_capabilities),
                identity: request.identity.as_ref().map(json),
            }
        }

        /// A log or progress event; `None` when its JSON is invalid (the event is dropped).
        pub fn call_event(event: wit::LogMessage) -> Option<p::CallEvent> {
            let data = serde_json::from_str(&event.data).ok()?;
            Some(p::CallEvent::Log { level: log_level(event.level), logger: event.logger, data })
        }
    };
}
