//! Logs go to stderr. `-v` is debug and `-vv` trace for lockdown's own code; `RUST_LOG`
//! overrides. Other crates stay at `warn` unless RUST_LOG says otherwise. No log line ever
//! carries a token, secret or password: request bodies are never logged, and the
//! `Authorization` header is marked sensitive.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn,lockdown=warn",
        1 => "warn,lockdown=debug",
        _ => "warn,lockdown=trace",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(verbose > 1)
        .without_time()
        .try_init();
}
