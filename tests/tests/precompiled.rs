//! The package's precompiled components (`mcp-precompile`, `--precompiled`):
//! a host with an empty code cache runs them without compiling; code that
//! does not fit the host is compiled as usual; a folder others may write to is
//! not used, since what is in it runs as native code.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mcp_e2e::fake;
use mcp_e2e::harness::{Host, precompile_bin, sha256, weather_policy, weather_wasm};

/// Runs `mcp-precompile` on weather.wasm into `out`; returns the file written.
fn precompile(out: &Path, extra: &[&str]) -> std::path::PathBuf {
    let status = Command::new(precompile_bin())
        .arg("--out")
        .arg(out)
        .args(extra)
        .arg(weather_wasm())
        .status()
        .expect("mcp-precompile runs");
    assert!(status.success(), "mcp-precompile failed: {status}");
    let digest = sha256(&std::fs::read(weather_wasm()).expect("weather.wasm"));
    let code = out.join(format!("{digest}.cwasm"));
    assert!(code.is_file(), "{} not written", code.display());
    code
}

/// A host serving weather.wasm with `precompiled` and a fresh, empty code cache.
fn start(precompiled: &Path, cache: &Path) -> Host {
    let policy = weather_policy(&fake::shared().url());
    Host::start(
        &[("weather", &weather_wasm(), &policy)],
        &["--precompiled", precompiled.to_str().unwrap(), "--cache-dir", cache.to_str().unwrap()],
    )
}

async fn serves_weather_from(host: &Host, code: &str) {
    let weather = host.wait_for("weather", Duration::from_secs(30), |c| !c["serving"].is_null()).await;
    assert_eq!(weather["serving"]["code"], code, "{weather}");
    let result = host.call_weather(52.52, 13.41).await;
    assert_eq!(result["structuredContent"]["current"]["temperature"], 6.3, "{result}");
}

fn cached_files(cache: &Path) -> usize {
    std::fs::read_dir(cache).map(|dir| dir.count()).unwrap_or(0)
}

#[tokio::test]
async fn the_package_code_runs_without_compiling() {
    let folder = tempfile::tempdir().unwrap();
    precompile(folder.path(), &[]);
    let cache = tempfile::tempdir().unwrap();
    let host = start(folder.path(), cache.path());
    serves_weather_from(&host, "precompiled").await;
    assert_eq!(cached_files(cache.path()), 0, "nothing was compiled, so nothing cached");
}

#[tokio::test]
async fn code_that_does_not_fit_is_compiled_instead() {
    // Compiled for another operating system: wasmtime refuses it at load.
    let folder = tempfile::tempdir().unwrap();
    precompile(folder.path(), &["--target", "x86_64-apple-darwin"]);
    let cache = tempfile::tempdir().unwrap();
    let host = start(folder.path(), cache.path());
    serves_weather_from(&host, "compiled").await;
    host.logged("precompiled code does not fit this host");
    assert_eq!(cached_files(cache.path()), 1, "the code compiled at load is cached");

    // Not compiled code at all: the same.
    let garbage = tempfile::tempdir().unwrap();
    let code = precompile(garbage.path(), &[]);
    std::fs::write(&code, b"\x7fELF not really").unwrap();
    let host = start(garbage.path(), tempfile::tempdir().unwrap().path());
    serves_weather_from(&host, "compiled").await;
}

#[tokio::test]
async fn a_folder_others_may_write_to_is_not_used() {
    let folder = tempfile::tempdir().unwrap();
    precompile(folder.path(), &[]);
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let host = start(folder.path(), tempfile::tempdir().unwrap().path());
    serves_weather_from(&host, "compiled").await;
    host.logged("is writable by other users");
}
