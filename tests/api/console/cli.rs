//! `klinivo user`: the link alone on stdout, and it works.

use crate::helpers::*;
use crate::process::{klinivo, stdout_lines};

#[tokio::test]
async fn user_create_prints_only_a_working_set_password_link() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        klinivo(dir.path())
            .args(args)
            .env("DATABASE_URL", &app.db_url)
            .env("KLINIVO_PUBLIC_URL", format!("http://{}", app.addr))
            .output()
            .unwrap()
    };
    let org = app.org_id.to_string();
    let out = run(&["user", "create", "--org", &org, "--email", "Owner@Clinic.test", "--role", "owner"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let link = &lines[0];
    assert!(link.starts_with(&format!("http://{}/console/set-password/", app.addr)), "{link}");
    let page = reqwest::get(link).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("owner@clinic.test"));

    let out = run(&["user", "create", "--org", &org, "--email", "owner@clinic.test", "--role", "admin"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let out = run(&["user", "create", "--org", &org, "--email", "not-an-address", "--role", "admin"]);
    assert!(!out.status.success());

    let out = run(&["user", "list", "--org", &org]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("owner@clinic.test"));
    let out = run(&["user", "disable", "owner@clinic.test"]);
    assert!(!out.status.success(), "the last owner was disabled");
    let out = run(&["user", "reset", "owner@clinic.test"]);
    assert!(out.status.success());
    assert_eq!(stdout_lines(&out).len(), 1);
    // The earlier link stopped working.
    assert_eq!(reqwest::get(link).await.unwrap().status(), 409);
}
