//! The routes: pages, the JSON API under `/api/` (docs/serve.md), the event stream and the
//! embedded assets. GET only (anything else is 405): the server reads, never changes. With a
//! token, every request must carry it (`Authorization: Bearer`, or the `oss_token` cookie that
//! `?token=` sets once).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::auth::Token;
use super::source::Source;
use super::{detail, fleet, history, metrics, pages, plans};
use crate::engine::applies::Totals;

/// Rows per page of the Fleet page and `/api/fleet`, unless asked otherwise.
const PAGE: usize = 500;
/// The most rows one request may ask for.
const MAX_PAGE: usize = 5000;

const STYLE: &str = include_str!("assets/style.css");
const LIVE: &str = include_str!("assets/live.js");

type Shared = Arc<Source>;

pub fn router(source: Shared, token: Option<Token>) -> Router {
    let app = Router::new()
        .route("/", get(fleet_page))
        .route("/nodes/{address}", get(node_page))
        .route("/history", get(history_page))
        .route("/history/diff", get(diff_page))
        .route("/cost", get(cost_page))
        .route("/plans", get(plans_page))
        .route("/plans/{index}", get(plan_page))
        .route("/api/fleet", get(fleet_api))
        .route("/api/nodes/{address}", get(node_api))
        .route("/api/history", get(history_api))
        .route("/api/history/diff", get(diff_api))
        .route("/api/cost", get(cost_api))
        .route("/api/plans", get(plans_api))
        .route("/api/plans/{index}", get(plan_api))
        .route("/api/events", get(events))
        .route("/metrics", get(metrics))
        .route("/assets/style.css", get(style))
        .route("/assets/live.js", get(live))
        .fallback(not_found)
        .with_state(source);
    let app = match token {
        Some(token) => app.layer(middleware::from_fn_with_state(Arc::new(token), guard)),
        None => app,
    };
    app.layer(middleware::from_fn(headers))
}

/// Headers every answer carries: nothing loads from elsewhere, nothing frames the pages.
async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Lets through only requests that carry the token.
async fn guard(State(token): State<Arc<Token>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let cookie = cookie(headers, "oss_token");
    let query = request.uri().query().and_then(|q| {
        url_pairs(q)
            .into_iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v)
    });
    if bearer.is_some_and(|b| token.matches(b)) || cookie.is_some_and(|c| token.matches(&c)) {
        return next.run(request).await;
    }
    if let Some(given) = query
        && token.matches(&given)
    {
        // Once, from a link: the cookie carries it from now on, and the token leaves the URL.
        let path = request.uri().path().to_string();
        let mut response = Redirect::to(&path).into_response();
        let value = format!(
            "oss_token={}; Path=/; HttpOnly; SameSite=Strict",
            crate::net::encode::component(&given)
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        return response;
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "This oss serve needs its token: send `Authorization: Bearer TOKEN`, or open a page once with ?token=TOKEN.\n",
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"oss\""),
    );
    response
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| decode(v))
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// An answer that went wrong: a status and a sentence, as a page or as JSON.
struct Problem {
    status: StatusCode,
    message: String,
    hint: String,
}

impl Problem {
    fn not_found(message: String, hint: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::NOT_FOUND,
            message,
            hint: hint.into(),
        }
    }

    fn unavailable(message: String) -> Problem {
        Problem {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message,
            hint: String::new(),
        }
    }

    fn page(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Problem");
        (
            self.status,
            Html(pages::problem(title, &self.message, &self.hint).into_string()),
        )
            .into_response()
    }

    fn json(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({"error": self.message, "hint": self.hint})),
        )
            .into_response()
    }
}

async fn not_found() -> Response {
    Problem::not_found("No such page.".into(), "").page()
}

#[derive(Deserialize)]
struct PageQuery {
    offset: Option<usize>,
    limit: Option<usize>,
}

