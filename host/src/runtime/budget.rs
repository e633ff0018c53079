//! What a component sends a client, counted as the JSON bytes it becomes.
//!
//! A policy's `max_result_bytes` bounds, each on its own: a call's result, its
//! input requests and state, the log and progress events of one call
//! together, a `resources/read`'s contents, a prompt and a completion. Each is
//! first checked on the raw size of the lifted WIT value (already a copy of
//! guest memory), before any JSON is parsed or base64 made, which would
//! multiply it; then on the size it takes on the wire.

use std::io;

use mcp_protocol as p;
use serde::Serialize;

use super::bindings::wit;

/// A value larger than the policy allows, by its size in bytes.
#[derive(Debug)]
pub struct Oversized(pub usize);

/// What a log or progress notification adds around a component's bytes
/// (the envelope, method, level, token), as an upper bound.
const EVENT_OVERHEAD: usize = 160;
/// What sealing adds to request state (MAC, format, the caller's names), as an
/// upper bound on top of base64.
const SEAL_OVERHEAD: usize = 512;

/// `size` when it is within `limit`.
pub fn check(size: usize, limit: usize) -> Result<usize, Oversized> {
    if size > limit { Err(Oversized(size)) } else { Ok(size) }
}

/// The bytes `value` takes as JSON.
pub fn json_size(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).expect("JSON values always serialize");
    count.0
}

/// The bytes an `input_required` answer takes, request state sealed.
pub fn input_required_size(needed: &p::InputRequired) -> usize {
    let requests: usize =
        needed.requests.iter().map(|(key, request)| json_size(key) + json_size(request)).sum();
    let state = needed.state.as_ref().map_or(0, |state| state.len().div_ceil(3) * 4 + SEAL_OVERHEAD);
    requests + state
}

/// The bytes a log or progress notification takes.
pub fn event_size(event: &p::CallEvent) -> usize {
    EVENT_OVERHEAD
        + match event {
            p::CallEvent::Log { logger, data, .. } => json_size(logger) + json_size(data),
            p::CallEvent::Progress { message, .. } => json_size(message),
        }
}

/// What the events of one call may still send.
pub struct Events {
    left: usize,
    dropped: usize,
}

impl Events {
    pub fn new(limit: usize) -> Self {
        Self { left: limit, dropped: 0 }
    }

    /// Whether `raw` bytes (the event's size before conversion) could still fit.
    pub fn may_fit(&mut self, raw: usize) -> bool {
        let fits = raw <= self.left;
        self.dropped += usize::from(!fits);
        fits
    }

    /// Takes the event's wire size from what is left; false (the event is
    /// dropped) when it does not fit.
    pub fn take(&mut self, event: &p::CallEvent) -> bool {
        let size = event_size(event);
        let fits = self.may_fit(size);
        self.left -= if fits { size } else { 0 };
        fits
    }

    /// Events dropped for want of budget.
    pub fn dropped(&self) -> usize {
        self.dropped
    }
}

pub fn optional_size(text: &Option<String>) -> usize {
    text.as_ref().map_or(0, String::len)
}

/// The raw bytes of lifted resource contents: every string and byte list in them.
pub fn contents_size(contents: &wit::ResourceContents) -> usize {
    let body = match &contents.body {
        wit::ResourceBody::Text(text) => text.len(),
        wit::ResourceBody::Blob(bytes) => bytes.len(),
    };
    contents.uri.len() + optional_size(&contents.mime_type) + optional_size(&contents.meta) + body
}

/// The raw bytes of a lifted content block.
pub fn block_size(block: &wit::ContentBlock) -> usize {
    match block {
        wit::ContentBlock::Text(text) => text.len(),
        wit::ContentBlock::Image(media) | wit::ContentBlock::Audio(media) => {
            media.data.len() + media.mime_type.len()
        }
        wit::ContentBlock::Resource(resource) => contents_size(resource),
        wit::ContentBlock::ResourceLink(link) => {
            link.uri.len()
                + link.name.len()
                + optional_size(&link.title)
                + optional_size(&link.description)
                + optional_size(&link.mime_type)
                + optional_size(&link.meta)
        }
    }
}

/// The raw bytes a lifted result carries.
pub fn result_size(result: &wit::CallResult) -> usize {
    result.content.iter().map(block_size).sum::<usize>()
        + optional_size(&result.structured_content)
        + optional_size(&result.meta)
}

/// The raw bytes a lifted refusal carries.
pub fn error_size(error: &wit::CallError) -> usize {
    match error {
        wit::CallError::UnknownTool => 0,
        wit::CallError::InvalidParams(message) | wit::CallError::Internal(message) => message.len(),
        wit::CallError::InputRequired(needed) => {
            let requests: usize =
                needed.requests.iter().map(|r| r.key.len() + r.method.len() + r.params.len()).sum();
            requests + needed.state.as_ref().map_or(0, String::len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_what_the_client_receives() {
        let result = p::CallToolResult::error("a\u{1}b");
        assert_eq!(json_size(&result), serde_json::to_vec(&result).unwrap().len());
        // A control character takes six bytes on the wire.
        assert!(json_size(&"\u{1}".repeat(10)) >= 60);
    }

    #[test]
    fn events_share_one_budget() {
        let log = p::CallEvent::Log { level: p::LogLevel::Info, logger: None, data: json!("x".repeat(400)) };
        let mut events = Events::new(1000);
        assert!(events.take(&log));
        assert!(!events.take(&log), "the second one does not fit");
        assert_eq!(events.dropped(), 1);
    }
}
