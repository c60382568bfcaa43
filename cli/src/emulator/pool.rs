//! A pool of processes for one function: each process serves one invocation at a time through
//! its own emulated Runtime API; the pool grows on demand up to a maximum, and a process that
//! crashed or overran its timeout is killed and left for a fresh one to replace.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use miniapp_shared::config::vars;
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, Semaphore};

use super::output::Output;
use super::runtime_api::{Invocation, Outcome, RuntimeApi, RuntimeApiError};

/// How long a process may take to pick up its first event (Lambda's init phase is separate
/// from the invocation timeout, too). Debug builds creating tables need a few seconds.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an invocation did not produce a payload.
#[derive(Debug, Error)]
pub enum InvokeError {
    #[error("cannot start {binary:?}: {source}")]
    Spawn {
        binary: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    RuntimeApi(#[from] RuntimeApiError),
    #[error("the process exited ({status}) before answering{}", init_note(.init_error))]
    Crashed {
        status: String,
        init_error: Option<String>,
    },
    #[error("no answer within the function's Timeout of {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("the process did not ask for its first event within {} s", .0.as_secs())]
    InitTimeout(Duration),
    #[error("the function reported an error ({})", .error_type.as_deref().unwrap_or("unknown type"))]
    Function {
        error_type: Option<String>,
        body: Bytes,
    },
}

fn init_note(init_error: &Option<String>) -> String {
    init_error
        .as_ref()
        .map(|e| format!("; it failed to start: {e}"))
        .unwrap_or_default()
}

/// What a function process is started with.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The logical id, used in logs and the function ARN.
    pub name: String,
    pub binary: PathBuf,
    /// The complete environment (the process inherits nothing else).
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub memory_mb: u64,
    /// Most processes alive at once.
    pub max_processes: usize,
    /// Account of the fake ARN.
    pub region: String,
}

/// One invocation's result, and whether it needed a new process.
#[derive(Debug)]
pub struct Invoked {
    pub result: Result<Bytes, InvokeError>,
    pub cold: bool,
}

/// A live function process and its private Runtime API.
struct Worker {
    child: Child,
    api: RuntimeApi,
    pid: u32,
}

/// The processes of one function.
pub struct Pool {
    spec: FunctionSpec,
    idle: Mutex<Vec<Worker>>,
    permits: Arc<Semaphore>,
    output: Arc<Output>,
    spawned: AtomicU64,
    closed: AtomicBool,
}

impl Pool {
    /// A pool with no process yet: the first request starts one.
    pub fn new(spec: FunctionSpec, output: Arc<Output>) -> Self {
        let permits = Arc::new(Semaphore::new(spec.max_processes.max(1)));
        Self {
            spec,
            idle: Mutex::new(Vec::new()),
            permits,
            output,
            spawned: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// The function's logical id.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// How many processes this pool has started so far.
    pub fn processes_started(&self) -> u64 {
        self.spawned.load(Ordering::SeqCst)
    }

    /// Runs one event on a free process (waiting for one when all are busy).
    pub async fn invoke(&self, request_id: &str, payload: Bytes) -> Invoked {
        let Ok(_permit) = Arc::clone(&self.permits).acquire_owned().await else {
            return self.closed_result();
        };
        let (mut worker, cold) = match self.checkout().await {
            Ok(w) => w,
            Err(e) => {
                return Invoked {
                    result: Err(e),
                    cold: true,
                }
            }
        };
        let result = self.run(&mut worker, request_id, payload).await;
        match &result {
            Ok(_) | Err(InvokeError::Function { .. }) => self.checkin(worker),
            Err(_) => self.discard(worker).await,
        }
        Invoked { result, cold }
    }

    /// Kills every idle process; busy ones die with their invocation's task.
    pub async fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.permits.close();
        let idle = self
            .idle
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        for worker in idle {
            self.discard(worker).await;
        }
    }

    fn closed_result(&self) -> Invoked {
        let err = InvokeError::RuntimeApi(RuntimeApiError::Closed);
        Invoked {
            result: Err(err),
            cold: false,
        }
    }

    /// A live idle process, or a new one (`true`: cold).
    async fn checkout(&self) -> Result<(Worker, bool), InvokeError> {
        loop {
            let candidate = self.idle.lock().ok().and_then(|mut v| v.pop());
            let Some(mut worker) = candidate else { break };
            match worker.child.try_wait() {
                Ok(None) => return Ok((worker, false)),
                // It died while idle: say so, and try the next one.
                _ => self.output.line(&format!(
                    "  {} | process {} exited while idle; starting a new one",
                    self.spec.name, worker.pid
                )),
            }
        }
        Ok((self.spawn().await?, true))
    }

    fn checkin(&self, worker: Worker) {
        if self.closed.load(Ordering::SeqCst) {
            return; // Dropping kills it (kill_on_drop).
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(worker);
        }
    }

    /// Kills a process and waits for it, so that no zombie is left behind.
    async fn discard(&self, mut worker: Worker) {
        let _ = worker.child.kill().await;
    }

    async fn spawn(&self) -> Result<Worker, InvokeError> {
        let api = RuntimeApi::start().await?;
        let spec = &self.spec;
        let n = self.spawned.fetch_add(1, Ordering::SeqCst) + 1;
        let mut cmd = Command::new(&spec.binary);
        cmd.env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(lambda_variables(spec, &api.address(), n))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| InvokeError::Spawn {
            binary: spec.binary.display().to_string(),
            source,
        })?;
        let pid = child.id().unwrap_or(0);
        if let Some(out) = child.stdout.take() {
            self.forward_logs(out);
        }
        if let Some(err) = child.stderr.take() {
            self.forward_logs(err);
        }
        Ok(Worker { child, api, pid })
    }

