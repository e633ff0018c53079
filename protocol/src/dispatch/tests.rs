//! Dispatch as the caller sees it: messages in, steps and rendered outcomes out.

use serde_json::{Map, Value, json};

use super::*;
use crate::jsonrpc::{
    HEADER_MISMATCH, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND,
    MISSING_CLIENT_CAPABILITY, RESOURCE_NOT_FOUND, UNSUPPORTED_PROTOCOL_VERSION,
};
use crate::types::{CallEvent, Implementation, InputRequired, Tool};

fn server() -> ServerInfo {
    ServerInfo {
        implementation: Implementation { name: "t".into(), version: "1".into(), title: None },
        instructions: Some("hi".into()),
        capabilities: json!({"tools": {}}),
        ttl_ms: 1000,
        tasks: true,
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

    let step = route(message(json!({"jsonrpc":"2.0","method":"notifications/initialized"})), &cx, &server());
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
    let (status, body) =
        reply(route(modern("server/discover", json!({})), &modern_cx("server/discover", None), &server()));
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
    assert!(matches!(route(call(), &modern_cx("tools/call", Some("get_x")), &server()), Step::Perform(_)));
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

/// Each generation parses only its own methods: the other's are unknown, even
/// with params that would not parse.
#[test]
fn each_generation_knows_only_its_methods() {
    for (method, params) in [("initialize", json!({})), ("logging/setLevel", json!({"level":"loud"}))] {
        let (status, body) = reply(route(modern(method, params), &modern_cx(method, None), &server()));
        assert_eq!((status, body["error"]["code"].clone()), (404, json!(METHOD_NOT_FOUND)), "{method}");
    }
    let m = message(json!({"jsonrpc":"2.0","id":1,"method":"server/discover"}));
    let (status, body) = reply(route(m, &Context::default(), &server()));
    assert_eq!((status, body["error"]["code"].clone()), (200, json!(METHOD_NOT_FOUND)));
}

/// The envelope (version, headers, `_meta`) is judged before the params.
#[test]
fn envelope_errors_come_before_params_errors() {
    let bad_call = json!({"name":"t","arguments":[1]});
    let (status, body) =
        reply(route(modern("tools/call", bad_call.clone()), &modern_cx("tools/call", Some("u")), &server()));
    assert_eq!((status, body["error"]["code"].clone()), (400, json!(HEADER_MISMATCH)));
    let (status, body) =
        reply(route(modern("tools/call", bad_call), &modern_cx("tools/call", Some("t")), &server()));
    assert_eq!((status, body["error"]["code"].clone()), (200, json!(INVALID_PARAMS)));

    let bad_version = Context { protocol_version: Some("1999-01-01"), ..Context::default() };
    let m = message(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}));
    let (status, body) = reply(route(m, &bad_version, &server()));
    assert_eq!((status, body["error"]["code"].clone()), (400, json!(INVALID_REQUEST)));
    // `initialize` negotiates its own revision, whatever the header says.
    let m = message(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}));
    let (status, body) = reply(route(m, &bad_version, &server()));
    assert_eq!((status, body["error"]["code"].clone()), (200, json!(INVALID_PARAMS)));
}

#[test]
fn stateless_log_level_comes_from_meta() {
    let mut m = modern("tools/call", json!({"name":"t"}));
    let Step::Perform(p) = route(m.clone(), &modern_cx("tools/call", Some("t")), &server()) else { panic!() };
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
    let (_, body) = call.finish(Outcome::Call(Err(CallError::Internal("secret detail".into()))), &server());
    assert_eq!(body["error"], json!({"code": INTERNAL_ERROR, "message": "Internal error"}));
    let (_, body) = call.finish(Outcome::Call(Ok(CallToolResult::error("bad"))), &server());
    assert_eq!(body["result"], json!({"content":[{"type":"text","text":"bad"}],"isError":true}));
    let note =
        call.notification(&CallEvent::Progress { progress: 0.5, total: Some(1.0), message: None }).unwrap();
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

    let (status, body) =
        modern(json!({})).finish(Outcome::Call(Err(CallError::InputRequired(elicitation("k")))), &server());
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
    let (_, body) = legacy.finish(Outcome::Call(Err(CallError::InputRequired(elicitation("k")))), &server());
    assert_eq!(body["result"]["isError"], true, "a legacy client that cannot answer gets a tool error");
}

