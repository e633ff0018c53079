//! The fixtures of the tasks extension's scenarios (SEP-2663): tools that may
//! or must run as tasks, one that fails as a protocol error, and ones that ask
//! for input during the task or (with MRTR) before it.

use std::time::Duration;

use mcp_guest::protocol::{CallError, CallRequest, CallToolResult, Inputs, Support, TaskSupport, Tool};
use serde_json::{Value, json};

use super::{answer, ask, elicit, name_schema, sleep, text};

fn tasks(support: Support) -> TaskSupport {
    TaskSupport { support, after_input: false }
}

pub fn tools() -> Vec<Tool> {
    let compute = json!({
        "type": "object",
        "properties": { "seconds": { "type": "number", "minimum": 0 }, "label": { "type": "string" } },
    });
    let file = json!({ "type": "object", "properties": { "filename": { "type": "string" } } });
    let name = json!({ "type": "object", "properties": { "name": { "type": "string" } } });
    let none = json!({ "type": "object", "properties": {} });
    vec![
        Tool::new("greet", "Says hello, at once.", name),
        Tool::new("slow_compute", "Sleeps `seconds`, then answers.", compute)
            .with_tasks(tasks(Support::Optional)),
        Tool::new("failing_job", "Fails with a tool error after a second.", none.clone())
            .with_tasks(tasks(Support::Required)),
        Tool::new("protocol_error_job", "Fails with a protocol error.", none.clone())
            .with_tasks(tasks(Support::Optional)),
        Tool::new("confirm_delete", "Asks for confirmation, then deletes (pretends to).", file)
            .with_tasks(tasks(Support::Optional)),
        Tool::new("multi_input", "Asks two questions at once.", none.clone())
            .with_tasks(tasks(Support::Optional)),
        Tool::new("test_tool_with_task", "Asks for a name first, then greets as a task.", none)
            .with_tasks(TaskSupport { support: Support::Required, after_input: true }),
    ]
}

fn accepted(inputs: Option<&Inputs>, key: &str) -> Option<Value> {
    answer(inputs, key).map(|result| result["content"].clone())
}

/// The call of one of these tools; `None` for the others.
pub fn call(request: &CallRequest) -> Option<Result<CallToolResult, CallError>> {
    let inputs = request.inputs.as_ref();
    let string =
        |name: &str| request.arguments.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    Some(Ok(match request.name.as_str() {
        "greet" => text(format!("Hello, {}!", string("name"))),
        "slow_compute" => {
            let seconds =
                request.arguments.get("seconds").and_then(Value::as_f64).unwrap_or(0.0).clamp(0.0, 3600.0);
            sleep(Duration::from_secs_f64(seconds));
            text(format!("Computed {} in {seconds} s", string("label")))
        }
        "failing_job" => {
            sleep(Duration::from_secs(1));
            CallToolResult::error("The job failed, as it always does.")
        }
        "protocol_error_job" => return Some(Err(CallError::Internal("the job broke down".into()))),
        "confirm_delete" => match accepted(inputs, "confirm") {
            Some(content) if content["confirm"] == true => text(format!("Deleted {}", string("filename"))),
            Some(_) => text(format!("Kept {}", string("filename"))),
            None => {
                let schema = json!({ "type": "object", "properties": { "confirm": { "type": "boolean" } }, "required": ["confirm"] });
                let question = format!("Delete {}?", string("filename"));
                return Some(Err(ask(
                    vec![("confirm", "elicitation/create", elicit(&question, schema))],
                    None,
                )));
            }
        },
        "multi_input" => match (accepted(inputs, "name"), accepted(inputs, "confirm")) {
            (Some(name), Some(confirm)) => {
                text(format!("name={}, confirm={}", name["name"], confirm["confirm"]))
            }
            _ => {
                return Some(Err(ask(
                    vec![
                        ("name", "elicitation/create", elicit("Your name?", name_schema("name"))),
                        (
                            "confirm",
                            "elicitation/create",
                            elicit(
                                "Go ahead?",
                                json!({ "type": "object", "properties": { "confirm": { "type": "boolean" } } }),
                            ),
                        ),
                    ],
                    None,
                )));
            }
        },
        "test_tool_with_task" => match accepted(inputs, "user_name") {
            Some(content) => {
                // The long part, which runs as a task.
                sleep(Duration::from_millis(500));
                text(format!("Hello, {}!", content["name"].as_str().unwrap_or("stranger")))
            }
            None => {
                return Some(Err(ask(
                    vec![(
                        "user_name",
                        "elicitation/create",
                        elicit("What is your name?", name_schema("name")),
                    )],
                    None,
                )));
            }
        },
        _ => return None,
    }))
}
