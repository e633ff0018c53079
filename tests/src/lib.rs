//! Test support: the fake forecast API, a local OAuth issuer, an OTLP receiver, a harness that runs
//! the real `mcp-host` binary with real components, the load of the swap tests, Azurite with a blob
//! container, nginx in front of several hosts, an OCI registry, and Azure Container Registry's token
//! flow in front of it.

pub mod acr;
pub mod alter;
pub mod azurite;
pub mod fake;
pub mod harness;
pub mod identity;
pub mod issuer;
pub mod load;
pub mod nginx;
pub mod otlp;
pub mod registry;
