//! `/status` as a page for a browser: components and versions, each tool's
//! calls, errors and latency over the last minutes with small charts, the
//! instance pools, and the latest swaps and refusals. Self-contained (inline
//! CSS and SVG, no script), allowed nothing else by its Content-Security-Policy;
//! light or dark as the browser prefers. Everything a component or client
//! controls (names, tool names, errors) is escaped.

use std::fmt::Write as _;

use base64::Engine as _;
use sha2::Digest as _;

use super::status::Status;
use crate::telemetry::recent::{self, Summary, Tool};

/// One component's instance slots.
pub struct Pool {
    pub component: String,
    pub in_use: usize,
    pub limit: usize,
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --bg: #fafafa; --fg: #1d1d1f; --muted: #6e6e73; --line: #d2d2d7;
  --card: #ffffff; --ok: #1a7f37; --bad: #c62828; --bar: #4c78a8; --p50: #2a9d8f; --p99: #e76f51; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #161618; --fg: #e8e8ed; --muted: #9a9aa0; --line: #3a3a3f; --card: #1f1f22;
    --ok: #3fb950; --bad: #ff6b6b; --bar: #6b9bd1; --p50: #56cfc0; --p99: #ff9670; }
}
body { margin: 0; padding: 1.5rem; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size: 1.3rem; margin: 0 0 .25rem; } h2 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; }
.meta { color: var(--muted); } .ok { color: var(--ok); } .bad { color: var(--bad); }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { color: var(--muted); font-weight: 600; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12px ui-monospace, monospace; } .empty { color: var(--muted); font-style: italic; }
svg .bar { fill: var(--bar); } svg .err { fill: var(--bad); } svg .axis { stroke: var(--line); }
svg .p50 { stroke: var(--p50); fill: none; stroke-width: 1.5; } svg .p99 { stroke: var(--p99); fill: none; stroke-width: 1.5; }
svg .track { fill: var(--line); } .legend span { margin-right: 1rem; }
.k50 { color: var(--p50); } .k99 { color: var(--p99); } .kb { color: var(--bar); }
"#;

/// The page's Content-Security-Policy: its one inline stylesheet and nothing else.
pub fn content_security_policy() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// Escapes text for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Messages of the wasm parser break lines; HTML folds the spaces.
            c if c.is_whitespace() => out.push(' '),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn ago(now: u64, then: u64) -> String {
    match now.saturating_sub(then) {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s => format!("{} h ago", s / 3600),
    }
}

fn short(sha256: &str) -> String {
    esc(&sha256.chars().take(12).collect::<String>())
}

fn ms(value: Option<f64>) -> String {
    match value {
        Some(v) if v < 10.0 => format!("{v:.1} ms"),
        Some(v) => format!("{v:.0} ms"),
        None => "–".into(),
    }
}

/// Calls per minute as bars (errors stacked in red), p50 and p99 as lines.
fn chart(minutes: &[Summary]) -> String {
    const W: f64 = 240.0;
    const H: f64 = 44.0;
    let step = W / minutes.len().max(1) as f64;
    let most = minutes.iter().map(|m| m.calls).max().unwrap_or(0).max(1) as f64;
    let slowest = minutes.iter().filter_map(|m| m.p99_ms).fold(0.0, f64::max).max(1e-3);
    let mut svg = format!(
        r#"<svg width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" aria-label="calls and latency per minute"><line class="axis" x1="0" y1="{H}" x2="{W}" y2="{H}"/>"#
    );
    for (i, m) in minutes.iter().enumerate() {
        let x = i as f64 * step + 1.0;
        let height = f64::from(m.calls) / most * (H - 2.0);
        let errors = f64::from(m.errors) / most * (H - 2.0);
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{:.1}" height="{height:.1}"/>"#,
            H - height,
            step - 2.0
        );
        if m.errors > 0 {
            let _ = write!(
                svg,
                r#"<rect class="err" x="{x:.1}" y="{:.1}" width="{:.1}" height="{errors:.1}"/>"#,
                H - errors,
                step - 2.0
            );
        }
    }
    for (class, pick) in
        [("p50", (|m: &Summary| m.p50_ms) as fn(&Summary) -> Option<f64>), ("p99", |m| m.p99_ms)]
    {
        let points: Vec<String> = minutes
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                pick(m).map(|v| format!("{:.1},{:.1}", (i as f64 + 0.5) * step, H - v / slowest * (H - 2.0)))
            })
            .collect();
        if !points.is_empty() {
            let _ = write!(svg, r#"<polyline class="{class}" points="{}"/>"#, points.join(" "));
        }
    }
    svg.push_str("</svg>");
    svg
}

fn meter(in_use: usize, limit: usize) -> String {
    let width = if limit == 0 { 0.0 } else { in_use as f64 / limit as f64 * 160.0 };
    format!(
        r#"<svg width="160" height="10" viewBox="0 0 160 10" role="img" aria-label="{in_use} of {limit}"><rect class="track" width="160" height="10" rx="3"/><rect class="bar" width="{width:.1}" height="10" rx="3"/></svg>"#
    )
}

