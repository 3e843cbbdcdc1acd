//! Evidence: `lockdown evidence` and `block --evidence` save per-user files with a manifest of
//! SHA-256 digests, never overwrite, never write a secret, say what could not be read, and list
//! facts worth a first look.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use lockdown_emulator::{EmulatorConfig, EntraIdPlan, SignInSpec, TokenKind, TokenSpec};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{Run, Tenant};

const FILES: &[&str] = &[
    "user.json",
    "sign-ins.json",
    "directory-audits.json",
    "methods.json",
    "inbox-rules.json",
    "consents.json",
    "memberships.json",
    "devices.json",
    "owned-apps.json",
];

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn json_of(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn evidence(t: &Tenant, out: &Path, args: &[&str]) -> Run {
    t.lockdown()
        .args(["evidence", "-o", "json", "--out"])
        .arg_path(out)
        .args(args)
        .run()
}

/// The user's folder from a report line, after checking the manifest's digest against the
/// line's.
fn folder(line: &Value) -> PathBuf {
    let dir = PathBuf::from(line["evidence"]["dir"].as_str().expect("an evidence dir"));
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
    assert_eq!(
        line["evidence"]["manifest_sha256"].as_str().unwrap(),
        sha256(&manifest),
        "the report line gives the manifest's digest"
    );
    dir
}

/// Every file the manifest lists: its digest, size and record count, recomputed.
fn check_manifest(dir: &Path) -> Value {
    let manifest = json_of(&dir.join("manifest.json"));
    for f in manifest["files"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(f["sha256"].as_str().unwrap(), sha256(&bytes), "{name}");
        assert_eq!(f["bytes"].as_u64().unwrap(), bytes.len() as u64, "{name}");
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        let records = match &body {
            Value::Array(items) => items.len(),
            Value::Object(parts) if name != "user.json" => parts
                .values()
                .filter_map(Value::as_array)
                .map(Vec::len)
                .sum(),
            _ => 1,
        };
        assert_eq!(f["records"].as_u64().unwrap(), records as u64, "{name}");
    }
    manifest
}

fn listed(manifest: &Value) -> Vec<String> {
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

fn file<'a>(manifest: &'a Value, name: &str) -> &'a Value {
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not in the manifest: {manifest:#}"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn evidence_saves_every_file_with_digests_the_manifest_lists_and_sends_only_gets() {
    let t = Tenant::start();
    let out = tempfile::tempdir().unwrap();
    let run = evidence(&t, out.path(), &["adele@contoso.com"]);
    run.assert_code(0);
    let line = run.one();
    assert_eq!(line["outcome"], "collected", "{line:#}");
    let dir = folder(&line);
    assert!(dir.ends_with("adele@contoso.com"), "{}", dir.display());
    assert_eq!(dir.parent().unwrap().parent().unwrap(), out.path());
    let manifest = check_manifest(&dir);
    assert_eq!(listed(&manifest), FILES, "{manifest:#}");
    assert_eq!(
        manifest["unavailable"],
        Value::Array(vec![]),
        "{manifest:#}"
    );
    assert_eq!(
        manifest["user"]["id"],
        "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
    );
    assert_eq!(manifest["caller"], "admin@contoso.com");
    assert_eq!(manifest["tenant"], "6f1c2a4e-3b7d-4c8e-9a1f-2d5b7e9c0a13");
    assert_eq!(manifest["window"]["days"], 7);
    assert!(manifest["runId"]
        .as_str()
        .is_some_and(|r| dir.parent().unwrap().ends_with(r)));
    for key in ["collectionStartedDateTime", "collectionFinishedDateTime"] {
        assert!(manifest[key].as_str().unwrap().ends_with('Z'), "{key}");
    }
    // The user as read, with what an investigator needs of it.
    let user = json_of(&dir.join("user.json"));
    for key in [
        "createdDateTime",
        "lastPasswordChangeDateTime",
        "onPremisesSyncEnabled",
        "onPremisesImmutableId",
    ] {
        assert!(user.get(key).is_some(), "user.json lacks {key}: {user:#}");
    }
    // Owned apps: the credentials' metadata, never a value.
    let owned = json_of(&dir.join("owned-apps.json"));
    let app = &owned["applications"][0];
    assert_eq!(app["displayName"], "Adele's Mail Helper");
    let secret = &app["passwordCredentials"][1];
    for key in [
        "keyId",
        "displayName",
        "startDateTime",
        "endDateTime",
        "hint",
    ] {
        assert!(secret.get(key).is_some(), "{key}: {secret:#}");
    }
    assert!(secret.get("secretText").is_none());
    assert_eq!(owned["servicePrincipals"].as_array().unwrap().len(), 1);
    let devices = json_of(&dir.join("devices.json"));
    assert_eq!(devices["entra"].as_array().unwrap().len(), 2);
    assert_eq!(devices["intune"].as_array().unwrap().len(), 1);
    // Files 0600, folders 0700.
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(dir.parent().unwrap()), 0o700);
    for name in FILES.iter().chain(&["manifest.json"]) {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    // Read-only: GETs only, and no $batch.
    let requests = t.emu.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.method, "GET", "{r:?}");
        assert!(!r.in_batch, "{r:?}");
    }
    // Both directory audit filters, in the window.
    let audits: Vec<String> = requests
        .iter()
        .filter(|r| r.path.ends_with("/auditLogs/directoryAudits"))
        .map(|r| decode(&r.query))
        .collect();
    assert_eq!(audits.len(), 2, "{audits:?}");
    assert!(audits.iter().all(|q| q.contains("activityDateTime ge ")));
    assert!(audits.iter().any(
        |q| q.contains("targetResources/any(t:t/id eq '87d349ed-44d7-43e1-9a83-5f2406dee5bd')")
    ));
    assert!(audits
        .iter()
        .any(|q| q.contains("initiatedBy/user/id eq '87d349ed-44d7-43e1-9a83-5f2406dee5bd'")));
}

