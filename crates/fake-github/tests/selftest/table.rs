//! The table: a request, and what the fake must answer to it. A test is mostly rows run in
//! order by [`Api::run`]; each expectation of a row is one assertion.

use serde_json::Value;

use fake_github::FakeGitHub;
use fake_github::contract::{Contract, GHES, GITHUB_COM};

use crate::client::{RawRequest, RawResponse, exchange};

/// What an answer's `message` must be.
#[derive(Clone, Debug)]
enum Message {
    Is(String),
    Contains(String),
    StartsWith(String),
}

/// One request and what the fake must answer: its status, and whichever of the other checks
/// the row asks for.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    method: &'static str,
    /// A path under the API URL, or an absolute `http://` URL.
    target: String,
    auth: Option<String>,
    body: Option<Value>,
    /// Sent after GitHub's usual headers (a name may repeat).
    headers: Vec<(&'static str, &'static str)>,
    /// Shown with a failed check, besides the request line.
    label: String,
    status: u16,
    message: Option<Message>,
    answer: Option<Value>,
    /// JSON pointers into the answer and their values (a missing one reads as `null`).
    fields: Vec<(&'static str, Value)>,
    no_body: bool,
    documented: bool,
    /// Answer headers and their values (`None`: present, any value).
    answer_headers: Vec<(&'static str, Option<String>)>,
    conforms: bool,
}

impl Row {
    pub(crate) fn new(method: &'static str, target: impl Into<String>, status: u16) -> Row {
        Row {
            method,
            target: target.into(),
            auth: None,
            body: None,
            headers: Vec::new(),
            label: String::new(),
            status,
            message: None,
            answer: None,
            fields: Vec::new(),
            no_body: false,
            documented: false,
            answer_headers: Vec::new(),
            conforms: false,
        }
    }

    pub(crate) fn get(target: impl Into<String>, status: u16) -> Row {
        Row::new("GET", target, status)
    }

    pub(crate) fn post(target: impl Into<String>, status: u16) -> Row {
        Row::new("POST", target, status)
    }

    pub(crate) fn patch(target: impl Into<String>, status: u16) -> Row {
        Row::new("PATCH", target, status)
    }

    /// `Authorization: Bearer <auth>`.
    pub(crate) fn auth(mut self, auth: impl Into<String>) -> Row {
        self.auth = Some(auth.into());
        self
    }

    /// A JSON request body.
    pub(crate) fn body(mut self, body: Value) -> Row {
        self.body = Some(body);
        self
    }

    /// One more request header.
    pub(crate) fn header(mut self, name: &'static str, value: &'static str) -> Row {
        self.headers.push((name, value));
        self
    }

    /// Told with a failed check.
    pub(crate) fn label(mut self, label: impl std::fmt::Display) -> Row {
        self.label = label.to_string();
        self
    }

    /// The answer's `message` is `message`.
    pub(crate) fn message(mut self, message: &str) -> Row {
        self.message = Some(Message::Is(message.to_owned()));
        self
    }

    pub(crate) fn message_contains(mut self, part: &str) -> Row {
        self.message = Some(Message::Contains(part.to_owned()));
        self
    }

    pub(crate) fn message_starts(mut self, start: &str) -> Row {
        self.message = Some(Message::StartsWith(start.to_owned()));
        self
    }

    /// The whole answer is this JSON.
    pub(crate) fn answer(mut self, answer: Value) -> Row {
        self.answer = Some(answer);
        self
    }

    /// The answer's value at the JSON pointer `pointer` (`null` when missing).
    pub(crate) fn field(mut self, pointer: &'static str, value: Value) -> Row {
        self.fields.push((pointer, value));
        self
    }

    /// The answer has no body at all.
    pub(crate) fn no_body(mut self) -> Row {
        self.no_body = true;
        self
    }

    /// The answer's `documentation_url` is a string, as in GitHub's error bodies.
    pub(crate) fn documented(mut self) -> Row {
        self.documented = true;
        self
    }

    /// The answer has the header `name` with `value`.
    pub(crate) fn answer_header(mut self, name: &'static str, value: &str) -> Row {
        self.answer_headers.push((name, Some(value.to_owned())));
        self
    }

    /// The answer has the header `name`, whatever its value.
    pub(crate) fn answer_has_header(mut self, name: &'static str) -> Row {
        self.answer_headers.push((name, None));
        self
    }

    /// The answer fits GitHub's description of the operation: a documented status, and a
    /// body valid against its schema.
    pub(crate) fn conforms(mut self) -> Row {
        self.conforms = true;
        self
    }

    fn context(&self) -> String {
        let line = format!("{} {}", self.method, self.target);
        if self.label.is_empty() {
            line
        } else {
            format!("{line} ({})", self.label)
        }
    }
}

/// The fake's API as the rows see it: its URL, and GitHub's description it answers by.
pub(crate) struct Api {
    base: String,
    contract: &'static Contract,
}

impl Api {
    pub(crate) fn of(fake: &FakeGitHub) -> Api {
        let ghes = fake.url() != fake.origin();
        Api {
            base: fake.url(),
            contract: if ghes { &GHES } else { &GITHUB_COM },
        }
    }

    /// Sends each row's request in order and checks its answer; returns the answers.
    pub(crate) async fn run(&self, rows: &[Row]) -> Vec<RawResponse> {
        let mut answers = Vec::with_capacity(rows.len());
        for row in rows {
            answers.push(self.one(row).await);
        }
        answers
    }

    /// One row.
    pub(crate) async fn one(&self, row: &Row) -> RawResponse {
        let context = row.context();
        let request = RawRequest {
            method: row.method,
            target: &row.target,
            auth: row.auth.as_deref(),
            body: row.body.as_ref(),
            extra: &row.headers,
        };
        let res = exchange(&self.base, &request)
            .await
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        assert_eq!(res.status, row.status, "{context}: {}", res.text());
        check_message(&res, row, &context);
        if let Some(answer) = &row.answer {
            assert_eq!(&res.json(), answer, "{context}");
        }
        let body = if row.fields.is_empty() {
            Value::Null
        } else {
            res.json()
        };
        for (pointer, value) in &row.fields {
            let got = body.pointer(pointer).unwrap_or(&Value::Null);
            assert_eq!(got, value, "{context}: {pointer}");
        }
        if row.no_body {
            assert!(res.body.is_empty(), "{context}: {}", res.text());
        }
        if row.documented {
            assert!(res.json()["documentation_url"].is_string(), "{context}");
        }
        for (name, value) in &row.answer_headers {
            match value {
                Some(value) => assert_eq!(res.header(name), Some(value.as_str()), "{context}"),
                None => assert!(res.header(name).is_some(), "{context}: {name}"),
            }
        }
        if row.conforms {
            self.check_conforms(row, &res, &context);
        }
        res
    }

    fn check_conforms(&self, row: &Row, res: &RawResponse, context: &str) {
        let path = row.target.split('?').next().unwrap_or_default();
        let body = (!res.body.is_empty()).then(|| res.text());
        let problems = self
            .contract
            .check_response(row.method, path, res.status, body.as_deref());
        assert_eq!(problems, Vec::<String>::new(), "{context}");
    }
}

fn check_message(res: &RawResponse, row: &Row, context: &str) {
    match &row.message {
        None => {}
        Some(Message::Is(message)) => assert_eq!(res.message(), *message, "{context}"),
        Some(Message::Contains(part)) => {
            assert!(res.message().contains(part), "{context}: {}", res.message());
        }
        Some(Message::StartsWith(start)) => {
            assert!(
                res.message().starts_with(start),
                "{context}: {}",
                res.message()
            );
        }
    }
}

/// Each JSON pointer of `value` holds what the table says (a missing one reads as `null`).
pub(crate) fn check_fields(value: &Value, fields: &[(&str, Value)]) {
    for (pointer, expected) in fields {
        let got = value.pointer(pointer).unwrap_or(&Value::Null);
        assert_eq!(got, expected, "{pointer} of {value}");
    }
}
