//! Test support: the fake forecast API, a local OAuth issuer, an OTLP receiver, and a harness that runs the real
//! `mcp-host` binary with real components.

pub mod alter;
pub mod fake;
pub mod harness;
pub mod issuer;
pub mod otlp;
