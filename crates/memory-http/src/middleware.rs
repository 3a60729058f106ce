//! The middleware around every route, outermost first:
//!
//! 1. [`telemetry`]: request id, tracing span, HTTP metrics, and JSON for any error response
//!    produced outside this crate (actix's 404/405, CORS rejections). Wraps the whole app.
//! 2. CORS (actix-cors, built in `startup`). Wraps the whole app.
//! 3. [`timeout`]: every request is answered within `request_timeout` (504 after).
//! 4. [`gate`]: rate limits per client IP and per API key, then authentication.
//!
//! 3 and 4 wrap each API resource (after routing), not the app: an unknown route is a plain
//! 404, and the Swagger UI's static files are neither limited nor authenticated.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use memory_core::retention::TenantAccess;
use tracing::Instrument;

use crate::config::{KeyHash, RateLimit, hash_key};
use crate::error::ApiError;
use crate::startup::AppState;

/// The request id header, echoed (when sane) or generated.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The API key header.
pub const API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Routes that need no API key. Health and metrics are also exempt from rate limits, so
/// probes and scrapers keep working while clients are throttled.
const OPEN_ROUTES: [&str; 3] = ["/metrics", "/v1/admin/health", "/docs"];
const UNLIMITED_ROUTES: [&str; 2] = ["/metrics", "/v1/admin/health"];

/// The id of the current request, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Who is calling: the tenants the request may act on. Put in the request's extensions by
/// [`gate`]; handlers that call the service extract it (and fail closed without it).
#[derive(Debug, Clone)]
pub struct Caller(pub TenantAccess);

impl actix_web::FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(req.extensions().get::<Caller>().cloned().ok_or_else(|| {
            ApiError::Internal("route is not behind the authentication gate".into())
        }))
    }
}

fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| s.to_owned())
}

fn is_json(res: &ServiceResponse<BoxBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Replaces a non-JSON error response (from actix or a library) by the API's JSON error,
/// keeping its status and headers.
fn jsonify(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let (req, old) = res.into_parts();
    let mut new = ApiError::for_status(status).error_response();
    *new.status_mut() = status;
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().append(name.clone(), value.clone());
        }
    }
    ServiceResponse::new(req, new)
}

/// Request id, tracing span, metrics and the JSON safety net.
pub async fn telemetry(
    state: web::Data<AppState>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let start = Instant::now();
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "http_request",
        request_id = %request_id,
        method = %method,
        route = %route,
        path = %req.path(),
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    req.extensions_mut().insert(RequestId(request_id.clone()));
    // The request cannot be cloned before routing (the router needs it unshared), so an
    // error from a middleware (none of ours returns one) is only counted, then passed on.
    let mut res = match next.call(req).instrument(span.clone()).await {
        Ok(res) => res.map_into_boxed_body(),
        Err(e) => {
            let status = e.as_response_error().status_code().as_u16();
            let elapsed = start.elapsed().as_secs_f64();
            state.metrics.record_http(&route, &method, status, elapsed);
            return Err(e);
        }
    };
    if res.status().as_u16() >= 400 && !is_json(&res) {
        res = jsonify(res);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    let status = res.status().as_u16();
    let elapsed = start.elapsed().as_secs_f64();
    state.metrics.record_http(&route, &method, status, elapsed);
    span.record("status", status);
    span.record("latency_ms", elapsed * 1000.0);
    span.in_scope(|| tracing::info!("request completed"));
    Ok(res)
}

/// Bounds every request by the configured timeout: 504 JSON after it. The handler's future is
/// dropped: a message stored before that keeps its embedding `pending` for the worker.
pub async fn timeout(
    state: web::Data<AppState>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let http_req = req.request().clone();
    match tokio::time::timeout(state.request_timeout, next.call(req)).await {
        Ok(res) => res.map(ServiceResponse::map_into_boxed_body),
        Err(_) => {
            tracing::warn!(timeout = ?state.request_timeout, "request timed out");
            let err = ApiError::Timeout {
                seconds: state.request_timeout.as_secs_f64(),
            };
            Ok(ServiceResponse::new(http_req, err.error_response()))
        }
    }
}

/// Rate limits (per client IP, then per API key when one is sent), then authentication.
pub async fn gate(
    state: web::Data<AppState>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let route = req.match_pattern();
    let route = route.as_deref();
    let open = route.is_some_and(|r| OPEN_ROUTES.contains(&r));
    let unlimited = route.is_some_and(|r| UNLIMITED_ROUTES.contains(&r));
    let presented: Option<KeyHash> = req
        .headers()
        .get(&API_KEY)
        .map(|v| hash_key(&String::from_utf8_lossy(v.as_bytes())));
    if !unlimited {
        let ip = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        let checked = state.limiters.check_ip(ip).and_then(|()| match &presented {
            Some(h) => state.limiters.check_key(h),
            None => Ok(()),
        });
        if let Err(e) = checked {
            return Ok(req.error_response(e));
        }
    }
    if !open {
        let access = if state.api_keys.is_empty() {
            Some(TenantAccess::All)
        } else {
            presented.and_then(|h| state.api_keys.authenticate(&h))
        };
        match access {
            Some(a) => {
                req.extensions_mut().insert(Caller(a));
            }
            None => return Ok(req.error_response(ApiError::Unauthorized)),
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// Keyed GCRA limiters with bounded memory: idle entries are dropped every minute.
pub struct RateLimiters {
    by_ip: DefaultKeyedRateLimiter<IpAddr>,
    by_key: DefaultKeyedRateLimiter<KeyHash>,
    clock: DefaultClock,
    last_cleanup: Mutex<Instant>,
}

const CLEANUP_EVERY: Duration = Duration::from_secs(60);

impl RateLimiters {
    /// One limiter per client IP and one per API key, each with the same quota.
    pub fn new(limit: &RateLimit) -> Self {
        Self {
            by_ip: RateLimiter::keyed(limit.quota()),
            by_key: RateLimiter::keyed(limit.quota()),
            clock: DefaultClock::default(),
            last_cleanup: Mutex::new(Instant::now()),
        }
    }

    fn cleanup(&self) {
        // try_lock: one request does the sweep, the others go on.
        if let Ok(mut last) = self.last_cleanup.try_lock()
            && last.elapsed() >= CLEANUP_EVERY
        {
            *last = Instant::now();
            self.by_ip.retain_recent();
            self.by_ip.shrink_to_fit();
            self.by_key.retain_recent();
            self.by_key.shrink_to_fit();
        }
    }

    /// Admits one request from `ip`, or says when to retry.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.cleanup();
        self.by_ip.check_key(&ip).map_err(|nu| {
            let wait = nu.wait_time_from(self.clock.now());
            retry(wait)
        })
    }

    /// Admits one request with the key hashing to `key`, or says when to retry.
    pub fn check_key(&self, key: &KeyHash) -> Result<(), ApiError> {
        self.by_key.check_key(key).map_err(|nu| {
            let wait = nu.wait_time_from(self.clock.now());
            retry(wait)
        })
    }
}

fn retry(wait: Duration) -> ApiError {
    ApiError::RateLimited {
        retry_after_seconds: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}