fn fleet_of(source: &Source, q: &PageQuery) -> (fleet::Fleet, Option<String>) {
    let snapshot = source.live.latest();
    let limit = q.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let mut fleet = fleet::build(
        snapshot.state.as_ref(),
        &source.locations,
        q.offset.unwrap_or(0),
        limit,
    );
    source.health.annotate(&mut fleet.rows);
    (fleet, snapshot.error.clone())
}

async fn fleet_page(State(source): State<Shared>, Query(q): Query<PageQuery>) -> Response {
    let (fleet, error) = fleet_of(&source, &q);
    let page = pages::fleet::render(
        &fleet,
        &source.health.counts(),
        source.catalog_error.as_deref(),
        error.as_deref(),
    );
    Html(page.into_string()).into_response()
}

async fn fleet_api(State(source): State<Shared>, Query(q): Query<PageQuery>) -> Response {
    let (fleet, error) = fleet_of(&source, &q);
    let mut value = serde_json::to_value(&fleet).unwrap_or_default();
    value["state_error"] = error.into();
    value["catalog_error"] = source.catalog_error.clone().into();
    value["health"] = source
        .health
        .counts()
        .iter()
        .map(|(status, n)| (status.as_str().to_string(), serde_json::Value::from(*n)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    Json(value).into_response()
}

async fn node_detail(source: &Source, address: &str) -> Result<detail::Detail, Problem> {
    detail::gather(source, address).await.map_err(|nearest| {
        let hint = match nearest.is_empty() {
            true => "the Fleet page lists every resource".to_string(),
            false => format!("did you mean {}?", nearest.join(", ")),
        };
        Problem::not_found(
            format!("No resource {} in the state.", crate::echo::Echo(address)),
            hint,
        )
    })
}

async fn node_page(State(source): State<Shared>, Path(address): Path<String>) -> Response {
    match node_detail(&source, &address).await {
        Ok(detail) => Html(pages::node::render(&detail).into_string()).into_response(),
        Err(problem) => problem.page(),
    }
}

async fn node_api(State(source): State<Shared>, Path(address): Path<String>) -> Response {
    match node_detail(&source, &address).await {
        Ok(detail) => Json(detail).into_response(),
        Err(problem) => problem.json(),
    }
}

async fn versions(source: &Source) -> Result<Vec<history::Summary>, Problem> {
    history::versions(source).await.map_err(|e| {
        Problem::unavailable(
            source.redact_text(&format!("The state's versions cannot be read: {e}")),
        )
    })
}

async fn history_page(State(source): State<Shared>) -> Response {
    match versions(&source).await {
        Ok(v) => Html(pages::history::render(&v).into_string()).into_response(),
        Err(p) => p.page(),
    }
}

async fn history_api(State(source): State<Shared>) -> Response {
    match versions(&source).await {
        Ok(v) => Json(v).into_response(),
        Err(p) => p.json(),
    }
}

async fn cost_page(State(source): State<Shared>) -> Response {
    match versions(&source).await {
        Ok(v) => Html(pages::cost::render(&v).into_string()).into_response(),
        Err(p) => p.page(),
    }
}

async fn cost_api(State(source): State<Shared>) -> Response {
    match versions(&source).await {
        Ok(v) => {
            let points: Vec<serde_json::Value> = v
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "serial": s.serial,
                        "written_at": s.written_at,
                        "hourly": s.totals.as_ref().map(|t| t.hourly),
                        "monthly": s.totals.as_ref().map(|t| t.monthly),
                        "currency": s.totals.as_ref().and_then(|t| t.currency.clone()),
                        "costs": s.totals.as_ref().map(|t| &t.costs),
                        "monthly_change": s.monthly_change,
                    })
                })
                .collect();
            Json(points).into_response()
        }
        Err(p) => p.json(),
    }
}

