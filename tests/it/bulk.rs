//! Bulk runs against Graph's enforced limits: pacing instead of collisions, batching.

use crate::support::Tenant;

#[test]
fn a_run_past_the_write_budget_is_paced_without_a_single_429() {
    // 700 users x (3 user writes + 2 device writes) = 3,500 writes: 500 more than the app's
    // write bucket holds, so the run must wait for it to refill.
    let users = 700;
    let t = Tenant::bulk(users, 2, 200.0);
    let run = t.block_bulk(users, &[]);
    run.assert_code(0);
    let lines = run.lines();
    assert_eq!(lines.len(), users);
    assert!(lines.iter().all(|l| l["outcome"] == "locked"));
    let requests = t.emu.requests();
    let writes = requests
        .iter()
        .filter(|r| r.is_write() && r.status < 300)
        .count();
    assert_eq!(writes, users * 5);
    assert_eq!(
        requests.iter().filter(|r| r.status == 429).count(),
        0,
        "paced, not throttled"
    );
    // Many users per call: batches carry operations of different users.
    let calls = requests.iter().filter(|r| !r.in_batch).count();
    let operations = requests.iter().filter(|r| r.in_batch).count();
    assert!(
        operations > 3 * calls,
        "{operations} operations in {calls} calls"
    );
    assert!(!t.user("user00700@contoso.com").account_enabled);
}
