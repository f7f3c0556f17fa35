//! Answers: GitHub's JSON bodies and errors, and the headers every answer carries.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::{DOC_REST, RATE_LIMIT};

/// A response before the common headers are added.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Option<String>,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) unexpected: bool,
}

impl Reply {
    pub(crate) fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            body: Some(body.to_string()),
            headers: Vec::new(),
            unexpected: false,
        }
    }

    pub(crate) fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
            unexpected: false,
        }
    }

    pub(crate) fn error(status: u16, message: &str, doc: &str) -> Reply {
        Reply::json(
            status,
            &json!({ "message": message, "documentation_url": doc }),
        )
    }

    pub(crate) fn validation_failed(doc: &str, resource: &str, field: &str, code: &str) -> Reply {
        Reply::json(
            422,
            &json!({
                "message": "Validation Failed",
                "errors": [{ "resource": resource, "field": field, "code": code }],
                "documentation_url": doc,
            }),
        )
    }

    pub(crate) fn not_found(doc: &str) -> Reply {
        Reply::error(404, "Not Found", doc)
    }

    pub(crate) fn unexpected() -> Reply {
        Reply {
            unexpected: true,
            ..Reply::not_found(DOC_REST)
        }
    }
}

pub(crate) fn build_response(
    reply: Reply,
    remaining: u64,
    used: u64,
    reset: i64,
    now: DateTime<Utc>,
) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match reply.body {
        Some(body) => {
            let mut response = Response::new(Body::from(body));
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            response
        }
        None => Response::new(Body::empty()),
    };
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put("x-ratelimit-limit", RATE_LIMIT.to_string());
    put("x-ratelimit-remaining", remaining.to_string());
    put("x-ratelimit-used", used.to_string());
    put("x-ratelimit-reset", reset.to_string());
    put("x-ratelimit-resource", "core".to_owned());
    put("x-github-api-version-selected", "2022-11-28".to_owned());
    put("x-github-media-type", "github.v3; format=json".to_owned());
    // GitHub's clock, as GitHub sends it (an HTTP-date); hyper would add the machine's.
    put("date", now.format("%a, %d %b %Y %H:%M:%S GMT").to_string());
    for (name, value) in reply.headers {
        put(name, value);
    }
    response
}

/// Overwrites `base`'s fields with `overrides`' (objects merge, everything else replaces).
pub(crate) fn merge(base: &mut Value, overrides: Value) {
    match (base, overrides) {
        (Value::Object(base), Value::Object(overrides)) => {
            for (key, value) in overrides {
                match base.get_mut(&key) {
                    Some(slot) if slot.is_object() && value.is_object() => merge(slot, value),
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overrides) => *base = overrides,
    }
}
