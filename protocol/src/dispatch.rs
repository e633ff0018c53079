//! Dispatch rules: what each JSON-RPC message means in the protocol revision it
//! arrived under, and how each outcome is written back.
//!
//! `route` answers everything the protocol itself decides (handshake, ping,
//! discovery, validation errors) and hands the rest to the caller as an `Op`;
//! the caller performs it (list, call, read) and renders the outcome with
//! `Pending::finish`.

use serde_json::{Map, Value, json};

use crate::http::{Headers, METHOD_HEADER, NAME_HEADER, PROTOCOL_VERSION_HEADER};
use crate::jsonrpc::{
    self, HEADER_MISMATCH, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, Incoming, METHOD_NOT_FOUND,
    MISSING_CLIENT_CAPABILITY, Message, RESOURCE_NOT_FOUND, RpcError, UNSUPPORTED_PROTOCOL_VERSION,
};
use crate::types::{
    CallError, CallEvent, CallRequest, CallToolResult, Completion, CompletionRef, CompletionRequest,
    GetPromptResult, Implementation, InputRequired, Inputs, JsonObject, LogLevel, ReadError,
    ResourceContents,
};
use crate::version::Version;

pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// What the server says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    pub implementation: Implementation,
    pub instructions: Option<String>,
    /// The `capabilities` object of `initialize` and `server/discover`.
    pub capabilities: Value,
    /// How long clients of 2026-07-28 may cache lists and reads.
    pub ttl_ms: u64,
}

/// What kinds of things a server offers besides tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offers {
    pub resources: bool,
    pub prompts: bool,
    /// Prompts or resource templates whose arguments can be completed.
    pub completions: bool,
    /// Clients with an open stream are told when the lists change.
    pub list_changed: bool,
}

impl ServerInfo {
    /// A server offering tools and logging, and the other kinds it has.
    pub fn new(implementation: Implementation, offers: Offers) -> Self {
        let changes = offers.list_changed;
        let mut capabilities = JsonObject::new();
        capabilities.insert("tools".into(), json!({ "listChanged": changes }));
        capabilities.insert("logging".into(), json!({}));
        if offers.resources {
            capabilities.insert("resources".into(), json!({ "subscribe": true, "listChanged": changes }));
        }
        if offers.prompts {
            capabilities.insert("prompts".into(), json!({ "listChanged": changes }));
        }
        if offers.completions {
            capabilities.insert("completions".into(), json!({}));
        }
        Self { implementation, instructions: None, capabilities: Value::Object(capabilities), ttl_ms: 60_000 }
    }
}

/// The revision a message is served under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize` and sessions (2025-03-26 … 2025-11-25).
    Legacy(Version),
    /// Per-request `_meta`, no sessions (2026-07-28).
    Stateless(Version),
}

/// What the caller knows about the request beyond its body.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    pub protocol_version: Option<&'a str>,
    pub mcp_method: Option<&'a str>,
    pub mcp_name: Option<&'a str>,
    /// The revision the client's session negotiated, when it sent a valid one.
    pub session_version: Option<Version>,
    /// The level the session chose with `logging/setLevel`.
    pub session_log_level: Option<LogLevel>,
    /// The capabilities the client declared when it opened its session.
    pub session_capabilities: Option<JsonObject>,
}

impl<'a> Context<'a> {
    pub fn from_headers(headers: &'a (impl Headers + ?Sized)) -> Self {
        Self {
            protocol_version: headers.get(PROTOCOL_VERSION_HEADER).map(str::trim),
            mcp_method: headers.get(METHOD_HEADER).map(str::trim),
            mcp_name: headers.get(NAME_HEADER).map(str::trim),
            ..Self::default()
        }
    }
}

/// Work the caller performs before the answer can be written.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    ListTools,
    ListResources,
    ListResourceTemplates,
    ReadResource { uri: String },
    CallTool(CallRequest),
    ListPrompts,
    GetPrompt { name: String, arguments: JsonObject, inputs: Option<Inputs> },
    Complete(CompletionRequest),
}

/// A request waiting for its `Op` to finish.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: Value,
    pub era: Era,
    pub op: Op,
    /// What the client said it supports (`_meta` or the session's `initialize`).
    pub client_capabilities: JsonObject,
}

/// The outcome of an `Op`.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Pre-serialized tool definitions.
    Tools(Vec<Value>),
    /// Pre-serialized resource definitions.
    Resources(Vec<Value>),
    /// Pre-serialized resource templates.
    Templates(Vec<Value>),
    /// Pre-serialized prompt definitions.
    Prompts(Vec<Value>),
    Read(Result<Vec<ResourceContents>, ReadError>),
    Call(Result<CallToolResult, CallError>),
    Prompt(Result<GetPromptResult, CallError>),
    Completion(Result<Completion, CallError>),
}

/// What to do with one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this JSON-RPC response (with this HTTP status when it travels alone).
    Reply {
        status: u16,
        body: Value,
    },
    /// A notification (or a client's response): nothing to send back.
    Accepted,
    /// A legacy handshake: send `body`; the caller may open a session at `version`.
    Initialized {
        body: Value,
        version: Version,
    },
    /// `logging/setLevel` for the caller's session; reply with `body` once stored.
    SetLevel {
        level: LogLevel,
        body: Value,
    },
    Perform(Box<Pending>),
}