fn decode(query: &str) -> String {
    percent_encoding::percent_decode_str(query)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

#[test]
fn findings_for_adele_name_their_file_and_record() {
    let t = Tenant::start();
    let out = tempfile::tempdir().unwrap();
    let run = evidence(&t, out.path(), &["adele@contoso.com"]);
    run.assert_code(0);
    let line = run.one();
    let dir = folder(&line);
    let findings = line["findings"].as_array().unwrap();
    let of =
        |kind: &str| -> Vec<&Value> { findings.iter().filter(|f| f["kind"] == kind).collect() };
    // Each finding's record is in the file it names.
    for f in findings {
        let text = std::fs::read_to_string(dir.join(f["file"].as_str().unwrap())).unwrap();
        let record = f["record"].as_str().unwrap();
        let id = record.rsplit('/').next().unwrap();
        assert!(text.contains(id), "{f:#} not in its file");
    }
    let methods = of("method_registered");
    assert_eq!(methods.len(), 1, "{findings:#?}");
    assert_eq!(methods[0]["record"], "-2_GRUg2-HYz6_1YG4YRAQ2");
    assert_eq!(methods[0]["file"], "methods.json");
    let credentials = of("credential_added");
    assert_eq!(credentials.len(), 1, "{findings:#?}");
    assert!(credentials[0]["record"]
        .as_str()
        .unwrap()
        .ends_with("/0d7c5b1e-2f3a-4b6c-8d9e-0a1b2c3d4e52"));
    let audited: Vec<&str> = of("audited_change")
        .iter()
        .map(|f| f["detail"].as_str().unwrap())
        .collect();
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert!(audited.iter().any(|d| d.contains("Consent to application")));
    assert!(audited
        .iter()
        .any(|d| d.contains("User registered security info")));
    let sign_ins = of("sign_in_after_failures");
    assert_eq!(sign_ins.len(), 1, "{findings:#?}");
    let detail = sign_ins[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("45.155.205.233") && detail.contains("4 failed"),
        "{detail}"
    );
    // The manifest carries the same findings; the text result prints them and the digest.
    let manifest = json_of(&dir.join("manifest.json"));
    assert_eq!(&manifest["findings"], &line["findings"]);
    let text = t
        .lockdown()
        .args(["evidence", "--out"])
        .arg_path(out.path())
        .args(["adele@contoso.com"])
        .run();
    text.assert_code(0);
    assert!(text.stdout.contains("manifest sha256 "), "{}", text.stdout);
    assert_eq!(
        text.stdout.matches("  finding: ").count(),
        5,
        "{}",
        text.stdout
    );
    assert!(text
        .stdout
        .contains("(methods.json, record -2_GRUg2-HYz6_1YG4YRAQ2)"));
}

#[test]
fn the_window_holds_and_every_page_is_followed() {
    let t = Tenant::with(EmulatorConfig {
        max_page_size: 2,
        ..EmulatorConfig::default()
    });
    let now = time::OffsetDateTime::now_utc();
    for days in [1, 2, 3, 10, 20] {
        t.emu.add_sign_in(SignInSpec {
            created: now - time::Duration::days(days),
            ..SignInSpec::success("alex@contoso.com")
        });
    }
    t.emu.add_directory_audits("alex@contoso.com", 5);
    let out = tempfile::tempdir().unwrap();
    let run = evidence(
        &t,
        out.path(),
        &["alex@contoso.com", "--evidence-days", "7"],
    );
    run.assert_code(0);
    let dir = folder(&run.one());
    let manifest = check_manifest(&dir);
    assert_eq!(file(&manifest, "sign-ins.json")["records"], 3);
    assert_eq!(file(&manifest, "sign-ins.json")["capped"], false);
    assert_eq!(file(&manifest, "directory-audits.json")["records"], 5);
    let sign_ins = json_of(&dir.join("sign-ins.json"));
    let times: Vec<&str> = sign_ins
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["createdDateTime"].as_str().unwrap())
        .collect();
    let mut newest_first = times.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, newest_first);
    for path in ["/auditLogs/signIns", "/auditLogs/directoryAudits"] {
        assert!(
            t.emu
                .requests()
                .iter()
                .any(|r| r.path.ends_with(path) && r.query.contains("skiptoken")),
            "{path} was followed to its next page"
        );
    }
    // Thirty days reach the older ones.
    let run = evidence(
        &t,
        out.path(),
        &["alex@contoso.com", "--evidence-days", "30"],
    );
    run.assert_code(0);
    let manifest = check_manifest(&folder(&run.one()));
    assert_eq!(file(&manifest, "sign-ins.json")["records"], 5);
    assert_eq!(manifest["window"]["days"], 30);
    // Never more than thirty, and never with a dry run (which reads only, and saves nothing).
    let run = evidence(
        &t,
        out.path(),
        &["alex@contoso.com", "--evidence-days", "31"],
    );
    run.assert_code(2);
    let run = t
        .lockdown()
        .args(["block", "--dry-run", "alex@contoso.com", "--evidence"])
        .arg_path(out.path())
        .run();
    run.assert_code(2);
    assert!(run.stderr.contains("--dry-run"), "{}", run.stderr);
}

