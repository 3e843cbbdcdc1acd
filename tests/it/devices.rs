//! Devices from two places: the user's registered devices and their Intune managed devices,
//! merged by the Entra `deviceId`. Application tokens find devices through Intune; a tenant
//! without Intune falls back to registered devices and says so once; `--with lock-devices`
//! sends Intune's remote lock.

use lockdown_emulator::{EmulatorConfig, TokenKind, TokenSpec};
use serde_json::{json, Value};

use crate::support::{status_of, step, Run, Tenant};

fn block_as(t: &Tenant, token: &str, args: &[&str]) -> Run {
    t.lockdown()
        .env("LOCKDOWN_ACCESS_TOKEN", token)
        .args(["block", "--yes", "-o", "json"])
        .args(args)
        .run()
}

fn user<'a>(run: &'a [Value], target: &str) -> &'a Value {
    run.iter()
        .find(|l| l["target"] == target)
        .unwrap_or_else(|| panic!("no line for {target}: {run:#?}"))
}

fn devices(u: &Value) -> &Vec<Value> {
    step(u, "disable_devices")["devices"]
        .as_array()
        .unwrap_or_else(|| panic!("no devices: {u:#}"))
}

fn device<'a>(u: &'a Value, name: &str) -> &'a Value {
    devices(u)
        .iter()
        .find(|d| d["displayName"] == name)
        .unwrap_or_else(|| panic!("no device {name}: {u:#}"))
}

fn app_token(t: &Tenant, permissions: &[&str]) -> String {
    t.emu.issue_token(TokenSpec {
        kind: TokenKind::AppOnly,
        permissions: permissions.iter().map(|p| p.to_string()).collect(),
        directory_roles: vec!["User Administrator".into()],
    })
}

/// The app-only token of the sandbox, without the Intune permissions.
const NO_INTUNE_PERMISSION: &[&str] = &[
    "User.Read.All",
    "User.EnableDisableAccount.All",
    "User.RevokeSessions.All",
    "User-PasswordProfile.ReadWrite.All",
    "Device.ReadWrite.All",
    "Directory.Read.All",
];

