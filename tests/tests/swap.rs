//! Hot swap under load, from a watched folder and from a blob container in
//! Azurite: v1 → v2, then a broken v3 and a tampered upload that never go
//! live, then removal, while 32 clients call the tool without pause.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt as _;
use mcp_e2e::azurite::{Azurite, BlobStore};
use mcp_e2e::harness::{Host, sha256, versioned_wasm};
use mcp_e2e::load::{CLIENTS, COMPILE_BOUND, Load, assert_none_failed};
use serde_json::json;

const POLL_MS: u64 = 500;

/// Where the test puts components, as an operator would.
trait Store {
    async fn put(&self, file: &str, bytes: &[u8]);
    async fn delete(&self, file: &str);
}

/// A folder the host watches; files are replaced by rename, as deploy tools do.
struct FolderStore(PathBuf);

impl Store for FolderStore {
    async fn put(&self, file: &str, bytes: &[u8]) {
        let partial = self.0.join(format!(".{file}.partial"));
        std::fs::write(&partial, bytes).expect("write");
        std::fs::rename(&partial, self.0.join(file)).expect("rename");
    }

    async fn delete(&self, file: &str) {
        std::fs::remove_file(self.0.join(file)).expect("delete");
    }
}

/// The whole scenario; `v1` is live when it starts.
async fn swap_under_load(host: Arc<Host>, store: &impl Store) {
    let v1 = std::fs::read(versioned_wasm(1)).expect("v1");
    let v2 = std::fs::read(versioned_wasm(2)).expect("v2");
    host.wait_for("versioned", Duration::from_secs(30), |c| c["serving"]["sha256"] == sha256(&v1)).await;

    // A session with its stream open, to be told when the tools change.
    let init = host
        .post(
            &json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",
                "capabilities":{},"clientInfo":{"name":"swap-test","version":"1"}}}),
            &[],
        )
        .await;
    assert_eq!(init.json()["result"]["capabilities"]["tools"]["listChanged"], json!(true));
    let session = init.header("mcp-session-id").expect("a session").to_owned();
    let (status, mut stream) = host
        .open_stream("GET", "/mcp", &[("accept", "text/event-stream"), ("mcp-session-id", &session)])
        .await;
    assert_eq!(status, 200);

    let load = Load::start(&host);
    load.first("version 1", Duration::from_secs(10)).await;
    // The scenario: each version serves the load for a while (sleeps below too).
    tokio::time::sleep(Duration::from_secs(1)).await;

    // v2: answers switch within the poll interval plus compile time.
    store.put("versioned.wasm", &v2).await;
    let uploaded = Instant::now();
    let switched = load.first("version 2", Duration::from_millis(POLL_MS) + COMPILE_BOUND).await;
    println!("upload to first answer by v2: {} ms", switched.duration_since(uploaded).as_millis());
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A broken v3 is refused and reported; v2 keeps serving.
    let broken = b"\0asm\x0d\0\x01\0 not a component".to_vec();
    store.put("versioned.wasm", &broken).await;
    let entry = host
        .wait_for("versioned", Duration::from_secs(10), |c| c["refused"]["sha256"] == sha256(&broken))
        .await;
    assert_eq!(entry["serving"]["sha256"], sha256(&v2), "{entry:#}");
    assert!(
        entry["refused"]["error"].as_str().unwrap().contains("not a valid WASI 0.2 component"),
        "{entry}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A valid component whose digest its policy does not pin is refused too.
    store.put("versioned.toml", format!("sha256 = \"{}\"\n", sha256(&v2)).as_bytes()).await;
    store.put("versioned.wasm", &v1).await;
    let entry =
        host.wait_for("versioned", Duration::from_secs(10), |c| c["refused"]["sha256"] == sha256(&v1)).await;
    assert_eq!(entry["serving"]["sha256"], sha256(&v2), "{entry:#}");
    assert!(entry["refused"]["error"].as_str().unwrap().contains("pins sha256"), "{entry}");
    tokio::time::sleep(Duration::from_secs(2)).await;

    let samples = load.stop().await;
    assert_none_failed(&samples);
    assert!(samples.len() > 200, "only {} calls", samples.len());
    // Swaps are atomic: once v2 has answered, every call that starts later gets v2.
    for sample in &samples {
        let version = sample.outcome.as_deref().unwrap();
        assert!(version == "version 1" || version == "version 2", "{version}");
        if sample.started > switched {
            assert_eq!(version, "version 2", "a call started after the switch got {version}");
        }
    }
    let span =
        samples.iter().map(|s| s.ended).max().unwrap() - samples.iter().map(|s| s.started).min().unwrap();
    println!("{} calls by {CLIENTS} clients in {:.1} s, none failed", samples.len(), span.as_secs_f64());

    // Removal takes the tool away, and the open stream hears of it.
    store.delete("versioned.wasm").await;
    store.delete("versioned.toml").await;
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        let mut text = String::new();
        while let Some(frame) = stream.frame().await {
            if let Ok(data) = frame.expect("stream frame").into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
            if text.contains("notifications/tools/list_changed") {
                return text;
            }
        }
        panic!("the stream ended: {text}");
    })
    .await
    .expect("notifications/tools/list_changed within 10 s");
    assert!(heard.contains("event: message"), "{heard}");
    let list = host.rpc("tools/list", json!({})).await;
    assert_eq!(list["result"]["tools"], json!([]), "{list}");
    let call = host.rpc("tools/call", json!({"name":"which_version","arguments":{}})).await;
    assert!(call["error"]["message"].as_str().unwrap_or_default().contains("which_version"), "{call}");
    let status = host.status().await;
    assert_eq!(status["components"], json!({}), "{status:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swaps_from_a_watched_folder_under_load() {
    let poll = POLL_MS.to_string();
    let host = Host::start(&[("versioned", &versioned_wasm(1), "")], &["--poll-interval-ms", &poll]);
    let store = FolderStore(host.components_dir().to_owned());
    swap_under_load(Arc::new(host), &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_without_file_events_is_polled() {
    let host =
        Host::start(&[("versioned", &versioned_wasm(1), "")], &["--poll-only", "--poll-interval-ms", "300"]);
    assert_eq!(mcp_e2e::harness::text(&host.call("which_version", json!({})).await), "version 1");
    FolderStore(host.components_dir().to_owned())
        .put("versioned.wasm", &std::fs::read(versioned_wasm(2)).unwrap())
        .await;
    let deadline = Instant::now() + Duration::from_millis(300) + COMPILE_BOUND;
    while mcp_e2e::harness::text(&host.call("which_version", json!({})).await) != "version 2" {
        assert!(Instant::now() < deadline, "never switched to v2:\n{}", host.log_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_clash_is_refused_until_the_name_is_free() {
    let host = Host::start(
        &[("first", &versioned_wasm(1), ""), ("second", &versioned_wasm(2), "")],
        &["--poll-interval-ms", "300"],
    );
    let second = host.wait_for("second", Duration::from_secs(5), |c| !c["refused"].is_null()).await;
    let error = second["refused"]["error"].as_str().unwrap();
    assert_eq!(error, "component second: tool \"which_version\" is already offered by component first");
    assert!(second["serving"].is_null());
    assert_eq!(mcp_e2e::harness::text(&host.call("which_version", json!({})).await), "version 1");

    FolderStore(host.components_dir().to_owned()).delete("first.wasm").await;
    host.wait_for("second", Duration::from_secs(10), |c| c["serving"].is_object()).await;
    assert_eq!(mcp_e2e::harness::text(&host.call("which_version", json!({})).await), "version 2");
}

/// Compiled code is cached by digest: a restart loads it instead of compiling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_components_are_cached_across_restarts() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("cache");
    let args = ["--cache-dir", dir.to_str().unwrap()];
    let components = [("versioned", versioned_wasm(1))];
    let components: Vec<(&str, &Path, &str)> =
        components.iter().map(|(n, p)| (*n, p.as_path(), "")).collect();

    // Where each load's code came from, as /status says.
    async fn code(host: &Host) -> String {
        host.status().await["components"]["versioned"]["serving"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
    let cold = Host::start(&components, &args);
    assert_eq!(code(&cold).await, "compiled");
    drop(cold);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].to_str().unwrap().ends_with(".cwasm"));

    let warm = Host::start(&components, &args);
    assert_eq!(code(&warm).await, "cached");
    assert_eq!(mcp_e2e::harness::text(&warm.call("which_version", json!({})).await), "version 1");
    drop(warm);

    // A damaged file is noticed, replaced, and costs only a compile.
    std::fs::write(&files[0], b"not compiled code").unwrap();
    let repaired = Host::start(&components, &args);
    assert_eq!(code(&repaired).await, "compiled");
    assert_eq!(mcp_e2e::harness::text(&repaired.call("which_version", json!({})).await), "version 1");
}

#[test]
fn a_cache_folder_others_can_write_or_own_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    /// What the host says on stderr when it refuses to start with `dir` as its code cache.
    fn refusal(dir: &Path) -> String {
        let output = Command::new(mcp_e2e::harness::host_bin())
            .args(["--components", "/", "--listen", "127.0.0.1:0", "--cache-dir"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let text = refusal(dir.path());
    assert!(text.contains("is writable by other users"), "{text}");

    // A private folder of another user's is refused too (checkable where the test may chown: as root).
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    if std::os::unix::fs::chown(dir.path(), Some(65534), None).is_ok() {
        let text = refusal(dir.path());
        assert!(text.contains("belongs to another user"), "{text}");
    }
}

impl Store for BlobStore {
    async fn put(&self, blob: &str, bytes: &[u8]) {
        BlobStore::put(self, blob, bytes).await;
    }

    async fn delete(&self, blob: &str) {
        BlobStore::delete(self, blob).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swaps_from_a_blob_container_under_load() {
    let azurite = Azurite::start();
    let store = BlobStore::create(&azurite).await;
    store.put("versioned.wasm", &std::fs::read(versioned_wasm(1)).unwrap()).await;
    store.put("versioned.toml", b"").await;
    let poll = POLL_MS.to_string();
    let host = Host::start_with_env(
        &[],
        &["--poll-interval-ms", &poll],
        &[
            ("MCP_COMPONENTS_CONNECTION_STRING", &azurite.connection_string),
            ("MCP_COMPONENTS_CONTAINER", "components"),
        ],
    );
    host.logged("blob container components");
    swap_under_load(Arc::new(host), &store).await;
}

/// The container's components override the folder's of the same name; when the
/// container cannot be read, the folder's still serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_overrides_the_folder_and_its_outage_leaves_the_folder_serving() {
    let azurite = Azurite::start();
    let store = BlobStore::create(&azurite).await;
    store.put("versioned.wasm", &std::fs::read(versioned_wasm(2)).unwrap()).await;
    let env = [("MCP_COMPONENTS_CONNECTION_STRING", azurite.connection_string.as_str())];
    let host =
        Host::start_with_env(&[("versioned", &versioned_wasm(1), "")], &["--poll-interval-ms", "300"], &env);
    let v2 = sha256(&std::fs::read(versioned_wasm(2)).unwrap());
    host.wait_for("versioned", Duration::from_secs(10), |c| c["serving"]["sha256"] == v2).await;
    assert_eq!(mcp_e2e::harness::text(&host.call("which_version", json!({})).await), "version 2");

    // Taken out of the container: the folder's version serves again.
    store.delete("versioned.wasm").await;
    let v1 = sha256(&std::fs::read(versioned_wasm(1)).unwrap());
    host.wait_for("versioned", Duration::from_secs(10), |c| c["serving"]["sha256"] == v1).await;

    // Storage down: the error is reported, and nothing stops serving.
    drop(azurite);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = host.status().await;
        if status["scan_error"].is_string() {
            assert!(
                status["scan_error"].as_str().unwrap().contains("listing the components container"),
                "{status}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no scan error reported: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(mcp_e2e::harness::text(&host.call("which_version", json!({})).await), "version 1");
}