#[test]
fn sign_ins_stop_at_the_cap_and_the_manifest_says_so() {
    let t = Tenant::start();
    let now = time::OffsetDateTime::now_utc();
    for n in 0..5_003 {
        t.emu.add_sign_in(SignInSpec {
            created: now - time::Duration::seconds(n),
            ..SignInSpec::success("alex@contoso.com")
        });
    }
    let out = tempfile::tempdir().unwrap();
    let run = evidence(&t, out.path(), &["alex@contoso.com"]);
    run.assert_code(0);
    let dir = folder(&run.one());
    let manifest = check_manifest(&dir);
    let sign_ins = file(&manifest, "sign-ins.json");
    assert_eq!(sign_ins["records"], 5_000);
    assert_eq!(sign_ins["capped"], true);
    assert!(sign_ins["note"].as_str().unwrap().contains("5000"));
    // The emulator's pages hold 999: six of them reach 5,000, and not one more is read.
    let pages = t
        .emu
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/auditLogs/signIns"))
        .count();
    assert_eq!(pages, 5_000usize.div_ceil(999));
}

#[test]
fn phones_are_masked_and_no_secret_or_token_reaches_a_file() {
    let t = Tenant::start();
    let out = tempfile::tempdir().unwrap();
    // A lockdown that resets the password, with its evidence.
    let run = t.block_json(&[
        "adele@contoso.com",
        "--incident",
        "--evidence",
        out.path().to_str().unwrap(),
    ]);
    run.assert_code(0);
    let line = run.one();
    assert_eq!(line["outcome"], "locked");
    let dir = folder(&line);
    check_manifest(&dir);
    let methods = std::fs::read_to_string(dir.join("methods.json")).unwrap();
    assert!(methods.contains("******23"), "{methods}");
    assert!(!methods.contains("4255550123") && !methods.contains("5550123"));
    let mut all = String::new();
    for name in FILES.iter().chain(&["manifest.json"]) {
        all.push_str(&std::fs::read_to_string(dir.join(name)).unwrap());
    }
    t.assert_nothing_secret(&all);
    assert!(!all.contains("secretText") && !all.contains("\"key\":"));
    assert!(!all.to_ascii_lowercase().contains("bearer"));
}