#[test]
fn an_application_finds_devices_through_intune_and_disables_them_by_device_id() {
    let t = Tenant::start();
    let lynne = t.user("lynne@contoso.com");
    let desktop = t.emu.managed_device(&lynne.managed_device_ids[0]).unwrap();
    let galaxy = t.emu.managed_device(&lynne.managed_device_ids[1]).unwrap();
    let entra = t
        .emu
        .device_by_device_id(&desktop.azure_ad_device_id)
        .unwrap();
    assert!(entra.account_enabled);

    let run = block_as(
        &t,
        &t.emu.app_token(),
        &["lynne@contoso.com", "adele@contoso.com"],
    );
    run.assert_code(0);
    let lines = run.lines();

    let u = user(&lines, "lynne@contoso.com");
    assert_eq!(u["outcome"], "locked", "{u:#}");
    let dev = step(u, "disable_devices");
    assert_eq!(dev["status"], "done", "{dev:#}");
    assert_eq!(
        dev["sources"],
        json!({"entra": "not_available", "intune": "listed"})
    );
    let d = device(u, "LYNNER-DESKTOP");
    assert_eq!(d["status"], "done");
    assert_eq!(d["source"], "intune");
    assert_eq!(d["managedDeviceId"], desktop.id.as_str());
    assert_eq!(d["deviceId"], desktop.azure_ad_device_id.as_str());
    // Read just before the write, so the report names the Entra object too.
    assert_eq!(d["id"], entra.id.as_str());
    // An Intune record with no Entra device: nothing to disable there, and not a failure.
    let phone = device(u, "Lynne's Galaxy");
    assert_eq!(phone["status"], "skipped");
    assert_eq!(phone["managedDeviceId"], galaxy.id.as_str());
    assert!(phone.get("deviceId").is_none());
    assert!(phone["note"].as_str().unwrap().contains("not registered"));
    assert_eq!(status_of(u, "verify"), "done");
    // What an undo needs: before (the state was not read when listing), and after.
    assert_eq!(
        u["before"]["devices"],
        json!([{
            "id": null,
            "deviceId": desktop.azure_ad_device_id,
            "source": "intune",
            "managedDeviceId": desktop.id,
            "accountEnabled": null
        }])
    );
    assert_eq!(u["after"]["devices"][0]["id"], entra.id.as_str());
    assert_eq!(u["after"]["devices"][0]["accountEnabled"], false);

    // Adele's laptop is in Intune: found and disabled; her iPhone is only registered, which an
    // application cannot list.
    let adele = user(&lines, "adele@contoso.com");
    assert_eq!(adele["outcome"], "locked", "{adele:#}");
    assert_eq!(devices(adele).len(), 1, "{adele:#}");
    assert_eq!(device(adele, "ADELEV-LAPTOP")["source"], "intune");
    assert_eq!(device(adele, "ADELEV-LAPTOP")["status"], "done");

    // The tenant: the desktop is disabled, addressed by its deviceId.
    assert!(
        !t.emu
            .device_by_device_id(&desktop.azure_ad_device_id)
            .unwrap()
            .account_enabled
    );
    let device_writes: Vec<String> = t
        .writes()
        .iter()
        .filter(|w| w.path.contains("/devices"))
        .map(|w| format!("{} {}", w.method, w.path))
        .collect();
    assert_eq!(device_writes.len(), 2, "{device_writes:#?}");
    assert!(device_writes.contains(&format!(
        "PATCH /v1.0/devices(deviceId='{}')",
        desktop.azure_ad_device_id
    )));

    // Again: the read before the write says it was already disabled.
    let again = block_as(&t, &t.emu.app_token(), &["lynne@contoso.com"]).one();
    assert_eq!(device(&again, "LYNNER-DESKTOP")["status"], "already");
    assert_eq!(status_of(&again, "disable_devices"), "already");
}

#[test]
fn a_delegated_run_merges_both_places_without_duplicates() {
    let t = Tenant::start();
    let adele = t.user("adele@contoso.com");
    let run = t.block_json(&["adele@contoso.com", "lynne@contoso.com"]);
    run.assert_code(0);
    let lines = run.lines();

    let u = user(&lines, "adele@contoso.com");
    assert_eq!(u["outcome"], "locked", "{u:#}");
    let dev = step(u, "disable_devices");
    assert_eq!(
        dev["sources"],
        json!({"entra": "listed", "intune": "listed"})
    );
    assert_eq!(devices(u).len(), 2, "one entry per device: {u:#}");
    let laptop = device(u, "ADELEV-LAPTOP");
    assert_eq!(laptop["source"], "both");
    assert_eq!(
        laptop["managedDeviceId"],
        adele.managed_device_ids[0].as_str()
    );
    assert_eq!(laptop["id"], adele.device_ids[0].as_str());
    let phone = device(u, "Adele's iPhone");
    assert_eq!(phone["source"], "entra");
    assert!(phone.get("managedDeviceId").is_none());
    assert!(devices(u).iter().all(|d| d["status"] == "done"));
    let before = u["before"]["devices"].as_array().unwrap();
    assert_eq!(before[0]["source"], "both");
    assert_eq!(before[0]["accountEnabled"], true);
    assert_eq!(
        before[0]["managedDeviceId"],
        adele.managed_device_ids[0].as_str()
    );

    // Lynne's desktop has no registered user: only Intune finds it, under a delegated token too.
    let lynne = user(&lines, "lynne@contoso.com");
    assert_eq!(device(lynne, "LYNNER-DESKTOP")["status"], "done");
    assert_eq!(device(lynne, "LYNNER-DESKTOP")["source"], "intune");

    // Adele's devices were each written once, by object id; Lynne's desktop by deviceId.
    let writes: Vec<String> = t
        .writes()
        .iter()
        .filter(|w| w.path.contains("/devices"))
        .map(|w| w.path.clone())
        .collect();
    assert_eq!(writes.len(), 3, "{writes:#?}");
    for id in &adele.device_ids {
        assert_eq!(
            writes.iter().filter(|p| p.ends_with(id.as_str())).count(),
            1,
            "{writes:#?}"
        );
    }
    for id in &adele.device_ids {
        assert!(!t.emu.device(id).unwrap().account_enabled);
    }
}

