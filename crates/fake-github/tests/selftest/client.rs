//! An HTTP client: hyper's, one connection per request.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text, for messages.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or("").to_owned()
    }

    /// The `rel="next"` URL of the `Link` header.
    pub(crate) fn next_link(&self) -> Option<String> {
        let link = self.header("link")?;
        link.split(',').find_map(|part| {
            let (url, rel) = part.split_once(';')?;
            rel.contains("rel=\"next\"").then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
        })
    }
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

/// A client that keeps no connection between requests, so that a dropped connection is seen
/// by the request it belongs to.
fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http()
}

/// One request to send: what [`exchange`] turns into HTTP.
pub(crate) struct RawRequest<'a> {
    pub(crate) method: &'a str,
    /// An absolute `http://host:port/path?query` URL, or a path appended to the base.
    pub(crate) target: &'a str,
    /// A token sent as `Authorization: Bearer …`.
    pub(crate) auth: Option<&'a str>,
    /// Sent as JSON.
    pub(crate) body: Option<&'a Value>,
    /// Headers sent after the ones GitHub wants (appended: a name may repeat).
    pub(crate) extra: &'a [(&'a str, &'a str)],
}

/// Sends `request` to `base` (the API's URL) with the headers GitHub wants, then its own.
pub(crate) async fn exchange(
    base: &str,
    request: &RawRequest<'_>,
) -> Result<RawResponse, hyper_util::client::legacy::Error> {
    let RawRequest {
        method,
        target,
        auth,
        body,
        extra,
    } = *request;
    let url = if target.starts_with("http://") {
        target.to_owned()
    } else {
        format!("{base}{target}")
    };
    let mut builder = http::Request::builder()
        .method(method)
        .uri(url)
        .header("user-agent", "fake-github-selftest")
        .header("accept", "application/vnd.github+json");
    if !extra
        .iter()
        .any(|(name, _)| *name == "x-github-api-version")
    {
        builder = builder.header("x-github-api-version", "2022-11-28");
    }
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    if let Some(auth) = auth {
        builder = builder.header("authorization", format!("Bearer {auth}"));
    }
    let body = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Full::new(Bytes::from(body.to_string()))
        }
        None => Full::new(Bytes::new()),
    };
    let response = client()
        .request(builder.body(body).expect("a valid request"))
        .await?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes().to_vec())
        .unwrap_or_default();
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

pub(crate) async fn request(
    base: &str,
    method: &str,
    target: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> Result<RawResponse, hyper_util::client::legacy::Error> {
    let request = RawRequest {
        method,
        target,
        auth,
        body,
        extra: &[],
    };
    exchange(base, &request).await
}

pub(crate) async fn get(base: &str, target: &str, auth: Option<&str>) -> RawResponse {
    request(base, "GET", target, auth, None)
        .await
        .unwrap_or_else(|e| panic!("GET {target}: {e}"))
}

/// Collects every page by following `Link: rel="next"`; returns the items and the pages' sizes.
pub(crate) async fn list_all(
    base: &str,
    first: &str,
    auth: &str,
    between_pages: impl Fn(usize),
) -> (Vec<Value>, Vec<usize>) {
    let mut items = Vec::new();
    let mut sizes = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(target) = next {
        let page = get(base, &target, Some(auth)).await;
        assert_eq!(page.status, 200, "{target}: {:?}", page.json());
        let list = page.json().as_array().expect("a JSON array").clone();
        sizes.push(list.len());
        items.extend(list);
        next = page.next_link();
        if let Some(url) = &next {
            assert!(
                url.starts_with(base),
                "absolute next URL under the base: {url}"
            );
        }
        between_pages(sizes.len());
        assert!(sizes.len() < 100, "runaway pagination");
    }
    (items, sizes)
}
