//! Users from files and stdin: formats, messy input, duplicates, bad entries.

use crate::support::{Cmd, Tenant};

fn write(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn entra_admin_center_csv_export_works_as_is() {
    let t = Tenant::start();
    let dir = tempfile::tempdir().unwrap();
    let alex = t.user("alex@contoso.com").id;
    let csv = format!(
        "\u{feff}userPrincipalName,displayName,surname,mail,givenName,objectId,userType,jobTitle\r\n\
         adele@contoso.com,Adele Vance,Vance,adele@contoso.com,Adele,{},Member,\r\n\
         \"diego@contoso.com\",\"Siciliani, Diego\",Siciliani,,Diego,,Member,\r\n\
         ,Alex Wilber,Wilber,,Alex,{alex},Member,\r\n",
        t.user("adele@contoso.com").id
    );
    let file = write(&dir, "export.csv", csv.as_bytes());
    let run = t
        .lockdown()
        .args(["block", "--yes", "-o", "json", "--from", &file])
        .run();
    run.assert_code(0);
    let lines = run.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines.iter().all(|l| l["outcome"] == "locked"));
    for u in ["adele@contoso.com", "diego@contoso.com", "alex@contoso.com"] {
        assert!(!t.user(u).account_enabled, "{u}");
    }
}

#[test]
fn a_messy_plain_list_is_cleaned_and_bad_lines_reported_by_number() {
    let t = Tenant::start();
    let dir = tempfile::tempdir().unwrap();
    let diego = t.user("diego@contoso.com").id;
    let list = format!(
        "# offboarding batch 7\r\n\
         \r\n\
         \"alex@contoso.com\"\r\n\
         ALEX@CONTOSO.COM\r\n\
         {diego}\r\n\
         not-a-user\r\n\
         \x20 user01@contoso.com \x20\r\n\
         user02@contoso.com\u{7}\r\n"
    );
    let file = write(&dir, "users.txt", list.as_bytes());
    let run = t
        .lockdown()
        .args(["block", "--yes", "-o", "json", "--from", &file])
        .run();
    run.assert_code(1);
    let lines = run.lines();
    let locked: Vec<_> = lines.iter().filter(|l| l["outcome"] == "locked").collect();
    assert_eq!(locked.len(), 3, "alex once, diego, user01: {lines:#?}");
    let bad: Vec<_> = lines.iter().filter(|l| l["outcome"] == "failed").collect();
    assert_eq!(bad.len(), 2, "{lines:#?}");
    assert!(
        bad.iter()
            .any(|l| l["reason"].as_str().unwrap().starts_with("line 6:")),
        "{bad:#?}"
    );
    assert!(
        bad.iter()
            .any(|l| l["reason"].as_str().unwrap().starts_with("line 8:")),
        "{bad:#?}"
    );
    assert_eq!(t.user("alex@contoso.com").password_resets, 1);
    assert!(t.user("user02@contoso.com").account_enabled);
}

#[test]
fn users_can_come_from_stdin() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .args(["block", "--yes", "-o", "json", "--from", "-"])
        .stdin("user03@contoso.com\nuser04@contoso.com\n")
        .run();
    run.assert_code(0);
    assert_eq!(run.lines().len(), 2);
    assert!(!t.user("user04@contoso.com").account_enabled);
}

#[test]
fn stdin_list_without_yes_is_refused_since_nobody_can_answer() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .args(["block", "--from", "-"])
        .stdin("user03@contoso.com\n")
        .run();
    run.assert_code(2);
    assert!(t.emu.requests().is_empty());
}

#[test]
fn an_unreadable_file_or_one_without_valid_entries_is_exit_2_with_nothing_sent() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .args(["block", "--yes", "--from", "/nonexistent/users.txt"])
        .run();
    run.assert_code(2);
    assert!(
        run.stderr.contains("/nonexistent/users.txt"),
        "{}",
        run.stderr
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "bad.txt", b"# nothing here\n\nnot a user\nfoo@\n");
    let run = t.lockdown().args(["block", "--yes", "--from", &file]).run();
    run.assert_code(2);
    assert!(t.emu.requests().is_empty(), "{:#?}", t.emu.requests());
}

#[test]
fn over_long_upns_are_rejected_per_entry() {
    let long_local = format!("{}@contoso.com", "a".repeat(65));
    let run = Cmd::bare()
        .env("LOCKDOWN_ACCESS_TOKEN", "x")
        .args(["block", "--yes", &long_local])
        .run();
    run.assert_code(2);
    assert!(run.stderr.contains("64"), "{}", run.stderr);
}

#[test]
fn results_stream_while_input_is_still_being_written() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let t = Tenant::start();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lockdown"))
        .env_clear()
        .env("LOCKDOWN_GRAPH_URL", t.emu.url())
        .env("LOCKDOWN_ACCESS_TOKEN", t.emu.admin_token())
        .args(["block", "--yes", "-o", "json", "--from", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    writeln!(stdin, "user21@contoso.com").unwrap();
    stdin.flush().unwrap();
    // The first result arrives while stdin is still open.
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["target"], "user21@contoso.com");
    assert_eq!(first["outcome"], "locked");
    writeln!(stdin, "user22@contoso.com").unwrap();
    drop(stdin);
    let mut second = String::new();
    stdout.read_line(&mut second).unwrap();
    assert!(second.contains("user22@contoso.com"), "{second}");
    assert!(child.wait().unwrap().success());
}
