//! GitHub's REST contract, from GitHub's own OpenAPI description, for checking both sides of
//! every exchange with the fake: what the client asks (method, path, query, headers, body)
//! and what the fake answers (status, body).
//!
//! The description is vendored in `openapi/` (see its README: the source, the license, and
//! the known inaccuracies that `corrections` patches, so that nobody "fixes" the fake back
//! to the description where GitHub behaves otherwise).
//!
//! The description is OpenAPI 3.0, whose schemas are JSON Schema plus `nullable`; they are
//! turned into plain JSON Schema ([`to_json_schema`]) and checked with the `jsonschema` crate.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use jsonschema::Validator;
use serde_json::{Map, Value, json};

/// API versions GitHub supports: <https://docs.github.com/en/rest/about-the-rest-api/api-versions>
pub const SUPPORTED_API_VERSIONS: &[&str] = &["2022-11-28", "2026-03-10"];

/// Statuses any operation may answer, documented or not: a request GitHub cannot take (an
/// unsupported API version), authentication, permission, a hidden resource, rate limits
/// and server trouble. Operations that take a body may also answer 422 "Validation Failed".
/// <https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api>
const GENERIC_STATUSES: &[u16] = &[400, 401, 403, 404, 429, 500, 502, 503, 504];

/// Headers that must not be repeated (GitHub folds a repeated one into `a, b` and refuses it).
pub const SINGLE_VALUED_HEADERS: &[&str] = &[
    "x-github-api-version",
    "user-agent",
    "accept",
    "authorization",
    "content-type",
];

/// The description of github.com (and GHEC).
pub static GITHUB_COM: LazyLock<Contract> = LazyLock::new(|| {
    Contract::parse(include_str!("../openapi/api.github.com.subset.json"))
        .expect("the vendored api.github.com description is valid")
});

/// The description of GitHub Enterprise Server 3.17.
pub static GHES: LazyLock<Contract> = LazyLock::new(|| {
    Contract::parse(include_str!("../openapi/ghes-3.17.subset.json"))
        .expect("the vendored GHES description is valid")
});

/// The operations of one description.
pub struct Contract {
    operations: Vec<Operation>,
}

/// One operation (`GET /app/hook/deliveries`, ...).
pub struct Operation {
    pub id: String,
    pub method: String,
    pub template: String,
    segments: Vec<Segment>,
    path_params: BTreeMap<String, Validator>,
    query_params: BTreeMap<String, Validator>,
    body: Option<Validator>,
    /// Documented statuses, each with its JSON body schema when it has one.
    responses: BTreeMap<u16, Option<Validator>>,
    /// The documented example answer of each status that has one.
    examples: BTreeMap<u16, Value>,
    /// Property names of the request body's `permissions` (installation tokens only).
    permission_keys: Vec<String>,
}

enum Segment {
    Literal(String),
    Param(String),
}

/// The body of an error GitHub documents as "Basic Error"; undocumented error statuses
/// carry it too.
static BASIC_ERROR: LazyLock<Validator> = LazyLock::new(|| {
    compile(&json!({
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": {"type": "string"},
            "documentation_url": {"type": "string"},
            "status": {"type": "string"},
            "errors": {"type": "array"}
        }
    }))
    .expect("the basic error schema compiles")
});

impl Contract {
    fn parse(text: &str) -> Result<Contract, String> {
        let mut description: Value =
            serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
        corrections(&mut description);
        let paths = description
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("no paths")?;
        let mut operations = Vec::new();
        for (template, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            let shared: Vec<Value> = item
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (method, operation) in item {
                if method == "parameters" {
                    continue;
                }
                operations.push(Operation::parse(template, method, operation, &shared)?);
            }
        }
        Ok(Contract { operations })
    }

