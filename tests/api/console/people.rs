//! Owners invite and disable people; admins cannot.

use super::browser::*;
use crate::helpers::*;
use klinivo::domain::accounts::users::Role;

#[tokio::test]
async fn owners_invite_and_disable_admins_and_admins_cannot() {
    let app = TestApp::spawn().await;
    let (mut owner, owner_id, _) = signed_in(&app, app.org_id, Role::Owner).await;
    let page = owner
        .submit("/console/users", "/console/users", &[("email", "new.admin@northside.test"), ("role", "admin")])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let link = page.text_of("link");
    let path = link.split_once("/console/").map(|(_, p)| format!("/console/{p}")).unwrap();
    let mut invited = Browser::new(&app);
    let set = invited.submit(&path, &path, &[("password", PASSWORD), ("repeat", PASSWORD)]).await;
    assert_eq!(set.status, 303);
    assert_eq!(invited.sign_in("new.admin@northside.test", PASSWORD).await.status, 303);

    // The same address twice: refused with a message, nothing created.
    let page = owner
        .submit("/console/users", "/console/users", &[("email", "NEW.admin@northside.test"), ("role", "owner")])
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("already has a console account"));

    // An admin sees no Users page and cannot post to it.
    assert_eq!(invited.get("/console/users").await.status, 403);
    assert!(!invited.get("/console/keys").await.body.contains("href=\"/console/users\""));
    let csrf = invited.get("/console/keys").await.csrf();
    let page =
        invited.post("/console/users", &[("csrf", &csrf), ("email", "x@northside.test"), ("role", "owner")]).await;
    assert_eq!(page.status, 403);
    let page = invited.post(&format!("/console/users/{owner_id}/disable"), &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 403);

    // An owner cannot disable themselves (nor the last owner be disabled another way).
    let csrf = owner.get("/console/users").await.csrf();
    assert_eq!(owner.post(&format!("/console/users/{owner_id}/disable"), &[("csrf", &csrf)]).await.status, 409);
    let mut tx = app.db.begin().await.unwrap();
    let refused = klinivo::domain::accounts::users::disable(&mut tx, None, owner_id).await;
    assert!(refused.is_err(), "the last owner was disabled");
}
