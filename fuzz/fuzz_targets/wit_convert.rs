//! The host's conversions of what a component returns (WIT values, lifted by
//! wasmtime) into protocol types, with values a hostile component could
//! return: arbitrary text where the contract says `json`, arbitrary bytes,
//! names and URIs. Every conversion either refuses or gives a value that
//! serializes, survives a JSON round trip, and renders as a JSON-RPC reply
//! under both generations of the protocol.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use mcp_host::fuzzing::{convert, wit};
use mcp_protocol::{self as p, Era, Op, Outcome, Pending, ServerInfo, Version};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

fn run(u: &mut Unstructured) -> Result<()> {
    match u.int_in_range(0..=8)? {
        0 => {
            if let Ok(tool) = convert::tool(tool(u)?) {
                tool.validate().expect("a converted tool is valid");
                round_trip(&tool);
            }
        }
        1 => {
            if let Ok(resource) = convert::resource(resource(u)?) {
                round_trip(&resource);
            }
        }
        2 => {
            if let Ok(template) = convert::resource_template(resource_template(u)?) {
                round_trip(&template);
                let uri = text(u)?;
                let _ = template.matches(&uri);
                let _ = template.matches(&template.uri_template.clone());
            }
        }
        3 => {
            if let Ok(prompt) = convert::prompt(prompt(u)?) {
                round_trip(&prompt);
            }
        }
        4 => {
            if let Ok(result) = convert::prompt_result(prompt_result(u)?) {
                render(u, Outcome::Prompt(Ok(result)))?;
            }
        }
        5 => {
            let completion =
                wit::Completion { values: list(u, text)?, total: u.arbitrary()?, has_more: u.arbitrary()? };
            let completion = convert::completion(completion);
            assert!(completion.values.len() <= 100, "MCP allows at most 100 completion values");
            render(u, Outcome::Completion(Ok(completion)))?;
        }
        6 => {
            let error = convert::call_error(call_error(u)?);
            render(u, Outcome::Call(Err(error)))?;
        }
        7 => {
            if let Ok(result) = convert::call_result(call_result(u)?) {
                render(u, Outcome::Call(Ok(result)))?;
            }
        }
        _ => {
            let message =
                wit::LogMessage { level: log_level(u)?, logger: optional(u, text)?, data: json(u)? };
            if let Some(event) = convert::call_event(message) {
                let pending = pending(u)?;
                if let Some(note) = pending.notification(&event) {
                    let _ = p::http::sse_event(&note);
                }
            }
        }
    }
    Ok(())
}

/// Serializes, reads back, and must get the same value.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
    let text = serde_json::to_string(value).expect("protocol types serialize");
    let back: T = serde_json::from_str(&text).expect("what we serialize we can read");
    assert_eq!(&back, value);
}

/// Renders an outcome as the reply to a call under either generation.
fn render(u: &mut Unstructured, outcome: Outcome) -> Result<()> {
    let pending = pending(u)?;
    let server = ServerInfo::new(
        p::Implementation { name: "fuzz".into(), version: "1".into(), title: None },
        p::Offers::default(),
    );
    let (status, reply) = pending.finish(outcome, &server);
    assert!((200..600).contains(&status));
    assert_eq!(reply["jsonrpc"], "2.0");
    serde_json::to_vec(&reply).expect("replies serialize");
    Ok(())
}

fn pending(u: &mut Unstructured) -> Result<Pending> {
    let versions = [Version::V2025_03_26, Version::V2025_06_18, Version::V2025_11_25, Version::V2026_07_28];
    let version = *u.choose(&versions)?;
    let mut client_capabilities = Map::new();
    for capability in ["sampling", "elicitation", "roots"] {
        if u.arbitrary()? {
            client_capabilities.insert(capability.into(), Value::Object(Map::new()));
        }
    }
    let request = p::CallRequest {
        name: text(u)?,
        arguments: Map::new(),
        log_level: if u.arbitrary()? { Some(convert::log_level(log_level(u)?)) } else { None },
        progress_token: if u.arbitrary()? { Some(Value::from(1)) } else { None },
        meta: None,
        inputs: None,
        client_capabilities: client_capabilities.clone(),
        identity: None,
    };
    Ok(Pending {
        id: Value::from(7),
        era: if version.is_stateless() { Era::Stateless(version) } else { Era::Legacy(version) },
        op: Op::CallTool(request),
        client_capabilities,
    })
}

fn text(u: &mut Unstructured) -> Result<String> {
    u.arbitrary()
}

fn optional<T>(u: &mut Unstructured, f: impl FnOnce(&mut Unstructured) -> Result<T>) -> Result<Option<T>> {
    Ok(if u.arbitrary()? { Some(f(u)?) } else { None })
}

fn list<T>(u: &mut Unstructured, mut f: impl FnMut(&mut Unstructured) -> Result<T>) -> Result<Vec<T>> {
    let len = u.int_in_range(0..=8)?;
    (0..len).map(|_| f(u)).collect()
}

/// What a component puts where the contract says `json`: mostly JSON (often
/// an object, as the host requires), sometimes anything at all.
fn json(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=3)? {
        0 => text(u)?,
        1 => json_value(u, 3)?.to_string(),
        _ => Value::Object(object(u, 3)?).to_string(),
    })
}

