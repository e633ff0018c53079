//! Loading components written against the raw WIT that misbehave while they
//! load, and sharing the instance pool: a component that stalls, floods its
//! catalog, repeats or takes another's names, carries a bad policy or does not
//! fit the pool is refused on its own, says why in `/status`, and holds up
//! neither the other components nor later swaps. Who owns a name is the same
//! on a fresh host and on one that went through the swaps.

use std::path::Path;
use std::time::{Duration, Instant};

use mcp_e2e::fake;
use mcp_e2e::harness::{Host, atload_wasm, hostile_wasm, text, versioned_wasm, weather_policy, weather_wasm};
use serde_json::{Value, json};

/// Generous bound on compiling and checking a small component on a busy machine.
const COMPILE_BOUND: Duration = Duration::from_secs(15);

/// Writes a file by rename, as deploy tools do.
fn put(host: &Host, file: &str, bytes: &[u8]) {
    let dir = host.components_dir();
    let partial = dir.join(format!(".{file}.partial"));
    std::fs::write(&partial, bytes).expect("write");
    std::fs::rename(&partial, dir.join(file)).expect("rename");
}

fn put_component(host: &Host, name: &str, wasm: &Path, policy: &str) {
    put(host, &format!("{name}.toml"), policy.as_bytes());
    put(host, &format!("{name}.wasm"), &std::fs::read(wasm).expect("component"));
}

fn refusal(entry: &Value) -> &str {
    entry["refused"]["error"].as_str().unwrap_or_else(|| panic!("not refused: {entry}"))
}

async fn weather_answers(host: &Host) {
    let result = host.call_weather(52.52, 13.41).await;
    assert_eq!(result["structuredContent"]["current"]["temperature"], 6.3, "{result}");
}

/// A fresh host serves its healthy component at once, next to one whose
/// `list-tools` computes forever and one whose `list-prompts` never returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalling_component_holds_up_no_other_on_a_fresh_host() {
    let api = fake::shared().url();
    let spin = atload_wasm("spin-tools");
    let hang = atload_wasm("hang-prompts");
    let weather = weather_policy(&api);
    let started = Instant::now();
    let host = Host::launch(
        &[
            ("weather", &weather_wasm(), &weather),
            ("spin", &spin, "[limits]\ntimeout_ms = 20000\n"),
            ("hang", &hang, "[limits]\ntimeout_ms = 1000\n"),
        ],
        &[],
        &[],
    );
    weather_answers(&host).await;
    let served = started.elapsed();
    println!(
        "host start to first served weather call, a stalling neighbour loading: {} ms",
        served.as_millis()
    );
    assert!(served < Duration::from_secs(10), "{served:?}");

    let hang = host.wait_for("hang", Duration::from_secs(10), |c| c["refused"].is_object()).await;
    assert_eq!(refusal(&hang), "list-prompts did not return within 1000 ms (limits.timeout_ms)");
    assert!(hang["serving"].is_null(), "{hang}");
    let spin = &host.status().await["components"]["spin"];
    assert!(spin["loading"].is_string() && spin["serving"].is_null(), "{spin}");
    let tools = host.rpc("tools/list", json!({})).await;
    assert_eq!(tools["result"]["tools"][0]["name"], "get_current_weather", "{tools}");
}

