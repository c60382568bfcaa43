//! The hostile-request table (`tests/fixtures/hostile/rows.json`): its rows, the small
//! expansion language their strings use, and what each row expects of each function and mode.
//!
//! Strings may hold `<<xHH..>>` (raw bytes, e.g. `<<xFF>>`, `<<x00>>`) and `<<N*TEXT>>` (TEXT
//! repeated N times), so that rows can carry bytes JSON cannot (invalid UTF-8) and large inputs
//! without spelling them out. `$R` in a path is the function's own route (`/session` or
//! `/db/todos`); `$CURSOR` a valid list cursor of `/db/todos`. In header values, `$AUTH`,
//! `$DATE`, `$TOKEN`, `$KEYID` and `$SIG` are the parts of a valid signature of the row's request.

use std::collections::HashMap;

use miniapp_shared::signing::sign_request;
use miniapp_shared::time_fmt::Timestamp;
use serde::Deserialize;

use integration_tests::functions::Login;

/// One of the two functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Session,
    Db,
}

impl Func {
    pub(crate) const BOTH: [Func; 2] = [Func::Session, Func::Db];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Db => "db",
        }
    }

    /// The function's own route, what `$R` stands for.
    pub(crate) fn route(self) -> &'static str {
        match self {
            Self::Session => "/session",
            Self::Db => "/db/todos",
        }
    }
}

/// The two runtime modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Http,
    Lambda,
}

/// `[status, code]`: an error with that code, or (code `null`) a success answer.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct Expect(pub u16, pub Option<String>);

/// What a mode changes of a row: skip it, expect the HTTP library's bare answer, send another
/// path or query (an event cannot carry every byte a socket can), or expect something else.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModeOverride {
    #[serde(default)]
    pub(crate) skip: bool,
    pub(crate) bare: Option<u16>,
    pub(crate) path: Option<String>,
    pub(crate) query: Option<String>,
    pub(crate) expect: Option<Expect>,
    pub(crate) session: Option<Expect>,
    pub(crate) db: Option<Expect>,
}

/// Many generated header fields: `name` (or `name0`, `name1`, ... when `distinct`) = `value`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManyHeaders {
    pub(crate) count: usize,
    pub(crate) name: String,
    pub(crate) value: String,
    #[serde(default)]
    pub(crate) distinct: bool,
}

/// One row of the table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Row {
    pub(crate) name: String,
    /// What the row probes (for people).
    #[serde(default)]
    pub(crate) why: String,
    #[serde(default = "get")]
    pub(crate) method: String,
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) query: String,
    #[serde(default)]
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) many_headers: Option<ManyHeaders>,
    #[serde(default)]
    pub(crate) body: String,
    /// Add the three signing headers of a valid signature.
    #[serde(default)]
    pub(crate) sign: bool,
    /// HTTP mode: send the body chunked, in chunks of this size.
    pub(crate) chunked: Option<usize>,
    /// HTTP mode: no framing header of our own; the row's headers and body are the framing.
    #[serde(default)]
    pub(crate) raw_framing: bool,
    pub(crate) expect: Option<Expect>,
    pub(crate) session: Option<Expect>,
    pub(crate) db: Option<Expect>,
    pub(crate) http: Option<ModeOverride>,
    pub(crate) lambda: Option<ModeOverride>,
}

fn get() -> String {
    "GET".into()
}

/// What a row expects of one function in one mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expected {
    /// The API's answer: an error body with this code, or a success (code `None`).
    Api(u16, Option<String>),
    /// The HTTP library's own bare answer (docs/api.md §6): no body, no `x-request-id`.
    Bare(u16),
}

impl Row {
    fn mode(&self, mode: Mode) -> Option<&ModeOverride> {
        match mode {
            Mode::Http => self.http.as_ref(),
            Mode::Lambda => self.lambda.as_ref(),
        }
    }

    /// Whether the row runs in `mode`.
    pub(crate) fn runs_in(&self, mode: Mode) -> bool {
        !self.mode(mode).is_some_and(|m| m.skip)
    }

    /// The expected answer of `func` in `mode`: the mode's own expectation first, then the row's.
    pub(crate) fn expected(&self, func: Func, mode: Mode) -> Expected {
        let pick = |session: &Option<Expect>, db: &Option<Expect>, both: &Option<Expect>| {
            match func {
                Func::Session => session.clone(),
                Func::Db => db.clone(),
            }
            .or_else(|| both.clone())
        };
        let over = self.mode(mode);
        if let Some(status) = over.and_then(|m| m.bare) {
            return Expected::Bare(status);
        }
        let chosen = over
            .and_then(|m| pick(&m.session, &m.db, &m.expect))
            .or_else(|| pick(&self.session, &self.db, &self.expect))
            .unwrap_or_else(|| panic!("row {}: no expectation for {}", self.name, func.name()));
        Expected::Api(chosen.0, chosen.1)
    }

