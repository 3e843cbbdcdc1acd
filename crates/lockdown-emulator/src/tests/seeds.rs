//! The seeded tenants: Contoso's shape, the bulk seed's speed, and the accessors tests use.

use super::*;

#[test]
fn bulk_seed_is_fast() {
    let t0 = Instant::now();
    let t = seed::bulk(10_000, 2);
    let took = t0.elapsed();
    eprintln!("bulk seed of 10,000 users x 2 devices: {took:?}");
    assert_eq!(t.users.len(), 10_001);
    assert_eq!(t.devices.len(), 20_000);
    assert!(t.find_user("USER10000@contoso.com").is_some());
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn contoso_seed_shape() {
    let t = seed::contoso();
    assert!((50..=500).contains(&t.users.len()), "medium tenant");
    let kiosk = t.find_user("kiosk@contoso.com").unwrap();
    assert_eq!(t.users[kiosk].devices.len(), 120);
    assert!(t.find_user("$LIDIA@contoso.com").is_some());
    assert!(routes::password_ok("Xy7!abcdefgh"));
    assert!(!routes::password_ok("Xy7abcdefgh\u{e9}"));
}

#[test]
fn accessors_work_from_a_plain_thread() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt.block_on(start());
    let users = emu.users();
    assert_eq!(users.len(), 55);
    let johanna = emu.user(contoso_ids::JOHANNA).unwrap();
    assert!(!johanna.account_enabled);
    assert!(!emu.device(&johanna.device_ids[0]).unwrap().account_enabled);
    assert_eq!(
        emu.user("BreakGlass@Contoso.com").unwrap().directory_roles,
        vec!["Global Administrator".to_string()]
    );
    emu.shutdown();
}
