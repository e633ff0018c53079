//! Why a component did not give its own answer, as a type: the client's
//! message, the policy key on the operator's log line, and the error chain
//! (for the log only) all come from it.

use std::fmt;
use std::time::Duration;

use wasmtime::Trap;
use wasmtime::component::ResourceTableError;
use wasmtime_wasi_http::FieldMapError;

use super::limits::FIELD_SIZE_LIMIT;
use crate::policy::Policy;

#[derive(Debug)]
pub enum Failure {
    /// Every instance slot stayed taken (`limits.max_concurrent`).
    Busy { running: usize },
    /// Ran past `limits.timeout_ms`.
    TimedOut(Duration),
    /// A memory or table could not grow within `limits.memory_mb`.
    OutOfMemory { limit_mb: usize },
    /// The host held as many resources for the instance as `limits.memory_mb`
    /// allows (one per 64 KiB).
    TooManyResources { limit: usize, limit_mb: usize },
    /// One `wasi:http` fields set grew past the host's size limit.
    FieldsTooLarge { limit: usize },
    /// The answer is larger than `limits.max_result_bytes`.
    Oversized { size: usize, limit: usize },
    /// Trapped or failed otherwise.
    Crashed(anyhow::Error),
}

impl Failure {
    /// Classifies an instance's error: a deadline, a cap that was hit, or a crash.
    pub fn of(error: anyhow::Error, policy: &Policy, memory_hit: bool, resources: usize) -> Self {
        let table_full = error.chain().any(|cause| {
            matches!(cause.downcast_ref::<ResourceTableError>(), Some(ResourceTableError::Full))
        });
        let fields_full = error.chain().any(|cause| {
            matches!(
                cause.downcast_ref::<FieldMapError>(),
                Some(FieldMapError::TotalSizeTooBig | FieldMapError::TooManyFields)
            )
        });
        let limit_mb = policy.memory_bytes >> 20;
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Failure::TimedOut(policy.call_timeout),
            _ if memory_hit => Failure::OutOfMemory { limit_mb },
            _ if table_full => Failure::TooManyResources { limit: resources, limit_mb },
            _ if fields_full => Failure::FieldsTooLarge { limit: FIELD_SIZE_LIMIT },
            _ => Failure::Crashed(error),
        }
    }

    /// The policy key whose limit ended the call (`none` for a crash).
    pub fn policy_key(&self) -> &'static str {
        match self {
            Failure::Busy { .. } => "limits.max_concurrent",
            Failure::TimedOut(_) => "limits.timeout_ms",
            Failure::OutOfMemory { .. } | Failure::TooManyResources { .. } => "limits.memory_mb",
            Failure::FieldsTooLarge { .. } => "host: wasi:http fields size",
            Failure::Oversized { .. } => "limits.max_result_bytes",
            Failure::Crashed(_) => "none",
        }
    }

    /// The error chain behind a crash, for the log.
    pub fn cause(&self) -> Option<String> {
        match self {
            Failure::Crashed(error) => Some(format!("{error:#}")),
            _ => None,
        }
    }
}

/// What the client is told: which limit, never the component's internals.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Busy { running } => {
                write!(f, "The tool is busy ({running} calls already running); please try again shortly.")
            }
            Failure::TimedOut(limit) => {
                write!(f, "The tool did not finish within {} ms and was stopped.", limit.as_millis())
            }
            Failure::OutOfMemory { limit_mb } => {
                write!(f, "The tool ran out of memory (limit {limit_mb} MiB) and was stopped.")
            }
            Failure::TooManyResources { limit, limit_mb } => write!(
                f,
                "The tool held more than {limit} host resources (the limit for {limit_mb} MiB of memory) and was stopped."
            ),
            Failure::FieldsTooLarge { limit } => write!(
                f,
                "The tool made HTTP fields larger than the limit ({} KiB) and was stopped.",
                limit >> 10
            ),
            Failure::Oversized { size, limit } => {
                write!(f, "The tool's answer ({size} bytes) is larger than the limit ({limit} bytes).")
            }
            Failure::Crashed(_) => write!(f, "The tool failed unexpectedly."),
        }
    }
}