impl Step {
    fn error(status: u16, id: &Value, error: RpcError) -> Step {
        Step::Reply { status, body: jsonrpc::failure(id, &error) }
    }
}

/// Decides what one element of a POST body means.
pub fn step(incoming: Incoming, cx: &Context, server: &ServerInfo) -> Step {
    match incoming {
        Incoming::Message(message) => route(message, cx, server),
        Incoming::Response { .. } => Step::Accepted,
        Incoming::Invalid { id, error } => Step::error(400, &id, error),
    }
}

/// Decides what one JSON-RPC message means.
pub fn route(message: Message, cx: &Context, server: &ServerInfo) -> Step {
    if is_stateless(&message, cx) {
        route_stateless(message, cx, server)
    } else {
        route_legacy(message, cx, server)
    }
}

/// Whether a message is served statelessly (2026-07-28) rather than within
/// the sessions of earlier revisions.
pub fn is_stateless(message: &Message, cx: &Context) -> bool {
    let meta_version = message
        .params
        .get("_meta")
        .and_then(Value::as_object)
        .is_some_and(|meta| meta.contains_key(META_PROTOCOL_VERSION));
    meta_version || cx.protocol_version.and_then(Version::parse).is_some_and(Version::is_stateless)
}

fn route_legacy(message: Message, cx: &Context, server: &ServerInfo) -> Step {
    let Message { id, method, params } = message;
    let Some(id) = id else { return Step::Accepted };
    let version = match (cx.session_version, cx.protocol_version) {
        (Some(version), _) => version,
        (None, None) => Version::V2025_03_26,
        (None, Some(header)) => match Version::parse(header) {
            Some(version) => version,
            None if method == "initialize" => Version::V2025_03_26,
            None => {
                return Step::error(
                    400,
                    &id,
                    RpcError::new(INVALID_REQUEST, format!("Unsupported MCP-Protocol-Version: {header}"))
                        .with_data(json!({ "supported": Version::supported_strings(), "requested": header })),
                );
            }
        },
    };
    let era = Era::Legacy(version);
    // Like 2026-07-28: no logs until the client picks a level.
    let log_level = cx.session_log_level;
    match method.as_str() {
        "initialize" => {
            let Some(requested) = params.get("protocolVersion").and_then(Value::as_str) else {
                return Step::error(
                    200,
                    &id,
                    RpcError::invalid_params("initialize needs a protocolVersion string"),
                );
            };
            let version = Version::negotiate(requested);
            let mut result = JsonObject::new();
            result.insert("protocolVersion".into(), json!(version.as_str()));
            result.insert("capabilities".into(), server.capabilities.clone());
            result.insert("serverInfo".into(), json!(server.implementation));
            if let Some(instructions) = &server.instructions {
                result.insert("instructions".into(), json!(instructions));
            }
            Step::Initialized { body: jsonrpc::success(&id, Value::Object(result)), version }
        }
        "ping" => Step::Reply { status: 200, body: jsonrpc::success(&id, json!({})) },
        "logging/setLevel" => match params.get("level").and_then(Value::as_str).and_then(LogLevel::parse) {
            Some(level) => Step::SetLevel { level, body: jsonrpc::success(&id, json!({})) },
            None => Step::error(200, &id, RpcError::invalid_params("level must be an RFC 5424 level name")),
        },
        // Resources change only when a component is replaced; a subscription needs no state here.
        "resources/subscribe" | "resources/unsubscribe" => match params.get("uri") {
            Some(Value::String(_)) => Step::Reply { status: 200, body: jsonrpc::success(&id, json!({})) },
            _ => Step::error(200, &id, RpcError::invalid_params(format!("{method} needs a uri string"))),
        },
        _ => {
            let capabilities = cx.session_capabilities.clone().unwrap_or_default();
            route_common(id, &method, params, era, log_level, capabilities)
        }
    }
}

