//! A function binary in Lambda mode behind its own Runtime API test server: the harness of
//! every Lambda-mode test.

use serde_json::Value;
use test_support::process::{Launch, Proc};
use test_support::runtime_api::{PostKind, Posted, RuntimeApi, Scripted};

use crate::binary;

/// One function process polling its own Runtime API server.
pub struct LambdaFunction {
    /// The Runtime API server (push events, read what the function posts).
    pub api: RuntimeApi,
    /// The function's process.
    pub proc: Proc,
    next_id: u32,
    name: &'static str,
}

impl LambdaFunction {
    /// Starts `name` with `env`, its Runtime API at the server's root.
    pub async fn spawn(name: &'static str, env: &[(String, String)]) -> Self {
        Self::spawn_at(name, env, "").await
    }

    /// Starts `name` with `env`, its Runtime API under `base_path` (Lambda's variable may
    /// carry one).
    pub async fn spawn_at(name: &'static str, env: &[(String, String)], base_path: &str) -> Self {
        let api = RuntimeApi::start(base_path).await;
        let proc = Launch::new(binary(name))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", api.url())
            .spawn();
        Self {
            api,
            proc,
            next_id: 0,
            name,
        }
    }

    /// One invocation, whatever it ends as: its request id and what the function posted.
    pub async fn post(&mut self, event: &Value) -> (String, Posted) {
        self.next_id += 1;
        let id = format!("{}-req-{}", self.name, self.next_id);
        self.api.push(Scripted::event(&id, event));
        (id, self.api.next_post().await)
    }

    /// One invocation that must end in a response: its request id and the 2.0 response.
    pub async fn invoke(&mut self, event: &Value) -> (String, Value) {
        let (id, post) = self.post(event).await;
        assert_eq!(
            post.kind,
            PostKind::Response(id.clone()),
            "{:?}",
            String::from_utf8_lossy(&post.body)
        );
        (id, post.json())
    }
}