fn object(u: &mut Unstructured, depth: u32) -> Result<Map<String, Value>> {
    let mut object = Map::new();
    if u.arbitrary()? {
        object.insert("type".into(), Value::from(*u.choose(&["object", "string", "array"])?));
    }
    for _ in 0..u.int_in_range(0..=4)? {
        object.insert(text(u)?, json_value(u, depth.saturating_sub(1))?);
    }
    Ok(object)
}

fn json_value(u: &mut Unstructured, depth: u32) -> Result<Value> {
    Ok(match u.int_in_range(0..=if depth == 0 { 4 } else { 6 })? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => serde_json::Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        4 => Value::String(text(u)?),
        5 => Value::Array(list(u, |u| json_value(u, depth - 1))?),
        _ => Value::Object(object(u, depth)?),
    })
}

fn log_level(u: &mut Unstructured) -> Result<wit::LogLevel> {
    use wit::LogLevel::*;
    Ok(*u.choose(&[Debug, Info, Notice, Warning, Error, Critical, Alert, Emergency])?)
}

fn tool(u: &mut Unstructured) -> Result<wit::Tool> {
    Ok(wit::Tool {
        name: if u.arbitrary()? { text(u)? } else { u.choose(&["get_weather", "a.b-c_d", ""])?.to_string() },
        title: optional(u, text)?,
        description: text(u)?,
        input_schema: json(u)?,
        output_schema: optional(u, json)?,
        annotations: optional(u, |u| {
            Ok(wit::Annotations {
                title: optional(u, text)?,
                read_only_hint: u.arbitrary()?,
                destructive_hint: u.arbitrary()?,
                idempotent_hint: u.arbitrary()?,
                open_world_hint: u.arbitrary()?,
            })
        })?,
        meta: optional(u, json)?,
    })
}

fn resource(u: &mut Unstructured) -> Result<wit::Resource> {
    Ok(wit::Resource {
        uri: text(u)?,
        name: text(u)?,
        title: optional(u, text)?,
        description: optional(u, text)?,
        mime_type: optional(u, text)?,
        size: u.arbitrary()?,
        meta: optional(u, json)?,
    })
}

fn resource_contents(u: &mut Unstructured) -> Result<wit::ResourceContents> {
    Ok(wit::ResourceContents {
        uri: text(u)?,
        mime_type: optional(u, text)?,
        body: if u.arbitrary()? {
            wit::ResourceBody::Text(text(u)?)
        } else {
            wit::ResourceBody::Blob(u.arbitrary()?)
        },
        meta: optional(u, json)?,
    })
}

fn resource_template(u: &mut Unstructured) -> Result<wit::ResourceTemplate> {
    Ok(wit::ResourceTemplate {
        uri_template: text(u)?,
        name: text(u)?,
        title: optional(u, text)?,
        description: optional(u, text)?,
        mime_type: optional(u, text)?,
        meta: optional(u, json)?,
    })
}

fn prompt(u: &mut Unstructured) -> Result<wit::Prompt> {
    Ok(wit::Prompt {
        name: text(u)?,
        title: optional(u, text)?,
        description: text(u)?,
        arguments: list(u, |u| {
            Ok(wit::PromptArgument {
                name: text(u)?,
                title: optional(u, text)?,
                description: optional(u, text)?,
                required: u.arbitrary()?,
            })
        })?,
        meta: optional(u, json)?,
    })
}

fn content_block(u: &mut Unstructured) -> Result<wit::ContentBlock> {
    let media = |u: &mut Unstructured| -> Result<wit::Media> {
        Ok(wit::Media { data: u.arbitrary()?, mime_type: text(u)? })
    };
    Ok(match u.int_in_range(0..=4)? {
        0 => wit::ContentBlock::Text(text(u)?),
        1 => wit::ContentBlock::Image(media(u)?),
        2 => wit::ContentBlock::Audio(media(u)?),
        3 => wit::ContentBlock::Resource(resource_contents(u)?),
        _ => wit::ContentBlock::ResourceLink(resource(u)?),
    })
}

fn prompt_result(u: &mut Unstructured) -> Result<wit::PromptResult> {
    Ok(wit::PromptResult {
        description: optional(u, text)?,
        messages: list(u, |u| {
            let role = if u.arbitrary()? { wit::Role::User } else { wit::Role::Assistant };
            Ok(wit::PromptMessage { role, content: content_block(u)? })
        })?,
    })
}

fn call_result(u: &mut Unstructured) -> Result<wit::CallResult> {
    Ok(wit::CallResult {
        content: list(u, content_block)?,
        structured_content: optional(u, json)?,
        is_error: u.arbitrary()?,
        meta: optional(u, json)?,
    })
}

fn call_error(u: &mut Unstructured) -> Result<wit::CallError> {
    Ok(match u.int_in_range(0..=3)? {
        0 => wit::CallError::UnknownTool,
        1 => wit::CallError::InvalidParams(text(u)?),
        2 => wit::CallError::Internal(text(u)?),
        _ => wit::CallError::InputRequired(wit::InputRequired {
            requests: list(u, |u| {
                Ok(wit::InputRequest {
                    key: text(u)?,
                    method: if u.arbitrary()? {
                        u.choose(&["elicitation/create", "sampling/createMessage", "roots/list"])?.to_string()
                    } else {
                        text(u)?
                    },
                    params: json(u)?,
                })
            })?,
            state: optional(u, text)?,
        }),
    })
}
