//! Reads a SAM `template.yaml`: parameters and their defaults, the functions (binary, timeout,
//! memory, environment), their HttpApi routes and the DynamoDB tables.
//!
//! Intrinsic functions are resolved here, once: `!Ref` (parameters, pseudo parameters,
//! resources), `!Sub` with `${Name}` / `${Res.Attr}` / `${!Literal}`, `!GetAtt X.Arn`,
//! `!Join`, and their long forms (`Ref`, `Fn::Sub`, `Fn::GetAtt`, `Fn::Join`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_norway::{Mapping, Value};
use thiserror::Error;

/// SAM's default function timeout, in seconds.
const DEFAULT_TIMEOUT_SECS: u64 = 3;
/// SAM's default function memory, in MB.
const DEFAULT_MEMORY_MB: u64 = 128;
/// The account id of every fake ARN and of the events' request context.
pub const LOCAL_ACCOUNT_ID: &str = "123456789012";

/// Why a template could not be read.
#[derive(Debug, Error)]
pub enum TemplateError {
    #[error("cannot read template {path:?}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("template {path:?} is not valid YAML: {source}")]
    Yaml {
        path: String,
        source: serde_norway::Error,
    },
    #[error("template has no Resources mapping")]
    NoResources,
    #[error("--parameter-overrides names {0:?}, which the template's Parameters do not declare")]
    UnknownOverride(String),
    #[error("parameter {0:?} has no Default and no override (give --parameter-overrides {0}=...)")]
    MissingParameter(String),
    #[error("{at}: !Ref {name:?} names no parameter, pseudo parameter or resource")]
    UnknownRef { at: String, name: String },
    #[error(
        "{at}: unsupported value {value} (supported: strings, numbers, !Ref, !Sub, !GetAtt, !Join)"
    )]
    Unsupported { at: String, value: String },
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
    #[error("{function}: event {event:?} has Method {method:?}, not an HTTP method or ANY")]
    BadMethod {
        function: String,
        event: String,
        method: String,
    },
    #[error("{function}: event {event:?} has Path {path:?}, which does not start with '/'")]
    BadPath {
        function: String,
        event: String,
        path: String,
    },
}

/// A template, resolved: every value is a plain string.
#[derive(Debug, Clone)]
pub struct Template {
    /// The final value of every parameter (default or override) that has one.
    pub parameters: BTreeMap<String, String>,
    /// Serverless functions in logical-id order.
    pub functions: Vec<Function>,
    /// DynamoDB tables: logical id → table name.
    pub tables: BTreeMap<String, String>,
}

/// One `AWS::Serverless::Function`.
#[derive(Debug, Clone)]
pub struct Function {
    /// The logical id, e.g. `SessionFunction`.
    pub logical_id: String,
    /// The cargo binary that implements it (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    /// Per-invocation timeout (`Timeout`, Globals apply).
    pub timeout: Duration,
    /// `MemorySize` in MB (Globals apply).
    pub memory_mb: u64,
    /// `Environment.Variables`, Globals first, resolved.
    pub env: BTreeMap<String, EnvValue>,
    /// Its HttpApi events.
    pub routes: Vec<RouteSpec>,
}

/// One resolved environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvValue {
    pub value: String,
    /// The value came from a parameter the user overrode (not from a template default).
    pub from_override: bool,
}

/// One `Type: HttpApi` event: `Method Path`, or the `$default` catch-all when both are absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Upper case method or `ANY`.
    pub method: String,
    /// `/db/{proxy+}`, or `None` for `$default`.
    pub path: Option<String>,
}

/// Values of the pseudo parameters (`AWS::Region`, ...).
#[derive(Debug, Clone)]
pub struct Pseudo {
    pub region: String,
    pub stack_name: String,
}

impl Default for Pseudo {
    fn default() -> Self {
        Self {
            region: "us-east-1".to_owned(),
            stack_name: "miniapp-dev".to_owned(),
        }
    }
}

