//! Routing: the readiness probe at `/`, the operator's `/status`, OAuth
//! metadata and the ChatGPT app directory's domain verification under
//! `/.well-known/`, and MCP at `/mcp` (POST, GET, DELETE).

use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming as IncomingBody;
use mcp_protocol::http::{self as transport, HttpResponse, SESSION_HEADER};
use mcp_protocol::jsonrpc::{self, RpcError};
use serde_json::Value;

use super::app::{App, Body, HeaderView, full};
use super::{listen, post};
use crate::auth;
use crate::sources;

pub async fn handle(app: &Arc<App>, request: Request<IncomingBody>) -> Response<Body> {
    match (request.uri().path(), request.method()) {
        ("/", &Method::GET | &Method::HEAD) => full(HttpResponse::empty(200)),
        ("/", _) => full(HttpResponse::empty(405).with_header("allow", "GET, HEAD")),
        ("/status", &Method::GET) => status(app, &request),
        ("/status", _) => full(HttpResponse::empty(405).with_header("allow", "GET")),
        ("/mcp", _) => mcp(app, request).await,
        (APPS_CHALLENGE, method) => full(apps_challenge(app, method)),
        (path, method) if path.starts_with("/.well-known/") => {
            full(auth::metadata(app.auth.as_deref(), path, method))
        }
        _ => full(HttpResponse::empty(404)),
    }
}

/// Where the ChatGPT app directory looks for the domain-verification token.
const APPS_CHALLENGE: &str = "/.well-known/openai-apps-challenge";

/// The configured token as plain text; 404 when none is configured.
fn apps_challenge(app: &App, method: &Method) -> HttpResponse {
    let Some(token) = &app.apps_challenge else { return HttpResponse::empty(404) };
    match *method {
        Method::GET | Method::HEAD => HttpResponse {
            status: 200,
            headers: vec![("content-type", "text/plain; charset=utf-8".into())],
            body: token.clone().into_bytes(),
        },
        _ => HttpResponse::empty(405).with_header("allow", "GET, HEAD"),
    }
}

async fn mcp(app: &Arc<App>, request: Request<IncomingBody>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let headers = HeaderView(&parts.headers);
    if let Err(refused) = app.guard.check(&headers) {
        tracing::warn!(host = ?parts.headers.get("host"), origin = ?parts.headers.get("origin"), "request refused by the Host/Origin guard");
        return full(refused);
    }
    // Counted from here, token check included, to the answer's last byte.
    let permit = match parts.method {
        Method::POST => match app.requests.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                tracing::warn!("request refused: too many requests in flight");
                let busy = RpcError::new(-32000, "The server is busy; try again shortly.");
                return full(HttpResponse::rpc_error(503, &busy).with_header("retry-after", "1"));
            }
        },
        _ => None,
    };
    let identity = auth::authenticate(app.auth.as_deref(), &parts.headers).await;
    match (parts.method, permit, identity) {
        (Method::POST, Some(permit), identity) => post::post(app, &headers, body, identity, permit).await,
        (_, _, Err(refusal)) => full(refusal.response(&[])),
        (Method::DELETE, _, _) => full(delete(app, &headers)),
        (Method::GET, _, _) => get(app, &headers),
        _ => full(transport::method_not_allowed()),
    }
}

/// A session's stream of list changes. Without a session (2026-07-28 clients
/// have none) there is no stream to offer: 405, as the spec allows.
fn get(app: &Arc<App>, headers: &HeaderView) -> Response<Body> {
    let Some(id) = transport::Headers::get(headers, SESSION_HEADER) else {
        return full(transport::method_not_allowed());
    };
    if !transport::Accept::parse(transport::Headers::get(headers, "accept")).sse {
        return full(HttpResponse::rpc_error(
            406,
            &RpcError::new(-32000, "Not Acceptable: the stream needs Accept: text/event-stream"),
        ));
    }
    if app.sessions.check(id).is_none() {
        let (status, body) = session_not_found(&Value::Null);
        return full(HttpResponse::json(status, &body));
    }
    listen::open(app, id.to_owned()).unwrap_or_else(full)
}

