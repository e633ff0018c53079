//! Builds what the end-to-end tests run, so that a plain `cargo test` works
//! from a clean clone: the release `mcp-host` and the test components
//! (wasm32-wasip2, `--profile guest`, with the build-time variants of
//! `versioned` and `atload`). The harness finds them through the paths this
//! script exports (`MCP_E2E_HOST`, `MCP_E2E_COMPONENTS`); the environment
//! variables it reads at run time (`MCP_HOST_BIN`, `WEATHER_WASM`, ...) still
//! win.
//!
//! Why a nested cargo with its own target directory: the components need
//! another target and profile, which no dependency kind of stable cargo can
//! express, and the cargo running this script holds the lock on the main
//! target directory, so a nested build there would wait for it forever. The
//! host is built the same way, in release, so that the tests drive the binary
//! that ships whatever profile the tests are built with.
//!
//! The Makefile builds all of this into its own locations first and exports
//! `MCP_E2E_PREBUILT=1`: then this script does nothing and the harness uses
//! the Makefile's files, so `make` never builds anything twice. (Set it too
//! for tools that run build scripts on every change, such as an editor's
//! `cargo check`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The build-time variants of the `atload` component (`LOAD_MODE`), as in the Makefile.
const LOAD_MODES: [&str; 7] =
    ["ok", "spin-tools", "hang-prompts", "duplicate", "huge-catalog", "many-tools", "clash"];
/// The single-build components, as in the Makefile.
const COMPONENTS: [&str; 5] = ["weather", "conformance", "hostile", "whoami", "rogue"];
const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    println!("cargo:rerun-if-env-changed=MCP_E2E_PREBUILT");
    if std::env::var_os("MCP_E2E_PREBUILT").is_some_and(|v| !v.is_empty()) {
        return;
    }
    let repo = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .parent()
        .expect("tests/ lives in the repository")
        .to_path_buf();
    for watched in [
        "Cargo.toml",
        "Cargo.lock",
        "wit",
        "protocol",
        "host",
        "guest/sdk",
        "guest/weather",
        "guest/conformance",
        "tests/hostile",
        "tests/versioned",
        "tests/whoami",
        "tests/atload",
        "tests/rogue",
    ] {
        println!("cargo:rerun-if-changed={}", repo.join(watched).display());
    }
    check_wasm_target();

    let target_dir = nested_target_dir();
    let components = target_dir.join("components");
    std::fs::create_dir_all(&components).expect("create the components folder");
    // Two outer builds (a `cargo test` and an editor's check, say) may run this
    // at once: a variant built by one must not be copied as the other's.
    let lock = std::fs::File::create(target_dir.join("build.lock")).expect("create the lock file");
    lock.lock().expect("lock the nested build");

    cargo(&repo, &target_dir, &["--release", "-p", "mcp-host"], &[]);
    let guest = ["--target", WASM_TARGET, "--profile", "guest"];
    let built = target_dir.join(WASM_TARGET).join("guest");
    let packages: Vec<&str> = COMPONENTS.iter().flat_map(|name| ["-p", name]).collect();
    cargo(&repo, &target_dir, &[&guest[..], &packages].concat(), &[]);
    for name in COMPONENTS {
        copy(&built.join(format!("{name}.wasm")), &components.join(format!("{name}.wasm")));
    }
    // Each variant is its own build: the crate reads the variable with `option_env!`.
    for version in ["1", "2"] {
        cargo(&repo, &target_dir, &[&guest[..], &["-p", "versioned"]].concat(), &[("TOOL_VERSION", version)]);
        copy(&built.join("versioned.wasm"), &components.join(format!("versioned-v{version}.wasm")));
    }
    for mode in LOAD_MODES {
        cargo(&repo, &target_dir, &[&guest[..], &["-p", "atload"]].concat(), &[("LOAD_MODE", mode)]);
        copy(&built.join("atload.wasm"), &components.join(format!("atload-{mode}.wasm")));
    }

    let host = target_dir.join("release").join("mcp-host");
    println!("cargo:rustc-env=MCP_E2E_HOST={}", host.display());
    println!("cargo:rustc-env=MCP_E2E_COMPONENTS={}", components.display());
}

/// A target directory of its own, beside the outer build's: the folder above
/// `<profile>/build/` in `OUT_DIR`.
fn nested_target_dir() -> PathBuf {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let build = out.ancestors().find(|dir| dir.file_name().is_some_and(|name| name == "build"));
    let root = build.and_then(|build| build.parent()?.parent()).unwrap_or(&out);
    root.join("e2e")
}

/// Fails with what to do when the standard library for the components is missing.
fn check_wasm_target() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
        .expect("run rustc");
    let libdir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || !Path::new(&libdir).is_dir() {
        panic!(
            "the {WASM_TARGET} target is not installed, and the end-to-end tests need it to build their \
             components: run `make wasm-target` (or `rustup target add {WASM_TARGET}`)"
        );
    }
}

/// `cargo build ARGS` in `target_dir`, with `env` added.
fn cargo(repo: &Path, target_dir: &Path, args: &[&str], env: &[(&str, &str)]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(from_the_outer_build) {
            command.env_remove(name);
        }
    }
    command
        .current_dir(repo)
        .arg("build")
        .arg("--manifest-path")
        .arg(repo.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .args(args)
        .envs(env.iter().copied())
        // Cargo's output goes to this script's log; on stdout it would be read as directives.
        .stdout(Stdio::from(std::io::stderr()));
    let status = command.status().expect("run cargo");
    assert!(status.success(), "building {args:?} for the end-to-end tests failed ({status})");
}

/// What cargo tells this script about the outer build (its target, flags,
/// wrappers such as clippy's, this package): not meant for the nested one,
/// whose own build scripts would read it as theirs. The jobserver
/// (`CARGO_MAKEFLAGS`) stays, so that both builds share the same jobs.
fn from_the_outer_build(name: &str) -> bool {
    const PREFIXES: [&str; 4] = ["CARGO_CFG_", "CARGO_FEATURE_", "CARGO_PKG_", "CARGO_MANIFEST_"];
    const NAMES: [&str; 16] = [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "OUT_DIR",
        "TARGET",
        "HOST",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
        "TOOL_VERSION",
        "LOAD_MODE",
    ];
    PREFIXES.iter().any(|prefix| name.starts_with(prefix)) || NAMES.contains(&name)
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
}
