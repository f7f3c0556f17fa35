//! A repository's Actions variables (the checkpoint's store).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::auth::require_variables;
use crate::clock::rfc3339;
use crate::http::reply::Reply;
use crate::http::{BodyProblem, Ctx, guarded};
use crate::state::Inner;
use crate::{
    DOC_VARIABLES, FakeGitHub, MAX_VARIABLE_VALUE_BYTES, MAX_VARIABLES_PER_REPO, parse_query,
};

pub(crate) struct Variable {
    value: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A repository's Actions variables: read with read access, written with write access.
pub(crate) fn route_variables(
    inner: &mut Inner,
    ctx: &Ctx<'_>,
    segments: &[&str],
) -> Option<Reply> {
    let ["repos", owner, repo, "actions", "variables", rest @ ..] = segments else {
        return None;
    };
    let repo = format!("{owner}/{repo}");
    let write = ctx.method != "GET";
    let access = require_variables(inner, ctx, &repo, write);
    Some(match (ctx.method, rest) {
        ("GET", []) => guarded(access, || list_variables(inner, &repo, ctx)),
        ("GET", [name]) => guarded(access, || get_variable(inner, &repo, name)),
        ("PATCH", [name]) => guarded(access, || update_variable(inner, &repo, name, ctx)),
        ("POST", []) => guarded(access, || create_variable(inner, &repo, ctx)),
        _ => return None,
    })
}

fn valid_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
        && !name.to_ascii_uppercase().starts_with("GITHUB_")
}

fn variable_json(name: &str, variable: &Variable) -> Value {
    json!({
        "name": name,
        "value": variable.value,
        "created_at": rfc3339(variable.created_at),
        "updated_at": rfc3339(variable.updated_at),
    })
}

/// `GET /repos/{owner}/{repo}/actions/variables`, paginated by `page` and `per_page`
/// (default 10, at most 30: smaller than GitHub's other lists).
fn list_variables(inner: &Inner, repo: &str, ctx: &Ctx<'_>) -> Reply {
    let mut per_page = 10;
    let mut page = 1usize;
    for (name, value) in parse_query(ctx.query) {
        match (name.as_str(), value.parse::<usize>()) {
            ("per_page", Ok(n)) if n >= 1 => per_page = n.min(30),
            ("page", Ok(n)) if n >= 1 => page = n,
            _ => {}
        }
    }
    let all = inner.variables.get(&repo.to_ascii_lowercase());
    let variables: Vec<Value> = all
        .into_iter()
        .flatten()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|(name, variable)| variable_json(name, variable))
        .collect();
    Reply::json(
        200,
        &json!({ "total_count": all.map_or(0, BTreeMap::len), "variables": variables }),
    )
}

fn get_variable(inner: &Inner, repo: &str, name: &str) -> Reply {
    let name = name.to_ascii_uppercase();
    match inner
        .variables
        .get(&repo.to_ascii_lowercase())
        .and_then(|vars| vars.get(&name))
    {
        Some(var) => Reply::json(200, &variable_json(&name, var)),
        None => Reply::not_found(DOC_VARIABLES),
    }
}

fn body_object<'a>(ctx: &Ctx<'a>) -> Result<&'a Map<String, Value>, Reply> {
    if matches!(ctx.body_problem, Some(BodyProblem::NotJson)) {
        return Err(Reply::error(400, "Problems parsing JSON", DOC_VARIABLES));
    }
    match ctx.body {
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(Reply::error(400, "Problems parsing JSON", DOC_VARIABLES)),
        None => Err(Reply::validation_failed(
            DOC_VARIABLES,
            "Variable",
            "value",
            "missing_field",
        )),
    }
}

fn create_variable(inner: &mut Inner, repo: &str, ctx: &Ctx<'_>) -> Reply {
    let body = match body_object(ctx) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let Some(name) = body.get("name").and_then(Value::as_str) else {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "name", "missing_field");
    };
    let Some(value) = body.get("value").and_then(Value::as_str) else {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "value", "missing_field");
    };
    if !valid_variable_name(name) {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "name", "invalid");
    }
    if value.len() > MAX_VARIABLE_VALUE_BYTES {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "value", "too_large");
    }
    let vars = inner
        .variables
        .entry(repo.to_ascii_lowercase())
        .or_default();
    let name = name.to_ascii_uppercase();
    if vars.contains_key(&name) {
        return Reply::error(
            409,
            "Already exists - Variable already exists",
            DOC_VARIABLES,
        );
    }
    if vars.len() >= MAX_VARIABLES_PER_REPO {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "name", "too_many");
    }
    vars.insert(
        name,
        Variable {
            value: value.to_owned(),
            created_at: ctx.now,
            updated_at: ctx.now,
        },
    );
    Reply::json(201, &json!({}))
}

fn update_variable(inner: &mut Inner, repo: &str, name: &str, ctx: &Ctx<'_>) -> Reply {
    let name = name.to_ascii_uppercase();
    let exists = inner
        .variables
        .get(&repo.to_ascii_lowercase())
        .is_some_and(|vars| vars.contains_key(&name));
    if !exists {
        return Reply::not_found(DOC_VARIABLES);
    }
    let body = match body_object(ctx) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let Some(value) = body.get("value").and_then(Value::as_str) else {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "value", "missing_field");
    };
    if value.len() > MAX_VARIABLE_VALUE_BYTES {
        return Reply::validation_failed(DOC_VARIABLES, "Variable", "value", "too_large");
    }
    if let Some(var) = inner
        .variables
        .get_mut(&repo.to_ascii_lowercase())
        .and_then(|vars| vars.get_mut(&name))
    {
        var.value = value.to_owned();
        var.updated_at = ctx.now;
    }
    Reply::empty(204)
}

impl FakeGitHub {
    /// Creates or updates a variable; `repo` is `"owner/name"`.
    pub fn set_variable(&self, repo: &str, name: &str, value: &str) {
        let now = self.shared.now();
        let mut inner = self.shared.lock();
        let vars = inner
            .variables
            .entry(repo.to_ascii_lowercase())
            .or_default();
        let name = name.to_ascii_uppercase();
        match vars.get_mut(&name) {
            Some(var) => {
                var.value = value.to_owned();
                var.updated_at = now;
            }
            None => {
                vars.insert(
                    name,
                    Variable {
                        value: value.to_owned(),
                        created_at: now,
                        updated_at: now,
                    },
                );
            }
        }
    }

    pub fn variable(&self, repo: &str, name: &str) -> Option<String> {
        let inner = self.shared.lock();
        inner
            .variables
            .get(&repo.to_ascii_lowercase())
            .and_then(|vars| vars.get(&name.to_ascii_uppercase()))
            .map(|var| var.value.clone())
    }

    pub fn remove_variable(&self, repo: &str, name: &str) {
        let mut inner = self.shared.lock();
        if let Some(vars) = inner.variables.get_mut(&repo.to_ascii_lowercase()) {
            vars.remove(&name.to_ascii_uppercase());
        }
    }
}