    /// Copies a child's output, line by line, to the terminal and its log file.
    fn forward_logs(&self, stream: impl AsyncRead + Unpin + Send + 'static) {
        let output = Arc::clone(&self.output);
        let name = self.spec.name.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                output.function_log(&name, &line);
            }
        });
    }

    /// Hands the event to `worker` and waits for its answer, its death, or the timeout.
    async fn run(
        &self,
        worker: &mut Worker,
        request_id: &str,
        payload: Bytes,
    ) -> Result<Bytes, InvokeError> {
        let (picked_tx, picked_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        worker
            .api
            .submit(Invocation {
                request_id: request_id.to_owned(),
                payload,
                timeout: self.spec.timeout,
                function_arn: self.arn(),
                picked: picked_tx,
                done: done_tx,
            })
            .await?;
        let Worker { child, api, .. } = worker;
        tokio::select! {
            biased;
            Ok(()) = picked_rx => {}
            status = child.wait() => return Err(crashed(status, api)),
            () = tokio::time::sleep(INIT_TIMEOUT) => return Err(InvokeError::InitTimeout(INIT_TIMEOUT)),
        }
        tokio::select! {
            // An answer that arrived just before the process exited still counts.
            biased;
            Ok(outcome) = done_rx => Ok(into_result(outcome)?),
            status = child.wait() => Err(crashed(status, api)),
            () = tokio::time::sleep(self.spec.timeout) => Err(InvokeError::Timeout(self.spec.timeout)),
        }
    }

    fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.spec.region,
            crate::template::LOCAL_ACCOUNT_ID,
            self.spec.name
        )
    }
}

fn into_result(outcome: Outcome) -> Result<Bytes, InvokeError> {
    match outcome {
        Outcome::Response(body) => Ok(body),
        Outcome::Error { error_type, body } => Err(InvokeError::Function { error_type, body }),
    }
}

fn crashed(status: std::io::Result<ExitStatus>, api: &RuntimeApi) -> InvokeError {
    InvokeError::Crashed {
        status: match status {
            Ok(s) => s.to_string(),
            Err(e) => format!("status unknown: {e}"),
        },
        init_error: api.init_error(),
    }
}

/// The variables Lambda sets for every function process.
fn lambda_variables(spec: &FunctionSpec, runtime_api: &str, n: u64) -> Vec<(String, String)> {
    let dir = spec
        .binary
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    [
        (vars::AWS_LAMBDA_RUNTIME_API, runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", spec.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/{n}")),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
        ("LAMBDA_TASK_ROOT", dir),
        ("_HANDLER", "bootstrap".to_owned()),
        ("TZ", ":UTC".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
