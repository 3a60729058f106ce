//! Extractors that fail with [`ApiError`], so every malformed request gets the same JSON.
//!
//! Bodies go through [`JsonBody`] rather than `web::Json`: it names the JSON path of a type
//! error (`importance_override: invalid type: string "high", expected f64`) and separates
//! malformed JSON (400) from well-formed JSON of the wrong shape (422). actix's own
//! `JsonConfig`, `QueryConfig`, `PathConfig` and `PayloadConfig` are configured too, so any
//! extractor of theirs answers with the same JSON.

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use memory_core::error::{FieldError, ValidationErrors};
use serde::de::DeserializeOwned;
use sha2::Digest as _;
use std::future::Future;
use std::pin::Pin;

use crate::error::ApiError;

/// The largest accepted body: 100,000 characters of content fit in any JSON encoding (the worst
/// is `\uXXXX\uXXXX` surrogate pairs, 12 bytes per character: 1.2 MB), with room for metadata.
pub const BODY_LIMIT_BYTES: usize = 2 * 1024 * 1024;

/// A JSON body, checked for content type, size and shape.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn is_json(req: &HttpRequest) -> bool {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(ct) = ct.to_str() else { return false };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The largest accepted body of `POST /v1/messages/batch`: 1,000 messages.
pub const BATCH_BODY_LIMIT_BYTES: usize = 16 * 1024 * 1024;

/// A route's body limit, when it is not [`BODY_LIMIT_BYTES`] (registered next to the
/// route's `PayloadConfig`, so a 413 names the limit that applied).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body, checked like [`JsonBody`], with the SHA-256 of its bytes (hex) when the
/// request carries an `Idempotency-Key` (what the key is bound to); empty otherwise, so
/// requests without a key pay nothing for it.
#[derive(Debug)]
pub struct DigestedJson<T> {
    /// The parsed body.
    pub value: T,
    /// SHA-256 of the raw bytes, lower-case hex; empty without an `Idempotency-Key`.
    pub digest: String,
}

/// Reads a JSON body's bytes: content type, then size (the route's `PayloadConfig`).
fn json_bytes(
    req: &HttpRequest,
    payload: &mut Payload,
) -> Pin<Box<dyn Future<Output = Result<web::Bytes, ApiError>>>> {
    if !is_json(req) {
        return Box::pin(async { Err(ApiError::UnsupportedMediaType) });
    }
    let limit = req
        .app_data::<BodyLimit>()
        .map_or(BODY_LIMIT_BYTES, |l| l.0);
    let bytes = web::Bytes::from_request(req, payload);
    Box::pin(async move {
        bytes.await.map_err(|e| {
            if e.as_response_error().status_code().as_u16() == 413 {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::BadRequest(e.to_string())
            }
        })
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = json_bytes(req, payload);
        Box::pin(async move { parse_json(&bytes.await?).map(JsonBody) })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for DigestedJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let keyed = req
            .headers()
            .contains_key(crate::api::common::IDEMPOTENCY_KEY);
        let bytes = json_bytes(req, payload);
        Box::pin(async move {
            let body = bytes.await?;
            let value = parse_json(&body)?;
            let digest = if keyed {
                sha2::Sha256::digest(&body)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            } else {
                String::new()
            };
            Ok(DigestedJson { value, digest })
        })
    }
}

/// serde_json appends " at line L column C"; the field path says more to a client.
fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Parses a JSON document: syntax errors are `invalid_json`, shape errors `validation_error`
/// naming the field.
/// The document must be an object: serde would also read a struct from an array.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => Err(ApiError::field("body", "must be a JSON object")),
            Err(e) => Err(ApiError::InvalidJson(e.to_string())),
        };
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path.is_empty() || path == "." {
                    "body".to_owned()
                } else {
                    path
                };
                ApiError::field(field, strip_position(&inner.to_string()))
            }
            _ => ApiError::InvalidJson(inner.to_string()),
        }
    })?;
    de.end().map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    Ok(value)
}

/// The name in serde's "unknown field `x`" or "duplicate field `x`" messages.
/// Reads an already parsed JSON value (a batch item, an MCP tool's arguments) into `T`,
/// naming the JSON path of a type error; `whole` names the value itself.
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    whole: &str,
) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." {
            whole.to_owned()
        } else {
            path
        };
        FieldError::new(field, e.into_inner().to_string())
    })
}

