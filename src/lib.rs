//! lockdown: lock down a Microsoft Entra ID account through Microsoft Graph.
//!
//! The binary (`src/main.rs`) is a thin shell over this library so that the integration
//! tests and the benchmark can start the emulated tenant in-process.

pub mod address;
pub mod auth;
pub mod cli;
pub mod cloud;
pub mod commands;
pub mod emulator;
pub mod engine;
pub mod error;
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
