//! The floor: a function that answers every request with `200 ok` through the same runtime
//! code as `session` and `db` (`miniapp_shared::runtime::run`: Lambda mode or HTTP-server mode,
//! logging, request ids, panic capture). What the real functions cost on top of it is theirs.

use std::convert::Infallible;
use std::future::Future;
use std::process::ExitCode;

use http::StatusCode;
use miniapp_shared::http::{Handler, Request, Response};
use miniapp_shared::runtime;

/// Answers `ok` to anything.
struct Floor;

impl Handler for Floor {
    fn call(&self, _req: Request) -> impl Future<Output = Response> + Send {
        let mut response = Response::new(StatusCode::OK);
        response.body = "ok".into();
        std::future::ready(response)
    }
}

fn main() -> ExitCode {
    runtime::run("floor", runtime::Load::Computes, || async {
        Ok::<_, Infallible>(Floor)
    })
}