impl Template {
    /// Reads and resolves the template at `path`.
    pub fn load(
        path: &Path,
        overrides: &BTreeMap<String, String>,
        pseudo: &Pseudo,
    ) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, overrides, pseudo).map_err(|e| match e {
            TemplateError::Yaml { source, .. } => TemplateError::Yaml {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Parses and resolves template text.
    pub fn parse(
        text: &str,
        overrides: &BTreeMap<String, String>,
        pseudo: &Pseudo,
    ) -> Result<Self, TemplateError> {
        let doc: Value = serde_norway::from_str(text).map_err(|source| TemplateError::Yaml {
            path: "<text>".to_owned(),
            source,
        })?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or(TemplateError::NoResources)?;
        let parameters = read_parameters(doc.get("Parameters"), overrides)?;
        let resolver = Resolver {
            parameters: &parameters,
            overridden: overrides.keys().cloned().collect(),
            resources,
            pseudo,
        };
        let tables = read_tables(resources, &resolver)?;
        let globals = doc.get("Globals").and_then(|g| g.get("Function"));
        let functions = read_functions(resources, globals, &resolver)?;
        Ok(Self {
            parameters: parameters
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect(),
            functions,
            tables,
        })
    }
}

/// Parameter values: the default, replaced by an override; `None` when neither exists.
fn read_parameters(
    params: Option<&Value>,
    overrides: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Option<String>>, TemplateError> {
    let mut out = BTreeMap::new();
    if let Some(map) = params.and_then(Value::as_mapping) {
        for (name, spec) in map {
            let Some(name) = name.as_str() else { continue };
            let default = spec.get("Default").and_then(scalar_text);
            out.insert(name.to_owned(), default);
        }
    }
    for (name, value) in overrides {
        match out.get_mut(name) {
            Some(slot) => *slot = Some(value.clone()),
            None => return Err(TemplateError::UnknownOverride(name.clone())),
        }
    }
    Ok(out)
}

/// The text of a YAML scalar (strings, numbers, booleans).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn resource_type(res: &Value) -> &str {
    res.get("Type").and_then(Value::as_str).unwrap_or("")
}

fn read_tables(
    resources: &Mapping,
    resolver: &Resolver<'_>,
) -> Result<BTreeMap<String, String>, TemplateError> {
    let mut tables = BTreeMap::new();
    for (id, res) in resources {
        let Some(id) = id.as_str() else { continue };
        if is_table(res) {
            tables.insert(id.to_owned(), resolver.table_name(id, res)?.value);
        }
    }
    Ok(tables)
}

fn is_table(res: &Value) -> bool {
    matches!(
        resource_type(res),
        "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable"
    )
}

fn read_functions(
    resources: &Mapping,
    globals: Option<&Value>,
    resolver: &Resolver<'_>,
) -> Result<Vec<Function>, TemplateError> {
    let mut functions = Vec::new();
    for (id, res) in resources {
        let Some(id) = id.as_str() else { continue };
        if resource_type(res) == "AWS::Serverless::Function" {
            functions.push(read_function(id, res, globals, resolver)?);
        }
    }
    functions.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    Ok(functions)
}

fn read_function(
    id: &str,
    res: &Value,
    globals: Option<&Value>,
    resolver: &Resolver<'_>,
) -> Result<Function, TemplateError> {
    let props = res.get("Properties");
    let setting = |key: &str| {
        props
            .and_then(|p| p.get(key))
            .or_else(|| globals.and_then(|g| g.get(key)))
    };
    let timeout = positive_int(setting("Timeout"), id, "Timeout")?.unwrap_or(DEFAULT_TIMEOUT_SECS);
    let memory_mb =
        positive_int(setting("MemorySize"), id, "MemorySize")?.unwrap_or(DEFAULT_MEMORY_MB);
    Ok(Function {
        logical_id: id.to_owned(),
        binary: binary_name(id, res),
        timeout: Duration::from_secs(timeout),
        memory_mb,
        env: read_env(id, [globals, props], resolver)?,
        routes: read_routes(id, props)?,
    })
}

/// `Environment.Variables` of the Globals, then of the function (which wins), resolved.
fn read_env(
    id: &str,
    sources: [Option<&Value>; 2],
    resolver: &Resolver<'_>,
) -> Result<BTreeMap<String, EnvValue>, TemplateError> {
    let mut env = BTreeMap::new();
    for source in sources {
        let vars = source
            .and_then(|s| s.get("Environment"))
            .and_then(|e| e.get("Variables"))
            .and_then(Value::as_mapping);
        for (name, value) in vars.into_iter().flatten() {
            let Some(name) = name.as_str() else { continue };
            let at = format!("{id}.Environment.Variables.{name}");
            env.insert(name.to_owned(), resolver.resolve(value, &at)?);
        }
    }
    Ok(env)
}

/// A positive integer setting such as `Timeout: 10`; `None` when absent.
fn positive_int(v: Option<&Value>, id: &str, key: &str) -> Result<Option<u64>, TemplateError> {
    let Some(v) = v else { return Ok(None) };
    let n = v
        .as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()));
    match n {
        Some(n) if n > 0 => Ok(Some(n)),
        _ => Err(TemplateError::Invalid {
            at: format!("{id}.{key}"),
            message: format!("{} is not a positive integer", yaml_inline(v)),
        }),
    }
}

