//! `requestState` at the HTTP edge: sealed for the caller when a component
//! hands it out, opened (and checked) when a 2026-07-28 client echoes it.

use mcp_protocol::jsonrpc::{self, RpcError};
use mcp_protocol::{CallError, Op, Outcome, Pending};
use serde_json::Value;

use super::app::App;
use super::sessions::{Caller, Unsealed};
use crate::sources::Catalog;
use crate::untrusted::Untrusted;

/// Opens the request state a 2026-07-28 client echoes; a state this host did
/// not seal for this tool or prompt and this caller, or sealed in an older
/// format, or expired, is refused (-32602).
pub fn unseal(app: &App, caller: &Caller, pending: &mut Pending) -> Result<(), (u16, Value)> {
    let (owner, inputs) = match &mut pending.op {
        Op::CallTool(request) => (request.name.clone(), &mut request.inputs),
        Op::GetPrompt { name, inputs, .. } => (name.clone(), inputs),
        _ => return Ok(()),
    };
    let Some(inputs) = inputs else { return Ok(()) };
    let Some(sealed) = inputs.state.take() else { return Ok(()) };
    let message = match app.sessions.unseal(&owner, caller, &sealed) {
        Ok(state) => {
            inputs.state = Some(state);
            return Ok(());
        }
        Err(Unsealed::Invalid) => "requestState failed its integrity check",
        Err(Unsealed::Expired) => "requestState has expired; send the request again without it",
    };
    tracing::info!(owner = %Untrusted(&owner), why = message, "requestState refused");
    Err((200, jsonrpc::failure(&pending.id, &RpcError::invalid_params(message))))
}

/// Renders an outcome, sealing any request state a component hands out for
/// this caller.
pub fn finish(
    app: &App,
    catalog: &Catalog,
    pending: &Pending,
    caller: &Caller,
    mut outcome: Outcome,
) -> (u16, Value) {
    let owner = match &pending.op {
        Op::CallTool(request) => request.name.as_str(),
        Op::GetPrompt { name, .. } => name.as_str(),
        _ => "",
    };
    if let Outcome::Call(Err(CallError::InputRequired(needed)))
    | Outcome::Prompt(Err(CallError::InputRequired(needed))) = &mut outcome
    {
        needed.state = needed.state.take().map(|state| app.sessions.seal(owner, caller, &state));
    }
    pending.finish(outcome, &catalog.server)
}