#[test]
fn retried_requests_carry_their_inputs() {
    let mut m = modern(
        "tools/call",
        json!({"name":"t","inputResponses":{"k":{"action":"accept"}},"requestState":"s"}),
    );
    let Step::Perform(p) = route(m.clone(), &modern_cx("tools/call", Some("t")), &server()) else { panic!() };
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

fn with_tasks(method: &str, params: Value) -> Message {
    let mut message = modern(method, params);
    message.params["_meta"][META_CLIENT_CAPABILITIES] = json!({ "extensions": { TASKS_EXTENSION: {} } });
    message
}

fn perform(step: Step) -> Pending {
    match step {
        Step::Perform(pending) => *pending,
        other => panic!("not performed: {other:?}"),
    }
}

#[test]
fn tasks_methods_need_the_extension_and_a_matching_name_header() {
    let get = json!({ "taskId": "abc" });
    let (_, body) =
        reply(route(modern("tasks/get", get.clone()), &modern_cx("tasks/get", Some("abc")), &server()));
    assert_eq!(body["error"]["code"], MISSING_CLIENT_CAPABILITY);
    assert!(body["error"]["data"]["requiredCapabilities"]["extensions"][TASKS_EXTENSION].is_object());

    let cx = modern_cx("tasks/get", Some("other"));
    let (status, body) = reply(route(with_tasks("tasks/get", get.clone()), &cx, &server()));
    assert_eq!((status, body["error"]["code"].clone()), (400, json!(HEADER_MISMATCH)));

    let pending =
        perform(route(with_tasks("tasks/get", get), &modern_cx("tasks/get", Some("abc")), &server()));
    assert_eq!(pending.op, Op::GetTask { task_id: "abc".into() });
    let update = json!({ "taskId": "abc", "inputResponses": { "1-a": { "action": "accept" } } });
    let pending = perform(route(
        with_tasks("tasks/update", update),
        &modern_cx("tasks/update", Some("abc")),
        &server(),
    ));
    assert!(matches!(pending.op, Op::UpdateTask { ref responses, .. } if responses.contains_key("1-a")));
    let bad = json!({ "taskId": "abc", "inputResponses": [] });
    let (_, body) =
        reply(route(with_tasks("tasks/update", bad), &modern_cx("tasks/update", Some("abc")), &server()));
    assert_eq!(body["error"]["code"], INVALID_PARAMS);

    // Removed in this version of the extension; never known to sessions.
    for method in ["tasks/result", "tasks/list"] {
        let (_, body) = reply(route(with_tasks(method, json!({})), &modern_cx(method, None), &server()));
        assert_eq!(body["error"]["code"], METHOD_NOT_FOUND);
    }
    let legacy = message(json!({"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"abc"}}));
    let (_, body) = reply(route(legacy, &Context::default(), &server()));
    assert_eq!(body["error"]["code"], METHOD_NOT_FOUND);
}

#[test]
fn which_calls_become_tasks() {
    let call = json!({ "name": "t", "arguments": {} });
    let cx = modern_cx("tools/call", Some("t"));
    let declaring = perform(route(with_tasks("tools/call", call.clone()), &cx, &server()));
    let plain = perform(route(modern("tools/call", call), &cx, &server()));
    let (optional, required) = (
        TaskSupport { support: Support::Optional, after_input: false },
        TaskSupport { support: Support::Required, after_input: false },
    );
    assert_eq!(declaring.as_task(TaskSupport::default()), Ok(false));
    assert_eq!(declaring.as_task(optional), Ok(true));
    assert_eq!(plain.as_task(optional), Ok(false));
    let (_, refused) = plain.as_task(required).unwrap_err();
    assert_eq!(refused["error"]["code"], MISSING_CLIENT_CAPABILITY);
    // Asking for input first: the call with no answers is not yet a task.
    let after_input = TaskSupport { support: Support::Required, after_input: true };
    assert_eq!(declaring.as_task(after_input), Ok(false));
    let answered = json!({ "name": "t", "arguments": {}, "inputResponses": { "k": {} } });
    let retried = perform(route(with_tasks("tools/call", answered), &cx, &server()));
    assert_eq!(retried.as_task(after_input), Ok(true));
}

#[test]
fn task_answers_render() {
    let pending = perform(route(
        with_tasks("tasks/get", json!({ "taskId": "x" })),
        &modern_cx("tasks/get", Some("x")),
        &server(),
    ));
    let task = Task {
        task_id: "x".into(),
        status: TaskStatus::Working,
        status_message: None,
        created_at: "2026-12-04T00:00:00.000Z".into(),
        last_updated_at: "2026-12-04T00:00:00.000Z".into(),
        ttl_ms: Some(60_000),
        poll_interval_ms: Some(500),
        input_requests: None,
        result: None,
        error: None,
    };
    let (_, created) = pending.task_created(&task, &server());
    assert_eq!(created["result"]["resultType"], "task");
    assert_eq!(created["result"]["taskId"], "x");
    for absent in ["result", "error", "inputRequests", "requestState", "ttl", "pollInterval"] {
        assert!(created["result"].get(absent).is_none(), "{absent}");
    }
    let (_, got) = pending.finish(Outcome::Task(Some(task)), &server());
    assert_eq!(
        (got["result"]["resultType"].clone(), got["result"]["status"].clone()),
        (json!("complete"), json!("working"))
    );
    let (_, missing) = pending.finish(Outcome::Task(None), &server());
    assert_eq!(missing["error"]["code"], INVALID_PARAMS);
    let (_, ack) = pending.finish(Outcome::TaskAck(true), &server());
    assert_eq!(ack["result"]["resultType"], "complete");
    assert!(ack["result"].get("taskId").is_none());
    let (_, unknown) = pending.finish(Outcome::TaskAck(false), &server());
    assert_eq!(unknown["error"]["code"], INVALID_PARAMS);
}

#[test]
fn a_tool_declares_tasks_in_meta_which_the_host_takes_out() {
    let mut tool = Tool::new("t", "d", json!({"type": "object"}))
        .with_tasks(TaskSupport { support: Support::Required, after_input: true });
    assert_eq!(
        tool.meta.as_ref().unwrap()[TOOL_TASK_META],
        json!({"support": "required", "afterInput": true})
    );
    assert_eq!(
        TaskSupport::take(&mut tool),
        Ok(TaskSupport { support: Support::Required, after_input: true })
    );
    assert!(tool.meta.is_none());
    let mut bad = Tool::new("t", "d", json!({"type": "object"}));
    bad.meta = Some(Map::from_iter([(TOOL_TASK_META.to_owned(), json!({"support": "always"}))]));
    assert!(TaskSupport::take(&mut bad).unwrap_err().contains("must be"));
}

#[test]
fn listen_streams_watch_tasks_of_clients_of_the_extension() {
    let cx = modern_cx("subscriptions/listen", None);
    let watch = |ids: Value| json!({ "notifications": { "taskIds": ids } });
    let (_, body) = reply(route(modern("subscriptions/listen", watch(json!(["a"]))), &cx, &server()));
    assert_eq!(body["error"]["code"], MISSING_CLIENT_CAPABILITY);
    let Step::Listen(subscription) =
        route(with_tasks("subscriptions/listen", watch(json!(["a", "b"]))), &cx, &server())
    else {
        panic!("not a listen")
    };
    assert_eq!(subscription.acknowledged()["params"]["notifications"]["taskIds"], json!(["a", "b"]));
    let too_many: Vec<String> = (0..17).map(|i| i.to_string()).collect();
    let (_, body) = reply(route(with_tasks("subscriptions/listen", watch(json!(too_many))), &cx, &server()));
    assert_eq!(body["error"]["code"], INVALID_PARAMS);
}
