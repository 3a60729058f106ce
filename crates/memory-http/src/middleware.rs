//! The middleware around every route, outermost first:
//!
//! 1. [`telemetry`]: request id, tracing span, HTTP metrics, and JSON for any error response
//!    produced outside this crate (actix's 404/405, CORS rejections). Wraps the whole app.
//! 2. CORS (actix-cors, built in `startup`). Wraps the whole app.
//! 3. [`timeout`]: every request is answered within `request_timeout` (504 after).
//! 4. [`gate`]: rate limits per client IP and per API key, then authentication. The client IP
//!    is the TCP peer, or, when the peer is a trusted proxy, the rightmost untrusted address
//!    of its `X-Forwarded-For` ([`client_ip`]).
//!
//! 3 and 4 wrap each API resource (after routing), not the app: an unknown route is a plain
//! 404, and the Swagger UI's static files are neither limited nor authenticated.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use memory_core::access::TenantAccess;
use memory_core::domain::Actor;
use tracing::Instrument;

use crate::config::{KeyHash, RateLimit, TrustedProxies, hash_key};
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

/// Who is calling: the tenants the request may act on, and the name changes are recorded
/// under (`key:` and the first 8 hex digits of the key's SHA-256, or `anonymous` without
/// authentication). Put in the request's extensions by [`gate`]; handlers that call the
/// service extract it (and fail closed without it).
#[derive(Debug, Clone)]
pub struct Caller(pub TenantAccess, pub Actor);