fn route_stateless(message: Message, cx: &Context, server: &ServerInfo) -> Step {
    let Message { id, method, params } = message;
    let Some(id) = id else { return Step::Accepted };
    let meta = match check_request_meta(&params) {
        Ok(meta) => meta,
        Err(error) => return Step::error(400, &id, error),
    };
    let capabilities = client_capabilities(meta);
    let requested = meta.get(META_PROTOCOL_VERSION).and_then(Value::as_str).unwrap_or_default().to_owned();
    let requested = requested.as_str();
    // The header must echo `_meta` before the version itself is judged.
    if cx.protocol_version != Some(requested) {
        return Step::error(
            400,
            &id,
            header_mismatch(PROTOCOL_VERSION_HEADER, cx.protocol_version, requested),
        );
    }
    let Some(version) = Version::parse(requested).filter(|v| v.is_stateless()) else {
        return Step::error(
            400,
            &id,
            RpcError::new(UNSUPPORTED_PROTOCOL_VERSION, format!("Unsupported protocol version: {requested}"))
                .with_data(json!({ "supported": Version::supported_strings(), "requested": requested })),
        );
    };
    if cx.mcp_method != Some(method.as_str()) {
        return Step::error(400, &id, header_mismatch(METHOD_HEADER, cx.mcp_method, &method));
    }
    let name_field = match method.as_str() {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    };
    if let Some(field) = name_field {
        let expected = params.get(field).and_then(Value::as_str).unwrap_or_default();
        let sent = cx.mcp_name.map(decode_header_value);
        if sent.as_deref() != Some(expected) {
            return Step::error(400, &id, header_mismatch(NAME_HEADER, cx.mcp_name, expected));
        }
    }
    let log_level = match meta.get(META_LOG_LEVEL) {
        None => None,
        Some(level) => match level.as_str().and_then(LogLevel::parse) {
            Some(level) => Some(level),
            None => {
                return Step::error(
                    400,
                    &id,
                    RpcError::invalid_params(format!("{META_LOG_LEVEL} is not a log level")),
                );
            }
        },
    };
    let era = Era::Stateless(version);
    match method.as_str() {
        "server/discover" => {
            // 2026-07-28 replaced resources/subscribe and the GET stream (which
            // carries list changes) with subscriptions/listen, which this server
            // does not offer.
            let mut capabilities = server.capabilities.clone();
            if let Some(resources) = capabilities.get_mut("resources").and_then(Value::as_object_mut) {
                resources.remove("subscribe");
            }
            for list in capabilities.as_object_mut().into_iter().flat_map(|c| c.values_mut()) {
                if let Some(list_changed) = list.get_mut("listChanged") {
                    *list_changed = json!(false);
                }
            }
            let mut result = JsonObject::new();
            result.insert("supportedVersions".into(), json!(Version::supported_strings()));
            result.insert("capabilities".into(), capabilities);
            if let Some(instructions) = &server.instructions {
                result.insert("instructions".into(), json!(instructions));
            }
            Step::Reply {
                status: 200,
                body: jsonrpc::success(&id, Value::Object(stateless_result(result, server, true))),
            }
        }
        _ => match route_common(id, &method, params, era, log_level, capabilities) {
            // Methods this revision removed or never had are 404 on the wire.
            Step::Reply { body, .. } if error_code(&body) == Some(METHOD_NOT_FOUND) => {
                Step::Reply { status: 404, body }
            }
            step => step,
        },
    }
}

/// The code of a JSON-RPC error response.
fn error_code(body: &Value) -> Option<i64> {
    body.get("error")?.get("code")?.as_i64()
}

fn client_capabilities(meta: &JsonObject) -> JsonObject {
    meta.get(META_CLIENT_CAPABILITIES).and_then(Value::as_object).cloned().unwrap_or_default()
}

/// Methods both revisions share.
fn route_common(
    id: Value,
    method: &str,
    mut params: JsonObject,
    era: Era,
    log_level: Option<LogLevel>,
    client_capabilities: JsonObject,
) -> Step {
    let stateless = matches!(era, Era::Stateless(_));
    let op = match method {
        "tools/list" | "resources/list" | "resources/templates/list" | "prompts/list" => {
            // We answer every list in one page, so no cursor of ours exists.
            if params.contains_key("cursor") {
                return Step::error(200, &id, RpcError::invalid_params("invalid cursor"));
            }
            match method {
                "tools/list" => Op::ListTools,
                "resources/list" => Op::ListResources,
                "resources/templates/list" => Op::ListResourceTemplates,
                _ => Op::ListPrompts,
            }
        }
        "resources/read" => match params.remove("uri") {
            Some(Value::String(uri)) => Op::ReadResource { uri },
            _ => return Step::error(200, &id, RpcError::invalid_params("resources/read needs a uri string")),
        },
        "tools/call" => match call_request(params, log_level, stateless, &client_capabilities) {
            Ok(request) => Op::CallTool(request),
            Err(error) => return Step::error(200, &id, error),
        },
        "prompts/get" => match prompt_request(params, stateless) {
            Ok(op) => op,
            Err(error) => return Step::error(200, &id, error),
        },
        "completion/complete" => match completion_request(&params) {
            Ok(request) => Op::Complete(request),
            Err(error) => return Step::error(200, &id, error),
        },
        _ => {
            return Step::error(
                200,
                &id,
                RpcError::new(METHOD_NOT_FOUND, format!("Method not found: {method}")),
            );
        }
    };
    Step::Perform(Box::new(Pending { id, era, op, client_capabilities }))
}

/// `inputResponses` and `requestState` of a retried 2026-07-28 request.
fn inputs(params: &mut JsonObject, stateless: bool) -> Result<Option<Inputs>, RpcError> {
    let responses = params.remove("inputResponses");
    let state = params.remove("requestState");
    if !stateless || (responses.is_none() && state.is_none()) {
        return Ok(None);
    }
    let responses = match responses {
        None => JsonObject::new(),
        Some(Value::Object(responses)) if responses.values().all(Value::is_object) => responses,
        Some(_) => {
            return Err(RpcError::invalid_params("inputResponses must map each key to a result object"));
        }
    };
    let state = match state {
        None => None,
        Some(Value::String(state)) => Some(state),
        Some(_) => return Err(RpcError::invalid_params("requestState must be a string")),
    };
    Ok(Some(Inputs { responses, state }))
}

fn prompt_request(mut params: JsonObject, stateless: bool) -> Result<Op, RpcError> {
    let name = match params.remove("name") {
        Some(Value::String(name)) => name,
        _ => return Err(RpcError::invalid_params("prompts/get needs a prompt name string")),
    };
    let arguments = match params.remove("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(arguments)) if arguments.values().all(Value::is_string) => arguments,
        Some(_) => return Err(RpcError::invalid_params("prompt arguments must be an object of strings")),
    };
    Ok(Op::GetPrompt { name, arguments, inputs: inputs(&mut params, stateless)? })
}

