//! The local emulator: an HTTP front ([`gateway`]) that turns requests into API Gateway
//! HTTP API 2.0 events, pools of function processes ([`pool`]), and the Lambda Runtime API
//! each process talks to ([`runtime_api`]).

pub mod gateway;
pub mod pool;
pub mod runtime_api;
