//! Input a request needs from the client before it can finish (elicitation,
//! sampling, roots): asked for with an `input_required` result in 2026-07-28,
//! answered by retrying the request with `inputResponses` and `requestState`.

use serde_json::{Map, Value, json};

use super::{Era, Op, Pending, ServerInfo, stateless};
use crate::jsonrpc::{self, MISSING_CLIENT_CAPABILITY, RpcError};
use crate::types::{CallToolResult, InputRequired, Inputs, JsonObject};

/// `inputResponses` and `requestState` of a retried 2026-07-28 request.
pub(super) fn parse(params: &mut JsonObject, era: Era) -> Result<Option<Inputs>, RpcError> {
    let responses = params.remove("inputResponses");
    let state = params.remove("requestState");
    // Earlier revisions have no retries: the keys mean nothing there.
    if matches!(era, Era::Legacy(_)) || (responses.is_none() && state.is_none()) {
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

impl Pending {
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

    /// 2026-07-28 asks the client to retry with answers; earlier revisions
    /// cannot, unless the caller bridged the requests itself before finishing.
    pub(super) fn input_required(&self, needed: InputRequired, server: &ServerInfo) -> (u16, Value) {
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
                let mut result = stateless::result(requests, server, false);
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
}