#[test]
fn block_saves_what_it_changes_as_first_read_and_reads_logs_after_the_writes() {
    let t = Tenant::start();
    let out = tempfile::tempdir().unwrap();
    let run = t.block_json(&[
        "adele@contoso.com",
        "--incident",
        "--evidence",
        out.path().to_str().unwrap(),
    ]);
    run.assert_code(0);
    let dir = folder(&run.one());
    // What the lockdown deleted and disabled is in the evidence as it was before, taken from
    // the run's first read; the logs were read for the evidence.
    let manifest = check_manifest(&dir);
    for name in [
        "user.json",
        "methods.json",
        "inbox-rules.json",
        "consents.json",
        "devices.json",
    ] {
        assert_eq!(file(&manifest, name)["readFrom"], "first read", "{name}");
    }
    for name in ["sign-ins.json", "directory-audits.json", "owned-apps.json"] {
        assert_eq!(file(&manifest, name)["readFrom"], "evidence read", "{name}");
    }
    let methods = json_of(&dir.join("methods.json"));
    assert_eq!(methods.as_array().unwrap().len(), 4);
    assert_eq!(t.emu.auth_methods("adele@contoso.com").len(), 1);
    let user = json_of(&dir.join("user.json"));
    assert_eq!(user["accountEnabled"], true);
    let consents = json_of(&dir.join("consents.json"));
    assert_eq!(consents.as_array().unwrap().len(), 1);
    let rules = json_of(&dir.join("inbox-rules.json"));
    assert!(rules
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["isEnabled"] == true));
    // Logs come after every write of the user's lockdown; methods are not read a second time
    // for evidence (the first read and verify's re-read only).
    let requests = t.emu.requests();
    let last_write = requests.iter().rposition(|r| r.is_write()).unwrap();
    let first_log = requests
        .iter()
        .position(|r| r.path.contains("/auditLogs/"))
        .unwrap();
    assert!(first_log > last_write, "logs were read before a write");
    let method_reads = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/authentication/methods"))
        .count();
    let plain = Tenant::start();
    plain
        .block_json(&["adele@contoso.com", "--incident"])
        .assert_code(0);
    let plain_reads = plain
        .emu
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/authentication/methods"))
        .count();
    assert_eq!(method_reads, plain_reads);
}

