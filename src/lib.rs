//! lockdown: lock down a Microsoft Entra ID account through Microsoft Graph.
//!
//! The binary (`src/main.rs`) is a thin shell over this library so that the integration
//! tests and the benchmark can start the emulated tenant in-process.

pub mod address;
pub mod emulator;
pub mod input;
pub mod password;
pub mod secret;
