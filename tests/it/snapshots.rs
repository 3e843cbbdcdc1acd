//! What people read, pinned: reports, hints, errors and help. Values that change from run to
//! run (GUIDs, times, ports) are normalized first.

use insta::assert_snapshot;

use crate::support::{normalize, Cmd, Tenant};

#[test]
fn text_report_of_a_synced_account() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .args(["block", "--yes", "grady@contoso.com"])
        .run();
    run.assert_code(1);
    assert_snapshot!("synced_account_text", normalize(&run.stdout));
}

#[test]
fn text_report_of_a_dry_run() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .args(["block", "--dry-run", "adele@contoso.com"])
        .run();
    run.assert_code(0);
    assert_snapshot!("dry_run_text", normalize(&run.stdout));
}

#[test]
fn no_credentials_error() {
    let run = Cmd::bare()
        .args(["block", "--yes", "adele@contoso.com"])
        .run();
    assert_snapshot!("no_credentials_stderr", normalize(&run.stderr));
}

#[test]
fn block_help() {
    let run = Cmd::bare().args(["block", "--help"]).run();
    assert_snapshot!("block_help", run.stdout);
}

#[test]
fn unblock_help() {
    let run = Cmd::bare().args(["unblock", "--help"]).run();
    assert_snapshot!("unblock_help", run.stdout);
}

#[test]
fn sandbox_help() {
    let run = Cmd::bare().args(["sandbox", "--help"]).run();
    assert_snapshot!("sandbox_help", run.stdout);
}