#[test]
fn runs_never_overwrite_each_other() {
    let t = Tenant::start();
    let out = tempfile::tempdir().unwrap();
    let first = folder(&evidence(&t, out.path(), &["alex@contoso.com"]).one());
    let before: HashMap<String, Vec<u8>> = FILES
        .iter()
        .map(|n| (n.to_string(), std::fs::read(first.join(n)).unwrap()))
        .collect();
    let second = folder(&evidence(&t, out.path(), &["alex@contoso.com"]).one());
    assert_ne!(first, second);
    assert_ne!(
        first.parent(),
        second.parent(),
        "each run has its own folder"
    );
    for (name, bytes) in before {
        assert_eq!(std::fs::read(first.join(&name)).unwrap(), bytes, "{name}");
    }
    // The same account twice in one run (by UPN and by id) is collected once.
    let run = evidence(
        &t,
        out.path(),
        &["alex@contoso.com", "4782E723-F4F4-4AF3-A76E-25E3BAB0D896"],
    );
    run.assert_code(0);
    assert_eq!(run.lines().len(), 1, "the same account is collected once");
}

#[test]
fn a_missing_licence_or_permission_is_a_line_in_the_manifest() {
    let t = Tenant::start();
    t.emu.set_entra_id(EntraIdPlan::Free);
    let token = t.emu.issue_token(TokenSpec {
        kind: TokenKind::AppOnly,
        permissions: vec!["User.Read.All".into(), "AuditLog.Read.All".into()],
        directory_roles: vec![],
    });
    let out = tempfile::tempdir().unwrap();
    let run = t
        .lockdown()
        .env("LOCKDOWN_ACCESS_TOKEN", &token)
        .args(["evidence", "-o", "json", "--out"])
        .arg_path(out.path())
        .args(["diego@contoso.com"])
        .run();
    run.assert_code(0);
    let line = run.one();
    assert_eq!(line["outcome"], "collected");
    let dir = folder(&line);
    let manifest = check_manifest(&dir);
    let unavailable = manifest["unavailable"].as_array().unwrap();
    let reason = |file: &str| -> Vec<&str> {
        unavailable
            .iter()
            .filter(|u| u["file"] == file)
            .map(|u| u["reason"].as_str().unwrap())
            .collect()
    };
    assert_eq!(reason("sign-ins.json"), ["licence"], "{unavailable:#?}");
    assert_eq!(
        reason("directory-audits.json"),
        ["permission", "permission"],
        "{unavailable:#?}"
    );
    assert_eq!(reason("owned-apps.json"), ["permission", "permission"]);
    assert_eq!(reason("methods.json"), ["permission"]);
    assert!(!dir.join("sign-ins.json").exists());
    assert!(listed(&manifest).contains(&"user.json".to_owned()));
}

#[test]
fn a_mailbox_that_does_not_exist_is_said_as_such() {
    let t = Tenant::start();
    let out = tempfile::tempdir().unwrap();
    let run = evidence(&t, out.path(), &["kiosk@contoso.com"]);
    run.assert_code(0);
    let manifest = check_manifest(&folder(&run.one()));
    let rules: Vec<&Value> = manifest["unavailable"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["file"] == "inbox-rules.json")
        .collect();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["reason"], "no mailbox");
    // The text result says it too.
    let text = t
        .lockdown()
        .args(["evidence", "kiosk@contoso.com", "--out"])
        .arg_path(out.path())
        .run();
    text.assert_code(0);
    assert!(
        text.stdout
            .contains("evidence not read: inbox-rules.json (no mailbox)"),
        "{}",
        text.stdout
    );
}

