//! The weather tool through the real host: results checked against what the
//! fake API served, and every error path a person can hit.

use mcp_e2e::fake;
use mcp_e2e::harness::{Host, text, weather_policy, weather_wasm};
use serde_json::{Value, json};

fn start() -> Host {
    let api = fake::shared().url();
    Host::start(&[("weather", &weather_wasm(), &weather_policy(&api))], &[])
}

#[tokio::test]
async fn lists_the_tool_with_schema_annotations_and_widget_meta() {
    let host = start();
    let tools = host.rpc("tools/list", json!({})).await;
    let tools = tools["result"]["tools"].as_array().expect("a tools array").clone();
    assert_eq!(tools.len(), 1);
    let tool = &tools[0];
    assert_eq!(tool["name"], "get_current_weather");
    assert!(tool["description"].as_str().unwrap().len() > 40);
    let schema = &tool["inputSchema"];
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["latitude", "longitude"]));
    assert_eq!(schema["properties"]["latitude"]["minimum"], -90.0);
    assert_eq!(schema["properties"]["longitude"]["maximum"], 180.0);
    assert_eq!(tool["outputSchema"]["type"], "object");
    let hints = &tool["annotations"];
    assert_eq!(
        (hints["readOnlyHint"].clone(), hints["destructiveHint"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(hints["openWorldHint"], true);
    assert_eq!(hints["title"], "Current weather");
    let meta = &tool["_meta"];
    // ChatGPT's template (skybridge) and the MCP Apps resource: one HTML, two forms.
    assert_eq!(meta["openai/outputTemplate"], "ui://widget/current-weather.html");
    assert_eq!(meta["ui"]["resourceUri"], "ui://widget/current-weather.mcp-app.html");
    assert_eq!(meta["ui/resourceUri"], "ui://widget/current-weather.mcp-app.html");
    // Callable from the widget (refresh): both hosts' spellings.
    assert_eq!(meta["ui"]["visibility"], json!(["model", "app"]));
    assert_eq!(meta["openai/widgetAccessible"], true);
    for key in ["openai/toolInvocation/invoking", "openai/toolInvocation/invoked"] {
        let status = meta[key].as_str().unwrap();
        assert!(!status.is_empty() && status.chars().count() <= 64, "{key}: {status}");
    }
}

#[tokio::test]
async fn calls_the_forecast_api_and_returns_what_it_served() {
    let host = start();
    let before = fake::shared().requests.lock().unwrap().len();
    let result = host.call_weather(52.52, 13.41).await;
    assert_eq!(result["isError"], Value::Null, "{result}");

    let served: Value = serde_json::from_str(fake::BERLIN).unwrap();
    let current = &served["current"];
    let s = &result["structuredContent"];
    assert_eq!(s["location"]["latitude"], served["latitude"]);
    assert_eq!(s["location"]["longitude"], served["longitude"]);
    assert_eq!(s["location"]["timezone"], served["timezone"]);
    assert_eq!(s["observedAt"], current["time"]);
    assert_eq!(s["current"]["temperature"], current["temperature_2m"]);
    assert_eq!(s["current"]["apparentTemperature"], current["apparent_temperature"]);
    assert_eq!(s["current"]["relativeHumidity"].as_f64(), current["relative_humidity_2m"].as_f64());
    assert_eq!(s["current"]["windSpeed"], current["wind_speed_10m"]);
    assert_eq!(s["current"]["windGusts"], current["wind_gusts_10m"]);
    assert_eq!(s["current"]["weatherCode"], current["weather_code"]);
    assert_eq!(s["current"]["condition"], "Overcast");
    assert_eq!(s["units"]["temperature"], served["current_units"]["temperature_2m"]);
    assert_eq!(s["attribution"], "Weather data by Open-Meteo.com");
    let sentence = text(&result);
    for needle in
        ["6.3 °C", "feels like 3.1 °C", "overcast", "14.8 km/h", "WSW", "Europe/Berlin", "Open-Meteo.com"]
    {
        assert!(sentence.contains(needle), "{needle:?} in {sentence}");
    }

    // The request the component made: the documented current-conditions form.
    let requests = fake::shared().requests.lock().unwrap().clone();
    let query =
        requests[before..].iter().find(|r| r.contains("latitude=52.52&")).expect("the call reached the API");
    assert!(query.starts_with("/v1/forecast?latitude=52.52&longitude=13.41&current="), "{query}");
    for variable in [
        "temperature_2m",
        "relative_humidity_2m",
        "apparent_temperature",
        "is_day",
        "precipitation",
        "weather_code",
        "wind_speed_10m",
        "wind_direction_10m",
        "wind_gusts_10m",
    ] {
        assert!(query.contains(variable), "{variable} in {query}");
    }
    assert!(query.ends_with("&timezone=auto"), "{query}");
}

#[tokio::test]
async fn serves_the_widget() {
    let host = start();
    let list = host.rpc("resources/list", json!({})).await;
    let listed = list["result"]["resources"].as_array().expect("a resources array");
    // Besides the widget, the component lists its skill (tests/tests/skills.rs).
    let listed: Vec<&Value> =
        listed.iter().filter(|r| r["uri"].as_str().unwrap().starts_with("ui://")).collect();
    let forms = [
        ("ui://widget/current-weather.html", "text/html+skybridge"),
        ("ui://widget/current-weather.mcp-app.html", "text/html;profile=mcp-app"),
    ];
    assert_eq!(listed.len(), forms.len(), "{list}");
    let mut texts = Vec::new();
    for (uri, mime) in forms {
        let entry = listed.iter().find(|r| r["uri"] == uri).unwrap_or_else(|| panic!("{uri} in {list}"));
        assert_eq!(entry["mimeType"], mime);
        assert_eq!(entry["_meta"]["ui"]["prefersBorder"], true);

        let read = host.rpc("resources/read", json!({ "uri": uri })).await;
        let contents = read["result"]["contents"].as_array().expect("contents");
        assert_eq!(contents.len(), 1, "{read}");
        let contents = &contents[0];
        assert_eq!((&contents["uri"], &contents["mimeType"]), (&json!(uri), &json!(mime)));
        let html = contents["text"].as_str().unwrap();
        assert!(html.starts_with("<!doctype html>"));
        assert_eq!(entry["size"], html.len());
        for needle in [
            "openai:set_globals",
            "ui/initialize",
            "ui/notifications/tool-result",
            "ui/notifications/size-changed",
            "structuredContent",
            "tools/call",
            "callTool",
            "Open-Meteo",
        ] {
            assert!(html.contains(needle), "{needle}");
        }
        assert!(!html.contains("<script src") && !html.contains("<link"), "self-contained");
        // What both kinds of host read: no outside domains, a border, a description.
        let meta = &contents["_meta"];
        assert_eq!(meta["openai/widgetCSP"], json!({"connect_domains": [], "resource_domains": []}));
        assert_eq!(meta["ui"]["csp"], json!({"connectDomains": [], "resourceDomains": []}));
        assert_eq!(meta["ui"]["prefersBorder"], true);
        assert_eq!(meta["openai/widgetPrefersBorder"], true);
        assert!(meta["openai/widgetDescription"].as_str().is_some_and(|d| d.len() > 20), "{meta}");
        assert!(meta.get("openai/widgetDomain").is_none(), "WIDGET_DOMAIN is not granted here");
        texts.push(html.to_owned());
    }
    assert_eq!(texts[0], texts[1], "one widget in two forms");
}

/// `WIDGET_DOMAIN`, granted by the policy, becomes ChatGPT's `openai/widgetDomain`
/// (and never `ui.domain`, which Claude only accepts in its own format).
#[tokio::test]
async fn the_chatgpt_widget_domain_comes_from_the_policy() {
    let api = fake::shared().url();
    let policy = weather_policy(&api).replace(
        "vars = { OPEN_METEO_URL",
        "vars = { WIDGET_DOMAIN = \"https://weather.example.com\", OPEN_METEO_URL",
    );
    assert!(policy.contains("WIDGET_DOMAIN"), "{policy}");
    let host = Host::start(&[("weather", &weather_wasm(), &policy)], &[]);
    let list = host.rpc("resources/list", json!({})).await;
    let widgets = list["result"]["resources"].as_array().expect("resources").iter();
    for entry in widgets.filter(|r| r["uri"].as_str().unwrap().starts_with("ui://")) {
        assert_eq!(entry["_meta"]["openai/widgetDomain"], "https://weather.example.com", "{entry}");
        let read = host.rpc("resources/read", json!({ "uri": entry["uri"] })).await;
        let meta = &read["result"]["contents"][0]["_meta"];
        assert_eq!(meta["openai/widgetDomain"], "https://weather.example.com", "{read}");
        assert!(meta["ui"].get("domain").is_none(), "{read}");
    }
}

/// Calls with these coordinates and returns the error text, checking `isError`.
async fn tool_error(host: &Host, arguments: Value) -> String {
    let body = host.rpc("tools/call", json!({"name":"get_current_weather","arguments":arguments})).await;
    let result = &body["result"];
    assert_eq!(result["isError"], true, "{body}");
    assert!(result.get("structuredContent").is_none(), "{body}");
    text(result).to_owned()
}

/// The host checks arguments against the tool's input schema before the
/// component runs, and says what is wrong so that the model can correct it.
#[tokio::test]
async fn bad_arguments_are_tool_errors_without_an_upstream_call() {
    let host = start();
    let before = fake::shared().requests.lock().unwrap().len();
    for (arguments, needle) in [
        (json!({"latitude": 95, "longitude": 0}), "/latitude: 95 is greater than the maximum of 90"),
        (json!({"latitude": 0, "longitude": 181}), "/longitude: 181 is greater than the maximum of 180"),
        (json!({"longitude": 0}), "\"latitude\" is a required property"),
        (json!({"latitude": "north", "longitude": 0}), "/latitude: \"north\" is not of type \"number\""),
        (json!({}), "\"latitude\" is a required property"),
        (json!({"latitude": 1, "longitude": 2, "units": "metric"}), "'units' was unexpected"),
    ] {
        let message = tool_error(&host, arguments.clone()).await;
        assert!(message.starts_with("Invalid arguments for tool get_current_weather: "), "{message}");
        assert!(message.contains(needle), "{arguments}: {message}");
    }
    let requests = fake::shared().requests.lock().unwrap().clone();
    let ours: Vec<_> = requests[before..]
        .iter()
        .filter(|r| r.contains("latitude=95") || r.contains("longitude=181"))
        .collect();
    assert!(ours.is_empty(), "validation happens before any request: {ours:?}");
}

#[tokio::test]
async fn upstream_errors_carry_the_api_reason() {
    let host = start();
    for (latitude, needles) in [
        (-1.0, &["HTTP 400", "Latitude must be in range of -90 to 90°. Given: 95.0."][..]),
        (-2.0, &["rate limit", "Minutely API request limit exceeded"][..]),
        (-3.0, &["unavailable", "The service is overloaded"][..]),
        (-4.0, &["not the expected forecast"][..]),
        (-5.0, &["HTTP 502"][..]),
    ] {
        let message = tool_error(&host, json!({"latitude": latitude, "longitude": 10})).await;
        for needle in needles {
            assert!(message.contains(needle), "latitude {latitude}: {needle:?} in {message}");
        }
    }
}

#[tokio::test]
async fn a_silent_upstream_times_out_as_a_tool_error() {
    let host = start();
    let started = std::time::Instant::now();
    let message = tool_error(&host, json!({"latitude": -6, "longitude": 10})).await;
    assert!(message.contains("did not answer"), "{message}");
    // The policy allows 2 s of outbound time; the call must not wait for the upstream's 60 s.
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_destination_outside_the_policy_is_refused() {
    let api = fake::shared().url();
    // The component is pointed at the fake, but its policy allows another host only.
    let policy = format!(
        "[outbound]\nallow = [\"api.open-meteo.com\"]\n[env]\nvars = {{ OPEN_METEO_URL = \"{api}\" }}\n"
    );
    let host = Host::start(&[("weather", &weather_wasm(), &policy)], &[]);
    let before = fake::shared().requests.lock().unwrap().len();
    let message = tool_error(&host, json!({"latitude": 48.1, "longitude": 11.6})).await;
    assert!(message.contains("policy does not allow"), "{message}");
    let reached =
        fake::shared().requests.lock().unwrap()[before..].iter().any(|r| r.contains("latitude=48.1&"));
    assert!(!reached, "the denied request never left the host");
    host.logged("outbound request denied");
}

#[tokio::test]
async fn progress_and_logs_stream_as_sse_before_the_result() {
    let host = start();
    let call = json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{
        "name":"get_current_weather","arguments":{"latitude":52.52,"longitude":13.41},
        "_meta":{"progressToken":"p-1"}}});
    let reply = host.post(&call, &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let messages = reply.sse_messages();
    let progress: Vec<_> = messages.iter().filter(|m| m["method"] == "notifications/progress").collect();
    assert_eq!(progress.len(), 2, "{messages:?}");
    assert!(progress.iter().all(|p| p["params"]["progressToken"] == "p-1"));
    assert!(progress[0]["params"]["progress"].as_f64() < progress[1]["params"]["progress"].as_f64());
    let last = messages.last().unwrap();
    assert_eq!(last["id"], 9);
    assert_eq!(last["result"]["structuredContent"]["current"]["temperature"], 6.3);

    // Without a progress token or log level there is nothing to stream: plain JSON.
    let reply = host
        .post(
            &json!({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{
        "name":"get_current_weather","arguments":{"latitude":52.52,"longitude":13.41}}}),
            &[],
        )
        .await;
    assert_eq!(reply.header("content-type"), Some("application/json"));

    // A client that accepts only JSON gets JSON, notifications dropped.
    let reply = host
        .send(
            "POST",
            "/mcp",
            &[("content-type", "application/json"), ("accept", "application/json")],
            serde_json::to_vec(&call).unwrap(),
        )
        .await;
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json()["result"]["structuredContent"]["current"]["temperature"], 6.3);
}
