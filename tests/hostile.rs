//! Issue 10: a table of hostile requests (`tests/fixtures/hostile/rows.json`, read by
//! `hostile/table.rs`) sent to both functions in both modes: HTTP-server mode over a raw socket
//! (malformed bytes included) and Lambda mode as the equivalent API Gateway events. Each row
//! names the status and stable code docs/api.md documents for it; every answer must be that,
//! never a 5xx, the JSON error body with `x-request-id` (or, where docs/api.md §6 says so, the
//! HTTP library's bare answer), and after every row the function must still answer a normal
//! signed request.

// A failed expect in a test is a failed test.
#![allow(clippy::expect_used)]

#[path = "hostile/lambda.rs"]
mod lambda;
#[path = "hostile/table.rs"]
mod table;
#[path = "hostile/wire.rs"]
mod wire;

use integration_tests::functions::{
    function_env, login_from, start_gateway, HttpFunction, Login, StoreMode,
};
use miniapp_shared::alipay::StandinHandle;
use serde_json::Value;
use tempfile::TempDir;

use lambda::LambdaFn;
use table::{Built, Expected, Func, Mode, Row, Vars};

/// An answer as a client sees it.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// Names lower case.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn describe(&self) -> String {
        format!(
            "{} {}",
            self.status,
            String::from_utf8_lossy(&self.body)
                .chars()
                .take(300)
                .collect::<String>()
        )
    }
}

/// The two functions in one mode, on one store.
enum Functions {
    Http {
        session: Box<HttpFunction>,
        db: Box<HttpFunction>,
    },
    Lambda {
        session: Box<LambdaFn>,
        db: Box<LambdaFn>,
    },
}

fn port_of(f: &HttpFunction) -> u16 {
    f.url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port in the url")
}

impl Functions {
    async fn send(&mut self, func: Func, b: &Built) -> Result<Answer, String> {
        match (self, func) {
            (Self::Http { session, .. }, Func::Session) => wire::send(port_of(session), b).await,
            (Self::Http { db, .. }, Func::Db) => wire::send(port_of(db), b).await,
            (Self::Lambda { session, .. }, Func::Session) => session.send(b).await,
            (Self::Lambda { db, .. }, Func::Db) => db.send(b).await,
        }
    }
}

struct World {
    functions: Functions,
    mode: Mode,
    login: Login,
    vars: Vars,
    _gateway: StandinHandle,
    _dir: TempDir,
}

/// The store both functions use.
#[derive(Debug, Clone, Copy)]
enum Store {
    Embedded,
    /// The DynamoDB-compatible test server (moto).
    Dynamo,
}

async fn world(mode: Mode, store: Store) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = start_gateway().await;
    let store = match store {
        Store::Embedded => StoreMode::Embedded(dir.path().join("data.db")),
        Store::Dynamo => StoreMode::fresh_dynamo(),
    };
    let mut env = function_env(&gateway.url(), &store);
    // Hundreds of requests from one address: rate limits would get in the way.
    env.push(("MINIAPP_RATE_LIMITS".into(), "off".into()));
    let functions = match mode {
        Mode::Http => Functions::Http {
            session: Box::new(HttpFunction::spawn("session", &env).await),
            db: Box::new(HttpFunction::spawn("db", &env).await),
        },
        Mode::Lambda => Functions::Lambda {
            session: Box::new(LambdaFn::spawn("session", &env).await),
            db: Box::new(LambdaFn::spawn("db", &env).await),
        },
    };
    let mut functions = functions;
    let login = functions
        .send(
            Func::Session,
            &Built::unsigned("POST", "/session", br#"{"authCode":"dev-alice"}"#),
        )
        .await
        .expect("log in");
    assert_eq!(login.status, 201, "log in: {}", login.describe());
    let login = login_from(login.json());
    let vars = Vars {
        cursor: make_cursor(&mut functions, &login).await,
    };
    World {
        functions,
        mode,
        login,
        vars,
        _gateway: gateway,
        _dir: dir,
    }
}

