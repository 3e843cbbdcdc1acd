//! `lockdown sandbox`: serve the emulated tenant on a local port, for trying lockdown by hand
//! and for scripts (the benchmark drives it this way); and the tenant a `--sandbox` run embeds.
//!
//! Both come from the `lockdown-emulator` crate behind the default-on `sandbox` feature. A build
//! without it keeps the flags, so that using them says "not in this build" rather than "unknown
//! flag".

#[cfg(feature = "sandbox")]
use std::time::Duration;

#[cfg(feature = "sandbox")]
use lockdown_emulator::{Emulator, EmulatorConfig, FaultKind, FaultRule, Seed};
use url::Url;

use super::{ExitStatus, Fatal};
use crate::auth::Credential;
use crate::cli::SandboxArgs;
use crate::signal::Cancel;

/// The emulated tenant a `--sandbox` run keeps alive until it ends.
#[cfg(feature = "sandbox")]
pub type Embedded = Emulator;

/// The emulated tenant a `--sandbox` run would keep alive: none in this build.
#[cfg(not(feature = "sandbox"))]
pub enum Embedded {}

/// Start the embedded Contoso tenant for `--sandbox`: its Graph root, the admin's sign-in, and
/// the emulator to keep alive.
#[cfg(feature = "sandbox")]
pub(super) async fn embedded() -> Result<(Url, Credential, Embedded), Fatal> {
    let emulator = Emulator::start(contoso()).await.map_err(|e| {
        Fatal::caused(
            ExitStatus::Failure,
            "could not start the emulated tenant",
            e,
        )
    })?;
    eprintln!(
        "sandbox: emulated Contoso tenant at {} (nothing leaves this machine)",
        emulator.url()
    );
    let root = crate::graph::parse_root(&emulator.url()).map_err(Fatal::usage)?;
    let credential = Credential::fixed(
        crate::secret::Secret::new(emulator.admin_token()),
        "the sandbox's admin sign-in",
    );
    Ok((root, credential, emulator))
}

/// The sandbox's Contoso: it has run `lockdown setup` (the block group and its enabled
/// policy) and has Microsoft Defender for Identity, so a synced user closes through both routes.
#[cfg(feature = "sandbox")]
fn contoso() -> EmulatorConfig {
    EmulatorConfig {
        lockdown_setup: true,
        defender_for_identity: true,
        ..EmulatorConfig::default()
    }
}

#[cfg(not(feature = "sandbox"))]
pub(super) async fn embedded() -> Result<(Url, Credential, Embedded), Fatal> {
    Err(unavailable())
}

#[cfg(not(feature = "sandbox"))]
pub async fn run(_args: &SandboxArgs, _cancel: Cancel) -> Result<ExitStatus, Fatal> {
    Err(unavailable())
}

/// `--sandbox` or `lockdown sandbox` in a build without the emulator: a usage error (exit 2).
#[cfg(not(feature = "sandbox"))]
fn unavailable() -> Fatal {
    Fatal::usage("this build has no sandbox (it was built without the `sandbox` feature)")
        .with_hint(
            "`cargo install --locked lockdown` installs a build with it; from source, build \
             with the default features (without `--no-default-features`)",
        )
}

#[cfg(feature = "sandbox")]
pub async fn run(args: &SandboxArgs, cancel: Cancel) -> Result<ExitStatus, Fatal> {
    if !args.listen.ip().is_loopback() {
        return Err(Fatal::usage(
            "the sandbox listens on a loopback address only (e.g. 127.0.0.1:8080)",
        ));
    }
    let mut config = EmulatorConfig {
        latency: Duration::from_millis(args.latency_ms),
        time_scale: args.time_scale,
        throttling: args.throttle,
        // A bulk tenant (the benchmark's) has not run setup: its runs measure what they always did.
        lockdown_setup: !args.no_setup && args.users.is_none(),
        ..contoso()
    };
    if let Some(users) = args.users {
        config.seed = Seed::Bulk {
            users: usize::try_from(users)
                .map_err(|_| Fatal::usage("--users is more than this machine can hold"))?,
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
        "# app-only token (no /me; devices found through Intune; Windows-only device writes):"
    );
    println!("# export LOCKDOWN_ACCESS_TOKEN={}", emulator.app_token());
    eprintln!(
        "sandbox: emulated tenant at {}; Ctrl-C to stop",
        emulator.url()
    );
    cancel.cancelled().await;
    emulator.shutdown();
    // Ctrl-C is the only way a server stops: it ends as every interrupted command does.
    Ok(ExitStatus::Interrupted)
}
