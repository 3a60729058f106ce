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

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !is_json(req) {
            return Box::pin(async { Err(ApiError::UnsupportedMediaType) });
        }
        // Honours the PayloadConfig limit registered by `startup`.
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = bytes.await.map_err(|e| {
                if e.as_response_error().status_code().as_u16() == 413 {
                    ApiError::PayloadTooLarge {
                        limit: BODY_LIMIT_BYTES,
                    }
                } else {
                    ApiError::BadRequest(e.to_string())
                }
            })?;
            parse_json(&body).map(JsonBody)
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
fn backticked(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let msg = match &err {
        QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    let field = backticked(&msg).unwrap_or("query string").to_owned();
    ApiError::Validation(ValidationErrors(vec![FieldError::new(field, msg)])).into()
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
    fn backticks() {
        assert_eq!(backticked("unknown field `foo`, expected"), Some("foo"));
        assert_eq!(backticked("nothing"), None);
    }
}