fn completion_request(params: &JsonObject) -> Result<CompletionRequest, RpcError> {
    let text = |value: Option<&Value>, what: &str| {
        value
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| RpcError::invalid_params(what.to_owned()))
    };
    let reference = params.get("ref").and_then(Value::as_object);
    let field = |key: &str| reference.and_then(|r| r.get(key));
    let reference = match field("type").and_then(Value::as_str) {
        Some("ref/prompt") => CompletionRef::Prompt(text(field("name"), "ref.name must be a string")?),
        Some("ref/resource") => {
            CompletionRef::ResourceTemplate(text(field("uri"), "ref.uri must be a string")?)
        }
        _ => return Err(RpcError::invalid_params("ref must be a ref/prompt or ref/resource")),
    };
    let argument = params.get("argument");
    let context = params
        .get("context")
        .and_then(|c| c.get("arguments"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    Ok(CompletionRequest {
        reference,
        argument: text(argument.and_then(|a| a.get("name")), "argument.name must be a string")?,
        value: text(argument.and_then(|a| a.get("value")), "argument.value must be a string")?,
        context,
    })
}

fn call_request(
    mut params: JsonObject,
    log_level: Option<LogLevel>,
    stateless: bool,
    client_capabilities: &JsonObject,
) -> Result<CallRequest, RpcError> {
    let name = match params.remove("name") {
        Some(Value::String(name)) => name,
        _ => return Err(RpcError::invalid_params("tools/call needs a tool name string")),
    };
    let arguments = match params.remove("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(arguments)) => arguments,
        Some(_) => return Err(RpcError::invalid_params("tools/call arguments must be an object")),
    };
    let mut meta = match params.remove("_meta") {
        Some(Value::Object(meta)) => meta,
        _ => Map::new(),
    };
    let progress_token = meta.remove("progressToken");
    if progress_token.as_ref().is_some_and(|t| !(t.is_string() || t.is_i64() || t.is_u64())) {
        return Err(RpcError::invalid_params("progressToken must be a string or an integer"));
    }
    meta.retain(|key, _| !key.starts_with("io.modelcontextprotocol/"));
    let inputs = inputs(&mut params, stateless)?;
    Ok(CallRequest {
        name,
        arguments,
        log_level,
        progress_token,
        meta: (!meta.is_empty()).then_some(meta),
        inputs,
        client_capabilities: client_capabilities.clone(),
        identity: None,
    })
}

/// The `_meta` every 2026-07-28 request must carry.
fn check_request_meta(params: &JsonObject) -> Result<&JsonObject, RpcError> {
    let meta = params
        .get("_meta")
        .and_then(Value::as_object)
        .ok_or_else(|| RpcError::invalid_params("params._meta is required in protocol 2026-07-28"))?;
    if !meta.get(META_PROTOCOL_VERSION).is_some_and(Value::is_string) {
        return Err(RpcError::invalid_params(format!("_meta[\"{META_PROTOCOL_VERSION}\"] must be a string")));
    }
    if !meta.get(META_CLIENT_CAPABILITIES).is_some_and(Value::is_object) {
        return Err(RpcError::invalid_params(format!(
            "_meta[\"{META_CLIENT_CAPABILITIES}\"] must be an object"
        )));
    }
    Ok(meta)
}

fn header_mismatch(header: &str, sent: Option<&str>, expected: &str) -> RpcError {
    let message = match sent {
        None => format!("missing {header} header (expected {expected:?})"),
        Some(sent) => format!("{header} header {sent:?} does not match the body ({expected:?})"),
    };
    RpcError::new(HEADER_MISMATCH, message)
}

/// Header values that are not plain ASCII arrive as `=?base64?…?=`.
fn decode_header_value(value: &str) -> String {
    use base64::Engine as _;
    value
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
        .and_then(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| value.to_owned())
}

/// Adds what every 2026-07-28 result carries.
fn stateless_result(mut result: JsonObject, server: &ServerInfo, cacheable: bool) -> JsonObject {
    result.insert("resultType".into(), json!("complete"));
    result.insert("_meta".into(), json!({ META_SERVER_INFO: server.implementation }));
    if cacheable {
        result.insert("ttlMs".into(), json!(server.ttl_ms));
        result.insert("cacheScope".into(), json!("public"));
    }
    result
}

/// The fields of a result type (each serializes to a JSON object).
fn fields(result: impl serde::Serialize) -> JsonObject {
    match serde_json::to_value(result).expect("results serialize") {
        Value::Object(fields) => fields,
        _ => JsonObject::new(),
    }
}

impl Pending {
    /// The name the request was about (tool, prompt or resource).
    fn target(&self) -> &str {
        match &self.op {
            Op::CallTool(request) => &request.name,
            Op::GetPrompt { name, .. } => name,
            Op::ReadResource { uri } => uri,
            _ => "",
        }
    }

    /// The client capabilities these input requests need and it did not declare.
    pub fn missing_capabilities(&self, needed: &InputRequired) -> Vec<&'static str> {
        let mut missing: Vec<_> = needed
            .requests
            .iter()
            .filter_map(|(_, request)| request.capability())
            .filter(|capability| !self.client_capabilities.contains_key(*capability))
            .collect();
        missing.dedup();
        missing
    }

    /// The JSON-RPC response for this request's outcome, and its HTTP status.
    pub fn finish(&self, outcome: Outcome, server: &ServerInfo) -> (u16, Value) {
        let id = &self.id;
        let stateless = matches!(self.era, Era::Stateless(_));
        let failure = |status: u16, error: RpcError| (status, jsonrpc::failure(id, &error));
        let one = |key: &str, value: Value| JsonObject::from_iter([(key.to_owned(), value)]);
        let (result, cacheable) = match outcome {
            Outcome::Tools(tools) => (one("tools", json!(tools)), true),
            Outcome::Resources(resources) => (one("resources", json!(resources)), true),
            Outcome::Templates(templates) => (one("resourceTemplates", json!(templates)), true),
            Outcome::Prompts(prompts) => (one("prompts", json!(prompts)), true),
            Outcome::Read(Ok(contents)) => (one("contents", json!(contents)), true),
            Outcome::Read(Err(ReadError::NotFound)) => {
                let code = if stateless { INVALID_PARAMS } else { RESOURCE_NOT_FOUND };
                let uri = self.target();
                return failure(
                    200,
                    RpcError::new(code, format!("Resource not found: {uri}"))
                        .with_data(json!({ "uri": uri })),
                );
            }
            Outcome::Call(Ok(result)) => (fields(result), false),
            Outcome::Prompt(Ok(result)) => (fields(result), false),
            Outcome::Completion(Ok(completion)) => (one("completion", json!(completion)), false),
            Outcome::Call(Err(error)) | Outcome::Prompt(Err(error)) | Outcome::Completion(Err(error)) => {
                return self.error(error, server);
            }
            Outcome::Read(Err(ReadError::Internal(_))) => {
                return failure(200, RpcError::new(INTERNAL_ERROR, "Internal error"));
            }
        };
        let result = if stateless { stateless_result(result, server, cacheable) } else { result };
        (200, jsonrpc::success(id, Value::Object(result)))
    }

    fn error(&self, error: CallError, server: &ServerInfo) -> (u16, Value) {
        let id = &self.id;
        let kind = if matches!(self.op, Op::GetPrompt { .. }) { "prompt" } else { "tool" };
        let error = match error {
            CallError::UnknownTool => RpcError::invalid_params(format!("Unknown {kind}: {}", self.target())),
            CallError::InvalidParams(message) => RpcError::invalid_params(message),
            CallError::Internal(_) => RpcError::new(INTERNAL_ERROR, "Internal error"),
            CallError::InputRequired(needed) => return self.input_required(needed, server),
        };
        (200, jsonrpc::failure(id, &error))
    }

    /// 2026-07-28 asks the client to retry with answers; earlier revisions
    /// cannot, unless the caller bridged the requests itself before finishing.
    fn input_required(&self, needed: InputRequired, server: &ServerInfo) -> (u16, Value) {
        let missing = self.missing_capabilities(&needed);
        match self.era {
            Era::Stateless(_) if !missing.is_empty() => {
                let error = RpcError::new(
                    MISSING_CLIENT_CAPABILITY,
                    format!("this request needs the client capabilities: {}", missing.join(", ")),
                )
                .with_data(json!({
                    "requiredCapabilities": missing.iter().map(|c| (c.to_string(), json!({}))).collect::<Map<_, _>>()
                }));
                (400, jsonrpc::failure(&self.id, &error))
            }
            Era::Stateless(_) => {
                let requests: Map<String, Value> = needed
                    .requests
                    .into_iter()
                    .map(|(key, request)| {
                        (key, json!({ "method": request.method, "params": request.params }))
                    })
                    .collect();
                let requests = JsonObject::from_iter([("inputRequests".to_owned(), Value::Object(requests))]);
                let mut result = stateless_result(requests, server, false);
                result.insert("resultType".into(), json!("input_required"));
                if let Some(state) = needed.state {
                    result.insert("requestState".into(), json!(state));
                }
                (200, jsonrpc::success(&self.id, Value::Object(result)))
            }
            Era::Legacy(_) => {
                let message = if missing.is_empty() {
                    "This needs answers from the client, which it did not give.".to_owned()
                } else {
                    format!("This needs a client that supports {}.", missing.join(" and "))
                };
                match self.op {
                    Op::CallTool(_) => {
                        (200, jsonrpc::success(&self.id, json!(CallToolResult::error(message))))
                    }
                    _ => (200, jsonrpc::failure(&self.id, &RpcError::invalid_params(message))),
                }
            }
        }
    }

    /// The notification for an event of this call, if the client asked for it.
    pub fn notification(&self, event: &CallEvent) -> Option<Value> {
        let Op::CallTool(request) = &self.op else { return None };
        match event {
            CallEvent::Log { level, logger, data } => {
                if request.log_level.is_none_or(|min| *level < min) {
                    return None;
                }
                let mut params = JsonObject::new();
                params.insert("level".into(), json!(level));
                params.insert("data".into(), data.clone());
                if let Some(logger) = logger {
                    params.insert("logger".into(), json!(logger));
                }
                Some(jsonrpc::notification("notifications/message", Value::Object(params)))
            }
            CallEvent::Progress { progress, total, message } => {
                let token = request.progress_token.as_ref()?;
                let mut params = JsonObject::new();
                params.insert("progressToken".into(), token.clone());
                params.insert("progress".into(), json!(progress));
                if let Some(total) = total {
                    params.insert("total".into(), json!(total));
                }
                if let Some(message) = message {
                    params.insert("message".into(), json!(message));
                }
                Some(jsonrpc::notification("notifications/progress", Value::Object(params)))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "tests index the JSON they check")]
mod tests {
    use super::*;

    fn server() -> ServerInfo {
        ServerInfo {
            implementation: Implementation { name: "t".into(), version: "1".into(), title: None },
            instructions: Some("hi".into()),
            capabilities: json!({"tools": {}}),
            ttl_ms: 1000,
        }
    }

    fn message(value: Value) -> Message {
        match Incoming::parse(value) {
            Incoming::Message(m) => m,
            other => panic!("{other:?}"),
        }
    }

    fn modern(method: &str, mut params: Value) -> Message {
        params["_meta"] = json!({
            META_PROTOCOL_VERSION: "2026-07-28",
            META_CLIENT_CAPABILITIES: {},
        });
        message(json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}))
    }

    fn modern_cx<'a>(method: &'a str, name: Option<&'a str>) -> Context<'a> {
        Context {
            protocol_version: Some("2026-07-28"),
            mcp_method: Some(method),
            mcp_name: name,
            ..Context::default()
        }
    }

    fn reply(step: Step) -> (u16, Value) {
        match step {
            Step::Reply { status, body } => (status, body),
            other => panic!("not a reply: {other:?}"),
        }
    }

    #[test]
    fn initialize_negotiates() {
        let m = message(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}));
        let Step::Initialized { body, version } = route(m, &Context::default(), &server()) else { panic!() };
        assert_eq!(version, Version::V2025_06_18);
        assert_eq!(body["result"]["protocolVersion"], "2025-06-18");
        assert_eq!(body["result"]["serverInfo"]["name"], "t");
        assert_eq!(body["result"]["instructions"], "hi");

        let m = message(json!({"jsonrpc":"2.0","id":2,"method":"initialize","params":{}}));
        let (_, body) = reply(route(m, &Context::default(), &server()));
        assert_eq!(body["error"]["code"], INVALID_PARAMS);
    }

    #[test]
    fn legacy_methods() {
        let cx = Context::default();
        let (status, body) =
            reply(route(message(json!({"jsonrpc":"2.0","id":"p","method":"ping"})), &cx, &server()));
        assert_eq!((status, body["result"].clone()), (200, json!({})));

        let (status, body) =
            reply(route(message(json!({"jsonrpc":"2.0","id":1,"method":"nope"})), &cx, &server()));
        assert_eq!((status, body["error"]["code"].clone()), (200, json!(METHOD_NOT_FOUND)));

        let step =
            route(message(json!({"jsonrpc":"2.0","method":"notifications/initialized"})), &cx, &server());
        assert_eq!(step, Step::Accepted);

        let step = route(
            message(json!({"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"warning"}})),
            &cx,
            &server(),
        );
        assert!(matches!(step, Step::SetLevel { level: LogLevel::Warning, .. }));

        let (_, body) = reply(route(
            message(json!({"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":"loud"}})),
            &cx,
            &server(),
        ));
        assert_eq!(body["error"]["code"], INVALID_PARAMS);

        let bad_version = Context { protocol_version: Some("1999-01-01"), ..Context::default() };
        let (status, _) =
            reply(route(message(json!({"jsonrpc":"2.0","id":1,"method":"ping"})), &bad_version, &server()));
        assert_eq!(status, 400);
    }

    #[test]
    fn tools_call_parsing() {
        let m = message(json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{
            "name":"get","arguments":{"a":1},"_meta":{"progressToken":"tok","openai/locale":"de"}}}));
        let Step::Perform(pending) = route(m, &Context::default(), &server()) else { panic!() };
        let Op::CallTool(request) = &pending.op else { panic!() };
        assert_eq!(request.name, "get");
        assert_eq!(request.arguments["a"], 1);
        assert_eq!(request.progress_token, Some(json!("tok")));
        assert_eq!(request.meta, Some(json!({"openai/locale":"de"}).as_object().unwrap().clone()));
        assert_eq!(request.log_level, None, "no logs before logging/setLevel");
        let cx = Context { session_log_level: Some(LogLevel::Info), ..Context::default() };
        let m = message(json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get"}}));
        let Step::Perform(pending) = route(m, &cx, &server()) else { panic!() };
        let Op::CallTool(request) = pending.op else { panic!() };
        assert_eq!(request.log_level, Some(LogLevel::Info));

        for params in [json!({}), json!({"name":5}), json!({"name":"x","arguments":[1]})] {
            let m = message(json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":params}));
            let (_, body) = reply(route(m, &Context::default(), &server()));
            assert_eq!(body["error"]["code"], INVALID_PARAMS);
        }
        let m = message(json!({"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"cursor":"x"}}));
        let (_, body) = reply(route(m, &Context::default(), &server()));
        assert_eq!(body["error"]["code"], INVALID_PARAMS);
    }

    #[test]
    fn stateless_discover_and_lists() {
        let (status, body) = reply(route(
            modern("server/discover", json!({})),
            &modern_cx("server/discover", None),
            &server(),
        ));
        assert_eq!(status, 200);
        let result = &body["result"];
        assert_eq!(result["resultType"], "complete");
        assert_eq!(result["supportedVersions"][0], "2026-07-28");
        assert_eq!(result["_meta"][META_SERVER_INFO]["name"], "t");
        assert_eq!(result["ttlMs"], 1000);

        let Step::Perform(pending) =
            route(modern("tools/list", json!({})), &modern_cx("tools/list", None), &server())
        else {
            panic!()
        };
        let (_, body) = pending.finish(Outcome::Tools(vec![json!({"name":"a"})]), &server());
        assert_eq!(body["result"]["tools"][0]["name"], "a");
        assert_eq!(body["result"]["cacheScope"], "public");
        assert_eq!(body["result"]["resultType"], "complete");
    }

    #[test]
    fn stateless_validation() {
        // Missing _meta while the header says 2026-07-28.
        let m = message(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}));
        let (status, body) = reply(route(m, &modern_cx("tools/list", None), &server()));
        assert_eq!((status, body["error"]["code"].clone()), (400, json!(INVALID_PARAMS)));

        // Unsupported version.
        let mut m = modern("tools/list", json!({}));
        m.params["_meta"][META_PROTOCOL_VERSION] = json!("2030-01-01");
        let cx = Context {
            protocol_version: Some("2030-01-01"),
            mcp_method: Some("tools/list"),
            ..Context::default()
        };
        let (status, body) = reply(route(m, &cx, &server()));
        assert_eq!((status, body["error"]["code"].clone()), (400, json!(UNSUPPORTED_PROTOCOL_VERSION)));
        assert_eq!(body["error"]["data"]["requested"], "2030-01-01");

        // A header that disagrees with _meta is a mismatch, even if _meta names an unknown version.
        let mut odd = modern("tools/list", json!({}));
        odd.params["_meta"][META_PROTOCOL_VERSION] = json!("v999.0.0");
        let (status, body) = reply(route(odd, &modern_cx("tools/list", None), &server()));
        assert_eq!((status, body["error"]["code"].clone()), (400, json!(HEADER_MISMATCH)));

        // Header mismatches.
        for cx in [
            Context { protocol_version: Some("2026-07-28"), ..Context::default() },
            modern_cx("tools/call", None),
            Context { protocol_version: None, mcp_method: Some("tools/list"), ..Context::default() },
        ] {
            let (status, body) = reply(route(modern("tools/list", json!({})), &cx, &server()));
            assert_eq!((status, body["error"]["code"].clone()), (400, json!(HEADER_MISMATCH)), "{cx:?}");
        }
        let call = || modern("tools/call", json!({"name":"get_x","arguments":{}}));
        let (status, body) = reply(route(call(), &modern_cx("tools/call", Some("other")), &server()));
        assert_eq!((status, body["error"]["code"].clone()), (400, json!(HEADER_MISMATCH)));
        assert!(matches!(
            route(call(), &modern_cx("tools/call", Some("get_x")), &server()),
            Step::Perform(_)
        ));
        // base64-encoded header values are decoded before comparing ("get_x").
        let encoded = modern_cx("tools/call", Some("=?base64?Z2V0X3g=?="));
        assert!(matches!(route(call(), &encoded, &server()), Step::Perform(_)));

        // Removed methods are 404 + -32601, keeping the id.
        for method in ["initialize", "ping", "logging/setLevel"] {
            let (status, body) = reply(route(modern(method, json!({})), &modern_cx(method, None), &server()));
            assert_eq!(
                (status, body["error"]["code"].clone(), body["id"].clone()),
                (404, json!(METHOD_NOT_FOUND), json!(1))
            );
        }
    }

    #[test]
    fn stateless_log_level_comes_from_meta() {
        let mut m = modern("tools/call", json!({"name":"t"}));
        let Step::Perform(p) = route(m.clone(), &modern_cx("tools/call", Some("t")), &server()) else {
            panic!()
        };
        let Op::CallTool(request) = &p.op else { panic!() };
        assert_eq!(request.log_level, None, "no logLevel: no logs");
        m.params["_meta"][META_LOG_LEVEL] = json!("info");
        let Step::Perform(p) = route(m, &modern_cx("tools/call", Some("t")), &server()) else { panic!() };
        let debug = CallEvent::Log { level: LogLevel::Debug, logger: None, data: json!("d") };
        let error = CallEvent::Log { level: LogLevel::Error, logger: Some("w".into()), data: json!("e") };
        assert_eq!(p.notification(&debug), None);
        let note = p.notification(&error).unwrap();
        assert_eq!(note["method"], "notifications/message");
        assert_eq!(note["params"], json!({"level":"error","logger":"w","data":"e"}));
        let progress = CallEvent::Progress { progress: 1.0, total: None, message: None };
        assert_eq!(p.notification(&progress), None, "no progress token: no progress");
    }

    #[test]
    fn outcomes_render_per_era() {
        let legacy = Pending {
            id: json!(1),
            era: Era::Legacy(Version::V2025_11_25),
            op: Op::ReadResource { uri: "x://y".into() },
            client_capabilities: Map::new(),
        };
        let (_, body) = legacy.finish(Outcome::Read(Err(ReadError::NotFound)), &server());
        assert_eq!(body["error"]["code"], RESOURCE_NOT_FOUND);
        let modern = Pending { era: Era::Stateless(Version::V2026_07_28), ..legacy.clone() };
        let (_, body) = modern.finish(Outcome::Read(Err(ReadError::NotFound)), &server());
        assert_eq!(body["error"]["code"], INVALID_PARAMS);
        assert_eq!(body["error"]["data"]["uri"], "x://y");

        let call = Pending {
            id: json!(2),
            era: Era::Legacy(Version::V2025_03_26),
            op: Op::CallTool(CallRequest {
                name: "zzz".into(),
                arguments: Map::new(),
                log_level: None,
                progress_token: Some(json!(5)),
                meta: None,
                inputs: None,
                client_capabilities: Map::new(),
                identity: None,
            }),
            client_capabilities: Map::new(),
        };
        let (_, body) = call.finish(Outcome::Call(Err(CallError::UnknownTool)), &server());
        assert_eq!(body["error"]["message"], "Unknown tool: zzz");
        let (_, body) =
            call.finish(Outcome::Call(Err(CallError::Internal("secret detail".into()))), &server());
        assert_eq!(body["error"], json!({"code": INTERNAL_ERROR, "message": "Internal error"}));
        let (_, body) = call.finish(Outcome::Call(Ok(CallToolResult::error("bad"))), &server());
        assert_eq!(body["result"], json!({"content":[{"type":"text","text":"bad"}],"isError":true}));
        let note = call
            .notification(&CallEvent::Progress { progress: 0.5, total: Some(1.0), message: None })
            .unwrap();
        assert_eq!(note["params"], json!({"progressToken":5,"progress":0.5,"total":1.0}));
    }

    fn elicitation(key: &str) -> InputRequired {
        let request =
            crate::InputRequest { method: "elicitation/create".into(), params: json!({"message": "?"}) };
        InputRequired { requests: vec![(key.into(), request)], state: Some("sealed".into()) }
    }

    #[test]
    fn input_required_per_era() {
        let modern = |capabilities: Value| Pending {
            id: json!(7),
            era: Era::Stateless(Version::V2026_07_28),
            op: Op::ListTools,
            client_capabilities: capabilities.as_object().unwrap().clone(),
        };
        let (status, body) = modern(json!({"elicitation": {}}))
            .finish(Outcome::Call(Err(CallError::InputRequired(elicitation("k")))), &server());
        assert_eq!(status, 200);
        let result = &body["result"];
        assert_eq!(result["resultType"], "input_required");
        assert_eq!(result["inputRequests"]["k"]["method"], "elicitation/create");
        assert_eq!(result["requestState"], "sealed");

        let (status, body) = modern(json!({}))
            .finish(Outcome::Call(Err(CallError::InputRequired(elicitation("k")))), &server());
        assert_eq!((status, body["error"]["code"].clone()), (400, json!(MISSING_CLIENT_CAPABILITY)));
        assert_eq!(body["error"]["data"]["requiredCapabilities"], json!({"elicitation": {}}));

        let call = Op::CallTool(CallRequest {
            name: "t".into(),
            arguments: Map::new(),
            log_level: None,
            progress_token: None,
            meta: None,
            inputs: None,
            client_capabilities: Map::new(),
            identity: None,
        });
        let legacy = Pending { era: Era::Legacy(Version::V2025_11_25), op: call, ..modern(json!({})) };
        let (_, body) =
            legacy.finish(Outcome::Call(Err(CallError::InputRequired(elicitation("k")))), &server());
        assert_eq!(body["result"]["isError"], true, "a legacy client that cannot answer gets a tool error");
    }

    #[test]
    fn retried_requests_carry_their_inputs() {
        let mut m = modern(
            "tools/call",
            json!({"name":"t","inputResponses":{"k":{"action":"accept"}},"requestState":"s"}),
        );
        let Step::Perform(p) = route(m.clone(), &modern_cx("tools/call", Some("t")), &server()) else {
            panic!()
        };
        let Op::CallTool(request) = &p.op else { panic!() };
        let inputs = request.inputs.as_ref().unwrap();
        assert_eq!(
            (inputs.responses["k"]["action"].clone(), inputs.state.as_deref()),
            (json!("accept"), Some("s"))
        );

        m.params["inputResponses"] = json!("not an object");
        let (status, body) = reply(route(m, &modern_cx("tools/call", Some("t")), &server()));
        assert_eq!((status, body["error"]["code"].clone()), (200, json!(INVALID_PARAMS)));
    }

    #[test]
    fn completion_requests() {
        let parse = |params: Value| completion_request(params.as_object().unwrap());
        let request =
            parse(json!({"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":"pa"},
            "context":{"arguments":{"b":"x"}}}))
            .unwrap();
        assert_eq!(request.reference, CompletionRef::Prompt("p".into()));
        assert_eq!((request.argument.as_str(), request.value.as_str()), ("a", "pa"));
        assert_eq!(request.context["b"], "x");
        assert!(parse(json!({"ref":{"type":"ref/other"},"argument":{"name":"a","value":""}})).is_err());
        assert!(
            parse(json!({"ref":{"type":"ref/resource","uri":"x://{id}"},"argument":{"name":"a"}})).is_err()
        );
    }

    #[test]
    fn templates_match_their_expansions() {
        let template = crate::ResourceTemplate {
            uri_template: "test://template/{id}/data".into(),
            name: "t".into(),
            title: None,
            description: None,
            mime_type: None,
            meta: None,
        };
        assert!(template.matches("test://template/123/data"));
        assert!(!template.matches("test://template//data"));
        assert!(!template.matches("test://template/1/2/data"));
        assert!(!template.matches("test://template/123/other"));
    }

    fn template(uri_template: &str) -> crate::ResourceTemplate {
        crate::ResourceTemplate {
            uri_template: uri_template.into(),
            name: "t".into(),
            title: None,
            description: None,
            mime_type: None,
            meta: None,
        }
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
