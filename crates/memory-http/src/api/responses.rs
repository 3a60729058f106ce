//! The error responses endpoints share, written once: each set is a type implementing
//! [`IntoResponses`], listed in an endpoint's `responses(...)` next to its own answers.
//!
//! | set | statuses |
//! | --- | --- |
//! | [`Guarded`] | 401, 429, 503, 504: every endpoint behind the API key and rate limits |
//! | [`JsonBody`] | 400, 413, 415: every endpoint that reads a JSON body |
//! | [`TenantBound`] | 403: the key may not act on the request's tenant |
//! | [`AdminOnly`] | 403: the endpoint needs an admin key |
//! | [`Optional`] | 501: the endpoint needs a store capability a deployment may lack |

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

type Responses = BTreeMap<String, RefOr<Response>>;

/// An `ErrorBody` response, with a Retry-After header when `retry_after`.
fn error(description: &str, retry_after: bool) -> RefOr<Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    if retry_after {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1.0)),
                )
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    response.build().into()
}

fn set(entries: &[(u16, &str, bool)]) -> Responses {
    entries
        .iter()
        .map(|(status, description, retry_after)| {
            (status.to_string(), error(description, *retry_after))
        })
        .collect()
}

/// 401, 429, 503, 504: what any endpoint behind the gate (API key, rate limits, timeout)
/// may answer.
pub struct Guarded;

impl IntoResponses for Guarded {
    fn responses() -> Responses {
        set(&[
            (401, "Missing or wrong x-api-key", false),
            (429, "Rate limited", true),
            (
                503,
                "Unavailable: the store is down, the embedder is overloaded (search) or too \
                 many requests are in flight",
                true,
            ),
            (504, "Timed out", false),
        ])
    }
}

/// 400, 413, 415: what reading a JSON body may answer.
pub struct JsonBody;

impl IntoResponses for JsonBody {
    fn responses() -> Responses {
        set(&[
            (400, "Malformed JSON", false),
            (413, "Body over 2 MiB", false),
            (415, "Not application/json", false),
        ])
    }
}

/// 403 for a key bound to other tenants.
pub struct TenantBound;

impl IntoResponses for TenantBound {
    fn responses() -> Responses {
        set(&[(403, "The key may not act on this tenant", false)])
    }
}

/// 403 for a key that is not an admin key (one bound to tenants).
pub struct AdminOnly;

impl IntoResponses for AdminOnly {
    fn responses() -> Responses {
        set(&[(403, "Not an admin key", false)])
    }
}

/// 501 when the deployment's store lacks the capability the request needs.
pub struct Optional;

impl IntoResponses for Optional {
    fn responses() -> Responses {
        set(&[(
            501,
            "This server's store does not support the request (a deployment's choice: \
             retrying will not help)",
            false,
        )])
    }
}
