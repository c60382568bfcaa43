//! The local emulator: an HTTP front ([`gateway`]) that routes requests as API Gateway HTTP
//! APIs do ([`routes`]) and turns them into payload format 2.0 events ([`event`]), pools of
//! function processes ([`pool`]), the Lambda Runtime API each process talks to
//! ([`runtime_api`]), and what the emulator prints ([`output`]).

pub mod event;
pub mod gateway;
pub mod output;
pub mod pool;
pub mod routes;
pub mod runtime_api;