#[test]
fn a_non_windows_device_found_through_intune_cannot_be_disabled_by_an_application() {
    let t = Tenant::start();
    let patti = t.user("patti.o'fernandez@contoso.com");
    let run = block_as(&t, &t.emu.app_token(), &["patti.o'fernandez@contoso.com"]);
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "partial", "{u:#}");
    let mac = device(&u, "Patti's MacBook Pro");
    assert_eq!(mac["source"], "intune");
    assert_eq!(mac["operatingSystem"], "macOS", "Intune's spelling");
    assert_eq!(mac["status"], "failed");
    assert_eq!(mac["error"]["status"], 400);
    assert!(
        mac["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("only Windows devices"),
        "{mac:#}"
    );
    assert_eq!(status_of(&u, "disable_devices"), "failed");
    assert!(t.emu.device(&patti.device_ids[0]).unwrap().account_enabled);

    // The same device with a delegated sign-in: registered and managed, disabled.
    let run = t.block_json(&["patti.o'fernandez@contoso.com"]);
    let u = run.one();
    assert_eq!(device(&u, "Patti's MacBook Pro")["source"], "both");
    // The same Mac reads the same through Entra as through Intune.
    assert_eq!(
        device(&u, "Patti's MacBook Pro")["operatingSystem"],
        "macOS"
    );
    assert_eq!(device(&u, "Patti's MacBook Pro")["status"], "done");
}

#[test]
fn without_intune_a_run_falls_back_to_registered_devices_and_says_so_once() {
    let t = Tenant::with(EmulatorConfig {
        intune: false,
        ..EmulatorConfig::default()
    });
    let run = t.block_json(&[
        "adele@contoso.com",
        "alex@contoso.com",
        "patti.o'fernandez@contoso.com",
        "lynne@contoso.com",
    ]);
    run.assert_code(0);
    let lines = run.lines();
    assert!(lines.iter().all(|l| l["outcome"] == "locked"), "{lines:#?}");
    assert_eq!(
        run.stderr
            .matches("Intune managed devices cannot be listed")
            .count(),
        1,
        "one warning per run: {}",
        run.stderr
    );
    assert!(run.stderr.contains("no Intune licence"), "{}", run.stderr);
    let adele = user(&lines, "adele@contoso.com");
    assert_eq!(
        step(adele, "disable_devices")["sources"],
        json!({"entra": "listed", "intune": "not_available"})
    );
    assert!(devices(adele)
        .iter()
        .all(|d| d["source"] == "entra" && d["status"] == "done"));
    let lynne = user(&lines, "lynne@contoso.com");
    assert_eq!(status_of(lynne, "disable_devices"), "already");
    assert!(step(lynne, "disable_devices")["detail"]
        .as_str()
        .unwrap()
        .contains("Intune not available (400 BadRequest)"));

    // An application has neither place: the step fails and says what would work.
    let run = block_as(&t, &t.emu.app_token(), &["zoe@contoso.com"]);
    run.assert_code(1);
    let u = run.one();
    assert_eq!(u["outcome"], "partial");
    let dev = step(&u, "disable_devices");
    assert_eq!(dev["status"], "failed");
    let hint = dev["error"]["hint"].as_str().unwrap();
    assert!(hint.contains("no Intune licence"), "{hint}");
    assert!(hint.contains("--auth azure-cli"), "{hint}");
}