async fn diff_of(source: &Source, q: &HashMap<String, String>) -> Result<history::Diff, Problem> {
    let serial = |name: &str| -> Result<u64, Problem> {
        let given = q.get(name).map(String::as_str).unwrap_or("");
        given.parse().map_err(|_| Problem {
            status: StatusCode::BAD_REQUEST,
            message: format!(
                "`{name}` must be a state serial, not {}.",
                crate::echo::Echo(given)
            ),
            hint: "pick two versions on the History page".into(),
        })
    };
    let (from, to) = (serial("from")?, serial("to")?);
    history::diff(source, from, to).await.map_err(|e| match e {
        history::VersionError::Missing { .. } => {
            Problem::not_found(format!("{e}."), "the History page lists the versions kept")
        }
        history::VersionError::State(e) => Problem::unavailable(
            source.redact_text(&format!("Cannot compare serial {from} with {to}: {e}")),
        ),
    })
}

async fn diff_page(
    State(source): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match diff_of(&source, &q).await {
        Ok(d) => Html(pages::history::diff(&d).into_string()).into_response(),
        Err(p) => p.page(),
    }
}

async fn diff_api(
    State(source): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match diff_of(&source, &q).await {
        Ok(d) => Json(d).into_response(),
        Err(p) => p.json(),
    }
}

async fn plans_page(State(source): State<Shared>) -> Response {
    Html(pages::plans::list(&plans::list(&source.plans)).into_string()).into_response()
}

async fn plans_api(State(source): State<Shared>) -> Response {
    Json(plans::list(&source.plans)).into_response()
}

fn plan_at(source: &Source, index: &str) -> Result<(String, crate::plan::Plan), Problem> {
    let path = index
        .parse::<usize>()
        .ok()
        .and_then(|i| source.plans.get(i))
        .ok_or_else(|| {
            Problem::not_found(
                format!("No saved plan {}.", crate::echo::Echo(index)),
                "the Plans page lists them",
            )
        })?;
    let plan = plans::read(path).map_err(|e| Problem::unavailable(source.redact_text(&e)))?;
    Ok((path.display().to_string(), plan))
}

async fn plan_page(State(source): State<Shared>, Path(index): Path<String>) -> Response {
    match plan_at(&source, &index) {
        Ok((path, plan)) => {
            let html = plans::to_html(&source.redact_text(&plans::markdown(&plan)));
            Html(pages::plans::one(&path, &html).into_string()).into_response()
        }
        Err(p) => p.page(),
    }
}

async fn plan_api(State(source): State<Shared>, Path(index): Path<String>) -> Response {
    match plan_at(&source, &index) {
        Ok((path, plan)) => {
            let mut document = plans::json(&plan);
            super::source::redact_value(&mut document, &source.secrets);
            Json(serde_json::json!({
                "path": path,
                "markdown": source.redact_text(&plans::markdown(&plan)),
                "plan": document,
            }))
            .into_response()
        }
        Err(p) => p.json(),
    }
}

/// Server-sent events (ended when the server stops): one `added`, `changed`, `removed` or
/// `state-error` event per change the watcher sees, `health` per change of a node's verdict
/// (data: the change as JSON), and `resync` when this client fell behind.
async fn events(
    State(source): State<Shared>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = source.live.subscribe();
    let stopping = source.stopping.clone();
    let stream = stream::unfold(
        (receiver, stopping),
        |(mut receiver, stopping)| async move {
            // A stopping server ends its streams, or the graceful shutdown would wait for ever.
            let received = tokio::select! {
                received = receiver.recv() => received,
                () = stopping.cancelled() => return None,
            };
            let event = match received {
                Ok(change) => Event::default()
                    .event(change.kind)
                    .json_data(&change)
                    .unwrap_or_else(|_| Event::default().event("resync").data("{}")),
                Err(RecvError::Lagged(_)) => Event::default().event("resync").data("{}"),
                Err(RecvError::Closed) => return None,
            };
            Some((Ok(event), (receiver, stopping)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn metrics(State(source): State<Shared>) -> Response {
    let store = source.applies.clone();
    let records = tokio::task::spawn_blocking(move || store.records())
        .await
        .unwrap_or_default();
    let text = metrics::render(
        &source.live.latest(),
        &source.health.counts(),
        &source.health.latencies(),
        &Totals::of(&records),
    );
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

async fn live() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        LIVE,
    )
        .into_response()
}
