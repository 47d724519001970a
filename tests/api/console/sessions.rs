//! Sign-in, set-password links, sessions and their ends, the throttle, CSRF and the headers.

use super::browser::*;
use crate::helpers::*;
use klinivo::domain::accounts::users::{self, Role};

#[tokio::test]
async fn pages_need_a_session_and_sign_in_gives_a_strict_http_only_cookie() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    for path in ["/console/keys", "/console/webhooks", "/console/audit", "/console/users", "/console/account"] {
        let page = browser.get(path).await;
        assert_eq!((page.status, page.location()), (303, Some("/console/sign-in")), "{path}");
    }
    let email = "owner@northside.test";
    person(&app, app.org_id, email, Role::Owner).await;
    let page = browser.sign_in(email, PASSWORD).await;
    assert_eq!(page.status, 303);
    let cookie = page
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("klinivo_console="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: no Secure attribute ({cookie})");
    let page = browser.get("/console/keys").await;
    assert_eq!(page.status, 200);
    let csp = page.headers.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers.get("x-frame-options").unwrap(), "DENY");
    assert!(!page.body.contains("<script>"), "an inline script");

    // Only a hash of the token is stored.
    let token = browser.cookies["klinivo_console"].clone();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM console_sessions WHERE token_hash = sha256($1::bytea)")
        .bind(token.as_bytes())
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    let plain: i64 =
        sqlx::query_scalar("SELECT count(*) FROM console_sessions WHERE encode(token_hash, 'escape') = $1")
            .bind(&token)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(plain, 0);

    // Sign-out ends the session on the server, not only in the browser.
    let kept = browser.cookies.clone();
    let csrf = browser.get("/console/keys").await.csrf();
    let page = browser.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 303);
    browser.cookies = kept;
    assert_eq!(browser.get("/console/keys").await.status, 303);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_account_get_the_same_answer_then_the_throttle() {
    let app = TestApp::spawn().await;
    let email = "admin@northside.test";
    person(&app, app.org_id, email, Role::Admin).await;
    let mut browser = Browser::new(&app);
    let wrong = browser.sign_in(email, "not the password at all").await;
    let unknown = browser.sign_in("nobody@northside.test", "not the password at all").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert!(wrong.body.contains("Email or password is incorrect."));
    assert!(unknown.body.contains("Email or password is incorrect."));
    // Four more failures for the account: then even the right password is turned away.
    for _ in 0..4 {
        assert_eq!(browser.sign_in(email, "still not the password").await.status, 401);
    }
    let refused = browser.sign_in(email, PASSWORD).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.body.contains("Too many sign-in attempts"));
    assert!(!refused.body.contains("incorrect"));
    assert!(browser.cookies.get("klinivo_console").is_none());

    // Other accounts from the same address still sign in (below the address's own limit)…
    let other = "owner@northside.test";
    person(&app, app.org_id, other, Role::Owner).await;
    assert_eq!(Browser::new(&app).sign_in(other, PASSWORD).await.status, 303);
    // …until the address has failed 20 times in the window, whatever the accounts.
    for i in 0..14 {
        Browser::new(&app).sign_in(&format!("guess{i}@northside.test"), "wrong wrong wrong").await;
    }
    assert_eq!(Browser::new(&app).sign_in(other, PASSWORD).await.status, 429);

    // A failure against a real account is in its organization's audit log, by user id.
    let denied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE organization_id = $1 AND action = 'denied'
           AND resource_type = 'console_session' AND user_id IS NOT NULL AND key_prefix IS NULL",
    )
    .bind(app.org_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(denied, 5);
}