    /// The operation that `method` and `path` (without the API prefix) hit.
    pub fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.operations
            .iter()
            .find(|op| op.method.eq_ignore_ascii_case(method) && op.matches(&segments))
    }

    /// GitHub's documented example answer of `operation_id` with `status`: the fake builds
    /// its larger answers (installations, tokens) from these, so that they carry every field
    /// GitHub's do.
    pub fn example(&self, operation_id: &str, status: u16) -> Option<Value> {
        self.operations
            .iter()
            .find(|op| op.id == operation_id)
            .and_then(|op| op.examples.get(&status).cloned())
    }

    /// The keys an installation token's `permissions` may name (with the correction for
    /// Actions variables).
    pub fn permission_keys(&self) -> Vec<String> {
        self.operations
            .iter()
            .find(|op| op.id == "apps/create-installation-access-token")
            .map(|op| op.permission_keys.clone())
            .unwrap_or_default()
    }

    /// What is wrong with a request, by GitHub's description; empty when nothing is.
    /// `headers` are as received (a repeated header appears twice).
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &[(String, String)],
        body: Option<&Value>,
    ) -> Vec<String> {
        let mut problems = check_headers(headers, body.is_some());
        let Some(operation) = self.operation(method, path) else {
            problems.push(format!(
                "{method} {path} matches no operation of GitHub's description"
            ));
            return problems;
        };
        let name = &operation.id;
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        for (segment, value) in operation.segments.iter().zip(&segments) {
            if let Segment::Param(param) = segment
                && let Some(validator) = operation.path_params.get(param)
            {
                let typed = typed_parameter(validator, value);
                for error in validator.iter_errors(&typed) {
                    problems.push(format!("{name}: path parameter `{param}`={value}: {error}"));
                }
            }
        }
        for (param, value) in parse_query(query) {
            match operation.query_params.get(&param) {
                None => problems.push(format!(
                    "{name}: query parameter `{param}` is not documented"
                )),
                Some(validator) => {
                    let typed = typed_parameter(validator, &value);
                    for error in validator.iter_errors(&typed) {
                        problems.push(format!(
                            "{name}: query parameter `{param}`={value}: {error}"
                        ));
                    }
                }
            }
        }
        match (&operation.body, body) {
            (Some(validator), Some(body)) => {
                for error in validator.iter_errors(body) {
                    problems.push(format!(
                        "{name}: request body at `{}`: {error}",
                        error.instance_path()
                    ));
                }
            }
            (None, Some(_)) => problems.push(format!("{name}: takes no request body")),
            (Some(_), None) => problems.push(format!("{name}: needs a request body")),
            (None, None) => {}
        }
        problems
    }

    /// What is wrong with an answer to `method path`, by GitHub's description.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: Option<&str>,
    ) -> Vec<String> {
        let Some(operation) = self.operation(method, path) else {
            // The request was already reported; GitHub answers 404 to unknown routes.
            return if status == 404 {
                Vec::new()
            } else {
                vec![format!(
                    "{method} {path}: answered {status} to no operation"
                )]
            };
        };
        let name = &operation.id;
        let schema = match operation.responses.get(&status) {
            Some(schema) => schema.as_ref(),
            None if GENERIC_STATUSES.contains(&status)
                || (status == 422 && operation.body.is_some()) =>
            {
                Some(&*BASIC_ERROR)
            }
            None => {
                return vec![format!(
                    "{name}: status {status} is not documented (documented: {:?})",
                    operation.responses.keys().collect::<Vec<_>>()
                )];
            }
        };
        let parsed = match body.filter(|body| !body.is_empty()) {
            None => None,
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(value) => Some(value),
                Err(error) => return vec![format!("{name}: {status} body is not JSON: {error}")],
            },
        };
        match (schema, parsed) {
            (Some(validator), Some(value)) => validator
                .iter_errors(&value)
                .map(|error| {
                    format!(
                        "{name}: {status} body at `{}`: {error}",
                        error.instance_path()
                    )
                })
                .collect(),
            (Some(_), None) => vec![format!("{name}: {status} needs a JSON body")],
            (None, Some(_)) => vec![format!("{name}: {status} has no body in the description")],
            (None, None) => Vec::new(),
        }
    }
}

/// An operation's documented answers: each status's body schema (if it has one), and its
/// example.
#[allow(clippy::type_complexity)]
fn parse_responses(
    id: &str,
    operation: &Value,
) -> Result<(BTreeMap<u16, Option<Validator>>, BTreeMap<u16, Value>), String> {
    let mut responses = BTreeMap::new();
    let mut examples = BTreeMap::new();
    for (status, response) in operation
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Ok(status) = status.parse::<u16>() else {
            continue;
        };
        let schema = response
            .pointer("/content/application~1json/schema")
            .map(compile)
            .transpose()
            .map_err(|e| format!("{id}: {status}: {e}"))?;
        responses.insert(status, schema);
        if let Some(example) = response.pointer("/content/application~1json/examples/default/value")
        {
            examples.insert(status, example.clone());
        }
    }
    Ok((responses, examples))
}

