//! Text a component or a client controls, made safe for the host's log.
//!
//! Such text may carry newlines (forged log lines), control characters
//! (terminal escapes) or megabytes (a flooded log sink). Every value of that
//! kind goes through [`Untrusted`] before it reaches `tracing`.

use std::fmt;

/// The most characters of one untrusted value a log line carries.
pub const MAX_LOG_CHARS: usize = 512;

/// Displays text escaped (control characters, quotes and backslashes as
/// Rust escapes, so one value is always one line) and cut to
/// [`MAX_LOG_CHARS`], saying how much was left out.
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.char_indices();
        for (_, c) in chars.by_ref().take(MAX_LOG_CHARS) {
            fmt::Display::fmt(&c.escape_debug(), f)?;
        }
        if let Some((at, _)) = chars.next() {
            write!(f, "…[{} more bytes]", self.0.len() - at)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_and_bounded() {
        assert_eq!(Untrusted("a\nb\u{1b}[31m\"").to_string(), "a\\nb\\u{1b}[31m\\\"");
        let long = "é".repeat(MAX_LOG_CHARS + 10);
        let shown = Untrusted(&long).to_string();
        assert!(shown.ends_with("…[20 more bytes]"), "{shown}");
        assert_eq!(shown.chars().filter(|&c| c == 'é').count(), MAX_LOG_CHARS);
        assert_eq!(format!("{:?}", Untrusted("x")), "\"x\"");
    }
}
