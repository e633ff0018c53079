//! The server fixtures of the official MCP conformance suite
//! (`@modelcontextprotocol/conformance`), written against the `mcp:tool`
//! contract: if the contract could not express a fixture, it would be incomplete.
//!
//! Loaded only for conformance runs, never in the default deployment.

use std::time::Duration;

use mcp_guest::protocol::{
    CallError, CallRequest, CallToolResult, Completion, CompletionRef, CompletionRequest, ContentBlock,
    GetPromptResult, Implementation, InputRequest, InputRequired, Inputs, JsonObject, LogLevel, Prompt,
    PromptArgument, PromptMessage, ReadError, Resource, ResourceContents, ResourceInfo, ResourceTemplate,
    Role, Tool,
};
use mcp_guest::{Context, Server};
use serde_json::{Value, json};

mod fixtures;
mod tasks;

use fixtures::{PNG, png_base64, wav_base64};

struct Conformance;

fn no_arguments() -> Value {
    json!({ "type": "object", "properties": {} })
}

fn string_argument(name: &str, description: &str) -> Value {
    json!({ "type": "object", "properties": { name: { "type": "string", "description": description } }, "required": [name] })
}

fn text(text: impl Into<String>) -> CallToolResult {
    CallToolResult { content: vec![ContentBlock::text(text)], ..CallToolResult::default() }
}

fn sleep(duration: Duration) {
    wasip2::clocks::monotonic_clock::subscribe_duration(duration.as_nanos() as u64).block();
}

/// Asks the client for input: the host turns this into an `input_required`
/// result (2026-07-28) or requests on the call's stream (earlier revisions).
fn ask(requests: Vec<(&str, &str, Value)>, state: Option<&str>) -> CallError {
    CallError::InputRequired(InputRequired {
        requests: requests
            .into_iter()
            .map(|(key, method, params)| (key.to_owned(), InputRequest { method: method.into(), params }))
            .collect(),
        state: state.map(str::to_owned),
    })
}

fn answer<'a>(inputs: Option<&'a Inputs>, key: &str) -> Option<&'a Value> {
    inputs?.responses.get(key)
}

fn elicit(message: &str, schema: Value) -> Value {
    json!({ "message": message, "requestedSchema": schema })
}

