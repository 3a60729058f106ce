//! Property tests at the HTTP layer: arbitrary JSON bodies, raw bytes, query strings, path ids
//! and API keys thrown at every endpoint of the in-memory test app. Whatever comes in, the
//! answer is never a 5xx; a 4xx is always the JSON error shape with a `code` and a `message`;
//! a 422 names the fields it complains about. The configuration parsers (`ApiKeys`,
//! `RateLimit`) get the same treatment. Case counts stay small so CI stays fast; schemathesis
//! (scripts/schemathesis.sh) does the same at scale against the real binary.

use memory_http::{ApiKeys, RateLimit};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use crate::helpers::{Options, TestApp, spawn_app, spawn_with};

/// Cases per HTTP property: each is one request to the in-memory app.
const CASES: u32 = 128;

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    })
}

/// A runtime the app lives on while the (synchronous) proptest runner drives requests.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

/// The invariant of every answer: no 5xx; 4xx bodies are `{code, message, details}` JSON;
/// 422 details name fields. Returns the status and the body (JSON when it is JSON).
async fn check(res: reqwest::Response, what: &str) -> Result<(u16, Value), TestCaseError> {
    let status = res.status().as_u16();
    let json_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let text = res.text().await.map_err(|e| fail(format!("{what}: {e}")))?;
    if status >= 500 {
        return Err(fail(format!("{what}: {status} {text}")));
    }
    let body: Value = if json_type {
        serde_json::from_str(&text).map_err(|e| fail(format!("{what}: not JSON ({e}): {text}")))?
    } else {
        Value::Null
    };
    if (400..500).contains(&status) {
        if !json_type {
            return Err(fail(format!("{what}: {status} is not JSON: {text}")));
        }
        let ok = body["code"].as_str().is_some_and(|c| !c.is_empty())
            && body["message"].as_str().is_some_and(|m| !m.is_empty())
            && body["details"].is_array();
        if !ok {
            return Err(fail(format!("{what}: {status} error shape: {body}")));
        }
    }
    if status == 422 {
        let details = body["details"].as_array().cloned().unwrap_or_default();
        let named = !details.is_empty()
            && details.iter().all(|d| {
                d["field"].as_str().is_some_and(|f| !f.is_empty())
                    && d["rule"].as_str().is_some_and(|r| !r.is_empty())
            });
        if body["code"] != "validation_error" || !named {
            return Err(fail(format!("{what}: 422 without named fields: {body}")));
        }
    }
    Ok((status, body))
}

fn detail_fields(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|d| d["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

// --- strategies ---------------------------------------------------------------------------

/// Strings that probe the rules: empty, white space, control characters, NUL, non-ASCII,
/// surrogate-pair characters, and long ones.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "\\PC{0,24}",
        2 => "[ \t\n\r\u{0}\u{1}\u{7f}\u{85}\u{a0}\u{2028}\u{feff}a-zé漢🐍]{0,16}",
        1 => Just(String::new()),
        1 => (1usize..300).prop_map(|n| "x".repeat(n)),
        1 => prop::sample::select(vec![
            "user", "assistant", "system", "archive", "delete", "vector", "hybrid",
            "2024-03-01T12:00:00Z", "2999-01-01T00:00:00Z", "NaN", "-0", "1e309", "0.5",
        ])
        .prop_map(str::to_owned),
    ]
}

fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-2.0f64..2.0).prop_map(Value::from),
        prop::num::f64::NORMAL.prop_map(Value::from),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        json_number(),
        nasty_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(nasty_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

const MESSAGE_FIELDS: [&str; 7] = [
    "tenant_id",
    "conversation_id",
    "role",
    "content",
    "metadata",
    "importance_override",
    "created_at",
];
const RETENTION_FIELDS: [&str; 3] = ["tenant_id", "actions", "dry_run"];
const SEARCH_PARAMS: [&str; 7] = [
    "tenant_id",
    "query",
    "conversation_id",
    "top_k",
    "importance_min",
    "candidate_limit",
    "mode",
];

/// A key: mostly the endpoint's own fields, sometimes an unknown one.
fn key_of(fields: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(fields).prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
    ]
}

