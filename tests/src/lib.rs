//! Test support: the fake forecast API and a harness that runs the real
//! `mcp-host` binary with real components.

pub mod fake;
pub mod harness;