#[test]
fn an_application_without_the_intune_permission_is_told_which_one() {
    let t = Tenant::start();
    let token = app_token(&t, NO_INTUNE_PERMISSION);
    let run = block_as(&t, &token, &["adele@contoso.com", "alex@contoso.com"]);
    run.assert_code(1);
    for u in run.lines() {
        assert_eq!(u["outcome"], "partial", "{u:#}");
        let dev = step(&u, "disable_devices");
        assert_eq!(dev["status"], "failed");
        let hint = dev["error"]["hint"].as_str().unwrap();
        assert!(
            hint.contains("DeviceManagementManagedDevices.Read.All")
                && hint.contains("--auth azure-cli"),
            "{hint}"
        );
    }
    assert_eq!(
        run.stderr
            .matches("Intune managed devices cannot be listed")
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert!(t.writes().iter().all(|w| !w.path.contains("/devices")));
}

#[test]
fn lock_devices_sends_intune_remote_lock_to_each_managed_device() {
    let t = Tenant::start();
    let lynne = t.user("lynne@contoso.com");

    // Not without --with.
    let run = t.block_json(&["lynne@contoso.com"]);
    assert!(step_names(&run.one()).iter().all(|s| s != "lock_devices"));
    assert!(t.writes().iter().all(|w| !w.path.ends_with("/remoteLock")));

    // The dry run lists the exact requests and sends none.
    let plan = t
        .lockdown()
        .args([
            "block",
            "--dry-run",
            "-o",
            "json",
            "--with",
            "lock-devices",
            "lynne@contoso.com",
        ])
        .run()
        .one();
    let planned = step(&plan, "lock_devices");
    assert_eq!(planned["status"], "planned");
    assert_eq!(
        planned["requests"].as_array().unwrap().len(),
        2,
        "{planned:#}"
    );
    assert!(t.writes().iter().all(|w| !w.path.ends_with("/remoteLock")));

    let run = block_as(
        &t,
        &t.emu.app_token(),
        &["lynne@contoso.com", "--with", "lock-devices"],
    );
    run.assert_code(0);
    let u = run.one();
    assert_eq!(u["outcome"], "locked", "{u:#}");
    let lock = step(&u, "lock_devices");
    assert_eq!(lock["status"], "done", "{lock:#}");
    let locked = lock["devices"].as_array().unwrap();
    assert_eq!(locked.len(), 2);
    for (d, id) in locked.iter().zip(&lynne.managed_device_ids) {
        assert_eq!(d["status"], "done");
        assert_eq!(d["managedDeviceId"], id.as_str());
        assert_eq!(t.emu.managed_device(id).unwrap().remote_locks, 1);
    }
    // The locks come after the device is disabled, in the same ordered chain.
    let writes: Vec<String> = t.writes().iter().map(|w| w.path.clone()).collect();
    let patch = writes.iter().position(|p| p.contains("/devices(")).unwrap();
    let first_lock = writes
        .iter()
        .position(|p| p.ends_with("/remoteLock"))
        .unwrap();
    assert!(patch < first_lock, "{writes:#?}");
    assert_eq!(
        writes.iter().filter(|p| p.ends_with("/remoteLock")).count(),
        2
    );
}

#[test]
fn lock_devices_reports_each_device_and_what_is_missing() {
    let t = Tenant::start();
    // Reading is allowed, locking is not.
    let mut read_only = NO_INTUNE_PERMISSION.to_vec();
    read_only.push("DeviceManagementManagedDevices.Read.All");
    let token = app_token(&t, &read_only);
    let run = block_as(&t, &token, &["adele@contoso.com", "--with", "lock-devices"]);
    run.assert_code(1);
    let u = run.one();
    let lock = step(&u, "lock_devices");
    assert_eq!(lock["status"], "failed");
    let d = &lock["devices"][0];
    assert_eq!(d["status"], "failed");
    assert_eq!(d["error"]["status"], 403);
    assert!(d["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("PrivilegedOperations.All"));
    // The other steps still ran.
    assert_eq!(status_of(&u, "disable_devices"), "done");
    assert_eq!(u["outcome"], "partial");

    // No Intune: the step asked for cannot run, and says why.
    t.emu.set_intune(false);
    let run = t.block_json(&["alex@contoso.com", "--with", "lock-devices"]);
    run.assert_code(1);
    let u = run.one();
    let lock = step(&u, "lock_devices");
    assert_eq!(lock["status"], "failed");
    assert!(lock["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("no Intune licence"));
}

#[test]
fn status_shows_where_each_device_was_found() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .args(["status", "-o", "json", "adele@contoso.com"])
        .run();
    run.assert_code(0);
    let u = run.one();
    let found: Vec<(String, String)> = u["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["displayName"].as_str().unwrap().to_owned(),
                d["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("ADELEV-LAPTOP".to_owned(), "both".to_owned()),
            ("Adele's iPhone".to_owned(), "entra".to_owned()),
        ]
    );
    let text = t.lockdown().args(["status", "lynne@contoso.com"]).run();
    text.assert_code(0);
    assert!(
        text.stdout
            .contains("devices:             2 (0 registered, 2 in Intune)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("LYNNER-DESKTOP (Windows, Intune-managed): found through Intune"),
        "{}",
        text.stdout
    );
    assert!(t.emu.requests().iter().all(|r| r.method == "GET"));
}

#[test]
fn intune_pages_are_followed_to_the_end() {
    let t = Tenant::with(EmulatorConfig {
        max_page_size: 1,
        ..EmulatorConfig::default()
    });
    let run = t.block_json(&["lynne@contoso.com"]);
    run.assert_code(0);
    assert_eq!(devices(&run.one()).len(), 2);
    assert!(t
        .emu
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/managedDevices") && r.query.contains("skiptoken")));
}

/// The dry run plans the very writes a real run sends, devices found through Intune only
/// (disabled by `deviceId`) and remote locks included.
#[test]
fn the_dry_run_plans_the_intune_writes_a_real_run_sends() {
    let users = [
        "adele@contoso.com",
        "lynne@contoso.com",
        "patti.o'fernandez@contoso.com",
        "--with",
        "lock-devices",
    ];
    let planned_tenant = Tenant::start();
    let plan = planned_tenant
        .lockdown()
        .env("LOCKDOWN_ACCESS_TOKEN", &planned_tenant.emu.app_token())
        .args(["block", "--dry-run", "-o", "json"])
        .args(users)
        .run();
    let mut planned: Vec<String> = Vec::new();
    for u in plan.lines() {
        assert_eq!(u["outcome"], "planned", "{u:#}");
        for s in u["steps"].as_array().unwrap() {
            for r in s["requests"].as_array().into_iter().flatten() {
                let mut parts = r.as_str().unwrap().splitn(3, ' ');
                planned.push(format!(
                    "{} {}",
                    parts.next().unwrap(),
                    parts.next().unwrap()
                ));
            }
        }
    }
    assert!(
        planned_tenant.writes().is_empty(),
        "a dry run writes nothing"
    );

    let real_tenant = Tenant::start();
    block_as(&real_tenant, &real_tenant.emu.app_token(), &users);
    let mut sent: Vec<String> = real_tenant
        .writes()
        .iter()
        // A request whose dependency failed did not run (424) and was sent again.
        .filter(|w| w.status != 424)
        .map(|w| format!("{} {}", w.method, w.raw_path))
        .collect();
    planned.sort();
    sent.sort();
    assert!(
        planned.iter().any(|p| p.contains("/devices(deviceId=")),
        "{planned:#?}"
    );
    assert_eq!(
        planned
            .iter()
            .filter(|p| p.ends_with("/remoteLock"))
            .count(),
        4,
        "{planned:#?}"
    );
    assert_eq!(planned, sent);
}

fn step_names(u: &Value) -> Vec<String> {
    u["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap().to_owned())
        .collect()
}