/// A valid body with some of its fields replaced, removed or added with arbitrary values:
/// deep enough into the shape to reach every validation rule.
fn mutated(
    valid: Value,
    fields: &'static [&'static str],
) -> impl Strategy<Value = (Value, Vec<String>)> {
    prop::collection::vec((key_of(fields), prop::option::of(arb_json())), 1..4).prop_map(
        move |edits| {
            let mut body = valid.clone();
            let mut touched = Vec::new();
            for (k, v) in edits {
                let map = body.as_object_mut().expect("object");
                match v {
                    Some(v) => map.insert(k.clone(), v),
                    None => map.remove(&k),
                };
                touched.push(k);
            }
            (body, touched)
        },
    )
}

/// Percent-encodes everything but the unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A raw URL component: printable ASCII including `%` (well-formed or not, UTF-8 or not),
/// `+`, `&` and `=`; never `#`, `?` or `/`, which would change what the URL means.
fn raw_component() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9%+&=._~!$'()*,;:@ -]{0,40}",
        prop::collection::vec(
            prop_oneof![
                "[a-z0-9]{1,4}",
                "%[0-9A-Fa-f]{2}",
                Just("%".to_owned()),
                Just("%C3".to_owned()),
                Just("%FF".to_owned()),
                Just("%E2%9C%93".to_owned())
            ],
            0..8
        )
        .prop_map(|v| v.concat()),
    ]
}

// --- bodies -----------------------------------------------------------------------------------

async fn post_json(app: &TestApp, path: &str, body: &[u8]) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("request")
}

fn valid_message() -> Value {
    json!({"tenant_id": "acme", "conversation_id": "conv-1", "role": "user",
        "content": "I love Python", "metadata": {"source": "web"}, "importance_override": 0.5})
}

fn valid_retention() -> Value {
    json!({"tenant_id": "acme", "actions": ["archive", "delete"], "dry_run": true})
}

