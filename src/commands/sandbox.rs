//! `lockdown sandbox`: serve the emulated tenant on a local port, for trying lockdown by hand
//! and for scripts (the benchmark drives it this way).

use std::time::Duration;

use super::{ExitStatus, Fatal};
use crate::cli::SandboxArgs;
use crate::emulator::{Emulator, EmulatorConfig, FaultKind, FaultRule, Seed};
use crate::signal::Cancel;

pub async fn run(args: &SandboxArgs, cancel: Cancel) -> Result<ExitStatus, Fatal> {
    if !args.listen.ip().is_loopback() {
        return Err(Fatal::usage(
            "the sandbox listens on a loopback address only (e.g. 127.0.0.1:8080)",
        ));
    }
    if !(0.0..=1.0).contains(&args.fault_rate) {
        return Err(Fatal::usage("--fault-rate is a fraction from 0 to 1"));
    }
    if !(args.time_scale > 0.0 && args.time_scale.is_finite()) {
        return Err(Fatal::usage("--time-scale must be a positive number"));
    }
    let mut config = EmulatorConfig {
        latency: Duration::from_millis(args.latency_ms),
        time_scale: args.time_scale,
        throttling: args.throttle,
        ..EmulatorConfig::default()
    };
    if let Some(users) = args.users {
        config.seed = Seed::Bulk {
            users,
            devices_per_user: args.devices_per_user,
        };
    }
    if args.fault_rate > 0.0 {
        config.faults = vec![
            FaultRule {
                kind: FaultKind::ServiceUnavailable {
                    retry_after_secs: None,
                },
                method: None,
                path_contains: None,
                probability: args.fault_rate / 2.0,
                times: None,
            },
            FaultRule {
                kind: FaultKind::GatewayTimeout,
                method: None,
                path_contains: None,
                probability: args.fault_rate / 2.0,
                times: None,
            },
        ];
    }
    let emulator = Emulator::start_on(args.listen, config)
        .await
        .map_err(|e| Fatal::usage(format!("cannot listen on {}: {e}", args.listen)))?;
    // These are the emulator's own tokens: they open nothing but this local server.
    println!("export LOCKDOWN_GRAPH_URL={}", emulator.url());
    println!("export LOCKDOWN_ACCESS_TOKEN={}", emulator.admin_token());
    println!(
        "# app-only token (no /me, no registeredDevices listing, Windows-only device writes):"
    );
    println!("# export LOCKDOWN_ACCESS_TOKEN={}", emulator.app_token());
    eprintln!(
        "sandbox: emulated tenant at {}; Ctrl-C to stop",
        emulator.url()
    );
    cancel.cancelled().await;
    emulator.shutdown();
    Ok(ExitStatus::Success)
}