fn sample(prompt: &str, max_tokens: u32) -> Value {
    json!({ "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }], "maxTokens": max_tokens })
}

fn name_schema(field: &str) -> Value {
    json!({ "type": "object", "properties": { field: { "type": "string" } }, "required": [field] })
}

fn argument(request: &CallRequest, name: &str) -> String {
    request.arguments.get(name).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The text of a sampling result (`content.text`).
fn sampled_text(result: &Value) -> String {
    result["content"]["text"].as_str().unwrap_or_default().to_owned()
}

fn elicited(result: &Value) -> String {
    format!("action={}, content={}", result["action"].as_str().unwrap_or("none"), result["content"])
}

/// Which generation of the fixtures this is (`FIXTURE_GENERATION` in the
/// policy): each lists a tool and a prompt of its own, so a swap to the next
/// one changes both lists.
fn generation() -> Option<String> {
    std::env::var("FIXTURE_GENERATION")
        .ok()
        .filter(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
}

/// Asks the conformance run's helper (`SWAP_TRIGGER_URL`) to publish the next
/// generation's policy, which the host notices and swaps in: the tool and
/// prompt lists then change the way they change in production, by a swap.
fn next_generation() -> CallToolResult {
    let Ok(url) = std::env::var("SWAP_TRIGGER_URL") else {
        return CallToolResult::error("no SWAP_TRIGGER_URL: this run cannot swap components");
    };
    match mcp_guest::fetch::get(&url, Duration::from_secs(5), 1024) {
        Ok(response) if response.status == 200 => text("The next generation is being swapped in"),
        Ok(response) => CallToolResult::error(format!("the swap trigger answered HTTP {}", response.status)),
        Err(error) => CallToolResult::error(format!("the swap trigger failed: {error}")),
    }
}

impl Server for Conformance {
    fn tools() -> Vec<Tool> {
        vec![
            Tool::new("test_simple_text", "Returns a simple text response.", no_arguments()),
            Tool::new("test_image_content", "Returns a 1x1 PNG image.", no_arguments()),
            Tool::new("test_audio_content", "Returns a short WAV clip.", no_arguments()),
            Tool::new("test_embedded_resource", "Returns an embedded text resource.", no_arguments()),
            Tool::new(
                "test_multiple_content_types",
                "Returns text, an image and a resource.",
                no_arguments(),
            ),
            Tool::new("test_tool_with_logging", "Logs three messages 50 ms apart.", no_arguments()),
            Tool::new(
                "test_logging_tool",
                "Logs a message; no logs reach a client that set no level.",
                no_arguments(),
            ),
            Tool::new("test_error_handling", "Always fails with a tool error.", no_arguments()),
            Tool::new("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100.", no_arguments()),
            Tool::new(
                "test_sampling",
                "Asks the client's model to answer a prompt.",
                string_argument("prompt", "The prompt to send"),
            ),
            Tool::new(
                "test_elicitation",
                "Asks the user for a name and an email.",
                string_argument("message", "The message to show"),
            ),
            Tool::new(
                "test_elicitation_sep1034_defaults",
                "Elicits values that all have defaults.",
                no_arguments(),
            ),
            Tool::new("test_elicitation_sep1330_enums", "Elicits the five kinds of enum.", no_arguments()),
            Tool::new(
                "test_missing_capability",
                "Needs sampling, which the client must declare.",
                no_arguments(),
            ),
            Tool::new("test_streaming_elicitation", "Needs the user's confirmation.", no_arguments()),
            Tool::new("test_input_required_result_elicitation", "Asks for the user's name.", no_arguments()),
            Tool::new(
                "test_input_required_result_sampling",
                "Asks the client's model a question.",
                no_arguments(),
            ),
            Tool::new(
                "test_input_required_result_list_roots",
                "Asks for the client's roots.",
                no_arguments(),
            ),
            Tool::new(
                "test_input_required_result_request_state",
                "Asks for confirmation, keeping state.",
                no_arguments(),
            ),
            Tool::new(
                "test_input_required_result_multiple_inputs",
                "Asks for three inputs at once.",
                no_arguments(),
            ),
            Tool::new("test_input_required_result_multi_round", "Asks in two rounds.", no_arguments()),
            Tool::new(
                "test_input_required_result_tampered_state",
                "Keeps state the client must not change.",
                no_arguments(),
            ),
            Tool::new(
                "test_input_required_result_capabilities",
                "Asks only for what the client supports.",
                no_arguments(),
            ),
            Tool::new(
                "json_schema_2020_12_tool",
                "Tool with JSON Schema 2020-12 features",
                fixtures::json_schema_2020_12(),
            ),
            Tool::new(
                "test_trigger_tool_change",
                "Has the host swap in the next generation of this component (new tools and prompts).",
                no_arguments(),
            ),
            Tool::new(
                "test_trigger_prompt_change",
                "Has the host swap in the next generation of this component (new tools and prompts).",
                no_arguments(),
            ),
            Tool::new(
                "test_custom_header",
                "Echoes a region that the client repeats in the Mcp-Param-Region header.",
                fixtures::custom_header_schema(),
            ),
        ]
        .into_iter()
        .chain(tasks::tools())
        .chain(generation().map(|g| {
            Tool::new(format!("test_generation_{g}"), "Listed by this generation only.", no_arguments())
        }))
        .collect()
    }

    async fn call(request: CallRequest, cx: Context) -> Result<CallToolResult, CallError> {
        if let Some(result) = tasks::call(&request) {
            return result;
        }
        let inputs = request.inputs.as_ref();
        Ok(match request.name.as_str() {
            "test_simple_text" => text("This is a simple text response for testing."),
            "test_image_content" => CallToolResult {
                content: vec![ContentBlock::Image { data: png_base64(), mime_type: "image/png".into() }],
                ..CallToolResult::default()
            },
            "test_audio_content" => CallToolResult {
                content: vec![ContentBlock::Audio { data: wav_base64(), mime_type: "audio/wav".into() }],
                ..CallToolResult::default()
            },
            "test_embedded_resource" => CallToolResult {
                content: vec![ContentBlock::Resource {
                    resource: ResourceContents::text(
                        "test://embedded-resource",
                        Some("text/plain".into()),
                        "This is an embedded resource content.".into(),
                    ),
                }],
                ..CallToolResult::default()
            },
            "test_multiple_content_types" => CallToolResult {
                content: vec![
                    ContentBlock::text("Multiple content types test:"),
                    ContentBlock::Image { data: png_base64(), mime_type: "image/png".into() },
                    ContentBlock::Resource {
                        resource: ResourceContents::text(
                            "test://mixed-content-resource",
                            Some("application/json".into()),
                            r#"{"test":"data","value":123}"#.into(),
                        ),
                    },
                ],
                ..CallToolResult::default()
            },
            "test_tool_with_logging" => {
                for (i, message) in
                    ["Tool execution started", "Tool processing data", "Tool execution completed"]
                        .into_iter()
                        .enumerate()
                {
                    if i > 0 {
                        sleep(Duration::from_millis(50));
                    }
                    cx.log(LogLevel::Info, message).await;
                }
                text("Tool with logging executed successfully")
            }
            "test_logging_tool" => {
                cx.log(LogLevel::Info, "test_logging_tool ran").await;
                text("Logged one message at info level")
            }
            "test_error_handling" => {
                CallToolResult::error("This tool intentionally returns an error for testing")
            }
            "test_tool_with_progress" => {
                for (i, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                    if i > 0 {
                        sleep(Duration::from_millis(50));
                    }
                    cx.progress(progress, Some(100.0), None).await;
                }
                text("Tool with progress executed successfully")
            }
            "test_sampling" => match answer(inputs, "sampling") {
                Some(result) => text(format!("LLM response: {}", sampled_text(result))),
                None => {
                    return Err(ask(
                        vec![(
                            "sampling",
                            "sampling/createMessage",
                            sample(&argument(&request, "prompt"), 100),
                        )],
                        None,
                    ));
                }
            },
            "test_elicitation" => match answer(inputs, "elicitation") {
                Some(result) => text(format!("User response: {}", elicited(result))),
                None => {
                    let schema = json!({
                        "type": "object",
                        "properties": {
                            "username": { "type": "string", "description": "User's response" },
                            "email": { "type": "string", "description": "User's email address" },
                        },
                        "required": ["username", "email"],
                    });
                    return Err(ask(
                        vec![(
                            "elicitation",
                            "elicitation/create",
                            elicit(&argument(&request, "message"), schema),
                        )],
                        None,
                    ));
                }
            },
            "test_elicitation_sep1034_defaults" => match answer(inputs, "defaults") {
                Some(result) => text(format!("Elicitation completed: {}", elicited(result))),
                None => {
                    let schema = json!({
                        "type": "object",
                        "properties": {
                            "name": { "type": "string", "default": "John Doe" },
                            "age": { "type": "integer", "default": 30 },
                            "score": { "type": "number", "default": 95.5 },
                            "status": { "type": "string", "enum": ["active", "inactive", "pending"], "default": "active" },
                            "verified": { "type": "boolean", "default": true },
                        },
                    });
                    return Err(ask(
                        vec![(
                            "defaults",
                            "elicitation/create",
                            elicit("Please review your details", schema),
                        )],
                        None,
                    ));
                }
            },
            "test_elicitation_sep1330_enums" => match answer(inputs, "enums") {
                Some(result) => text(format!("Elicitation completed: {}", elicited(result))),
                None => {
                    return Err(ask(
                        vec![(
                            "enums",
                            "elicitation/create",
                            elicit("Please choose", fixtures::enum_schema()),
                        )],
                        None,
                    ));
                }
            },
            "test_missing_capability" => match answer(inputs, "needs_sampling") {
                Some(result) => text(format!("Sampled: {}", sampled_text(result))),
                None => {
                    return Err(ask(
                        vec![("needs_sampling", "sampling/createMessage", sample("Say hello", 20))],
                        None,
                    ));
                }
            },
            "test_streaming_elicitation" | "test_input_required_result_elicitation" => {
                match answer(inputs, "user_name") {
                    Some(result) => {
                        text(format!("Hello, {}!", result["content"]["name"].as_str().unwrap_or("stranger")))
                    }
                    None => {
                        return Err(ask(
                            vec![(
                                "user_name",
                                "elicitation/create",
                                elicit("What is your name?", name_schema("name")),
                            )],
                            None,
                        ));
                    }
                }
            }
            "test_input_required_result_sampling" => match answer(inputs, "capital_question") {
                Some(result) => text(format!("The model said: {}", sampled_text(result))),
                None => {
                    return Err(ask(
                        vec![(
                            "capital_question",
                            "sampling/createMessage",
                            sample("What is the capital of France?", 100),
                        )],
                        None,
                    ));
                }
            },
            "test_input_required_result_list_roots" => match answer(inputs, "client_roots") {
                Some(result) => text(format!("The client has these roots: {}", result["roots"])),
                None => return Err(ask(vec![("client_roots", "roots/list", json!({}))], None)),
            },
            "test_input_required_result_request_state" | "test_input_required_result_tampered_state" => {
                let state = "confirm-round-1";
                match (answer(inputs, "confirm"), inputs.and_then(|i| i.state.as_deref())) {
                    (Some(_), Some(echoed)) if echoed == state => text("Confirmed: state-ok"),
                    _ => {
                        let schema = json!({ "type": "object", "properties": { "ok": { "type": "boolean" } }, "required": ["ok"] });
                        return Err(ask(
                            vec![("confirm", "elicitation/create", elicit("Please confirm", schema))],
                            Some(state),
                        ));
                    }
                }
            }
            "test_input_required_result_multiple_inputs" => {
                let keys = ["user_name", "greeting", "client_roots"];
                if keys.iter().all(|k| answer(inputs, k).is_some()) {
                    text("Received all three inputs")
                } else {
                    return Err(ask(
                        vec![
                            (
                                "user_name",
                                "elicitation/create",
                                elicit("What is your name?", name_schema("name")),
                            ),
                            ("greeting", "sampling/createMessage", sample("Generate a greeting", 50)),
                            ("client_roots", "roots/list", json!({})),
                        ],
                        Some("multiple-inputs"),
                    ));
                }
            }
            "test_input_required_result_multi_round" => {
                match (
                    inputs.and_then(|i| i.state.as_deref()),
                    answer(inputs, "step1"),
                    answer(inputs, "step2"),
                ) {
                    (Some("round-2"), _, Some(color)) => text(format!(
                        "Your favorite color is {}",
                        color["content"]["color"].as_str().unwrap_or("unknown")
                    )),
                    (Some("round-1"), Some(_), _) => {
                        let ask_color = elicit("Step 2: What is your favorite color?", name_schema("color"));
                        return Err(ask(vec![("step2", "elicitation/create", ask_color)], Some("round-2")));
                    }
                    _ => {
                        let ask_name = elicit("Step 1: What is your name?", name_schema("name"));
                        return Err(ask(vec![("step1", "elicitation/create", ask_name)], Some("round-1")));
                    }
                }
            }
            "test_input_required_result_capabilities" => {
                let can = |capability: &str| request.client_capabilities.contains_key(capability);
                if inputs.is_some_and(|i| !i.responses.is_empty()) {
                    text("Received the inputs the client could give")
                } else {
                    let mut requests = Vec::new();
                    if can("sampling") {
                        requests.push(("question", "sampling/createMessage", sample("Pick a number", 10)));
                    }
                    if can("elicitation") {
                        requests.push((
                            "name",
                            "elicitation/create",
                            elicit("What is your name?", name_schema("name")),
                        ));
                    }
                    if requests.is_empty() {
                        text("The client can give no input, so none was asked for")
                    } else {
                        return Err(ask(requests, None));
                    }
                }
            }
            "json_schema_2020_12_tool" => text(format!("Received: {}", Value::Object(request.arguments))),
            "test_trigger_tool_change" | "test_trigger_prompt_change" => next_generation(),
            "test_custom_header" => text(format!("Region: {}", argument(&request, "region"))),
            _ => return Err(CallError::UnknownTool),
        })
    }

    fn resources() -> Vec<Resource> {
        let resource = |uri: &str, name: &str, mime: &str| Resource {
            uri: uri.into(),
            info: ResourceInfo { mime_type: Some(mime.into()), ..ResourceInfo::named(name) },
            size: None,
        };
        vec![
            resource("test://static-text", "static-text", "text/plain"),
            resource("test://static-binary", "static-binary", "image/png"),
            resource("test://watched-resource", "watched-resource", "text/plain"),
        ]
    }

    fn resource_templates() -> Vec<ResourceTemplate> {
        let info = ResourceInfo {
            description: Some("Data for an id".into()),
            mime_type: Some("application/json".into()),
            ..ResourceInfo::named("template-data")
        };
        vec![ResourceTemplate { uri_template: "test://template/{id}/data".into(), info }]
    }

    fn read(uri: &str) -> Result<Vec<ResourceContents>, ReadError> {
        let text = |mime: &str, text: String| Ok(vec![ResourceContents::text(uri, Some(mime.into()), text)]);
        match uri {
            "test://static-text" => {
                text("text/plain", "This is the content of the static text resource.".into())
            }
            "test://watched-resource" => text("text/plain", "Watched resource content.".into()),
            "test://static-binary" => Ok(vec![ResourceContents::blob(uri, Some("image/png".into()), PNG)]),
            _ => match uri.strip_prefix("test://template/").and_then(|rest| rest.strip_suffix("/data")) {
                Some(id) if !id.is_empty() && !id.contains('/') => text(
                    "application/json",
                    json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") })
                        .to_string(),
                ),
                _ => Err(ReadError::NotFound),
            },
        }
    }

    fn prompts() -> Vec<Prompt> {
        let prompt = |name: &str, description: &str, arguments: &[(&str, &str)]| Prompt {
            name: name.into(),
            title: None,
            description: description.into(),
            arguments: arguments
                .iter()
                .map(|(name, description)| PromptArgument {
                    name: (*name).into(),
                    title: None,
                    description: Some((*description).into()),
                    required: true,
                })
                .collect(),
            meta: None,
        };
        vec![
            prompt("test_simple_prompt", "A simple prompt without arguments", &[]),
            prompt(
                "test_prompt_with_arguments",
                "A prompt with two arguments",
                &[("arg1", "First test argument"), ("arg2", "Second test argument")],
            ),
            prompt(
                "test_prompt_with_embedded_resource",
                "A prompt that embeds a resource",
                &[("resourceUri", "URI of the resource to embed")],
            ),
            prompt("test_prompt_with_image", "A prompt with an image", &[]),
            prompt("test_input_required_result_prompt", "A prompt that needs context from the user", &[]),
        ]
        .into_iter()
        .chain(
            generation().map(|g| {
                prompt(&format!("test_generation_prompt_{g}"), "Listed by this generation only", &[])
            }),
        )
        .collect()
    }

    fn get_prompt(
        name: &str,
        arguments: &JsonObject,
        inputs: Option<&Inputs>,
    ) -> Result<GetPromptResult, CallError> {
        let user = |content: ContentBlock| PromptMessage { role: Role::User, content };
        let argument = |key: &str| arguments.get(key).and_then(Value::as_str).unwrap_or_default();
        let messages = match name {
            "test_simple_prompt" => vec![user(ContentBlock::text("This is a simple prompt for testing."))],
            "test_prompt_with_arguments" => vec![user(ContentBlock::text(format!(
                "Prompt with arguments: arg1='{}', arg2='{}'",
                argument("arg1"),
                argument("arg2")
            )))],
            "test_prompt_with_embedded_resource" => vec![
                user(ContentBlock::Resource {
                    resource: ResourceContents::text(
                        argument("resourceUri"),
                        Some("text/plain".into()),
                        "Embedded resource content for testing.".into(),
                    ),
                }),
                user(ContentBlock::text("Please process the embedded resource above.")),
            ],
            "test_prompt_with_image" => vec![
                user(ContentBlock::Image { data: png_base64(), mime_type: "image/png".into() }),
                user(ContentBlock::text("Please analyze the image above.")),
            ],
            "test_input_required_result_prompt" => match answer(inputs, "user_context") {
                Some(result) => vec![user(ContentBlock::text(format!(
                    "Answer with this context in mind: {}",
                    result["content"]["context"].as_str().unwrap_or("none")
                )))],
                None => {
                    let schema = name_schema("context");
                    let request = elicit("What context should the prompt use?", schema);
                    return Err(ask(vec![("user_context", "elicitation/create", request)], None));
                }
            },
            _ => return Err(CallError::UnknownTool),
        };
        Ok(GetPromptResult { description: None, messages })
    }

    fn complete(request: &CompletionRequest) -> Result<Completion, CallError> {
        const WORDS: [&str; 6] = ["paris", "park", "party", "test", "testing", "tested"];
        match &request.reference {
            CompletionRef::Prompt(name) if name == "test_prompt_with_arguments" => {
                let values: Vec<String> =
                    WORDS.iter().filter(|w| w.starts_with(&request.value)).map(|w| w.to_string()).collect();
                Ok(Completion { total: Some(values.len() as u32), values, has_more: false })
            }
            CompletionRef::ResourceTemplate(_) => Ok(Completion::default()),
            CompletionRef::Prompt(name) => {
                Err(CallError::InvalidParams(format!("no prompt {name} to complete")))
            }
        }
    }

    fn implementation() -> Implementation {
        Implementation {
            name: "conformance-fixtures".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            title: None,
        }
    }
}

mcp_guest::export!(Conformance);
