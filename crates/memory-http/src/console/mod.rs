//! The memory console: a small browser UI served at `/console` (docs/console.md).
//!
//! Three static files, embedded in the binary (no CDN, works offline). They hold no data and
//! need no key: the page asks for the user's API key and calls the JSON API with it, so it
//! sees exactly what that key may see. Every answer carries a strict Content-Security-Policy
//! (scripts, styles and requests from this origin only; no inline script or style; no
//! framing). Off when `MEMORY_CONSOLE=false`: the paths are then unrouted (404).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

/// The policy every console answer carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const CONSOLE_CSS: &str = include_str!("assets/console.css");

/// Routes `/console`, `/console/` and its two assets.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(index))
        .route("/console/", web::get().to(index))
        .route("/console/console.js", web::get().to(script))
        .route("/console/console.css", web::get().to(style));
}

async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", CONSOLE_JS)
}

async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", CONSOLE_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_load_nothing_from_elsewhere_and_inline_nothing() {
        for (name, text) in [("index.html", INDEX_HTML), ("console.js", CONSOLE_JS)] {
            for banned in [
                "http://",
                "https://",
                "localStorage",
                "sessionStorage",
                "eval(",
                ".innerHTML",
            ] {
                assert!(!text.contains(banned), "{name} contains {banned:?}");
            }
        }
        for banned in [" style=\"", "<script>", " onclick="] {
            assert!(
                !INDEX_HTML.contains(banned),
                "index.html contains {banned:?}"
            );
        }
        assert!(INDEX_HTML.contains("src=\"/console/console.js\""));
        assert!(INDEX_HTML.contains("href=\"/console/console.css\""));
    }
}
