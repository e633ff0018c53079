//! The stateless generation (2026-07-28): no `initialize` and no session;
//! every request carries its revision, the client's capabilities and its log
//! level in `_meta`, and repeats its method and target in headers.

use serde_json::{Value, json};

use super::request::Request;
use super::subscriptions::{Filter, Subscription};
use super::tasks::TaskRequest;
use super::{
    Context, Era, META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, META_SERVER_INFO, ServerInfo, Step,
    lifecycle, logging,
};
use crate::http::{METHOD_HEADER, NAME_HEADER, PROTOCOL_VERSION_HEADER};
use crate::jsonrpc::{
    self, HEADER_MISMATCH, METHOD_NOT_FOUND, Message, RpcError, UNSUPPORTED_PROTOCOL_VERSION,
};
use crate::types::{JsonObject, LogLevel};
use crate::version::Version;

/// A request this generation serves.
#[derive(Debug, Clone, PartialEq)]
enum StatelessRequest {
    Discover,
    Listen(Filter),
    Task(TaskRequest),
    Shared(Request),
}

impl StatelessRequest {
    fn parse(
        method: &str,
        params: JsonObject,
        era: Era,
        server: &ServerInfo,
        capabilities: &JsonObject,
    ) -> Result<Self, RpcError> {
        match method {
            "server/discover" => Ok(Self::Discover),
            "subscriptions/listen" => Filter::parse(&params, server, capabilities).map(Self::Listen),
            _ => match TaskRequest::parse(method, params.clone()) {
                Some(task) => task.map(Self::Task),
                None => Request::parse(method, params, era).map(Self::Shared),
            },
        }
    }
}

pub(super) fn route(message: Message, cx: &Context, server: &ServerInfo) -> Step {
    let Message { id, method, params } = message;
    let Some(id) = id else { return Step::Accepted };
    let envelope = match Envelope::check(&method, &params, cx) {
        Ok(envelope) => envelope,
        Err(error) => return Step::error(400, &id, error),
    };
    let era = Era::Stateless(envelope.version);
    match StatelessRequest::parse(&method, params, era, server, &envelope.client_capabilities) {
        Ok(StatelessRequest::Discover) => {
            let result = result(lifecycle::discover(server), server, true);
            Step::Reply { status: 200, body: jsonrpc::success(&id, Value::Object(result)) }
        }
        Ok(StatelessRequest::Listen(filter)) => Step::Listen(Box::new(Subscription { id, filter })),
        Ok(StatelessRequest::Task(task)) => match task.into_op(era, &envelope.client_capabilities) {
            Ok(op) => Step::Perform(Box::new(super::Pending {
                id,
                era,
                op,
                client_capabilities: envelope.client_capabilities,
            })),
            Err(error) => Step::error(200, &id, error),
        },
        Ok(StatelessRequest::Shared(request)) => {
            request.perform(id, era, envelope.log_level, envelope.client_capabilities)
        }
        // Methods this revision removed or never had are 404 on the wire.
        Err(error) if error.code == METHOD_NOT_FOUND => Step::error(404, &id, error),
        Err(error) => Step::error(200, &id, error),
    }
}

/// What a request says about itself beside its params, once `_meta` and the
/// headers agree.
struct Envelope {
    version: Version,
    log_level: Option<LogLevel>,
    client_capabilities: JsonObject,
}

impl Envelope {
    fn check(method: &str, params: &JsonObject, cx: &Context) -> Result<Self, RpcError> {
        let meta = request_meta(params)?;
        let requested = meta.get(META_PROTOCOL_VERSION).and_then(Value::as_str).unwrap_or_default();
        // The header must echo `_meta` before the version itself is judged.
        if cx.protocol_version != Some(requested) {
            return Err(header_mismatch(PROTOCOL_VERSION_HEADER, cx.protocol_version, requested));
        }
        let Some(version) = Version::parse(requested).filter(|v| v.is_stateless()) else {
            return Err(RpcError::new(
                UNSUPPORTED_PROTOCOL_VERSION,
                format!("Unsupported protocol version: {requested}"),
            )
            .with_data(json!({ "supported": Version::supported_strings(), "requested": requested })));
        };
        if cx.mcp_method != Some(method) {
            return Err(header_mismatch(METHOD_HEADER, cx.mcp_method, method));
        }
        if let Some(field) = named_by(method) {
            let expected = params.get(field).and_then(Value::as_str).unwrap_or_default();
            let sent = cx.mcp_name.map(decode_header_value);
            if sent.as_deref() != Some(expected) {
                return Err(header_mismatch(NAME_HEADER, cx.mcp_name, expected));
            }
        }
        Ok(Self {
            version,
            log_level: logging::meta_level(meta)?,
            client_capabilities: meta
                .get(META_CLIENT_CAPABILITIES)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
    }
}

/// The `_meta` every 2026-07-28 request must carry.
fn request_meta(params: &JsonObject) -> Result<&JsonObject, RpcError> {
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

/// The param the `Mcp-Name` header repeats, for the methods that have one. It
/// is checked before the params are parsed, so it is read from them as sent.
fn named_by(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        "tasks/get" | "tasks/update" | "tasks/cancel" => Some("taskId"),
        _ => None,
    }
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
pub(super) fn result(mut result: JsonObject, server: &ServerInfo, cacheable: bool) -> JsonObject {
    result.insert("resultType".into(), json!("complete"));
    result.insert("_meta".into(), json!({ META_SERVER_INFO: server.implementation }));
    if cacheable {
        result.insert("ttlMs".into(), json!(server.ttl_ms));
        result.insert("cacheScope".into(), json!("public"));
    }
    result
}