/// The whole page.
pub fn render(status: &Status, tools: &[Tool], pools: &[Pool], now: u64) -> String {
    let mut page = String::new();
    let state =
        if status.ready { r#"<span class="ok">ready</span>"# } else { r#"<span class="bad">loading</span>"# };
    let _ = write!(
        page,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="10"><title>mcp-host status</title><style>{STYLE}</style></head><body><h1>mcp-host status</h1><p class="meta">{state} · source <code>{}</code> · last scan {}</p>"#,
        esc(&status.source),
        status.last_scan.map_or("never".into(), |t| ago(now, t)),
    );
    if let Some(error) = &status.scan_error {
        let _ = write!(page, r#"<p class="bad">The source could not be read: {}</p>"#, esc(error));
    }

    page.push_str("<h2>Components</h2>");
    if status.components.is_empty() {
        page.push_str(r#"<p class="empty">No components.</p>"#);
    } else {
        page.push_str("<table><tr><th>Component</th><th>Serving</th><th>Tools</th><th>Since</th><th>Last refusal</th></tr>");
        for (name, component) in &status.components {
            let (serving, tools, since) = match &component.serving {
                Some(v) => (
                    format!("<code>{}</code>", short(&v.sha256)),
                    v.tools.iter().map(|t| esc(t)).collect::<Vec<_>>().join(", "),
                    ago(now, v.since),
                ),
                None => (r#"<span class="bad">nothing</span>"#.into(), String::new(), String::new()),
            };
            let loading = component
                .loading
                .as_ref()
                .map_or(String::new(), |sha| format!(" (loading <code>{}</code>)", short(sha)));
            let refused = component.refused.as_ref().map_or(String::new(), |r| {
                format!(
                    r#"<span class="bad">{}</span> <span class="meta">{}</span>"#,
                    esc(&r.error),
                    ago(now, r.at)
                )
            });
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{serving}{loading}</td><td>{tools}</td><td>{since}</td><td>{refused}</td></tr>",
                esc(name)
            );
        }
        page.push_str("</table>");
    }

    let _ = write!(page, "<h2>Tools, last {} minutes</h2>", recent::MINUTES);
    if tools.is_empty() {
        page.push_str(r#"<p class="empty">No calls yet.</p>"#);
    } else {
        page.push_str(r#"<p class="legend meta"><span class="kb">■ calls per minute</span><span class="bad">■ errors</span><span class="k50">— p50</span><span class="k99">— p99</span></p>"#);
        page.push_str(r#"<table><tr><th>Tool</th><th class="n">Calls</th><th class="n">Errors</th><th class="n">p50</th><th class="n">p99</th><th>Per minute</th></tr>"#);
        for tool in tools {
            let t = &tool.total;
            let errors =
                if t.errors > 0 { format!(r#"<span class="bad">{}</span>"#, t.errors) } else { "0".into() };
            let _ = write!(
                page,
                r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{errors}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td></tr>"#,
                esc(&tool.name),
                t.calls,
                ms(t.p50_ms),
                ms(t.p99_ms),
                chart(&tool.minutes)
            );
        }
        page.push_str("</table>");
    }

    page.push_str("<h2>Instance pools</h2>");
    if pools.is_empty() {
        page.push_str(r#"<p class="empty">No components serving.</p>"#);
    } else {
        page.push_str(
            r#"<table><tr><th>Component</th><th class="n">In use</th><th class="n">Limit</th><th></th></tr>"#,
        );
        for pool in pools {
            let _ = write!(
                page,
                r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td></tr>"#,
                esc(&pool.component),
                pool.in_use,
                pool.limit,
                meter(pool.in_use, pool.limit)
            );
        }
        page.push_str("</table>");
    }

    page.push_str("<h2>Recent swaps and refusals</h2>");
    if status.events.is_empty() {
        page.push_str(r#"<p class="empty">None yet.</p>"#);
    } else {
        page.push_str(
            "<table><tr><th>When</th><th>Component</th><th>What</th><th>Version</th><th>Why</th></tr>",
        );
        for event in status.events.iter().rev() {
            let class = if event.what == "refused" { "bad" } else { "ok" };
            let _ = write!(
                page,
                r#"<tr><td>{}</td><td>{}</td><td class="{class}">{}</td><td><code>{}</code></td><td>{}</td></tr>"#,
                ago(now, event.at),
                esc(&event.component),
                event.what,
                event.sha256.as_deref().map_or(String::new(), short),
                event.detail.as_deref().map_or(String::new(), esc)
            );
        }
        page.push_str("</table>");
    }
    page.push_str(r#"<p class="meta">Refreshes every 10 s. Programs get JSON (<code>Accept: application/json</code>).</p></body></html>"#);
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::status::{ComponentStatus, Refusal, Version};

    #[test]
    fn line_breaks_are_spaces_and_other_controls_are_marked() {
        assert_eq!(esc("expected=[\n    0x0,\n]\t\r"), "expected=[     0x0, ]  ");
        assert_eq!(esc("a\u{1b}[31mb\u{0}"), "a\u{fffd}[31mb\u{fffd}");
    }

    #[test]
    fn what_components_and_clients_control_is_escaped() {
        let mut status = Status { source: "folder <b>".into(), ready: true, ..Status::default() };
        let hostile = "<script>alert(1)</script>\"'&";
        status.components.insert(
            hostile.into(),
            ComponentStatus {
                serving: Some(Version {
                    sha256: "ab".repeat(32),
                    tools: vec![hostile.into()],
                    since: 0,
                    code: "compiled",
                }),
                refused: Some(Refusal { sha256: None, error: hostile.into(), at: 0 }),
                loading: None,
            },
        );
        status.event(hostile, "refused", None, Some(hostile.into()));
        let tool =
            Tool { name: hostile.into(), total: Summary::default(), minutes: vec![Summary::default(); 3] };
        let pool = Pool { component: hostile.into(), in_use: 1, limit: 2 };
        let page = render(&status, &[tool], &[pool], 100);
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<b>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
    }

    #[test]
    fn the_policy_allows_the_inline_style_only() {
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"), "{csp}");
        assert!(!csp.contains("unsafe"));
    }
}
