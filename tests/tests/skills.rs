//! The Skills extension (SEP-2640) against the real host and the weather
//! component: the component ships `skill://current-weather/SKILL.md` as a
//! resource; the host advertises the extension, lists the skill with its
//! frontmatter and each file's digest, and answers `skills/get`.

use mcp_e2e::fake;
use mcp_e2e::harness::{Host, conformance_wasm, sha256, weather_policy, weather_wasm};
use serde_json::{Value, json};

const SKILL: &str = "skill://current-weather/SKILL.md";

fn start() -> Host {
    let api = fake::shared().url();
    Host::start(&[("weather", &weather_wasm(), &weather_policy(&api))], &[])
}

/// A 2026-07-28 request (no session): the revision the extension is written against.
async fn modern(host: &Host, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": { "extensions": { "io.modelcontextprotocol/skills": {} } },
    });
    let body = json!({"jsonrpc":"2.0","id":3,"method":method,"params":params});
    let mut headers = vec![("mcp-protocol-version", "2026-07-28"), ("mcp-method", method)];
    let uri = params["uri"].as_str().map(str::to_owned).unwrap_or_default();
    if method == "resources/read" {
        headers.push(("mcp-name", &uri));
    }
    let reply = host.post(&body, &headers).await;
    assert_eq!(reply.status, 200, "{method}: {}", reply.body);
    reply.json()
}

#[tokio::test]
async fn the_weather_skill_is_listed_with_its_digest_and_served() {
    let host = start();
    let discover = modern(&host, "server/discover", json!({})).await;
    let capabilities = &discover["result"]["capabilities"];
    assert_eq!(capabilities["extensions"]["io.modelcontextprotocol/skills"], json!({}), "{discover}");
    assert!(capabilities["resources"].is_object(), "the extension needs the resources capability");

    let read = modern(&host, "resources/read", json!({ "uri": SKILL })).await;
    let contents = &read["result"]["contents"][0];
    assert_eq!(contents["mimeType"], "text/markdown", "{read}");
    let markdown = contents["text"].as_str().expect("SKILL.md is text");
    assert!(markdown.starts_with("---\nname: current-weather\n"), "{markdown}");
    assert!(markdown.contains("get_current_weather") && markdown.contains("latitude"), "{markdown}");

    let list = modern(&host, "skills/list", json!({})).await;
    let result = &list["result"];
    assert_eq!(result["resultType"], "complete", "{list}");
    assert!(result["ttlMs"].is_u64() && result["cacheScope"].is_string(), "{list}");
    let skills = result["skills"].as_array().expect("a skills array");
    assert_eq!(skills.len(), 1, "{list}");
    let skill = &skills[0];
    assert_eq!(skill["uri"], SKILL);
    assert_eq!(skill["frontmatter"]["name"], "current-weather");
    assert_eq!(skill["frontmatter"]["license"], "Apache-2.0", "every frontmatter field passes through");
    assert!(skill["frontmatter"]["description"].as_str().unwrap().contains("get_current_weather"));
    // The digest and size are those of the bytes `resources/read` serves.
    let files = json!([{
        "uri": SKILL,
        "digest": format!("sha256:{}", sha256(markdown.as_bytes())),
        "size": markdown.len(),
    }]);
    assert_eq!(skill["resources"], files, "{skill}");

    let got = modern(&host, "skills/get", json!({ "uri": SKILL })).await;
    assert_eq!(&got["result"]["skill"], skill, "{got}");
    assert_eq!(got["result"]["resultType"], "complete");

    for unknown in ["skill://nope/SKILL.md", "ui://widget/current-weather.html"] {
        let missing = modern(&host, "skills/get", json!({ "uri": unknown })).await;
        assert_eq!(missing["error"]["code"], -32602, "{missing}");
    }
    let no_uri = modern(&host, "skills/get", json!({})).await;
    assert_eq!(no_uri["error"]["code"], -32602, "{no_uri}");
}

#[tokio::test]
async fn sessions_see_the_same_skills_and_a_server_without_skills_does_not_advertise_them() {
    let host = start();
    let list = host.rpc("skills/list", json!({})).await;
    assert_eq!(list["result"]["skills"][0]["uri"], SKILL, "{list}");

    let bare = Host::start(&[("conformance", &conformance_wasm(), "")], &[]);
    let init = bare
        .rpc(
            "initialize",
            json!({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}),
        )
        .await;
    assert!(init["result"]["capabilities"].get("extensions").is_none(), "{init}");
    assert_eq!(bare.rpc("skills/list", json!({})).await["result"]["skills"], json!([]));
}
