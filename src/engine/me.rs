//! The "never lock yourself" guard. With a delegated token, `/me` is read once per run, in the
//! first user's first read, and every user waits for it before its first write. A guard that
//! cannot tell who is signed in does not switch itself off: it refuses (unless `--force`).
//! App-only tokens have no `/me` (learn: graph/api/user-get, "/me request is only valid with
//! delegated authentication flow").

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;
use tracing::info;

use crate::auth::TokenKind;
use crate::graph::{GraphError, GraphResponse};

#[derive(Debug, Clone)]
enum State {
    /// No signed-in user: an application.
    App,
    Me {
        id: String,
        upn: Option<String>,
    },
    /// `/me` could not be read: why.
    Unreadable(String),
}

pub struct MeGuard {
    claimed: AtomicBool,
    state: watch::Sender<Option<State>>,
}

impl MeGuard {
    pub fn new(kind: TokenKind) -> MeGuard {
        let initial = (kind == TokenKind::AppOnly).then_some(State::App);
        MeGuard {
            claimed: AtomicBool::new(initial.is_some()),
            state: watch::Sender::new(initial),
        }
    }

    /// Whether the caller should read `/me` (the first one to ask does).
    pub(crate) fn claim(&self) -> bool {
        !self.claimed.swap(true, Ordering::Relaxed)
    }

    /// Record what `/me` answered.
    pub(crate) fn settle(&self, answer: Result<GraphResponse, GraphError>) {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Body {
            id: String,
            user_principal_name: Option<String>,
        }
        let state = match answer.and_then(|r| r.json::<Body>()) {
            Ok(me) => {
                info!(
                    "signed in as {}",
                    me.user_principal_name.as_deref().unwrap_or(&me.id)
                );
                State::Me {
                    id: me.id.to_ascii_lowercase(),
                    upn: me.user_principal_name.map(|u| u.to_ascii_lowercase()),
                }
            }
            // `/me request is only valid with delegated authentication flow.`
            Err(e) if e.status() == Some(400) => State::App,
            Err(e) => State::Unreadable(e.to_string()),
        };
        self.state.send_replace(Some(state));
    }

    /// Why the account `id`/`upn` must not be locked by this run, if it must not. Waits for
    /// `/me` to be read.
    pub(crate) async fn refusal(&self, id: &str, upn: Option<&str>) -> Option<String> {
        let mut rx = self.state.subscribe();
        let state = match rx.wait_for(Option::is_some).await {
            Ok(state) => state.clone().expect("waited for it"),
            Err(_) => State::Unreadable("the check was never made".into()),
        };
        match state {
            State::App => None,
            State::Me { id: me, upn: me_upn } => (me == id || (me_upn.is_some() && me_upn.as_deref() == upn)).then(|| {
                "this is the account running lockdown; locking it would cut off this session (pass --force to lock it anyway)".into()
            }),
            State::Unreadable(why) => Some(format!(
                "the signed-in account could not be read ({why}), so lockdown cannot tell whether this is the account running it; nothing was written (pass --force to go on without that guard)"
            )),
        }
    }
}