#[tokio::test]
async fn forms_without_their_token_or_from_another_site_change_nothing() {
    let app = TestApp::spawn().await;
    let (mut browser, _, _) = signed_in(&app, app.org_id, Role::Admin).await;
    let keys_before: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys").fetch_one(&app.db).await.unwrap();
    let csrf = browser.get("/console/keys/new").await.csrf();
    let fields = [("name", "Intake vendor"), ("permissions", "READ_PATIENTS")];

    let page = browser.post("/console/keys", &fields).await;
    assert_eq!(page.status, 403, "no token");
    assert!(page.body.contains("Request refused"));
    let with_token = [("csrf", csrf.as_str()), ("name", "Intake vendor"), ("permissions", "READ_PATIENTS")];
    let page = browser.post("/console/keys", &[("csrf", "x".repeat(43).as_str()), fields[0], fields[1]]).await;
    assert_eq!(page.status, 403, "a wrong token");
    let page = browser.post_from("/console/keys", &with_token, Some("https://evil.example")).await;
    assert_eq!(page.status, 403, "another site's origin");
    let page = browser.post_from("/console/keys", &with_token, None).await;
    assert_eq!(page.status, 403, "no origin at all");
    let keys_after: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys").fetch_one(&app.db).await.unwrap();
    assert_eq!(keys_before, keys_after);

    // The sign-in form too: another site cannot sign a browser in to an account of its choosing.
    let mut stranger = Browser::new(&app);
    let page = stranger.post("/console/sign-in", &[("email", "a@b.test"), ("password", "whatever whatever")]).await;
    assert_eq!(page.status, 403);

    // And with its token and origin, the same form works.
    assert_eq!(browser.post("/console/keys", &with_token).await.status, 200);
}