/// `Metadata.BuildProperties.Binary`, else the logical id without a `Function` suffix, lower
/// case (`SessionFunction` → `session`).
fn binary_name(id: &str, res: &Value) -> String {
    let explicit = res
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str);
    match explicit {
        Some(b) => b.to_owned(),
        None => id.strip_suffix("Function").unwrap_or(id).to_lowercase(),
    }
}

fn read_routes(id: &str, props: Option<&Value>) -> Result<Vec<RouteSpec>, TemplateError> {
    let mut routes = Vec::new();
    let events = props
        .and_then(|p| p.get("Events"))
        .and_then(Value::as_mapping);
    for (name, event) in events.into_iter().flatten() {
        let name = name.as_str().unwrap_or("?");
        if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
            continue;
        }
        let p = event.get("Properties");
        let path = p.and_then(|p| p.get("Path")).and_then(Value::as_str);
        let method = p.and_then(|p| p.get("Method")).and_then(Value::as_str);
        routes.push(route_spec(id, name, method, path)?);
    }
    Ok(routes)
}

fn route_spec(
    function: &str,
    event: &str,
    method: Option<&str>,
    path: Option<&str>,
) -> Result<RouteSpec, TemplateError> {
    let method = method.unwrap_or("ANY").to_ascii_uppercase();
    let known = [
        "ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS",
    ];
    if !known.contains(&method.as_str()) {
        return Err(TemplateError::BadMethod {
            function: function.to_owned(),
            event: event.to_owned(),
            method,
        });
    }
    if let Some(p) = path {
        if !p.starts_with('/') {
            return Err(TemplateError::BadPath {
                function: function.to_owned(),
                event: event.to_owned(),
                path: p.to_owned(),
            });
        }
    }
    Ok(RouteSpec {
        method,
        path: path.map(str::to_owned),
    })
}