impl actix_web::FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Caller>()
                .cloned()
                .ok_or_else(|| ApiError::internal("route is not behind the authentication gate")),
        )
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
        client_ip = tracing::field::Empty,
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
        let peer = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        let ip = client_ip(peer, req.headers(), &state.trusted_proxies);
        // The address the limits apply to (behind a trusted proxy: the forwarded client).
        tracing::Span::current().record("client_ip", tracing::field::display(ip));
        let checked = state.limiters.check_ip(ip).and_then(|()| match &presented {
            Some(h) => state.limiters.check_key(h),
            None => Ok(()),
        });
        if let Err(e) = checked {
            return Ok(req.error_response(e));
        }
    }
    if !open {
        let caller = if state.api_keys.is_empty() {
            Some(Caller(TenantAccess::All, Actor::anonymous()))
        } else {
            presented.and_then(|h| {
                let access = state.api_keys.authenticate(&h)?;
                let name: String = h.iter().take(4).map(|b| format!("{b:02x}")).collect();
                Some(Caller(access, Actor::parse(format!("key:{name}")).ok()?))
            })
        };
        match caller {
            Some(c) => {
                req.extensions_mut().insert(c);
            }
            None => return Ok(req.error_response(ApiError::Unauthorized)),
        }
    }
    // Load shedding: beyond `max_in_flight` API requests, answer 503 at once rather than
    // queue without bound (memory, latency). Health and metrics always answer.
    let _permit = if unlimited {
        None
    } else {
        match state.in_flight.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                tracing::warn!(route, "shed: too many requests in flight");
                return Ok(req.error_response(ApiError::Overloaded {
                    retry_after_seconds: crate::error::UNAVAILABLE_RETRY_AFTER_SECONDS,
                }));
            }
        }
    };
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// The client address that is rate limited: the TCP `peer`, unless the peer is a trusted
/// proxy. Then `X-Forwarded-For` is read from the right (its last hop was appended by the
/// peer), trusted proxies are skipped, and the first untrusted address is the client: the
/// leftmost entries are whatever the client sent, so they are never believed on their own.
///
/// - peer not trusted: the headers are ignored (anyone can send them), the peer it is;
/// - no header, or a malformed entry reached before an untrusted one: the peer;
/// - every entry trusted (a client inside a trusted network): the leftmost one, as nginx's
///   `real_ip_recursive` does;
/// - entries may carry a port (`192.0.2.1:4711`, `[2001:db8::1]:4711`); several headers are
///   read as one list, in order. IPv4-mapped IPv6 addresses count as IPv4.
///
/// `Forwarded` (RFC 7239) is not read: a proxy that only writes `X-Forwarded-For` passes a
/// client's `Forwarded` through untouched, so believing it would let clients choose their
/// address.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let mut values = Vec::new();
    for v in headers.get_all(X_FORWARDED_FOR) {
        match v.to_str() {
            Ok(v) => values.push(v),
            Err(_) => return peer,
        }
    }
    let mut leftmost = peer;
    for entry in values.iter().rev().flat_map(|v| v.rsplit(',')) {
        let Some(ip) = forwarded_ip(entry) else {
            return peer;
        };
        if !trusted.contains(ip) {
            return ip;
        }
        leftmost = ip;
    }
    leftmost
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// One `X-Forwarded-For` entry: `192.0.2.1`, `2001:db8::1`, with an optional port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`) or brackets (`[2001:db8::1]`).
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()))
        .or_else(|_| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .unwrap_or_default()
                .parse::<IpAddr>()
        })
        .ok()?;
    Some(ip.to_canonical())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    fn trusted(s: &str) -> TrustedProxies {
        TrustedProxies::parse(s).expect("valid")
    }

    #[test]
    fn a_trusted_peer_names_the_rightmost_untrusted_hop() {
        let t = trusted("10.0.0.0/8,127.0.0.1");
        // The client sent a fake first entry; the proxies appended the rest.
        let h = xff(&["6.6.6.6, 203.0.113.7, 10.0.0.5"]);
        assert_eq!(client_ip(ip("10.0.0.9"), &h, &t), ip("203.0.113.7"));
        // The same chain split over several headers, and with spaces or none.
        let h = xff(&["6.6.6.6", "203.0.113.7,10.0.0.5"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("203.0.113.7"));
        // One hop: the usual single proxy.
        let h = xff(&["198.51.100.2"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &t), ip("198.51.100.2"));
        // No header from a trusted peer: the peer.
        assert_eq!(
            client_ip(ip("10.0.0.9"), &HeaderMap::new(), &t),
            ip("10.0.0.9")
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_spoof_its_address() {
        let h = xff(&["203.0.113.7"]);
        assert_eq!(
            client_ip(ip("198.51.100.9"), &h, &trusted("10.0.0.0/8")),
            ip("198.51.100.9")
        );
        // Nobody trusted (the default): headers are ignored, even from loopback.
        assert_eq!(
            client_ip(ip("127.0.0.1"), &h, &TrustedProxies::default()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn an_all_trusted_chain_names_its_leftmost_hop() {
        let t = trusted("10.0.0.0/8");
        let h = xff(&["10.1.1.1, 10.2.2.2"]);
        assert_eq!(client_ip(ip("10.0.0.9"), &h, &t), ip("10.1.1.1"));
    }

    #[test]
    fn malformed_values_fall_back_to_the_peer() {
        let t = trusted("10.0.0.0/8");
        let peer = ip("10.0.0.9");
        for bad in [
            "",
            " ",
            "unknown",
            "203.0.113.7,",
            "203.0.113.7, garbage",
            "203.0.113.7,,10.0.0.5",
            "300.1.2.3",
            "203.0.113.7 10.0.0.5",
            "[203.0.113.7",
            "_hidden",
        ] {
            assert_eq!(client_ip(peer, &xff(&[bad]), &t), peer, "{bad:?}");
        }
        // Not UTF-8 / visible ASCII.
        let mut h = HeaderMap::new();
        h.append(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"203.0.113.\xff").expect("header"),
        );
        assert_eq!(client_ip(peer, &h, &t), peer);
        // Garbage left of the first untrusted hop is never looked at.
        let h = xff(&["garbage, 203.0.113.7, 10.0.0.5"]);
        assert_eq!(client_ip(peer, &h, &t), ip("203.0.113.7"));
    }

    #[test]
    fn ports_brackets_and_ipv6() {
        let t = trusted("::1,fd00::/8,10.0.0.0/8");
        let h = xff(&["2001:db8::7, fd00::1"]);
        assert_eq!(client_ip(ip("::1"), &h, &t), ip("2001:db8::7"));
        let h = xff(&["[2001:db8::7]:4711"]);
        assert_eq!(client_ip(ip("fd00::2"), &h, &t), ip("2001:db8::7"));
        let h = xff(&["[2001:db8::7]"]);
        assert_eq!(client_ip(ip("fd00::2"), &h, &t), ip("2001:db8::7"));
        let h = xff(&["203.0.113.7:4711"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &t), ip("203.0.113.7"));
        // A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6; entries likewise.
        let h = xff(&["::ffff:203.0.113.7"]);
        assert_eq!(client_ip(ip("::ffff:10.0.0.1"), &h, &t), ip("203.0.113.7"));
        // An untrusted IPv6 peer: ignored header, its own address.
        assert_eq!(client_ip(ip("2001:db8::9"), &h, &t), ip("2001:db8::9"));
    }
}