/// Two items in `todos` and the cursor after the first.
async fn make_cursor(functions: &mut Functions, login: &Login) -> String {
    for n in 0..2 {
        let body = format!(r#"{{"n":{n}}}"#);
        let b = Built::signed(login, "POST", "/db/todos", "", body.as_bytes());
        let a = functions.send(Func::Db, &b).await.expect("create");
        assert_eq!(a.status, 201, "create: {}", a.describe());
    }
    let b = Built::signed(login, "GET", "/db/todos", "limit=1", b"");
    let a = functions.send(Func::Db, &b).await.expect("list");
    let cursor = a.json()["nextCursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!cursor.is_empty(), "no cursor: {}", a.describe());
    cursor
}

/// Checks one answer against the row's expectation; the problems found, if any.
fn check(expected: &Expected, a: &Answer) -> Vec<String> {
    let mut problems = Vec::new();
    if a.status >= 500 {
        problems.push(format!("a 5xx: {}", a.describe()));
    }
    let rid = a.header("x-request-id").unwrap_or_default();
    match expected {
        Expected::Bare(status) => {
            if a.status != *status || !a.body.is_empty() || !rid.is_empty() {
                problems.push(format!(
                    "expected the bare {status} (no body, no x-request-id), got {} (x-request-id {rid:?})",
                    a.describe()
                ));
            }
        }
        Expected::Api(status, code) => {
            let v = a.json();
            let got_code = v["error"]["code"].as_str();
            if a.status != *status || got_code != code.as_deref() {
                problems.push(format!(
                    "expected {status} {code:?}, got {} ({got_code:?})",
                    a.describe()
                ));
            }
            if rid.is_empty() {
                problems.push("no x-request-id".into());
            }
            if code.is_some() {
                let shape = v["error"]["message"].is_string()
                    && v["error"]["requestId"].as_str() == Some(rid)
                    && a.header("content-type") == Some("application/json");
                if !shape {
                    problems.push(format!("not the JSON error shape: {}", a.describe()));
                }
            }
        }
    }
    problems
}

/// The normal signed request each function must still answer (200).
fn probe(login: &Login, func: Func) -> Built {
    match func {
        Func::Session => Built::signed(login, "GET", "/session", "", b""),
        Func::Db => Built::signed(login, "GET", "/db/todos", "limit=1", b""),
    }
}

/// Runs every row against both functions; panics with every problem found.
async fn run_table(mut w: World) -> usize {
    let rows: Vec<Row> = table::rows();
    let mut problems = Vec::new();
    let mut sent = 0;
    for row in rows.iter().filter(|r| r.runs_in(w.mode)) {
        for func in Func::BOTH {
            let built = row.build(func, w.mode, &w.login, &w.vars);
            let expected = row.expected(func, w.mode);
            let tag = format!("{:?} {} [{}: {}]", w.mode, func.name(), row.name, row.why);
            match w.functions.send(func, &built).await {
                Ok(a) => problems.extend(
                    check(&expected, &a)
                        .into_iter()
                        .map(|p| format!("{tag}: {p}")),
                ),
                Err(e) => problems.push(format!("{tag}: {e}")),
            }
            sent += 1;
            let probe = w.functions.send(func, &probe(&w.login, func)).await;
            match probe {
                Ok(a) if a.status == 200 => {}
                Ok(a) => {
                    problems.push(format!("{tag}: then a normal request got {}", a.describe()))
                }
                Err(e) => panic!(
                    "{tag}: the function no longer answers: {e}\n{}",
                    problems.join("\n")
                ),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    sent
}

#[tokio::test]
async fn hostile_requests_over_http() {
    let sent = run_table(world(Mode::Http, Store::Embedded).await).await;
    assert!(sent >= 120, "only {sent} requests");
}

#[tokio::test]
async fn hostile_requests_as_lambda_events() {
    let sent = run_table(world(Mode::Lambda, Store::Embedded).await).await;
    assert!(sent >= 120, "only {sent} requests");
}

#[tokio::test]
async fn hostile_requests_over_http_on_dynamodb() {
    let sent = run_table(world(Mode::Http, Store::Dynamo).await).await;
    assert!(sent >= 120, "only {sent} requests");
}

#[tokio::test]
async fn hostile_requests_as_lambda_events_on_dynamodb() {
    let sent = run_table(world(Mode::Lambda, Store::Dynamo).await).await;
    assert!(sent >= 120, "only {sent} requests");
}
