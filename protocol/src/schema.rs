//! A tool's schemas, compiled once when the tool is published: its arguments
//! are checked against `inputSchema` before the tool runs, its structured
//! result against `outputSchema` after, and (2026-07-28) the `Mcp-Param-*`
//! headers its `x-mcp-header` properties ask for against the arguments.
//!
//! JSON Schema 2020-12 is the default dialect; a schema naming a dialect the
//! validator does not know is refused at publish. No `$ref` is ever fetched:
//! only references inside the schema itself resolve. Patterns use a
//! linear-time regex engine, and a schema may nest at most [`MAX_DEPTH`]
//! levels, so no check can run away on what a client sends.
//!
//! The validator is the `json-schema` feature, which only the host enables:
//! without it (in guest components) a `ToolSchema` holds the header checks alone.

use base64::Engine as _;
#[cfg(feature = "json-schema")]
use jsonschema::{PatternOptions, Retrieve, Uri, Validator};
use serde_json::Value;

use crate::http::Headers;
use crate::jsonrpc::{HEADER_MISMATCH, RpcError};
#[cfg(feature = "json-schema")]
use crate::types::CallToolResult;
use crate::types::{JsonObject, Tool};

/// The deepest a tool's schema may nest (objects and arrays).
#[cfg(feature = "json-schema")]
pub const MAX_DEPTH: usize = 64;
/// At most this many problems are reported for one value.
#[cfg(feature = "json-schema")]
const MAX_PROBLEMS: usize = 5;
/// At most this many characters of explanation are reported for one value.
#[cfg(feature = "json-schema")]
const MAX_REPORT_CHARS: usize = 1_000;
/// The prefix of the headers that repeat a tool's annotated arguments.
const PARAM_HEADER_PREFIX: &str = "mcp-param-";

/// What a tool's definition says its calls and results must look like.
pub struct ToolSchema {
    #[cfg(feature = "json-schema")]
    input: Validator,
    #[cfg(feature = "json-schema")]
    output: Option<Validator>,
    /// `(argument, header name)` for each property annotated `x-mcp-header`.
    headers: Vec<(String, String)>,
}

impl std::fmt::Debug for ToolSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolSchema").field("headers", &self.headers).finish_non_exhaustive()
    }
}

impl ToolSchema {
    /// Compiles a tool's schemas, or says why they cannot be used.
    pub fn compile(tool: &Tool) -> Result<Self, String> {
        let headers = param_headers(&tool.input_schema).map_err(|e| format!("tool {}: {e}", tool.name))?;
        #[cfg(not(feature = "json-schema"))]
        return Ok(Self { headers });
        #[cfg(feature = "json-schema")]
        {
            let input =
                compile(&tool.input_schema).map_err(|e| format!("tool {}: inputSchema {e}", tool.name))?;
            let output = match &tool.output_schema {
                Some(schema) => {
                    Some(compile(schema).map_err(|e| format!("tool {}: outputSchema {e}", tool.name))?)
                }
                None => None,
            };
            Ok(Self { input, output, headers })
        }
    }

    #[cfg(feature = "json-schema")]
    /// Checks a call's arguments; the error says what is wrong, for the model
    /// to correct (SEP-1303: an input error is a tool error, not a protocol one).
    pub fn check_arguments(&self, tool: &str, arguments: &JsonObject) -> Result<(), String> {
        let arguments = Value::Object(arguments.clone());
        problems(&self.input, &arguments)
            .map(|problems| format!("Invalid arguments for tool {tool}: {problems}"))
            .map_or(Ok(()), Err)
    }

    #[cfg(feature = "json-schema")]
    /// Checks a successful result's `structuredContent` against the output
    /// schema: a tool that declares one must provide a value that matches it.
    pub fn check_result(&self, result: &CallToolResult) -> Result<(), String> {
        let Some(output) = &self.output else { return Ok(()) };
        if result.is_error {
            return Ok(());
        }
        match &result.structured_content {
            None => Err("the tool declares an outputSchema but returned no structuredContent".into()),
            Some(structured) => problems(output, structured)
                .map(|problems| {
                    format!("the tool's structuredContent does not match its outputSchema: {problems}")
                })
                .map_or(Ok(()), Err),
        }
    }

