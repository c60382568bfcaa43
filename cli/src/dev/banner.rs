//! The banner `miniapp dev` prints once everything runs: the API URL, the functions and their
//! routes, the store, the Alipay gateway, WeChat, where the logs go, and commands to try.
//!
//! Tests read it (tests/support/dev_banner.rs): the `API` line and the closing "Ctrl-C stops"
//! line keep their form.

use super::policy::{DevStore, GatewayMode};
use super::start::Running;
use super::{DevOptions, Plan};

pub(super) fn print_banner(opts: &DevOptions, plan: &Plan, running: &Running, url: &str) {
    let out = &running.gateway.output;
    for line in banner_lines(opts, plan, running, url) {
        out.line(&line);
    }
}

fn banner_lines(opts: &DevOptions, plan: &Plan, running: &Running, url: &str) -> Vec<String> {
    let mut lines = vec![
        format!("miniapp dev: {}", opts.template.display()),
        String::new(),
        format!("  API         {url}"),
    ];
    if running.gateway.app.is_some() {
        lines.push(format!("  App         {url}{}/", crate::app_files::PREFIX));
    }
    lines.extend(function_lines(plan, running));
    lines.push(format!("  Store       {}", store_text(&plan.store)));
    lines.extend(alipay_lines(opts, &plan.gateway, running));
    lines.extend(wechat_lines(&plan.wechat, running));
    lines.push(format!(
        "  Logs        {}/<function>.log{}",
        plan.state.log_dir().display(),
        if opts.quiet { "" } else { ", and below" }
    ));
    lines.extend(try_lines(url));
    lines
}

/// One line per function: its name, binary, timeout and routes.
fn function_lines(plan: &Plan, running: &Running) -> Vec<String> {
    let routes = &running.gateway.routes;
    plan.template
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let keys = routes.keys_of(i).join(", ");
            let label = if i == 0 { "Functions" } else { "" };
            format!(
                "  {label:<11} {} ({}, timeout {} s): {keys}",
                f.logical_id,
                f.binary,
                f.timeout.as_secs()
            )
        })
        .collect()
}

fn store_text(store: &DevStore) -> String {
    match store {
        DevStore::Embedded(path) => format!("embedded, {path}"),
        DevStore::DynamoDb { endpoint: Some(e) } => {
            format!("DynamoDB at {e} (tables created if missing)")
        }
        DevStore::DynamoDb { endpoint: None } => "DynamoDB on AWS (--allow-remote)".to_owned(),
    }
}

fn alipay_lines(opts: &DevOptions, gateway: &GatewayMode, running: &Running) -> Vec<String> {
    let mode = if opts.alipay_cert_mode {
        "certificate mode, synthetic certificates"
    } else {
        "public-key mode"
    };
    match (gateway, &running.standin) {
        (GatewayMode::Real(u), _) => vec![format!("  Alipay      {u}")],
        (GatewayMode::Standin, Some(s)) => vec![
            format!("  Alipay      built-in stand-in at {} ({mode})", s.url()),
            "  Auth codes  dev-alice, dev-bob, dev-user-<name> (any [a-z0-9]{1,32}): sign in"
                .to_owned(),
            "              dev-invalid: refused (401 AuthCodeInvalid)".to_owned(),
        ],
        (GatewayMode::Standin, None) => Vec::new(),
    }
}

fn wechat_lines(wechat: &GatewayMode, running: &Running) -> Vec<String> {
    match (wechat, &running.wechat) {
        (GatewayMode::Real(u), _) => vec![format!("  WeChat      {u}")],
        (GatewayMode::Standin, Some(s)) => vec![
            format!("  WeChat      built-in stand-in at {}", s.url()),
            "  WeChat codes dev-wx-<name> (any [a-z0-9]{1,32}): sign in as wechat:dev-wx-openid-<name>"
                .to_owned(),
            "              with {\"provider\":\"wechat\",\"code\":...}; dev-wx-invalid, dev-wx-used: 401;"
                .to_owned(),
            "              dev-wx-ratelimited, dev-wx-busy: 503 UpstreamBusy; dev-wx-blocked: 502"
                .to_owned(),
        ],
        (GatewayMode::Standin, None) => Vec::new(),
    }
}

fn try_lines(url: &str) -> Vec<String> {
    vec![
        String::new(),
        "Try:".to_owned(),
        format!(
            "  curl -s -X POST {url}/session -H 'content-type: application/json' -d '{{\"authCode\":\"dev-alice\"}}'"
        ),
        format!("  miniapp login dev-alice --url {url} && miniapp curl GET /db/todos"),
        String::new(),
        "Ctrl-C stops everything.".to_owned(),
    ]
}