#[tokio::test]
async fn a_set_password_link_works_once_and_not_after_it_expires() {
    let app = TestApp::spawn().await;
    let mut tx = app.db.begin().await.unwrap();
    let invitation = users::create(&mut tx, app.org_id, "Admin@Northside.test ", Role::Admin, None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(invitation.user.email, "admin@northside.test");
    let path = format!("/console/set-password/{}", invitation.token);
    let mut browser = Browser::new(&app);

    let page = browser.submit(&path, &path, &[("password", "short"), ("repeat", "short")]).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("at least 12 characters"));
    let page = browser.submit(&path, &path, &[("password", PASSWORD), ("repeat", "something else entirely")]).await;
    assert_eq!(page.status, 400);
    let page = browser.submit(&path, &path, &[("password", PASSWORD), ("repeat", PASSWORD)]).await;
    assert_eq!((page.status, page.location()), (303, Some("/console/sign-in?notice=password-set")));
    let again = browser.get(&path).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("expired or has been used"));

    // A new link, expired by the clock: refused.
    let mut tx = app.db.begin().await.unwrap();
    let fresh = users::reissue_link(&mut tx, None, invitation.user.id).await.unwrap();
    tx.commit().await.unwrap();
    sqlx::query("UPDATE console_password_links SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(browser.get(&format!("/console/set-password/{}", fresh.token)).await.status, 409);
    // The password stored is an Argon2id hash.
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM console_users WHERE id = $1")
        .bind(invitation.user.id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
}

#[tokio::test]
async fn sessions_end_when_idle_when_disabled_and_when_the_password_changes() {
    let app = TestApp::spawn().await;
    let (mut owner, owner_id, _) = signed_in(&app, app.org_id, Role::Owner).await;
    let (mut admin, admin_id, admin_email) = signed_in(&app, app.org_id, Role::Admin).await;

    // Idle past its expiry: gone.
    let (mut idle, idle_id, _) = signed_in(&app, app.org_id, Role::Admin).await;
    sqlx::query("UPDATE console_sessions SET idle_expires_at = now() - interval '1 second' WHERE user_id = $1")
        .bind(idle_id)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(idle.get("/console/keys").await.status, 303);

    // Disabled by an owner: the admin's open session ends at once, and sign-in is refused.
    let page = owner.submit("/console/users", &format!("/console/users/{admin_id}/disable"), &[]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(admin.get("/console/keys").await.status, 303);
    assert_eq!(Browser::new(&app).sign_in(&admin_email, PASSWORD).await.status, 401);

    // A password change ends every other session of the person; this browser stays signed in.
    let mut second = Browser::new(&app);
    let email: String = sqlx::query_scalar("SELECT email FROM console_users WHERE id = $1")
        .bind(owner_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(second.sign_in(&email, PASSWORD).await.status, 303);
    let new_password = "a different long passphrase";
    let page = owner
        .submit(
            "/console/account",
            "/console/account/password",
            &[("current", PASSWORD), ("password", new_password), ("repeat", new_password)],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Your password is changed"));
    assert_eq!(second.get("/console/keys").await.status, 303, "the other session survived");
    assert_eq!(owner.get("/console/keys").await.status, 200);
    assert_eq!(Browser::new(&app).sign_in(&email, PASSWORD).await.status, 401);
    assert_eq!(Browser::new(&app).sign_in(&email, new_password).await.status, 303);
}

#[tokio::test]
async fn guesses_sent_at_the_same_moment_are_throttled_like_any_others() {
    let app = TestApp::spawn().await;
    let email = "target@northside.test";
    person(&app, app.org_id, email, Role::Admin).await;
    let mut browser = Browser::new(&app);
    let csrf = browser.get("/console/sign-in").await.csrf();
    let cookie = format!("klinivo_console_form={}", browser.cookies["klinivo_console_form"]);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let guesses = (0..30).map(|i| {
        let (client, cookie, csrf, url, origin) =
            (client.clone(), cookie.clone(), csrf.clone(), app.url("/console/sign-in"), app.url(""));
        let password = if i == 29 { PASSWORD.to_string() } else { format!("guess number {i:04}") };
        async move {
            let body = serde_urlencoded::to_string([
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", password.as_str()),
            ])
            .unwrap();
            client
                .post(url)
                .header("Cookie", cookie)
                .header("Origin", origin)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s != 429).count();
    assert!(checked <= 5, "{checked} attempts were checked at once: {statuses:?}");
    assert!(!statuses.contains(&500));
}

#[tokio::test]
async fn a_wrong_current_password_is_throttled_and_audited() {
    let app = TestApp::spawn().await;
    let (mut browser, user_id, _) = signed_in(&app, app.org_id, Role::Owner).await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let page = browser
            .submit(
                "/console/account",
                "/console/account/password",
                &[
                    ("current", "not the password"),
                    ("password", "another long passphrase"),
                    ("repeat", "another long passphrase"),
                ],
            )
            .await;
        statuses.push(page.status);
    }
    assert_eq!(statuses[..5], [400; 5]);
    assert_eq!(statuses[5..], [429; 2], "{statuses:?}");
    let denied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE user_id = $1 AND action = 'denied' AND resource_type = 'console_user'",
    )
    .bind(user_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(denied, 5);
}

#[tokio::test]
async fn nul_bytes_unknown_methods_and_bad_ids_get_the_consoles_pages() {
    let app = TestApp::spawn().await;
    let mut stranger = Browser::new(&app);
    let page = stranger
        .submit("/console/sign-in", "/console/sign-in", &[("email", "a\0b@x.test"), ("password", "whatever whatever")])
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    let (mut browser, _, _) = signed_in(&app, app.org_id, Role::Owner).await;
    assert_eq!(browser.get("/console/audit?keyPrefix=%00").await.status, 400);
    assert_eq!(
        browser
            .submit("/console/keys/new", "/console/keys", &[("name", "\0"), ("permissions", "READ_PATIENTS")])
            .await
            .status,
        400
    );
    for path in ["/console/keys/abc/revoke", "/console/webhooks/99999999999999999999"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(page.body.contains("<h1>Not found</h1>"));
    }
    let r = app.client.delete(app.url("/console/keys")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(r.headers().get("content-security-policy").is_some());
}

#[tokio::test]
async fn a_null_origin_counts_only_with_the_browsers_same_origin_fetch_metadata() {
    let app = TestApp::spawn().await;
    let (mut browser, _, _) = signed_in(&app, app.org_id, Role::Admin).await;
    let csrf = browser.get("/console/keys/new").await.csrf();
    let body =
        serde_urlencoded::to_string([("csrf", csrf.as_str()), ("name", "Scribe"), ("permissions", "READ_PATIENTS")])
            .unwrap();
    let cookie = browser.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let post = |site: &'static str| {
        app.client
            .post(app.url("/console/keys"))
            .header("Cookie", cookie.clone())
            .header("Origin", "null")
            .header("Sec-Fetch-Site", site)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
    };
    assert_eq!(post("cross-site").await.unwrap().status(), 403);
    assert_eq!(post("same-site").await.unwrap().status(), 403);
    assert_eq!(post("same-origin").await.unwrap().status(), 200);
    let page = browser.get("/console/keys").await;
    assert_eq!(page.headers["referrer-policy"], "same-origin");
}