    /// 2026-07-28 (SEP-2243): each argument annotated `x-mcp-header` must be
    /// repeated in its `Mcp-Param-*` header exactly when it is in the body, the
    /// header value literal or `=?base64?…?=`.
    pub fn check_headers(
        &self,
        arguments: &JsonObject,
        headers: &(impl Headers + ?Sized),
    ) -> Result<(), RpcError> {
        for (argument, header) in &self.headers {
            let expected = arguments.get(argument).and_then(header_form);
            let sent = headers.get(header).map(str::trim);
            let mismatch = |why: String| Err(RpcError::new(HEADER_MISMATCH, why));
            match (sent, expected) {
                (None, None) => {}
                (None, Some(_)) => {
                    return mismatch(format!("missing {header} header for argument {argument:?}"));
                }
                (Some(_), None) => {
                    return mismatch(format!(
                        "{header} header sent, but argument {argument:?} is not in the body"
                    ));
                }
                (Some(sent), Some(expected)) => match decode_param(sent) {
                    None => return mismatch(format!("{header} header is not valid =?base64?…?= text")),
                    Some(decoded) if decoded != expected => {
                        return mismatch(format!("{header} header does not match argument {argument:?}"));
                    }
                    Some(_) => {}
                },
            }
        }
        Ok(())
    }
}

#[cfg(feature = "json-schema")]
fn compile(schema: &JsonObject) -> Result<Validator, String> {
    let schema = Value::Object(schema.clone());
    if depth(&schema) > MAX_DEPTH {
        return Err(format!("nests deeper than {MAX_DEPTH} levels"));
    }
    jsonschema::options()
        .with_retriever(NoRemote)
        .with_pattern_options(PatternOptions::regex())
        .build(&schema)
        .map_err(|e| format!("is not a usable JSON Schema: {}", bounded(&e.to_string())))
}

#[cfg(feature = "json-schema")]
/// Refuses every `$ref` outside the schema: MCP servers must not dereference
/// network references, and a tool's schema has no files to read.
struct NoRemote;

#[cfg(feature = "json-schema")]
impl Retrieve for NoRemote {
    fn retrieve(&self, uri: &Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("{uri} is outside the schema; only references within it are followed").into())
    }
}

#[cfg(feature = "json-schema")]
/// What is wrong with `value`, or `None` if nothing is.
fn problems(validator: &Validator, value: &Value) -> Option<String> {
    let problems: Vec<String> = validator
        .iter_errors(value)
        .take(MAX_PROBLEMS)
        .map(|error| {
            let at = error.instance_path().to_string();
            if at.is_empty() { error.to_string() } else { format!("{at}: {error}") }
        })
        .collect();
    (!problems.is_empty()).then(|| bounded(&problems.join("; ")))
}

#[cfg(feature = "json-schema")]
/// At most [`MAX_REPORT_CHARS`] characters of `text`.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_REPORT_CHARS) {
        Some((end, _)) => format!("{}…", text.get(..end).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(feature = "json-schema")]
fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The `x-mcp-header` annotations of a schema's top-level properties, checked
/// as SEP-2243 requires: a non-empty token, unique ignoring case, on a string,
/// integer or boolean property.
fn param_headers(schema: &JsonObject) -> Result<Vec<(String, String)>, String> {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return Ok(Vec::new()) };
    let mut headers: Vec<(String, String)> = Vec::new();
    for (argument, property) in properties {
        let Some(annotation) = property.get("x-mcp-header") else { continue };
        let Some(name) = annotation.as_str().filter(|n| !n.is_empty() && n.bytes().all(is_token_byte)) else {
            return Err(format!("x-mcp-header of {argument:?} must be a non-empty header-name token"));
        };
        let kind = property.get("type").and_then(Value::as_str);
        if !matches!(kind, Some("string" | "integer" | "boolean")) {
            return Err(format!("x-mcp-header of {argument:?} needs a string, integer or boolean property"));
        }
        let header = format!("{PARAM_HEADER_PREFIX}{}", name.to_ascii_lowercase());
        if headers.iter().any(|(_, h)| *h == header) {
            return Err(format!("x-mcp-header {name:?} is used twice"));
        }
        headers.push((argument.clone(), header));
    }
    Ok(headers)
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// An argument as its header carries it; `None` for null (never sent).
fn header_form(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(value.to_string()),
        _ => None,
    }
}

/// A header value as sent: `=?base64?…?=` is strict, padded standard Base64 of
/// UTF-8 text; anything else is literal. `None` when the Base64 form is invalid.
fn decode_param(value: &str) -> Option<String> {
    match value.strip_prefix("=?base64?").and_then(|rest| rest.strip_suffix("?=")) {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(value.to_owned()),
    }
}

