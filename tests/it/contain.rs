//! Contain first: every account is closed at Graph's write speed, before the slow clean-up.

use lockdown_emulator::RequestRecord;

use crate::support::Tenant;

/// One of the writes that contain an account: `PATCH /users/{id}` (accountEnabled, password)
/// or `POST /users/{id}/revokeSignInSessions`.
fn containment_write(r: &RequestRecord) -> bool {
    let user_path =
        r.path.starts_with("/v1.0/users/") && !r.path["/v1.0/users/".len()..].contains('/');
    (r.method == "PATCH" && user_path)
        || (r.method == "POST" && r.path.ends_with("/revokeSignInSessions"))
}

fn methods_list(r: &RequestRecord) -> bool {
    r.method == "GET" && r.path.ends_with("/authentication/methods")
}

#[test]
fn thirty_incident_users_are_contained_before_the_sixth_methods_request() {
    // The identity and access reports limit takes 5 methods lists at once, then one every
    // 2 s: containment must not queue behind it. The clock runs 5 times faster than Graph's:
    // the 6th list may go 0.6 s after the start.
    let users = 30;
    let t = Tenant::bulk(users, 1, 5.0);
    let run = t.block_bulk(users, &["--incident"]);
    run.assert_code(0);
    let lines = run.lines();
    assert_eq!(lines.len(), users);
    for l in &lines {
        assert_eq!(l["outcome"], "locked", "{l:#}");
        let at = l["contained_at"]
            .as_str()
            .unwrap_or_else(|| panic!("{l:#}"));
        assert!(
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok(),
            "{at}"
        );
    }

    let requests = t.emu.requests();
    let sixth = requests
        .iter()
        .enumerate()
        .filter(|(_, r)| methods_list(r))
        .nth(5)
        .map(|(n, _)| n)
        .expect("a methods list per user");
    let contain: Vec<(usize, &RequestRecord)> = requests
        .iter()
        .enumerate()
        .filter(|(_, r)| containment_write(r) && (200..300).contains(&r.status))
        .collect();
    assert_eq!(
        contain.len(),
        users * 3,
        "three containment writes per user"
    );
    let late: Vec<String> = contain
        .iter()
        .filter(|(n, _)| *n > sixth)
        .map(|(_, r)| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        late.is_empty(),
        "containment writes after the 6th methods request: {late:#?}"
    );

    // Containment goes at high priority; the clean-up's requests at low.
    for (_, r) in &contain {
        assert_eq!(
            r.priority.as_deref(),
            Some("high"),
            "{} {}",
            r.method,
            r.path
        );
    }
    for r in requests.iter().filter(|r| methods_list(r)) {
        assert_eq!(
            r.priority.as_deref(),
            Some("low"),
            "{} {}",
            r.method,
            r.path
        );
    }
    for r in requests
        .iter()
        .filter(|r| r.in_batch || !r.path.ends_with("/$batch"))
        .filter(|r| r.path.starts_with("/v1.0/devices"))
    {
        assert_eq!(
            r.priority.as_deref(),
            Some("low"),
            "{} {}",
            r.method,
            r.path
        );
    }
    assert!(run.stderr.contains("30 contained"), "{}", run.stderr);
}

#[test]
fn the_text_result_says_when_the_account_was_contained() {
    let t = Tenant::start();
    let run = t
        .lockdown()
        .args(["block", "--yes", "adele@contoso.com"])
        .run();
    run.assert_code(0);
    let line = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("contained at "))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    // `contained at 14:02:11 UTC`
    let clock = line
        .trim()
        .trim_start_matches("contained at ")
        .trim_end_matches(" UTC");
    assert!(
        time::Time::parse(
            clock,
            time::macros::format_description!("[hour]:[minute]:[second]")
        )
        .is_ok(),
        "{line}"
    );
}

#[test]
fn an_account_that_could_not_be_contained_says_null() {
    // Graph refuses to disable a user synced from on-premises AD, or to reset its password:
    // its containment did not complete.
    let t = Tenant::start();
    let run = t.block_json(&["grady@contoso.com"]);
    let l = run.one();
    assert_eq!(l["outcome"], "partial");
    assert!(l["contained_at"].is_null(), "{l:#}");
    assert!(l.as_object().unwrap().contains_key("contained_at"));
}