#[test]
fn arbitrary_json_bodies_never_5xx_and_422s_name_fields() {
    let rt = runtime();
    let app = rt.block_on(spawn_app());
    for path in ["/v1/messages", "/v1/admin/retention/run"] {
        runner()
            .run(&arb_json(), |body| {
                rt.block_on(async {
                    let bytes = serde_json::to_vec(&body).expect("serialise");
                    check(
                        post_json(&app, path, &bytes).await,
                        &format!("{path} {body}"),
                    )
                    .await?;
                    Ok(())
                })
            })
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

#[test]
fn mutated_valid_bodies_are_accepted_or_rejected_naming_a_changed_field() {
    let rt = runtime();
    let app = rt.block_on(spawn_app());
    let cases: [(&str, Value, &'static [&'static str], u16); 2] = [
        ("/v1/messages", valid_message(), &MESSAGE_FIELDS, 202),
        (
            "/v1/admin/retention/run",
            valid_retention(),
            &RETENTION_FIELDS,
            200,
        ),
    ];
    for (path, valid, fields, success) in cases {
        runner()
            .run(&mutated(valid, fields), |(body, touched)| {
                rt.block_on(async {
                    let bytes = serde_json::to_vec(&body).expect("serialise");
                    let what = format!("{path} {body}");
                    let (status, err) = check(post_json(&app, path, &bytes).await, &what).await?;
                    prop_assert!(status == success || status == 422, "{what}: {status} {err}");
                    if status == 422 {
                        // Only what was changed can be wrong; a nested path names its root.
                        for f in detail_fields(&err) {
                            let root = f.split(['.', '[']).next().unwrap_or_default();
                            prop_assert!(
                                touched.iter().any(|t| t == root),
                                "{what}: {f} was not changed ({touched:?}): {err}"
                            );
                        }
                    }
                    Ok(())
                })
            })
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

#[test]
fn arbitrary_bytes_and_content_types_never_5xx() {
    let rt = runtime();
    let app = rt.block_on(spawn_app());
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        "\\PC{0,64}".prop_map(String::into_bytes),
        Just(b"{\"tenant_id\": \"\\ud800\"}".to_vec()),
        Just(format!("{}1{}", "[".repeat(200), "]".repeat(200)).into_bytes()),
        Just(b"{\"metadata\": 1e400}".to_vec()),
    ];
    let content_type = prop::sample::select(vec![
        "application/json",
        "application/json; charset=latin1",
        "application/problem+json",
        "text/plain",
        "",
        "application/x-www-form-urlencoded",
    ]);
    for path in ["/v1/messages", "/v1/admin/retention/run"] {
        runner()
            .run(&(bytes.clone(), content_type.clone()), |(body, ct)| {
                rt.block_on(async {
                    let mut req = app.client.post(app.url(path)).body(body.clone());
                    if !ct.is_empty() {
                        req = req.header("content-type", ct);
                    }
                    let res = req.send().await.expect("request");
                    let what = format!("{path} {ct} {:?}", String::from_utf8_lossy(&body));
                    let (status, _) = check(res, &what).await?;
                    prop_assert!(
                        [202, 200, 400, 415, 422].contains(&status),
                        "{what}: {status}"
                    );
                    Ok(())
                })
            })
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

// --- query strings ----------------------------------------------------------------------------

#[test]
fn arbitrary_search_parameters_never_5xx() {
    let rt = runtime();
    let app = rt.block_on(spawn_app());
    rt.block_on(async {
        let res = app
            .post_message(&valid_message(), None)
            .await
            .status()
            .as_u16();
        assert_eq!(res, 202);
    });
    let value = prop_oneof![
        nasty_string(),
        any::<i64>().prop_map(|n| n.to_string()),
        (-1.0f64..2.0).prop_map(|n| n.to_string()),
    ];
    let pairs = prop::collection::vec((key_of(&SEARCH_PARAMS), value), 0..8);
    runner()
        .run(&pairs, |pairs| {
            rt.block_on(async {
                let res = app
                    .client
                    .get(app.url("/v1/memory/search"))
                    .query(&pairs)
                    .send()
                    .await
                    .expect("request");
                let what = format!("search {pairs:?}");
                let (status, body) = check(res, &what).await?;
                prop_assert!(status == 200 || status == 422, "{what}: {status}");
                if status == 200 {
                    prop_assert!(body["items"].is_array(), "{what}: {body}");
                }
                Ok(())
            })
        })
        .expect("parsed pairs");
    runner()
        .run(&raw_component(), |raw| {
            rt.block_on(async {
                for path in [
                    format!("/v1/memory/search?{raw}"),
                    format!("/v1/memory/search?tenant_id=acme&query={raw}"),
                    format!("/v1/conversations/c?tenant_id={raw}"),
                ] {
                    let res = app
                        .client
                        .request(
                            if path.starts_with("/v1/conv") {
                                reqwest::Method::DELETE
                            } else {
                                reqwest::Method::GET
                            },
                            app.url(&path),
                        )
                        .send()
                        .await
                        .expect("request");
                    let (status, _) = check(res, &path).await?;
                    prop_assert!(status == 200 || status == 422, "{path}: {status}");
                }
                Ok(())
            })
        })
        .expect("raw query strings");
}

// --- path ids ---------------------------------------------------------------------------------

#[test]
fn arbitrary_path_ids_never_5xx() {
    let rt = runtime();
    let app = rt.block_on(spawn_app());
    // Not empty (another route) and not a dot segment (URLs normalise those away).
    let routable = |s: &String| {
        let lower = s.to_ascii_lowercase().replace("%2e", ".");
        !s.is_empty() && lower != "." && lower != ".."
    };
    let id = prop_oneof![
        nasty_string().prop_map(|s| encode(&s)),
        raw_component(),
        any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()),
    ]
    .prop_filter("routable", routable);
    runner()
        .run(&id, |id| {
            rt.block_on(async {
                let cases = [
                    (
                        reqwest::Method::GET,
                        format!("/v1/messages/{id}"),
                        &[200, 404, 422][..],
                    ),
                    (
                        reqwest::Method::DELETE,
                        format!("/v1/tenants/{id}/messages"),
                        &[200, 422][..],
                    ),
                    (
                        reqwest::Method::DELETE,
                        format!("/v1/conversations/{id}?tenant_id=acme"),
                        &[200, 422][..],
                    ),
                ];
                for (method, path, allowed) in cases {
                    let res = app
                        .client
                        .request(method, app.url(&path))
                        .send()
                        .await
                        .expect("request");
                    let (status, body) = check(res, &path).await?;
                    prop_assert!(allowed.contains(&status), "{path}: {status} {body}");
                }
                Ok(())
            })
        })
        .expect("path ids");
}

// --- API keys ---------------------------------------------------------------------------------

#[test]
fn arbitrary_api_keys_are_401_never_5xx() {
    let rt = runtime();
    let app = rt.block_on(spawn_with(Options {
        api_keys: "admin-key,acme-key:acme",
        ..Options::default()
    }));
    let key = "[ -~]{0,40}".prop_filter("not a configured key", |k| {
        !["admin-key", "acme-key"].contains(&k.trim())
    });
    runner()
        .run(&key, |key| {
            rt.block_on(async {
                for (method, path) in [
                    (reqwest::Method::POST, "/v1/messages"),
                    (
                        reqwest::Method::GET,
                        "/v1/memory/search?tenant_id=acme&query=x",
                    ),
                    (reqwest::Method::DELETE, "/v1/tenants/acme/messages"),
                ] {
                    let res = app
                        .client
                        .request(method, app.url(path))
                        .header("x-api-key", key.as_str())
                        .header("content-type", "application/json")
                        .body(valid_message().to_string())
                        .send()
                        .await
                        .expect("request");
                    let (status, body) = check(res, &format!("{path} {key:?}")).await?;
                    prop_assert_eq!(status, 401, "{} {:?}: {}", path, key, body);
                }
                Ok(())
            })
        })
        .expect("keys");
}

// --- configuration parsers ----------------------------------------------------------------------

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]

    #[test]
    fn rate_limits_parse_exactly_n_per_unit(s in "\\PC{0,20}") {
        // Never panics; accepts only N/unit with N >= 1 and a known unit.
        if let Ok(r) = RateLimit::parse(&s) {
            let (n, unit) = s.trim().split_once('/').expect("a slash");
            prop_assert_eq!(r.requests.get(), n.trim().parse::<u32>().expect("N"));
            prop_assert!(["s", "sec", "second", "seconds", "m", "min", "minute", "minutes", "h", "hour", "hours"]
                .contains(&unit.trim().to_ascii_lowercase().as_str()));
        }
    }

    #[test]
    fn valid_rate_limits_round_trip(n in 1u32.., unit in prop::sample::select(vec!["second", "minute", "hour"])) {
        let s = format!("{n}/{unit}");
        prop_assert_eq!(RateLimit::parse(&s).expect("valid").to_string(), s);
    }

    #[test]
    fn api_key_lists_never_panic_and_never_echo_a_key(s in "[a-zA-Z0-9:|, \t\u{1}é-]{0,40}") {
        match ApiKeys::parse(&s) {
            Ok(keys) => {
                let debug = format!("{keys:?}");
                let n = debug.strip_prefix("ApiKeys(").and_then(|d| d.strip_suffix(" keys)"));
                prop_assert!(n.is_some_and(|n| n.parse::<usize>().is_ok()), "{debug}");
            }
            Err(e) => {
                // Errors name positions, never keys.
                let msg = e.to_string();
                for key in s.split(',').map(|e| e.split(':').next().unwrap_or_default().trim()) {
                    if key.len() >= 6 {
                        prop_assert!(!msg.contains(key), "{msg} leaks {key}");
                    }
                }
            }
        }
    }

    #[test]
    fn distinct_well_formed_keys_always_parse(keys in prop::collection::btree_set("[a-zA-Z0-9_-]{1,20}", 1..6),
                                              tenants in prop::collection::vec("[a-z]{1,10}", 0..3)) {
        let bound = if tenants.is_empty() { String::new() } else { format!(":{}", tenants.join("|")) };
        let s = keys.iter().map(|k| format!("{k}{bound}")).collect::<Vec<_>>().join(",");
        let parsed = ApiKeys::parse(&s).expect("valid");
        prop_assert_eq!(format!("{parsed:?}"), format!("ApiKeys({} keys)", keys.len()));
    }
}