// The header checks are exercised here too, with the validator the host uses.
#[cfg(all(test, feature = "json-schema"))]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(input: Value) -> Tool {
        Tool::new("t", "test", input)
    }

    fn args(value: Value) -> JsonObject {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn refs_within_the_schema_resolve_and_network_refs_are_refused() {
        let local = tool(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": { "address": { "$anchor": "addressDef", "type": "object", "properties": { "city": { "type": "string" } } } },
            "properties": { "address": { "$ref": "#/$defs/address" } },
            "additionalProperties": false
        }));
        let schema = ToolSchema::compile(&local).unwrap();
        assert!(schema.check_arguments("t", &args(json!({"address": {"city": "Paris"}}))).is_ok());
        let wrong = schema.check_arguments("t", &args(json!({"address": {"city": 7}}))).unwrap_err();
        assert!(wrong.contains("/address/city"), "{wrong}");
        let extra = schema.check_arguments("t", &args(json!({"other": 1}))).unwrap_err();
        assert!(extra.contains("other"), "{extra}");

        let remote = tool(json!({
            "type": "object",
            "properties": { "a": { "$ref": "https://example.com/schema.json" } }
        }));
        let refused = ToolSchema::compile(&remote).unwrap_err();
        assert!(refused.contains("outside the schema"), "{refused}");
    }

    #[test]
    fn unknown_dialects_and_deep_schemas_are_refused() {
        let unknown = tool(json!({ "$schema": "https://example.com/my-dialect", "type": "object" }));
        assert!(ToolSchema::compile(&unknown).is_err());
        let mut deep = json!({ "type": "string" });
        for _ in 0..MAX_DEPTH {
            deep = json!({ "type": "object", "properties": { "a": deep } });
        }
        let refused = ToolSchema::compile(&tool(deep)).unwrap_err();
        assert!(refused.contains("deeper"), "{refused}");
    }

    #[test]
    fn reports_are_bounded() {
        let schema = ToolSchema::compile(&tool(json!({
            "type": "object",
            "properties": { "a": { "type": "integer" } },
            "additionalProperties": { "type": "integer" }
        })))
        .unwrap();
        let long = "x".repeat(10_000);
        let many: JsonObject = (0..50).map(|i| (format!("k{i}"), json!(long))).collect();
        let report = schema.check_arguments("t", &many).unwrap_err();
        assert!(report.chars().count() <= MAX_REPORT_CHARS + 40, "{}", report.len());
    }

    #[test]
    fn structured_results_must_match_the_output_schema() {
        let mut definition = tool(json!({ "type": "object" }));
        definition.output_schema = args(json!({ "type": "object", "required": ["t"] })).into();
        let schema = ToolSchema::compile(&definition).unwrap();
        let mut result = CallToolResult { structured_content: Some(json!({ "t": 1 })), ..Default::default() };
        assert!(schema.check_result(&result).is_ok());
        result.structured_content = Some(json!({}));
        assert!(schema.check_result(&result).unwrap_err().contains("\"t\""));
        result.structured_content = None;
        assert!(schema.check_result(&result).is_err());
        assert!(schema.check_result(&CallToolResult::error("failed")).is_ok());
    }

    #[test]
    fn param_headers_repeat_the_arguments() {
        let schema = ToolSchema::compile(&tool(json!({
            "type": "object",
            "properties": {
                "region": { "type": "string", "x-mcp-header": "Region" },
                "count": { "type": "integer", "x-mcp-header": "Count" }
            }
        })))
        .unwrap();
        let headers = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let body = args(json!({ "region": "Hello", "count": 3 }));
        let ok = headers(&[("Mcp-Param-Region", "=?base64?SGVsbG8=?="), ("mcp-param-count", " 3 ")]);
        assert!(schema.check_headers(&body, ok.as_slice()).is_ok());
        for bad in [
            headers(&[("Mcp-Param-Region", "=?base64?SGVsbG8?="), ("Mcp-Param-Count", "3")]),
            headers(&[("Mcp-Param-Region", "=?base64?SGVs!!!bG8=?="), ("Mcp-Param-Count", "3")]),
            headers(&[("Mcp-Param-Region", "hello"), ("Mcp-Param-Count", "3")]),
            headers(&[("Mcp-Param-Count", "3")]),
        ] {
            let error = schema.check_headers(&body, bad.as_slice()).unwrap_err();
            assert_eq!(error.code, HEADER_MISMATCH, "{bad:?}");
        }
        let literal = headers(&[("Mcp-Param-Region", "=?base64?SGVsbG8=")]);
        assert!(
            schema.check_headers(&args(json!({ "region": "=?base64?SGVsbG8=" })), literal.as_slice()).is_ok()
        );
        let absent = args(json!({}));
        assert!(schema.check_headers(&absent, headers(&[]).as_slice()).is_ok());
        assert!(schema.check_headers(&absent, headers(&[("Mcp-Param-Count", "3")]).as_slice()).is_err());
    }

    #[test]
    fn bad_annotations_are_refused() {
        for property in [
            json!({ "type": "number", "x-mcp-header": "N" }),
            json!({ "type": "string", "x-mcp-header": "" }),
            json!({ "type": "string", "x-mcp-header": "a b" }),
        ] {
            let definition = tool(json!({ "type": "object", "properties": { "p": property } }));
            assert!(ToolSchema::compile(&definition).is_err(), "{property}");
        }
        let twice = tool(json!({ "type": "object", "properties": {
            "a": { "type": "string", "x-mcp-header": "Same" },
            "b": { "type": "string", "x-mcp-header": "same" }
        } }));
        assert!(ToolSchema::compile(&twice).is_err());
    }
}
