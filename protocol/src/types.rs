//! MCP data types as they appear on the wire (camelCase, `_meta`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub type JsonObject = Map<String, Value>;

/// `Implementation`: who the server is.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Implementation {
    pub name: String,
    pub version: String,
    pub title: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

/// Defines `log_level` and `wit_log_level`, the conversions between
/// [`LogLevel`] and a WIT binding's `log-level` enum (wasmtime's bindgen in the
/// host, wit-bindgen in guests), which name the same eight cases.
#[macro_export]
macro_rules! log_level_conversions {
    ($vis:vis $wit:ty) => {
        $vis fn log_level(level: $wit) -> $crate::LogLevel {
            type Wit = $wit;
            match level {
                Wit::Debug => $crate::LogLevel::Debug,
                Wit::Info => $crate::LogLevel::Info,
                Wit::Notice => $crate::LogLevel::Notice,
                Wit::Warning => $crate::LogLevel::Warning,
                Wit::Error => $crate::LogLevel::Error,
                Wit::Critical => $crate::LogLevel::Critical,
                Wit::Alert => $crate::LogLevel::Alert,
                Wit::Emergency => $crate::LogLevel::Emergency,
            }
        }

        $vis fn wit_log_level(level: $crate::LogLevel) -> $wit {
            type Wit = $wit;
            match level {
                $crate::LogLevel::Debug => Wit::Debug,
                $crate::LogLevel::Info => Wit::Info,
                $crate::LogLevel::Notice => Wit::Notice,
                $crate::LogLevel::Warning => Wit::Warning,
                $crate::LogLevel::Error => Wit::Error,
                $crate::LogLevel::Critical => Wit::Critical,
                $crate::LogLevel::Alert => Wit::Alert,
                $crate::LogLevel::Emergency => Wit::Emergency,
            }
        }
    };
}

/// `$to { a: from.a, b: from.b, ..., c: value }`: moves fields between a WIT
/// binding's record (wasmtime's bindgen in the host, wit-bindgen's in guests)
/// and the type here that spells the same fields alike, in either direction;
/// the fields after `;` are given their values.
#[macro_export]
macro_rules! move_fields {
    ($from:ident => $($to:ident)::+ { $($field:ident),+ $(; $($set:ident: $value:expr),+)? }) => {
        $($to)::+ { $($field: $from.$field,)+ $($($set: $value,)+)? }
    };
}

impl LogLevel {
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(Value::String(text.to_owned())).ok()
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    pub title: Option<String>,
    pub read_only_hint: Option<bool>,
    pub destructive_hint: Option<bool>,
    pub idempotent_hint: Option<bool>,
    pub open_world_hint: Option<bool>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    pub input_schema: JsonObject,
    pub output_schema: Option<JsonObject>,
    pub annotations: Option<ToolAnnotations>,
    #[serde(rename = "_meta")]
    pub meta: Option<JsonObject>,
}

impl Tool {
    /// A tool with a name, a description and an input schema (a JSON object), nothing else.
    pub fn new(name: impl Into<String>, description: impl Into<String>, input_schema: Value) -> Self {
        let input_schema = match input_schema {
            Value::Object(schema) => schema,
            _ => JsonObject::new(),
        };
        Tool {
            name: name.into(),
            title: None,
            description: description.into(),
            input_schema,
            output_schema: None,
            annotations: None,
            meta: None,
        }
    }

    /// Checks what MCP and clients require of a tool definition.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = (1..=128).contains(&self.name.len())
            && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !name_ok {
            return Err(format!("tool name {:?} must be 1-128 characters of [A-Za-z0-9_.-]", self.name));
        }
        if self.input_schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err(format!("tool {}: inputSchema must have \"type\": \"object\"", self.name));
        }
        Ok(())
    }
}

/// What a resource and a resource template share: MCP's `BaseMetadata`
/// (name, title), a description, a media type and `_meta`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInfo {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub mime_type: Option<String>,
    #[serde(rename = "_meta")]
    pub meta: Option<JsonObject>,
}

impl ResourceInfo {
    /// A name and nothing else.
    pub fn named(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Self::default() }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub uri: String,
    #[serde(flatten)]
    pub info: ResourceInfo,
    /// Size in bytes, if known.
    pub size: Option<u64>,
}

/// `TextResourceContents` / `BlobResourceContents` (blob already base64).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceContents {
    pub uri: String,
    pub mime_type: Option<String>,
    pub text: Option<String>,
    pub blob: Option<String>,
    #[serde(rename = "_meta")]
    pub meta: Option<JsonObject>,
}

