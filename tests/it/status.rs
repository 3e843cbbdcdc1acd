//! `lockdown status`: read-only, one JSON object per user.

use crate::support::Tenant;

#[test]
fn shows_the_user_and_devices_without_writing() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .args([
            "status",
            "-o",
            "json",
            "adele@contoso.com",
            "nobody@contoso.com",
        ])
        .run();
    run.assert_code(1);
    let lines = run.lines();
    assert_eq!(lines.len(), 2);
    let adele = lines
        .iter()
        .find(|l| l["target"] == "adele@contoso.com")
        .unwrap();
    assert_eq!(adele["outcome"], "found");
    assert_eq!(adele["accountEnabled"], true);
    assert_eq!(adele["userType"], "Member");
    assert!(adele["signInSessionsValidFromDateTime"].is_string());
    let devices = adele["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    for d in devices {
        assert!(d["displayName"].is_string() && d["operatingSystem"].is_string());
        assert_eq!(d["accountEnabled"], true);
    }
    let nobody = lines
        .iter()
        .find(|l| l["target"] == "nobody@contoso.com")
        .unwrap();
    assert_eq!(nobody["outcome"], "not_found");
    assert!(t.emu.requests().iter().all(|r| r.method == "GET"));
}

#[test]
fn status_of_found_users_exits_0_and_prints_text() {
    let t = Tenant::start();
    let run = t.lockdown().args(["status", "grady@contoso.com"]).run();
    run.assert_code(0);
    assert!(run.stdout.contains("Grady Archie"));
    assert!(
        run.stdout.contains("synced from on-prem: yes"),
        "{}",
        run.stdout
    );
}
