//! A component's policy file (`NAME.toml`), as an operator or a blob
//! container hands it over: any text is either refused with an error or gives
//! a policy the host can apply as it is. Nothing panics, here or where the
//! host uses the numbers (a semaphore of `max_concurrent` permits, deadlines
//! `timeout_ms` from now).
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use mcp_host::fuzzing::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // `inherit`ed variables resolve to a value for some names, not others.
    let Ok(policy) = Policy::parse(text, |name| (name.len() % 2 == 0).then(|| name.repeat(2))) else {
        return;
    };
    let _ = tokio::sync::Semaphore::new(policy.max_concurrent);
    let now = Instant::now();
    assert!(now.checked_add(policy.call_timeout).is_some(), "limits.timeout_ms overflows a deadline");
    assert!(now.checked_add(policy.outbound_timeout).is_some(), "outbound.timeout_ms overflows a deadline");
    if let Some(cache) = policy.cache {
        assert!(now.checked_add(cache.ttl).is_some());
    }
});