impl ResourceContents {
    pub fn text(uri: impl Into<String>, mime_type: Option<String>, text: String) -> Self {
        Self { uri: uri.into(), mime_type, text: Some(text), blob: None, meta: None }
    }

    pub fn blob(uri: impl Into<String>, mime_type: Option<String>, bytes: &[u8]) -> Self {
        Self { uri: uri.into(), mime_type, text: None, blob: Some(crate::encode_base64(bytes)), meta: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
    },
    Image {
        data: String,
        #[serde(rename = "mimeType")]
        mime_type: String,
    },
    Audio {
        data: String,
        #[serde(rename = "mimeType")]
        mime_type: String,
    },
    Resource {
        resource: ResourceContents,
    },
    ResourceLink(Resource),
}

impl ContentBlock {
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallToolResult {
    pub content: Vec<ContentBlock>,
    pub structured_content: Option<Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
    #[serde(rename = "_meta")]
    pub meta: Option<JsonObject>,
}

impl CallToolResult {
    /// A tool error the model can read and act on (`isError: true`).
    pub fn error(message: impl Into<String>) -> Self {
        Self { content: vec![ContentBlock::text(message)], is_error: true, ..Self::default() }
    }
}

/// Why a call, prompt or read produced no result.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// No tool, prompt or resource by that name (-32602).
    UnknownTool,
    /// The arguments do not fit (-32602), for prompts; tools answer with `isError`.
    InvalidParams(String),
    /// The client must answer these requests first (then call again).
    InputRequired(InputRequired),
    /// Logged by the server, answered as a generic internal error.
    Internal(String),
}

/// Why a read produced no contents.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    NotFound,
    Internal(String),
}

/// A notification a running call sends before its result.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    Log { level: LogLevel, logger: Option<String>, data: Value },
    Progress { progress: f64, total: Option<f64>, message: Option<String> },
}

/// What a tool call asks for, as the component sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRequest {
    pub name: String,
    pub arguments: JsonObject,
    /// Forward log events at this level or above; `None`: none at all.
    pub log_level: Option<LogLevel>,
    /// The client's progress token, if it sent one.
    pub progress_token: Option<Value>,
    /// The request's `_meta` without the progress token.
    pub meta: Option<JsonObject>,
    /// Answers to the input this call asked for in an earlier round.
    pub inputs: Option<Inputs>,
    /// What the client declared it supports.
    pub client_capabilities: JsonObject,
    /// The claims of the caller's validated access token that the component
    /// may see; set by the host only, never from the request.
    pub identity: Option<JsonObject>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTemplate {
    /// An RFC 6570 template such as `test://template/{id}/data`.
    pub uri_template: String,
    #[serde(flatten)]
    pub info: ResourceInfo,
}

impl ResourceTemplate {
    /// A template with a name and nothing else.
    pub fn new(uri_template: impl Into<String>, name: impl Into<String>) -> Self {
        Self { uri_template: uri_template.into(), info: ResourceInfo::named(name) }
    }