/// A value shown in one line for error messages.
fn yaml_inline(v: &Value) -> String {
    serde_norway::to_string(v)
        .map(|s| s.trim().replace('\n', " "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// Resolves intrinsic functions against the parameters, pseudo parameters and resources.
struct Resolver<'a> {
    parameters: &'a BTreeMap<String, Option<String>>,
    overridden: BTreeSet<String>,
    resources: &'a Mapping,
    pseudo: &'a Pseudo,
}

impl Resolver<'_> {
    /// Any value to its string.
    fn resolve(&self, v: &Value, at: &str) -> Result<EnvValue, TemplateError> {
        if let Some(text) = scalar_text(v) {
            return Ok(plain(text));
        }
        match v {
            Value::Null => Ok(plain(String::new())),
            Value::Tagged(t) => {
                let tag = t.tag.to_string();
                self.intrinsic(tag.trim_start_matches('!'), &t.value, at)
            }
            Value::Mapping(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().ok_or_else(|| unsupported(at, v))?;
                let name = k.as_str().ok_or_else(|| unsupported(at, v))?;
                let short = name.strip_prefix("Fn::").unwrap_or(name);
                self.intrinsic(short, arg, at).map_err(|e| match e {
                    TemplateError::Unsupported { .. } => unsupported(at, v),
                    other => other,
                })
            }
            _ => Err(unsupported(at, v)),
        }
    }

    fn intrinsic(&self, name: &str, arg: &Value, at: &str) -> Result<EnvValue, TemplateError> {
        match (name, arg) {
            ("Ref", Value::String(s)) => self.reference(s, at),
            ("Sub", Value::String(s)) => self.sub(s, &Mapping::new(), at),
            ("Sub", Value::Sequence(seq)) => match (seq.first(), seq.get(1)) {
                (Some(Value::String(s)), Some(Value::Mapping(vars))) => self.sub(s, vars, at),
                _ => Err(unsupported(at, arg)),
            },
            ("GetAtt", Value::String(s)) => self.get_att(s, at),
            ("GetAtt", Value::Sequence(seq)) => {
                let parts: Vec<&str> = seq.iter().filter_map(Value::as_str).collect();
                self.get_att(&parts.join("."), at)
            }
            ("Join", Value::Sequence(seq)) => self.join(seq, at),
            _ => Err(unsupported(at, arg)),
        }
    }

    fn reference(&self, name: &str, at: &str) -> Result<EnvValue, TemplateError> {
        if let Some(value) = self.parameters.get(name) {
            return match value {
                Some(v) => Ok(EnvValue {
                    value: v.clone(),
                    from_override: self.overridden.contains(name),
                }),
                None => Err(TemplateError::MissingParameter(name.to_owned())),
            };
        }
        if let Some(v) = self.pseudo_parameter(name) {
            return Ok(plain(v));
        }
        match self.resources.get(name) {
            Some(res) if is_table(res) => self.table_name(name, res),
            Some(_) => Ok(plain(name.to_owned())),
            None => Err(TemplateError::UnknownRef {
                at: at.to_owned(),
                name: name.to_owned(),
            }),
        }
    }

    fn pseudo_parameter(&self, name: &str) -> Option<String> {
        let v = match name {
            "AWS::Region" => self.pseudo.region.as_str(),
            "AWS::AccountId" => LOCAL_ACCOUNT_ID,
            "AWS::StackName" => self.pseudo.stack_name.as_str(),
            "AWS::StackId" => return Some(self.arn("cloudformation", "stack/local/0")),
            "AWS::Partition" => "aws",
            "AWS::URLSuffix" => "amazonaws.com",
            "AWS::NoValue" => "",
            _ => return None,
        };
        Some(v.to_owned())
    }

    /// A table's `Ref`: its `TableName` property, else its logical id.
    fn table_name(&self, id: &str, res: &Value) -> Result<EnvValue, TemplateError> {
        match res.get("Properties").and_then(|p| p.get("TableName")) {
            Some(name) => self.resolve(name, &format!("{id}.Properties.TableName")),
            None => Ok(plain(id.to_owned())),
        }
    }

    /// `!GetAtt X.Arn` (and any other attribute): a fake local value.
    fn get_att(&self, spec: &str, at: &str) -> Result<EnvValue, TemplateError> {
        let (res, attr) = spec.split_once('.').unwrap_or((spec, "Arn"));
        let Some(resource) = self.resources.get(res) else {
            return Err(TemplateError::UnknownRef {
                at: at.to_owned(),
                name: res.to_owned(),
            });
        };
        let name = if is_table(resource) {
            self.table_name(res, resource)?.value
        } else {
            res.to_owned()
        };
        let value = match (resource_type(resource), attr) {
            ("AWS::DynamoDB::Table", "Arn") => self.arn("dynamodb", &format!("table/{name}")),
            ("AWS::Serverless::Function", "Arn") => self.arn("lambda", &format!("function:{name}")),
            (_, "Arn") => self.arn("local", &name),
            (_, other) => format!("{name}.{other}"),
        };
        Ok(plain(value))
    }

    fn arn(&self, service: &str, rest: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{LOCAL_ACCOUNT_ID}:{rest}",
            self.pseudo.region
        )
    }

    /// `${Name}`, `${Res.Attr}` and `${!Literal}` substitution.
    fn sub(&self, text: &str, vars: &Mapping, at: &str) -> Result<EnvValue, TemplateError> {
        let mut out = String::new();
        let mut from_override = false;
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(TemplateError::Invalid {
                    at: at.to_owned(),
                    message: format!("!Sub {text:?} has an unclosed ${{"),
                });
            };
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else {
                let v = self.sub_variable(name, vars, at)?;
                from_override |= v.from_override;
                out.push_str(&v.value);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(EnvValue {
            value: out,
            from_override,
        })
    }

    fn sub_variable(
        &self,
        name: &str,
        vars: &Mapping,
        at: &str,
    ) -> Result<EnvValue, TemplateError> {
        if let Some(v) = vars.get(name) {
            return self.resolve(v, at);
        }
        if name.contains('.') && !name.starts_with("AWS::") {
            return self.get_att(name, at);
        }
        self.reference(name, at)
    }

    fn join(&self, seq: &[Value], at: &str) -> Result<EnvValue, TemplateError> {
        let (Some(Value::String(delim)), Some(Value::Sequence(items))) = (seq.first(), seq.get(1))
        else {
            return Err(unsupported(at, &Value::Sequence(seq.to_vec())));
        };
        let mut parts = Vec::new();
        let mut from_override = false;
        for item in items {
            let v = self.resolve(item, at)?;
            from_override |= v.from_override;
            parts.push(v.value);
        }
        Ok(EnvValue {
            value: parts.join(delim),
            from_override,
        })
    }
}

