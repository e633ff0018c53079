//! Test support: the fake forecast API, a local OAuth issuer, an OTLP receiver, a harness that runs
//! the real `mcp-host` binary with real components, the load of the swap tests, and an OCI registry.

pub mod alter;
pub mod fake;
pub mod harness;
pub mod issuer;
pub mod load;
pub mod otlp;
pub mod registry;
