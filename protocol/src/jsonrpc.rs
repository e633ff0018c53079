//! JSON-RPC 2.0 messages: parsing what clients send, building what we answer.

use serde_json::{Map, Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// Resource not found, up to 2025-11-25 (2026-07-28 uses `INVALID_PARAMS`).
pub const RESOURCE_NOT_FOUND: i64 = -32002;
/// 2026-07-28: an HTTP header disagrees with the body, or is missing.
pub const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the request needs a client capability it did not declare.
pub const MISSING_CLIENT_CAPABILITY: i64 = -32021;
/// 2026-07-28: the request names a protocol version we do not speak.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// A JSON-RPC error to send back.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    pub fn to_value(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        if let Some(data) = &self.data {
            error.insert("data".into(), data.clone());
        }
        Value::Object(error)
    }
}

/// A request (has an id) or a notification (has none).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `None` for notifications.
    pub id: Option<Value>,
    pub method: String,
    /// Always an object; absent params read as `{}`.
    pub params: Map<String, Value>,
}

/// What one element of a POST body turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Message(Message),
    /// A client's answer to a request the server sent it: its id, and the
    /// `result` or the `error` object.
    Response {
        id: Value,
        outcome: Result<Value, Value>,
    },
    /// Not a JSON-RPC message; answer with this error (id `null` if unknown).
    Invalid {
        id: Value,
        error: RpcError,
    },
}

impl Incoming {
    pub fn parse(value: Value) -> Incoming {
        let Value::Object(mut object) = value else {
            return invalid(Value::Null, "a JSON-RPC message must be a JSON object");
        };
        let id = object.remove("id");
        if id.as_ref().is_some_and(|id| !(id.is_string() || id.is_i64() || id.is_u64())) {
            return invalid(Value::Null, "\"id\" must be a string or an integer");
        }
        let reply_id = id.clone().unwrap_or(Value::Null);
        if object.get("jsonrpc") != Some(&Value::String("2.0".into())) {
            return invalid(reply_id, "\"jsonrpc\" must be \"2.0\"");
        }
        let method = match object.remove("method") {
            Some(Value::String(method)) => method,
            Some(_) => return invalid(reply_id, "\"method\" must be a string"),
            None if id.is_some() && (object.contains_key("result") || object.contains_key("error")) => {
                let outcome = match object.remove("result") {
                    Some(result) => Ok(result),
                    None => Err(object.remove("error").unwrap_or(Value::Null)),
                };
                return Incoming::Response { id: reply_id, outcome };
            }
            None => return invalid(reply_id, "\"method\" is missing"),
        };
        let params = match object.remove("params") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(params)) => params,
            Some(_) => return invalid(reply_id, "\"params\" must be an object"),
        };
        Incoming::Message(Message { id, method, params })
    }
}

fn invalid(id: Value, message: &str) -> Incoming {
    Incoming::Invalid { id, error: RpcError::new(INVALID_REQUEST, message) }
}

pub fn success(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

pub fn failure(id: &Value, error: &RpcError) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": error.to_value() })
}

pub fn notification(method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "method": method, "params": params })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "tests index the JSON they check")]
mod tests {
    use super::*;

    #[test]
    fn parses_requests_and_notifications() {
        let request = Incoming::parse(json!({"jsonrpc":"2.0","id":7,"method":"ping"}));
        assert_eq!(
            request,
            Incoming::Message(Message { id: Some(json!(7)), method: "ping".into(), params: Map::new() })
        );
        let Incoming::Message(note) =
            Incoming::parse(json!({"jsonrpc":"2.0","method":"notifications/initialized","params":{"a":1}}))
        else {
            panic!("not a message")
        };
        assert_eq!(note.id, None);
        assert_eq!(note.params["a"], 1);
    }

    #[test]
    fn rejects_malformed_messages_with_the_id_when_known() {
        let cases = [
            (json!([1]), Value::Null),
            (json!("x"), Value::Null),
            (json!({"jsonrpc":"1.0","id":1,"method":"ping"}), json!(1)),
            (json!({"jsonrpc":"2.0","id":"a","method":5}), json!("a")),
            (json!({"jsonrpc":"2.0","id":{"x":1},"method":"ping"}), Value::Null),
            (json!({"jsonrpc":"2.0","id":1.5,"method":"ping"}), Value::Null),
            (json!({"jsonrpc":"2.0","id":2,"method":"ping","params":[1]}), json!(2)),
            (json!({"jsonrpc":"2.0","id":3}), json!(3)),
        ];
        for (input, expected_id) in cases {
            match Incoming::parse(input.clone()) {
                Incoming::Invalid { id, error } => {
                    assert_eq!(id, expected_id, "{input}");
                    assert_eq!(error.code, INVALID_REQUEST, "{input}");
                }
                other => panic!("{input} parsed as {other:?}"),
            }
        }
    }

    #[test]
    fn recognises_client_responses() {
        assert_eq!(
            Incoming::parse(json!({"jsonrpc":"2.0","id":1,"result":{"a":1}})),
            Incoming::Response { id: json!(1), outcome: Ok(json!({"a":1})) }
        );
        assert_eq!(
            Incoming::parse(json!({"jsonrpc":"2.0","id":"s","error":{"code":1,"message":"x"}})),
            Incoming::Response { id: json!("s"), outcome: Err(json!({"code":1,"message":"x"})) }
        );
    }

    #[test]
    fn builds_responses() {
        assert_eq!(success(&json!(1), json!({})), json!({"jsonrpc":"2.0","id":1,"result":{}}));
        let error = RpcError::new(METHOD_NOT_FOUND, "nope").with_data(json!({"x":1}));
        assert_eq!(
            failure(&json!("a"), &error),
            json!({"jsonrpc":"2.0","id":"a","error":{"code":-32601,"message":"nope","data":{"x":1}}})
        );
    }
}