/// What is serving and what was refused, for the operator; behind the same
/// Host and Origin checks as MCP. A page for a browser, JSON for programs.
/// Each component's instances in use, and how many it may run.
fn pools(app: &App) -> Vec<sources::Pool> {
    app.catalog.borrow().as_ref().map_or_else(Vec::new, |catalog| {
        let components = catalog.components().iter();
        components
            .map(|c| {
                let (in_use, limit) = c.instances();
                sources::Pool { component: c.name.to_string(), in_use, limit }
            })
            .collect()
    })
}

fn status(app: &App, request: &Request<IncomingBody>) -> Response<Body> {
    let headers = HeaderView(request.headers());
    if let Err(refused) = app.guard.check(&headers) {
        return full(refused);
    }
    let status = app.status.lock().expect("no panics while locked").clone();
    if !prefers_html(transport::Headers::get(&headers, "accept")) {
        let mut body = serde_json::to_value(status).expect("status serializes");
        // Per tool, the calls this instance answered lately: which instance serves what.
        let calls = app.recent.tools().into_iter().map(|tool| {
            (tool.name, serde_json::json!({"calls": tool.total.calls, "errors": tool.total.errors}))
        });
        body["calls"] = Value::Object(calls.collect());
        let pools = pools(app)
            .into_iter()
            .map(|pool| (pool.component, serde_json::json!({"in_use": pool.in_use, "limit": pool.limit})));
        body["instances"] = Value::Object(pools.collect());
        body["tasks"] = serde_json::json!({ "running": app.tasks.running() });
        return full(HttpResponse::json(200, &body));
    }
    let pools = pools(app);
    let page = sources::status_page(&status, &app.recent.tools(), &pools, sources::now());
    let mut response = HttpResponse::empty(200)
        .with_header("content-type", "text/html; charset=utf-8")
        .with_header("content-security-policy", sources::content_security_policy())
        .with_header("x-content-type-options", "nosniff")
        .with_header("referrer-policy", "no-referrer")
        .with_header("cache-control", "no-store")
        .with_header("vary", "accept");
    response.body = page.into_bytes();
    full(response)
}

/// Whether an Accept header ranks `text/html` above (or as high as) JSON: a
/// browser's does, a program's (JSON, `*/*` or none) does not.
fn prefers_html(accept: Option<&str>) -> bool {
    let quality = |wanted: &str| {
        accept?
            .split(',')
            .filter_map(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next()?;
                let q =
                    parts.find_map(|p| p.strip_prefix("q=")).map_or(Some(1.0), |q| q.parse::<f32>().ok())?;
                media.eq_ignore_ascii_case(wanted).then_some(q)
            })
            .reduce(f32::max)
    };
    match (quality("text/html"), quality("application/json")) {
        (Some(html), json) => html > 0.0 && json.is_none_or(|json| html >= json),
        (None, _) => false,
    }
}

pub fn session_not_found(id: &Value) -> (u16, Value) {
    (404, jsonrpc::failure(id, &RpcError::new(-32000, "Session not found")))
}

fn delete(app: &App, headers: &HeaderView) -> HttpResponse {
    let Some(id) = transport::Headers::get(headers, SESSION_HEADER) else {
        return transport::invalid_request("DELETE needs an Mcp-Session-Id header");
    };
    if app.sessions.check(id).is_none() {
        let (status, body) = session_not_found(&Value::Null);
        return HttpResponse::json(status, &body);
    }
    app.sessions.end(id);
    HttpResponse::empty(204)
}

#[cfg(test)]
mod tests {
    use super::prefers_html;

    #[test]
    fn browsers_get_the_page_and_programs_json() {
        let chromium =
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
        assert!(prefers_html(Some(chromium)));
        assert!(prefers_html(Some("text/html")));
        for program in
            [None, Some("*/*"), Some("application/json"), Some("application/json, text/html;q=0.5")]
        {
            assert!(!prefers_html(program), "{program:?}");
        }
        assert!(!prefers_html(Some("text/html;q=0")));
    }
}
