//! Tokens and generated passwords never reach stdout or stderr, at any verbosity.

use crate::support::Tenant;

#[test]
fn nothing_secret_at_the_most_verbose_level() {
    for (verbosity, rust_log) in [("-vv", None), ("-v", Some("trace"))] {
        let t = Tenant::start();
        let token = t.emu.admin_token();
        let mut cmd = t.lockdown();
        cmd.args([
            "block",
            "--yes",
            verbosity,
            "-o",
            "json",
            "adele@contoso.com",
            "grady@contoso.com",
            "nobody@contoso.com",
        ]);
        if let Some(level) = rust_log {
            cmd.env("RUST_LOG", level);
        }
        let run = cmd.run();
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(all.len() > 200, "expected logs: {all}");
        assert!(!all.contains(&token), "the token leaked");
        // Part of the token is enough to leak it.
        assert!(
            !all.contains(&token[token.len() - 20..]),
            "the token's signature leaked"
        );
        let pw = t.user("adele@contoso.com").password.expect("password set");
        assert!(!all.contains(&pw), "the generated password leaked");
    }
}