    /// The request this row sends to `func` in `mode`, signed with `login` where it asks.
    pub(crate) fn build(&self, func: Func, mode: Mode, login: &Login, vars: &Vars) -> Built {
        let over = self.mode(mode);
        let path = over.and_then(|m| m.path.as_deref()).unwrap_or(&self.path);
        let query = over.and_then(|m| m.query.as_deref()).unwrap_or(&self.query);
        let subst = |s: &str| {
            s.replace("$R", func.route())
                .replace("$CURSOR", &vars.cursor)
        };
        let method = expand(&self.method);
        let path = expand(&subst(path));
        let query = expand(&subst(query));
        let body = expand(&subst(&self.body));
        let signed = Signature::of(login, &method, &path, &query, &body);
        let mut headers = Vec::new();
        if self.sign {
            headers.extend(signed.headers());
        }
        for (name, value) in &self.headers {
            headers.push((expand(name), expand(&signed.fill(value))));
        }
        if let Some(many) = &self.many_headers {
            for i in 0..many.count {
                let name = if many.distinct {
                    format!("{}{i}", many.name)
                } else {
                    many.name.clone()
                };
                headers.push((name.into_bytes(), expand(&many.value)));
            }
        }
        Built {
            method,
            path,
            query,
            headers,
            body,
            chunked: self.chunked,
            raw_framing: self.raw_framing,
        }
    }
}

/// Values the rows refer to that the test makes at start.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    pub(crate) cursor: String,
}

/// A request as bytes, before a mode frames it.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    pub(crate) method: Vec<u8>,
    pub(crate) path: Vec<u8>,
    pub(crate) query: Vec<u8>,
    pub(crate) headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
    pub(crate) chunked: Option<usize>,
    pub(crate) raw_framing: bool,
}

impl Built {
    /// A normal request signed with `login`: what must still work after every row.
    pub(crate) fn signed(
        login: &Login,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Self {
        let s = Signature::of(
            login,
            method.as_bytes(),
            path.as_bytes(),
            query.as_bytes(),
            body,
        );
        Self {
            method: method.as_bytes().to_vec(),
            path: path.as_bytes().to_vec(),
            query: query.as_bytes().to_vec(),
            headers: s.headers().collect(),
            body: body.to_vec(),
            chunked: None,
            raw_framing: false,
        }
    }

    /// An unsigned request with a JSON body.
    pub(crate) fn unsigned(method: &str, path: &str, body: &[u8]) -> Self {
        Self {
            method: method.as_bytes().to_vec(),
            path: path.as_bytes().to_vec(),
            query: Vec::new(),
            headers: vec![(b"content-type".to_vec(), b"application/json".to_vec())],
            body: body.to_vec(),
            chunked: None,
            raw_framing: false,
        }
    }
}

/// The parts of a valid signature of a request.
struct Signature(HashMap<&'static str, String>);

impl Signature {
    fn of(login: &Login, method: &[u8], path: &[u8], query: &[u8], body: &[u8]) -> Self {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let sign = |query: &str| {
            sign_request(
                &login.creds,
                &text(method),
                &text(path),
                query,
                body,
                Timestamp::now(),
            )
        };
        // A query the signer refuses (bad escapes) is refused by the server before it looks
        // at the signature: sign without it.
        let h = sign(&text(query)).or_else(|_| sign("")).expect("sign");
        let auth = h.authorization.expose().to_owned();
        let sig = auth
            .rsplit_once("Signature=")
            .map(|(_, s)| s.to_owned())
            .unwrap_or_default();
        Self(HashMap::from([
            ("$AUTH", auth),
            ("$DATE", h.date.clone()),
            ("$TOKEN", h.security_token.expose().to_owned()),
            ("$KEYID", login.creds.access_key_id.clone()),
            ("$SIG", sig),
        ]))
    }

    fn headers(&self) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
        [
            ("authorization", "$AUTH"),
            ("x-miniapp-date", "$DATE"),
            ("x-miniapp-security-token", "$TOKEN"),
        ]
        .into_iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), self.0[v].clone().into_bytes()))
    }

    fn fill(&self, value: &str) -> String {
        // `$AUTH` before `$SIG` etc. cannot clash: no placeholder is a prefix of another.
        self.0
            .iter()
            .fold(value.to_owned(), |v, (k, real)| v.replace(k, real))
    }
}

/// Expands `<<xHH..>>` and `<<N*TEXT>>`; everything else is copied as UTF-8.
pub(crate) fn expand(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("<<") {
        out.extend_from_slice(&rest.as_bytes()[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find(">>")
            .unwrap_or_else(|| panic!("unclosed << in {s:?}"));
        let directive = &after[..end];
        if let Some(hex) = directive.strip_prefix('x') {
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .unwrap_or_else(|e| panic!("bad <<x..>> in {s:?}: {e}"));
            out.extend(bytes);
        } else {
            let (n, text) = directive
                .split_once('*')
                .unwrap_or_else(|| panic!("bad <<..>> in {s:?}"));
            let n: usize = n
                .parse()
                .unwrap_or_else(|e| panic!("bad count in {s:?}: {e}"));
            out.extend(text.repeat(n).into_bytes());
        }
        rest = &after[end + 2..];
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

/// Reads the table.
pub(crate) fn rows() -> Vec<Row> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hostile/rows.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rows: Vec<Row> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rows.len(), "row names must be unique");
    rows
}

#[test]
fn expansion() {
    assert_eq!(expand("a<<xFF00>>b"), b"a\xff\x00b");
    assert_eq!(expand("<<3*ab>>!"), b"ababab!");
    assert_eq!(expand("plain"), b"plain");
}