fn backticked(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

fn query_api_error(err: QueryPayloadError) -> ApiError {
    let msg = match &err {
        QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    // `?=x` names the parameter "": say "query string" rather than an empty field.
    let field = backticked(&msg)
        .filter(|f| !f.is_empty())
        .unwrap_or("query string")
        .to_owned();
    ApiError::Validation(ValidationErrors(vec![FieldError::new(field, msg)]))
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    query_api_error(err).into()
}

/// The rule broken by a percent-encoded parameter that is not UTF-8.
const NOT_UTF8: &str = "must be valid UTF-8 once percent-decoded";

/// Percent-decodes `raw` (and `+` as a space in query strings); `None` when the bytes are not
/// UTF-8. actix decodes lossily instead, turning `%FF` into U+FFFD: a tenant named `%FF` would
/// silently become the tenant named `\u{FFFD}`, which matters on the erasure endpoints.
/// A `%` not followed by two hex digits is kept as it is, as actix does.
pub fn percent_decode_strict(raw: &str, plus_as_space: bool) -> Option<String> {
    let raw = if plus_as_space {
        std::borrow::Cow::Owned(raw.replace('+', " "))
    } else {
        std::borrow::Cow::Borrowed(raw)
    };
    percent_encoding::percent_decode_str(&raw)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// A path parameter of the matched route (`name` as in `{name}`), percent-decoded strictly:
/// not UTF-8 is a 422 naming the parameter, never a lossy replacement.
pub fn path_param(req: &HttpRequest, name: &str) -> Result<String, ApiError> {
    let placeholder = format!("{{{name}}}");
    let index = req
        .match_pattern()
        .and_then(|p| p.split('/').position(|segment| segment == placeholder))
        .ok_or_else(|| ApiError::internal(format!("the route has no parameter {name}")))?;
    let raw = req.uri().path().split('/').nth(index).unwrap_or_default();
    percent_decode_strict(raw, false).ok_or_else(|| ApiError::field(name, NOT_UTF8))
}

/// Query parameters, deserialized like `web::Query` but percent-decoded strictly (see
/// [`percent_decode_strict`]): a value that is not UTF-8 is a 422 naming its parameter.
#[derive(Debug)]
pub struct StrictQuery<T>(pub T);

fn check_query_encoding(query: &str) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match percent_decode_strict(key, true) {
            None => errors.push(FieldError::new("query string", NOT_UTF8)),
            Some(key) if percent_decode_strict(value, true).is_none() => {
                let field = if key.is_empty() {
                    "query string".to_owned()
                } else {
                    key
                };
                errors.push(FieldError::new(field, NOT_UTF8));
            }
            Some(_) => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(ValidationErrors(errors)))
    }
}

impl<T: DeserializeOwned> FromRequest for StrictQuery<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let query = req.query_string();
        std::future::ready(check_query_encoding(query).and_then(|()| {
            web::Query::<T>::from_query(query)
                .map(|q| StrictQuery(q.into_inner()))
                .map_err(query_api_error)
        }))
    }
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    match err {
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge {
                limit: BODY_LIMIT_BYTES,
            }
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::field("body", strip_position(&e.to_string()))
        }
        JsonPayloadError::Deserialize(e) => ApiError::InvalidJson(e.to_string()),
        other => ApiError::BadRequest(other.to_string()),
    }
    .into()
}

fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::field("path", err.to_string()).into()
}

/// Registers the limits and error handlers of actix's extractors.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(BODY_LIMIT_BYTES))
        .app_data(
            web::JsonConfig::default()
                .limit(BODY_LIMIT_BYTES)
                .error_handler(json_error),
        )
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        a: Option<String>,
        b: Option<f64>,
    }

    fn details(e: ApiError) -> (String, String) {
        match e {
            ApiError::Validation(v) => (v.0[0].field.clone(), v.0[0].rule.clone()),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_are_invalid_json_and_shape_errors_name_the_field() {
        assert!(matches!(
            parse_json::<Shape>(b"{\"a\": "),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_json::<Shape>(b"{} x"),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_json::<Shape>(b""),
            Err(ApiError::InvalidJson(_))
        ));
        let (f, r) = details(parse_json::<Shape>(b"{\"b\": \"high\"}").expect_err("type"));
        assert_eq!(f, "b");
        assert!(r.starts_with("invalid type: string"), "{r}");
        assert!(!r.contains("line"), "{r}");
        let (f, r) = details(parse_json::<Shape>(b"{\"c\": 1}").expect_err("unknown"));
        assert!(r.contains("unknown field `c`"), "{f}: {r}");
        let (f, _) = details(parse_json::<Shape>(b"[1]").expect_err("array"));
        assert_eq!(f, "body");
    }

    #[test]
    fn strict_percent_decoding() {
        let d = |s, plus| percent_decode_strict(s, plus);
        assert_eq!(d("a%2Fb%20c+d", false).as_deref(), Some("a/b c+d"));
        assert_eq!(d("a+b", true).as_deref(), Some("a b"));
        assert_eq!(d("%E2%9c%93", false).as_deref(), Some("\u{2713}"));
        assert_eq!(d("100%", false).as_deref(), Some("100%"));
        assert_eq!(d("%zz%4", false).as_deref(), Some("%zz%4"));
        assert_eq!(d("%FF", false), None);
        assert_eq!(d("ok%C3", true), None);
    }

    #[test]
    fn backticks() {
        assert_eq!(backticked("unknown field `foo`, expected"), Some("foo"));
        assert_eq!(backticked("nothing"), None);
    }
}
