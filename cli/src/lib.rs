//! `miniapp`: the local emulator (`miniapp dev`) and a small client of the deployed or local
//! API (`login`, `refresh`, `sign`, `curl`).
//!
//! The emulator reads a SAM template ([`template`]), and [`dev`] runs it: it decides the
//! store and gateway, builds the functions and starts the [`emulator`], which routes requests
//! as API Gateway HTTP APIs do, turns them into payload format 2.0 events and runs each
//! function's real binary in Lambda mode. [`state_dir`] is the `.miniapp/` folder both the
//! emulator and the client commands ([`sign`]) keep their files in.

pub mod app_files;
pub mod cli;
pub mod dev;
pub mod emulator;
pub mod sign;
pub mod state_dir;
pub mod template;