    /// Whether `uri` is an expansion of this template (simple `{name}` variables,
    /// each matching one or more characters other than `/`).
    ///
    /// Both sides are untrusted (the template is a component's, the URI a
    /// client's), so this never backtracks: it keeps the set of URI positions
    /// that the template's parts so far can reach and maps the whole set through
    /// each part, at most O(template × URI) in all.
    pub fn matches(&self, uri: &str) -> bool {
        let bytes = uri.as_bytes();
        let mut reachable: Vec<bool> = (0..=bytes.len()).map(|at| at == 0).collect();
        let mut template = self.uri_template.as_str();
        loop {
            let (literal, rest) = match template.split_once('{') {
                None => (template, None),
                Some((literal, variable)) => match variable.split_once('}') {
                    Some((_, rest)) => (literal, Some(rest)),
                    None => return false,
                },
            };
            // A literal from a reachable position (always a character boundary)
            // ends on one too.
            reachable = (0..=bytes.len())
                .map(|end| {
                    end.checked_sub(literal.len()).is_some_and(|start| {
                        reachable.get(start) == Some(&true)
                            && bytes.get(start..end) == Some(literal.as_bytes())
                    })
                })
                .collect();
            let Some(rest) = rest else { break };
            // A variable: any non-empty run without `/` after a reachable position.
            let mut open = false;
            reachable = (0..=bytes.len())
                .map(|end| {
                    if end.checked_sub(1).and_then(|last| bytes.get(last)) == Some(&b'/') {
                        open = false;
                    }
                    let here = open && uri.is_char_boundary(end);
                    open |= reachable.get(end) == Some(&true);
                    here
                })
                .collect();
            if !reachable.contains(&true) {
                return false;
            }
            template = rest;
        }
        reachable.last() == Some(&true)
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptArgument {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prompt {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<PromptArgument>,
    #[serde(rename = "_meta")]
    pub meta: Option<JsonObject>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptMessage {
    pub role: Role,
    pub content: ContentBlock,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetPromptResult {
    pub description: Option<String>,
    pub messages: Vec<PromptMessage>,
}

/// A request for the client (elicitation, sampling, roots) that a tool or
/// prompt needs answered before it can finish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRequest {
    /// e.g. `elicitation/create`, `sampling/createMessage`, `roots/list`.
    pub method: String,
    pub params: Value,
}

impl InputRequest {
    /// The client capability this request needs.
    pub fn capability(&self) -> Option<&'static str> {
        match self.method.as_str() {
            "sampling/createMessage" => Some("sampling"),
            "elicitation/create" => Some("elicitation"),
            "roots/list" => Some("roots"),
            _ => None,
        }
    }
}

/// Answers the client must give before the work can finish: requests by key,
/// and state to hand back with the answers.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRequired {
    pub requests: Vec<(String, InputRequest)>,
    pub state: Option<String>,
}

/// The client's answers to earlier input requests, and the state it echoes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inputs {
    pub responses: JsonObject,
    pub state: Option<String>,
}

/// What `completion/complete` asks about.
#[derive(Debug, Clone, PartialEq)]
pub enum CompletionRef {
    Prompt(String),
    ResourceTemplate(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    pub reference: CompletionRef,
    pub argument: String,
    pub value: String,
    /// Values of the other arguments already given.
    pub context: JsonObject,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    pub values: Vec<String>,
    pub total: Option<u32>,
    #[serde(default)]
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Resource, ResourceInfo, ResourceTemplate};

    /// Resources and templates share `ResourceInfo`, flattened: the wire form
    /// stays MCP's flat object, with no `null` for what is unset.
    #[test]
    fn resources_and_templates_are_flat_on_the_wire() {
        let info = ResourceInfo {
            mime_type: Some("text/html".into()),
            meta: json!({"ui": {}}).as_object().cloned(),
            ..ResourceInfo::named("card")
        };
        let resource = Resource { uri: "ui://card".into(), info, size: Some(3) };
        let wire = json!({"uri": "ui://card", "name": "card", "mimeType": "text/html", "_meta": {"ui": {}}, "size": 3});
        assert_eq!(serde_json::to_value(&resource).unwrap(), wire);
        assert_eq!(serde_json::from_value::<Resource>(wire).unwrap(), resource);
        let template = ResourceTemplate::new("x://{id}", "t");
        let wire = json!({"uriTemplate": "x://{id}", "name": "t"});
        assert_eq!(serde_json::to_value(&template).unwrap(), wire);
        assert_eq!(serde_json::from_value::<ResourceTemplate>(wire).unwrap(), template);
    }

    fn template(uri_template: &str) -> ResourceTemplate {
        ResourceTemplate::new(uri_template, "t")
    }

    #[test]
    fn templates_match_their_expansions() {
        let template = template("test://template/{id}/data");
        assert!(template.matches("test://template/123/data"));
        assert!(!template.matches("test://template//data"));
        assert!(!template.matches("test://template/1/2/data"));
        assert!(!template.matches("test://template/123/other"));
    }

    /// A client's URI may hold any character where a variable stands; the
    /// matcher once sliced it inside one and panicked.
    #[test]
    fn templates_match_non_ascii_uris() {
        assert!(template("x://{id}").matches("x://\u{e9}t\u{e9}"));
        assert!(template("x://{id}/{part}.json").matches("x://\u{65e5}\u{672c}/\u{1f600}.json"));
        assert!(!template("x://{id}/data").matches("x://\u{e9}/\u{e9}/data"));
        assert!(!template("x://{id}").matches("x://"));
        assert!(template("{a}{b}").matches("\u{e9}\u{e9}"));
        assert!(!template("{a}{b}").matches("\u{e9}"));
    }

    /// A component's template with several variables in a row once made
    /// matching a long URI backtrack without end; it is linear now.
    #[test]
    fn template_matching_does_not_backtrack() {
        let uri = "a".repeat(20_000);
        let started = std::time::Instant::now();
        assert!(!template("{a}{b}{c}{d}{e}{f}{g}{h}!").matches(&uri));
        assert!(template("{a}{b}{c}{d}{e}{f}{g}{h}").matches(&uri));
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    }
}