fn plain(value: String) -> EnvValue {
    EnvValue {
        value,
        from_override: false,
    }
}

fn unsupported(at: &str, v: &Value) -> TemplateError {
    TemplateError::Unsupported {
        at: at.to_owned(),
        value: yaml_inline(v),
    }
}

/// Parses `K=V` pairs (from flags or a file); later pairs win.
pub fn parse_overrides<'a>(
    pairs: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>, TemplateError> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(TemplateError::Invalid {
                at: "--parameter-overrides".to_owned(),
                message: format!("{pair:?} is not KEY=VALUE"),
            });
        };
        out.insert(k.trim().to_owned(), v.to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  AppId:
    Type: String
    Default: "2021000000000000"
  Stage:
    Type: String
    Default: dev
  Secret:
    Type: String
  Ttl:
    Type: Number
    Default: 3600
Globals:
  Function:
    Timeout: 10
    MemorySize: 256
    Environment:
      Variables:
        APP_ID: !Ref AppId
        SHARED: global
Resources:
  Sessions:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-sessions-${Stage}"
  Data:
    Type: AWS::DynamoDB::Table
  SessionFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: makefile
      BuildProperties:
        Binary: session
    Properties:
      Timeout: 5
      Environment:
        Variables:
          SHARED: mine
          TABLE: !Ref Sessions
          DATA: {Ref: Data}
          ARN: !GetAtt Sessions.Arn
          TTL: !Ref Ttl
          REGION: !Ref AWS::Region
          LONG: {"Fn::Sub": "${AppId}/${!Literal}"}
          JOINED: !Join [",", [a, !Ref Stage]]
      Events:
        Create:
          Type: HttpApi
          Properties: {Path: /session, Method: post}
        Other:
          Type: Schedule
  DbFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Any:
          Type: HttpApi
          Properties: {Path: "/db/{proxy+}", Method: ANY}
"#;

    fn parse(overrides: &[(&str, &str)]) -> Result<Template, TemplateError> {
        let o = overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Template::parse(TEMPLATE, &o, &Pseudo::default())
    }

    fn env<'a>(t: &'a Template, f: &str, k: &str) -> &'a str {
        t.functions
            .iter()
            .find(|x| x.logical_id == f)
            .and_then(|x| x.env.get(k))
            .map(|v| v.value.as_str())
            .unwrap_or("<absent>")
    }

    #[test]
    fn resolves_refs_subs_getatt_and_globals() -> Result<(), TemplateError> {
        let t = parse(&[])?;
        assert_eq!(env(&t, "SessionFunction", "APP_ID"), "2021000000000000");
        assert_eq!(env(&t, "SessionFunction", "SHARED"), "mine");
        assert_eq!(env(&t, "DbFunction", "SHARED"), "global");
        assert_eq!(
            env(&t, "SessionFunction", "TABLE"),
            "miniapp-dev-sessions-dev"
        );
        assert_eq!(env(&t, "SessionFunction", "DATA"), "Data");
        assert_eq!(
            env(&t, "SessionFunction", "ARN"),
            "arn:aws:dynamodb:us-east-1:123456789012:table/miniapp-dev-sessions-dev"
        );
        assert_eq!(env(&t, "SessionFunction", "TTL"), "3600");
        assert_eq!(env(&t, "SessionFunction", "REGION"), "us-east-1");
        assert_eq!(
            env(&t, "SessionFunction", "LONG"),
            "2021000000000000/${Literal}"
        );
        assert_eq!(env(&t, "SessionFunction", "JOINED"), "a,dev");
        assert_eq!(t.tables.get("Data").map(String::as_str), Some("Data"));
        Ok(())
    }

    #[test]
    fn timeouts_memory_binaries_and_routes() -> Result<(), TemplateError> {
        let t = parse(&[])?;
        let [db, session] = t.functions.as_slice() else {
            panic!("two functions expected, got {:?}", t.functions);
        };
        assert_eq!(
            (db.binary.as_str(), db.timeout.as_secs(), db.memory_mb),
            ("db", 10, 256)
        );
        assert_eq!(
            (session.binary.as_str(), session.timeout.as_secs()),
            ("session", 5)
        );
        assert_eq!(
            session.routes,
            vec![RouteSpec {
                method: "POST".into(),
                path: Some("/session".into())
            }]
        );
        assert_eq!(db.routes[0].path.as_deref(), Some("/db/{proxy+}"));
        assert_eq!(db.routes[0].method, "ANY");
        Ok(())
    }

    #[test]
    fn overrides_replace_defaults_and_are_marked() -> Result<(), TemplateError> {
        let t = parse(&[("AppId", "999"), ("Stage", "test")])?;
        let v = &t.functions[1].env["APP_ID"];
        assert_eq!((v.value.as_str(), v.from_override), ("999", true));
        assert_eq!(
            env(&t, "SessionFunction", "TABLE"),
            "miniapp-dev-sessions-test"
        );
        assert!(!t.functions[1].env["SHARED"].from_override);
        Ok(())
    }

    #[test]
    fn unknown_override_and_missing_parameter_are_errors() {
        let e = parse(&[("Nope", "1")]).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("\"Nope\"")));
        let text = TEMPLATE.replace("APP_ID: !Ref AppId", "APP_ID: !Ref Secret");
        let e = Template::parse(&text, &BTreeMap::new(), &Pseudo::default()).err();
        assert!(matches!(e, Some(TemplateError::MissingParameter(p)) if p == "Secret"));
    }

    #[test]
    fn unknown_ref_and_unsupported_intrinsics_are_errors() {
        let text = TEMPLATE.replace("SHARED: global", "SHARED: !Ref Nowhere");
        let e = Template::parse(&text, &BTreeMap::new(), &Pseudo::default()).err();
        assert!(matches!(e, Some(TemplateError::UnknownRef { name, .. }) if name == "Nowhere"));
        let text = TEMPLATE.replace("SHARED: global", "SHARED: !If [a, b, c]");
        let e = Template::parse(&text, &BTreeMap::new(), &Pseudo::default()).err();
        assert!(
            matches!(e, Some(TemplateError::Unsupported { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn bad_timeout_is_an_error() {
        let text = TEMPLATE.replace("Timeout: 5", "Timeout: soon");
        let e = Template::parse(&text, &BTreeMap::new(), &Pseudo::default()).err();
        assert!(e.is_some_and(|e| e.to_string().contains("soon")));
    }

    #[test]
    fn override_pairs_parse() {
        let o = parse_overrides(["A=1", "B=x=y", "A=2"])
            .ok()
            .unwrap_or_default();
        assert_eq!(o.get("A").map(String::as_str), Some("2"));
        assert_eq!(o.get("B").map(String::as_str), Some("x=y"));
        assert!(parse_overrides(["novalue"]).is_err());
    }
}