impl Operation {
    fn parse(
        template: &str,
        method: &str,
        operation: &Value,
        shared: &[Value],
    ) -> Result<Operation, String> {
        let id = operation
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or(template)
            .to_owned();
        let mut path_params = BTreeMap::new();
        let mut query_params = BTreeMap::new();
        let own = operation
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for param in shared.iter().chain(&own) {
            let name = param.get("name").and_then(Value::as_str).unwrap_or("");
            let schema = param.get("schema").cloned().unwrap_or(json!({}));
            let validator = compile(&schema).map_err(|e| format!("{id}: {name}: {e}"))?;
            match param.get("in").and_then(Value::as_str) {
                Some("path") => path_params.insert(name.to_owned(), validator),
                Some("query") => query_params.insert(name.to_owned(), validator),
                _ => None,
            };
        }
        let permission_keys = operation
            .pointer(
                "/requestBody/content/application~1json/schema/properties/permissions/properties",
            )
            .and_then(Value::as_object)
            .map(|properties| properties.keys().cloned().collect())
            .unwrap_or_default();
        let body = operation
            .pointer("/requestBody/content/application~1json/schema")
            .map(compile)
            .transpose()
            .map_err(|e| format!("{id}: request body: {e}"))?;
        let (responses, examples) = parse_responses(&id, operation)?;
        let segments = template
            .trim_start_matches('/')
            .split('/')
            .map(|segment| match segment.strip_prefix('{') {
                Some(param) => Segment::Param(param.trim_end_matches('}').to_owned()),
                None => Segment::Literal(segment.to_owned()),
            })
            .collect();
        Ok(Operation {
            id,
            method: method.to_ascii_uppercase(),
            template: template.to_owned(),
            segments,
            path_params,
            query_params,
            body,
            responses,
            examples,
            permission_keys,
        })
    }

    fn matches(&self, segments: &[&str]) -> bool {
        segments.len() == self.segments.len()
            && self
                .segments
                .iter()
                .zip(segments)
                .all(|(template, actual)| match template {
                    Segment::Literal(literal) => literal == actual,
                    Segment::Param(_) => !actual.is_empty(),
                })
    }
}

/// Header rules GitHub enforces on every request: one supported API version, one
/// User-Agent, the REST media type, and nothing single-valued repeated.
fn check_headers(headers: &[(String, String)], has_body: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let values = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    for name in SINGLE_VALUED_HEADERS {
        let found = values(name);
        if found.len() > 1 {
            problems.push(format!(
                "header `{name}` sent {} times: {found:?}",
                found.len()
            ));
        }
    }
    match values("x-github-api-version").as_slice() {
        [version] if SUPPORTED_API_VERSIONS.contains(version) => {}
        [version] => problems.push(format!("unsupported API version `{version}`")),
        [] => problems.push("no `X-GitHub-Api-Version` header".to_owned()),
        _ => {}
    }
    match values("user-agent").as_slice() {
        [agent] if !agent.is_empty() => {}
        _ => problems.push("no single non-empty `User-Agent` header".to_owned()),
    }
    if values("accept").as_slice() != ["application/vnd.github+json"] {
        problems.push(format!(
            "`Accept` is {:?}, not `application/vnd.github+json`",
            values("accept")
        ));
    }
    if has_body
        && !values("content-type")
            .first()
            .is_some_and(|v| v.starts_with("application/json"))
    {
        problems.push("a JSON body without `Content-Type: application/json`".to_owned());
    }
    problems
}