/// A running host keeps swapping while a component that stalls is loading,
/// then refuses it at its time limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_host_keeps_swapping_while_a_component_stalls() {
    let host = Host::start(&[("versioned", &versioned_wasm(1), "")], &["--poll-interval-ms", "300"]);
    assert_eq!(text(&host.call("which_version", json!({})).await), "version 1");

    put_component(&host, "spin", &atload_wasm("spin-tools"), "[limits]\ntimeout_ms = 10000\n");
    host.wait_for("spin", Duration::from_secs(5), |c| c["loading"].is_string()).await;
    put(&host, "versioned.wasm", &std::fs::read(versioned_wasm(2)).unwrap());
    let deadline = Instant::now() + COMPILE_BOUND;
    while text(&host.call("which_version", json!({})).await) != "version 2" {
        assert!(Instant::now() < deadline, "v2 never went live:\n{}", host.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let spin = &host.status().await["components"]["spin"];
    assert!(spin["loading"].is_string(), "v2 went live only once the stall ended: {spin}");

    let spin = host.wait_for("spin", Duration::from_secs(20), |c| c["refused"].is_object()).await;
    assert_eq!(refusal(&spin), "list-tools did not return within 10000 ms (limits.timeout_ms)");
    assert_eq!(text(&host.call("which_version", json!({})).await), "version 2");
}

/// What a component may list is bounded and must be unambiguous; bad policies
/// and files are refused and shown, never fatal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_catalogs_policies_and_files_are_refused_and_shown() {
    let api = fake::shared().url();
    let weather = weather_policy(&api);
    let ok = atload_wasm("ok");
    let (duplicate, huge, many) =
        (atload_wasm("duplicate"), atload_wasm("huge-catalog"), atload_wasm("many-tools"));
    let host = Host::start(
        &[
            ("weather", &weather_wasm(), &weather),
            ("duplicate", &duplicate, ""),
            ("huge", &huge, ""),
            ("many", &many, ""),
            ("greedy", &ok, "[limits]\nmax_concurrent = 9223372036854775807\n"),
            ("binary", &ok, ""),
        ],
        // Room for every component's default 32 instances, even while all of them load.
        &["--poll-interval-ms", "200", "--max-instances", "256"],
    );
    let entries = host.status().await["components"].clone();
    assert_eq!(refusal(&entries["duplicate"]), "the component lists tool \"twice\" more than once");
    let huge = refusal(&entries["huge"]);
    assert!(huge.starts_with("the component's catalog is 41943"), "{huge}");
    assert!(huge.ends_with("bytes of JSON; limits.max_catalog_bytes allows 1048576"), "{huge}");
    assert_eq!(
        refusal(&entries["many"]),
        "the component lists 100000 entries of kind tool; at most 1000 are accepted"
    );
    let greedy = refusal(&entries["greedy"]);
    assert!(greedy.contains("limits.max_concurrent must be between 1 and 10000"), "{greedy}");
    assert!(entries["binary"]["serving"].is_object(), "{entries:#}");
    let tools = host.rpc("tools/list", json!({})).await;
    let names: Vec<&str> =
        tools["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["atload_ok", "get_current_weather"], "{tools}");

    // A policy that is not text: refused and shown; the version loaded before keeps serving.
    put(&host, "binary.toml", b"\xff\xfe not UTF-8");
    let binary = host.wait_for("binary", Duration::from_secs(10), |c| c["refused"].is_object()).await;
    assert!(refusal(&binary).contains("binary.toml is not UTF-8"), "{binary}");
    assert!(binary["serving"].is_object(), "{binary}");

    // An oversized component: refused by its size, and not read again at every scan.
    let path = host.components_dir().join("big.wasm");
    std::fs::File::create(&path).unwrap().set_len(65 << 20).unwrap();
    let big = host.wait_for("big", Duration::from_secs(10), |c| c["refused"].is_object()).await;
    assert_eq!(refusal(&big), format!("big.wasm is {} bytes; at most {} are accepted", 65 << 20, 64 << 20));
    let read = || {
        let io = std::fs::read_to_string(format!("/proc/{}/io", host.pid())).unwrap();
        io.lines().find_map(|l| l.strip_prefix("rchar: ")).unwrap().parse::<u64>().unwrap()
    };
    let before = read();
    // `last_scan` is in seconds: two seconds of scans, every 200 ms.
    let since = host.status().await["last_scan"].as_u64().unwrap();
    while host.status().await["last_scan"].as_u64().unwrap() < since + 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let read_since = read() - before;
    assert!(read_since < 16 << 20, "{read_since} bytes read in two seconds of scans");
    weather_answers(&host).await;
}

/// The entries of `/status` that say who serves and who is refused, and why.
async fn ownership(host: &Host) -> Value {
    let components = host.status().await["components"].as_object().unwrap().clone();
    components
        .into_iter()
        .map(|(name, c)| (name, json!({"serving": c["serving"]["sha256"], "refused": c["refused"]["error"]})))
        .collect()
}

/// Ownership of a clashing name depends on the source's contents only: a host
/// that went through the swaps serves exactly what a fresh one serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_ownership_is_the_same_on_fresh_and_running_hosts() {
    let api = fake::shared().url();
    let weather = weather_policy(&api);
    let (v1, v2, clash) = (versioned_wasm(1), versioned_wasm(2), atload_wasm("clash"));
    let poll = ["--poll-interval-ms", "300"];

    // A live component's upgrade keeps its name; the refused duplicate stays refused.
    let running = Host::start(&[("first", &v1, ""), ("second", &v1, "")], &poll);
    put(&running, "first.wasm", &std::fs::read(&v2).unwrap());
    let sha = |path: &Path| {
        use sha2::Digest as _;
        sha2::Sha256::digest(std::fs::read(path).unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    running.wait_for("first", COMPILE_BOUND, |c| c["serving"]["sha256"] == sha(&v2)).await;
    assert_eq!(text(&running.call("which_version", json!({})).await), "version 2");
    let fresh = Host::start(&[("first", &v2, ""), ("second", &v1, "")], &poll);
    assert_eq!(ownership(&running).await, ownership(&fresh).await);
    assert_eq!(text(&fresh.call("which_version", json!({})).await), "version 2");

    // A newcomer whose name sorts first takes the name on every host alike.
    let running = Host::start(&[("weather", &weather_wasm(), &weather)], &poll);
    put_component(&running, "aaa", &clash, "");
    running.wait_for("aaa", COMPILE_BOUND, |c| c["serving"].is_object()).await;
    let fresh = Host::start(&[("weather", &weather_wasm(), &weather), ("aaa", &clash, "")], &poll);
    let owners = ownership(&running).await;
    assert_eq!(owners, ownership(&fresh).await);
    assert_eq!(
        owners["weather"]["refused"],
        "component weather: tool \"get_current_weather\" is already offered by component aaa"
    );
    for host in [&running, &fresh] {
        assert_eq!(text(&host.call("get_current_weather", json!({})).await), "atload clash");
    }
}

/// Each component reserves its instances in the shared pool: one that does
/// not fit is refused (and goes live once capacity frees), one at its limit
/// answers "busy", and the others keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_instance_pool_is_shared_out_and_never_starves_a_component() {
    let api = fake::shared().url();
    let weather = format!("{}\n[limits]\nmax_concurrent = 2\n", weather_policy(&api));
    let host = Host::start(
        &[("weather", &weather_wasm(), &weather)],
        &["--max-instances", "4", "--poll-interval-ms", "300"],
    );
    let hog = |concurrent: u32| format!("[limits]\ntimeout_ms = 3000\nmax_concurrent = {concurrent}\n");

    // Four spinning calls would take the whole pool: refused at load instead.
    put_component(&host, "hog", &hostile_wasm(), &hog(4));
    let entry =
        host.wait_for("hog", COMPILE_BOUND, |c| !c["refused"].is_null() || !c["serving"].is_null()).await;
    let failures = weather_under_spins(&host).await.0;
    assert_eq!(failures, 0, "weather calls failed while the hog spun");
    assert_eq!(
        refusal(&entry),
        "not enough capacity: limits.max_concurrent needs 4 instances but only 2 of the host's 4 \
         (--max-instances) are free; retried at every scan"
    );

    // Within its share, the hog's extra calls are "busy", and weather never fails.
    put(&host, "hog.toml", hog(2).as_bytes());
    host.wait_for("hog", COMPILE_BOUND, |c| c["serving"].is_object()).await;
    let (failures, busy) = weather_under_spins(&host).await;
    println!("pool of 4, weather 2 + hog 2, 4 spinning calls: {failures} weather failures, {busy} busy");
    assert_eq!((failures, busy), (0, 2));

    // Refused for capacity only: goes live, unchanged, once capacity frees.
    put_component(&host, "extra", &atload_wasm("ok"), "[limits]\nmax_concurrent = 1\n");
    let extra = host.wait_for("extra", COMPILE_BOUND, |c| c["refused"].is_object()).await;
    assert!(refusal(&extra).starts_with("not enough capacity"), "{extra}");
    std::fs::remove_file(host.components_dir().join("weather.wasm")).unwrap();
    host.wait_for("extra", Duration::from_secs(10), |c| c["serving"].is_object()).await;
    assert_eq!(text(&host.call("atload_ok", json!({})).await), "atload ok");
}

/// Four concurrent `spin` calls and, meanwhile, weather calls: the weather
/// calls that failed, and the spins answered "busy".
async fn weather_under_spins(host: &Host) -> (usize, usize) {
    let spin = || host.call("spin", json!({}));
    let spins = async {
        let (a, b, c, d) = tokio::join!(spin(), spin(), spin(), spin());
        [a, b, c, d]
    };
    let weather = async {
        let mut failures = 0;
        for _ in 0..10 {
            let result = host.call_weather(52.52, 13.41).await;
            if result["structuredContent"]["current"]["temperature"] != 6.3 {
                println!("weather failed: {result}");
                failures += 1;
            }
            // Spread over the spins' time limit.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        failures
    };
    let (spins, failures) = tokio::join!(spins, weather);
    let busy =
        spins.iter().filter(|r| r["content"][0]["text"].as_str().unwrap_or("").contains("busy")).count();
    (failures, busy)
}
