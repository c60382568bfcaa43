//! `miniapp`: the local emulator (`miniapp dev`) and a small client of the deployed or local
//! API (`login`, `refresh`, `sign`, `curl`).
//!
//! The emulator reads a SAM template ([`template`]), routes requests as API Gateway HTTP APIs
//! do ([`routes`]), turns them into payload format 2.0 events ([`event`]) and runs each
//! function's real binary in Lambda mode ([`emulator`]).

pub mod app_files;
pub mod cli;
pub mod dev;
pub mod devenv;
pub mod emulator;
pub mod event;
pub mod output;
pub mod routes;
pub mod sign;
pub mod template;
