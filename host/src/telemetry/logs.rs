//! Log lines on stdout carry the trace id of the request they belong to, so
//! that a line leads to its trace and back.

use std::fmt;

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt as _;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The usual line format, with ` trace_id=…` at the end of each line logged
/// within a traced request.
pub struct TraceIdFormat(Format);

impl TraceIdFormat {
    pub fn new() -> Self {
        Self(tracing_subscriber::fmt::format())
    }
}

impl<S, N> FormatEvent<S, N> for TraceIdFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        cx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let trace = super::tracing()
            .then(|| Context::map_current(|current| current.span().span_context().clone()))
            .filter(|span| span.is_valid());
        let Some(span) = trace else { return self.0.format_event(cx, writer, event) };
        let mut line = String::new();
        self.0.format_event(cx, Writer::new(&mut line), event)?;
        writer.write_str(line.trim_end_matches('\n'))?;
        writeln!(writer, " trace_id={}", span.trace_id())
    }
}
