//! The JSON Schemas in docs/schema/ describe the lines scripts read. Real output of each command,
//! across the outcomes it has, must validate against its schema.

use serde_json::Value;

use crate::support::Tenant;

fn load(name: &str) -> Value {
    let path = format!("{}/docs/schema/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn validator(name: &str) -> jsonschema::Validator {
    let common = load("common.schema.json");
    let uri = common["$id"].as_str().unwrap().to_owned();
    let registry = jsonschema::Registry::new()
        .add(uri, common)
        .and_then(|b| b.prepare())
        .expect("common.schema.json registers");
    jsonschema::options()
        .with_registry(&registry)
        .build(&load(name))
        .unwrap_or_else(|e| panic!("{name} is not a valid schema: {e}"))
}

fn assert_valid(v: &jsonschema::Validator, name: &str, stdout: &str) -> usize {
    let mut n = 0;
    for line in stdout.lines() {
        let value: Value = serde_json::from_str(line).unwrap();
        let errors: Vec<String> = v
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}\n{line}");
        n += 1;
    }
    n
}

#[test]
fn every_line_follows_its_schema() {
    let t = Tenant::start();
    let block = validator("block.schema.json");
    let users = [
        "adele@contoso.com",
        "grady@contoso.com",
        "johanna@contoso.com",
        "pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com",
        "nobody@contoso.com",
        "admin@contoso.com",
        "not an address",
    ];
    // A dry run first (planned, with requests), then the real run.
    let plan = t
        .lockdown()
        .args(["block", "--dry-run", "-o", "json"])
        .args(users)
        .run();
    assert_eq!(
        assert_valid(&block, "block --dry-run", &plan.stdout),
        users.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("block.jsonl");
    let run = t
        .lockdown()
        .args([
            "block",
            "--yes",
            "-o",
            "json",
            "--report",
            report.to_str().unwrap(),
        ])
        .args(users)
        .run();
    assert_eq!(assert_valid(&block, "block", &run.stdout), users.len());
    let file = std::fs::read_to_string(&report).unwrap();
    assert_valid(&block, "block --report", &file);
    // The opt-in steps and Intune devices too.
    let other = Tenant::start();
    let run = other
        .lockdown()
        .args([
            "block",
            "--yes",
            "-o",
            "json",
            "--incident",
            "--with",
            "lock-devices",
        ])
        .args([
            "adele@contoso.com",
            "lynne@contoso.com",
            "nestor@contoso.com",
        ])
        .run();
    assert_eq!(assert_valid(&block, "block --incident", &run.stdout), 3);

    let status = validator("status.schema.json");
    let run = t
        .lockdown()
        .args(["status", "-o", "json"])
        .args(users)
        .run();
    assert_eq!(assert_valid(&status, "status", &run.stdout), users.len());

    let check = validator("check.schema.json");
    let run = t
        .lockdown()
        .args(["check", "-o", "json", "--incident"])
        .args(users)
        .run();
    let n = assert_valid(&check, "check", &run.stdout);
    assert_eq!(n, users.len() + 1, "the caller, then each target: {run:?}");
    assert!(run
        .stdout
        .lines()
        .next()
        .unwrap()
        .starts_with("{\"caller\""));

    let unblock = validator("unblock.schema.json");
    let run = t
        .lockdown()
        .args(["unblock", "--yes", "-o", "json", "--tap", "--from-report"])
        .arg_path(&report)
        .run();
    assert!(
        assert_valid(&unblock, "unblock", &run.stdout) >= 3,
        "{run:?}"
    );
}

/// The schemas are strict where scripts rely on it: an unknown top-level field fails.
#[test]
fn the_block_schema_rejects_a_field_it_does_not_name() {
    let block = validator("block.schema.json");
    let line = serde_json::json!({
        "target": "x@contoso.com", "id": null, "userPrincipalName": null, "displayName": null,
        "outcome": "not_found", "steps": [], "surprise": 1
    });
    assert!(!block.is_valid(&line));
    let mut ok = line.clone();
    ok.as_object_mut().unwrap().remove("surprise");
    assert!(block.is_valid(&ok), "{:?}", block.validate(&ok).err());
    // The shared definitions are applied too: a step status lockdown never writes fails.
    let mut bad_step = ok.clone();
    bad_step["steps"] = serde_json::json!([{"step": "verify", "status": "fine", "detail": null}]);
    assert!(!block.is_valid(&bad_step));
}

/// A hybrid tenant's lines (the block group, Defender for Identity) and `setup`'s.
#[test]
fn hybrid_lines_follow_their_schemas() {
    let t = Tenant::with(lockdown_emulator::EmulatorConfig {
        lockdown_setup: true,
        defender_for_identity: true,
        ..lockdown_emulator::EmulatorConfig::default()
    });
    let users = ["grady@contoso.com", "adele@contoso.com"];
    let block = validator("block.schema.json");
    let run = t.block_json(&users);
    assert_eq!(assert_valid(&block, "block", &run.stdout), 2);
    let check = validator("check.schema.json");
    let run = t.lockdown().args(["check", "-o", "json"]).args(users).run();
    assert_eq!(assert_valid(&check, "check", &run.stdout), 3);
    let status = validator("status.schema.json");
    let run = t
        .lockdown()
        .args(["status", "-o", "json"])
        .args(users)
        .run();
    assert_eq!(assert_valid(&status, "status", &run.stdout), 2);
    let setup = validator("setup.schema.json");
    for args in [
        &["setup", "-o", "json", "--exclude", "breakglass@contoso.com"][..],
        &["setup", "-o", "json", "--no-exclusions", "--report-only"][..],
        &[
            "setup",
            "-o",
            "json",
            "--dry-run",
            "--force",
            "--no-exclusions",
            "--report-only",
        ][..],
    ] {
        let run = t.lockdown().args(args).run();
        assert_eq!(assert_valid(&setup, "setup", &run.stdout), 1, "{run:?}");
    }
    let fresh = Tenant::start();
    let run = fresh
        .lockdown()
        .args(["setup", "-o", "json", "--dry-run", "--no-exclusions"])
        .run();
    assert_eq!(assert_valid(&setup, "setup --dry-run", &run.stdout), 1);
}

/// `lockdown evidence` lines, `block --evidence` lines and each manifest.json follow theirs, with
/// and without what could not be read.
#[test]
fn evidence_lines_and_manifests_follow_their_schemas() {
    let t = Tenant::start();
    let out = tempfile::tempdir().unwrap();
    let evidence = validator("evidence.schema.json");
    let manifest = validator("manifest.schema.json");
    let users = [
        "adele@contoso.com",
        "kiosk@contoso.com",
        "grady@contoso.com",
        "nobody@contoso.com",
    ];
    let run = t
        .lockdown()
        .args(["evidence", "-o", "json", "--out"])
        .arg_path(out.path())
        .args(users)
        .run();
    assert_eq!(
        assert_valid(&evidence, "evidence", &run.stdout),
        users.len()
    );
    let block = validator("block.schema.json");
    let run = t
        .lockdown()
        .args(["block", "--yes", "-o", "json", "--incident", "--evidence"])
        .arg_path(out.path())
        .args(["adele@contoso.com", "alex@contoso.com"])
        .run();
    assert_eq!(assert_valid(&block, "block --evidence", &run.stdout), 2);
    let mut manifests = 0;
    for run_dir in std::fs::read_dir(out.path()).unwrap() {
        for user_dir in std::fs::read_dir(run_dir.unwrap().path()).unwrap() {
            let text =
                std::fs::read_to_string(user_dir.unwrap().path().join("manifest.json")).unwrap();
            let one_line: Value = serde_json::from_str(&text).unwrap();
            assert_valid(&manifest, "manifest.json", &one_line.to_string());
            manifests += 1;
        }
    }
    assert_eq!(manifests, 5, "three from `evidence`, two from `block`");
}