/// A folder of `len` bytes under `root`, so that what goes under it nears the path limit.
fn long_dir(root: &Path, len: usize) -> PathBuf {
    let mut dir = root.to_path_buf();
    while dir.as_os_str().len() + 201 < len {
        dir.push("d".repeat(200));
    }
    let rest = len - dir.as_os_str().len() - 1;
    dir.push("e".repeat(rest));
    assert_eq!(dir.as_os_str().len(), len);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Linux refuses paths of 4,096 bytes and more: `<run id>` (25 bytes) fits under `out`, and
/// `<run id>/adele@contoso.com/user.json` fits, `.../sign-ins.json` does not.
const PATH_MAX: usize = 4096;

#[test]
fn a_write_failure_keeps_what_was_written_and_fails_the_run() {
    let t = Tenant::start();
    let root = tempfile::tempdir().unwrap();
    let out = long_dir(root.path(), PATH_MAX - 1 - 26 - 18 - 10);
    let run = evidence(&t, &out, &["adele@contoso.com"]);
    run.assert_code(1);
    let line = run.one();
    assert_eq!(line["outcome"], "failed", "{line:#}");
    let error = line["evidence"]["error"].as_str().unwrap();
    assert!(error.contains("cannot write"), "{error}");
    assert!(run.stderr.contains("cannot write"), "{}", run.stderr);
    let run_dir = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let user_json = run_dir.join("adele@contoso.com").join("user.json");
    assert_eq!(
        json_of(&user_json)["userPrincipalName"],
        "adele@contoso.com"
    );
}

#[test]
fn an_evidence_folder_that_fails_stops_new_users_and_the_lockdown_stands() {
    let t = Tenant::start();
    let root = tempfile::tempdir().unwrap();
    // `<run id>` fits, `<run id>/adele@contoso.com` does not.
    let out = long_dir(root.path(), PATH_MAX - 1 - 26 - 10);
    let run = t.block_json(&[
        "adele@contoso.com",
        "alex@contoso.com",
        "diego@contoso.com",
        "isaiah@contoso.com",
        "--concurrency",
        "1",
        "--evidence",
        out.to_str().unwrap(),
    ]);
    run.assert_code(1);
    let lines = run.lines();
    assert_eq!(lines.len(), 4, "every user gets a line: {run:?}");
    assert_eq!(lines[0]["outcome"], "locked", "{:#}", lines[0]);
    assert!(lines[0]["evidence"]["error"]
        .as_str()
        .unwrap()
        .contains("cannot create"));
    assert!(!t.user("adele@contoso.com").account_enabled);
    // With --concurrency 1 the next user's containment may start once adele is contained,
    // before her evidence fails: such a user finishes (its lockdown stands); no user starts
    // after the failure. Isaiah, who could start only after two more containments, never is.
    for u in &lines[1..] {
        let upn = u["target"].as_str().unwrap();
        match u["outcome"].as_str().unwrap() {
            "locked" => assert!(!t.user(upn).account_enabled, "{upn}"),
            "interrupted" => assert!(t.user(upn).account_enabled, "{upn} was never started"),
            other => panic!("{upn}: {other}: {u:#}"),
        }
    }
    let isaiah = &lines[3];
    assert_eq!(isaiah["target"], "isaiah@contoso.com");
    assert_eq!(isaiah["outcome"], "interrupted", "{isaiah:#}");
}

/// A folder that cannot be made is refused like an unwritable `--report`: exit 2, before
/// anything is read or written.
#[test]
fn an_evidence_folder_that_cannot_be_made_is_refused_before_anything_is_sent() {
    let t = Tenant::start();
    for args in [
        &[
            "evidence",
            "adele@contoso.com",
            "--out",
            "/dev/null/evidence",
        ][..],
        &[
            "block",
            "adele@contoso.com",
            "--yes",
            "--evidence",
            "/dev/null/evidence",
        ][..],
    ] {
        let run = t.lockdown().args(args).run();
        run.assert_code(2);
        assert!(
            run.stderr.contains("cannot save evidence") && run.stderr.contains("nothing was sent"),
            "{}",
            run.stderr
        );
    }
    assert!(t.emu.requests().is_empty(), "{:#?}", t.emu.requests());
    assert!(t.user("adele@contoso.com").account_enabled);
}