/// Where GitHub's description is wrong about what GitHub does. Each is listed in
/// `openapi/README.md` too.
fn corrections(description: &mut Value) {
    // 1. `app-permissions` has no key for Actions variables; GitHub's key is
    //    `actions_variables` (what installations report in their own `permissions`). Unknown
    //    keys are refused (422), so the schema is closed.
    if let Some(permissions) = description.pointer_mut(
        "/paths/~1app~1installations~1{installation_id}~1access_tokens/post/requestBody/content/application~1json/schema/properties/permissions",
    ) && let Some(object) = permissions.as_object_mut()
    {
        if let Some(Value::Object(properties)) = object.get_mut("properties") {
            properties.insert(
                "actions_variables".to_owned(),
                json!({"type": "string", "enum": ["read", "write"]}),
            );
        }
        object.insert("additionalProperties".to_owned(), Value::Bool(false));
    }
    // 2. Create-variable documents only 201; an existing name is refused with 409.
    if let Some(Value::Object(responses)) = description
        .pointer_mut("/paths/~1repos~1{owner}~1{repo}~1actions~1variables/post/responses")
    {
        responses.insert(
            "409".to_owned(),
            json!({"description": "Conflict", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"message": {"type": "string"},
                "documentation_url": {"type": "string"}}}}}}),
        );
    }
    // 3. The App's installations list says an installation's `account` is a user *and* an
    //    enterprise (`allOf`), which no account is; the same installation from
    //    `GET /repos/{owner}/{repo}/installation` is either (`anyOf`), as GitHub sends it.
    if let Some(account) = description.pointer_mut(
        "/paths/~1app~1installations/get/responses/200/content/application~1json/schema/items/properties/account",
    ) && let Some(object) = account.as_object_mut()
        && let Some(both) = object.remove("allOf")
    {
        object.insert("anyOf".to_owned(), both);
    }
    // 4. `per_page` says its maximum in words only: "(max 100)", "(max 30)" for variables.
    let Some(Value::Object(paths)) = description.get_mut("paths") else {
        return;
    };
    for item in paths.values_mut() {
        for operation in item
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            for param in operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if param.get("name") == Some(&json!("per_page")) {
                    let max = param
                        .get("description")
                        .and_then(Value::as_str)
                        .and_then(|text| {
                            text.split_once("(max ")?.1.split_once(')')?.0.parse().ok()
                        })
                        .unwrap_or(100_u64);
                    if let Some(Value::Object(schema)) = param.get_mut("schema") {
                        schema.insert("minimum".to_owned(), json!(1));
                        schema.insert("maximum".to_owned(), json!(max));
                    }
                }
            }
        }
    }
}

fn compile(schema: &Value) -> Result<Validator, String> {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&to_json_schema(schema))
        .map_err(|error| error.to_string())
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema: `null` joins the allowed types.
pub fn to_json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(object) => {
            let mut converted: Map<String, Value> = object
                .iter()
                .filter(|(key, _)| !matches!(key.as_str(), "nullable" | "example" | "examples"))
                .map(|(key, value)| {
                    let value = match key.as_str() {
                        // Maps of names to schemas; their keys are not keywords.
                        "properties" | "patternProperties" => match value {
                            Value::Object(map) => Value::Object(
                                map.iter()
                                    .map(|(name, s)| (name.clone(), to_json_schema(s)))
                                    .collect(),
                            ),
                            other => other.clone(),
                        },
                        "enum" | "required" | "default" | "const" => value.clone(),
                        _ => to_json_schema(value),
                    };
                    (key.clone(), value)
                })
                .collect();
            if object.get("nullable") == Some(&Value::Bool(true)) {
                match converted.get("type").cloned() {
                    Some(Value::String(kind)) => {
                        converted.insert("type".to_owned(), json!([kind, "null"]));
                        if let Some(Value::Array(values)) = converted.get_mut("enum") {
                            values.push(Value::Null);
                        }
                    }
                    _ => {
                        return json!({"anyOf": [Value::Object(converted), {"type": "null"}]});
                    }
                }
            }
            Value::Object(converted)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

/// A parameter arrives as text; the schema says whether it is a number.
fn typed_parameter(validator: &Validator, value: &str) -> Value {
    // An integer-looking value is checked as a number when the schema takes one, and as a
    // string otherwise.
    match value.parse::<i64>() {
        Ok(number) if validator.is_valid(&json!(number)) || !validator.is_valid(&json!(value)) => {
            json!(number)
        }
        _ => Value::String(value.to_owned()),
    }
}

/// `a=1&b=%2F` as decoded pairs.
pub fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
