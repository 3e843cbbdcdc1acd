//! lockdown: lock down a Microsoft Entra ID account through Microsoft Graph.
//!
//! The binary (`src/main.rs`) is a thin shell over this library. The emulated tenant behind
//! `--sandbox`, the integration tests and the benchmark is a crate of its own,
//! `lockdown-emulator` (`crates/lockdown-emulator`), which never imports this one.

pub mod address;
pub mod auth;
pub mod check;
pub mod cli;
pub mod cloud;
pub mod commands;
pub mod docgen;
pub mod endpoint;
pub mod engine;
pub mod error;
pub mod evidence;
pub mod graph;
pub mod hints;
pub mod input;
pub mod logging;
pub mod output;
pub mod password;
pub mod progress;
pub mod report;
pub mod secret;
pub mod signal;
pub mod steps;
pub mod targets;
pub mod watch;
