//! Integration tests: the real `lockdown` binary against the emulated tenant, asserting both
//! what it prints and the tenant's state afterwards. One test binary, a module per area.

mod support;

mod auth;
mod block;
mod bulk;
mod check;
mod cli;
mod contain;
mod devices;
mod docs;
mod evidence;
mod guards;
mod hybrid;
mod incident;
mod input;
mod newcomer;
mod records;
mod reliability;
mod schema;
mod secrets;
mod snapshots;
mod status;
mod unblock;
mod watch;
