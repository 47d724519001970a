//! The embedded PostgreSQL's data directory: readable by its owner only, whoever runs it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use klinivo::db::embedded::{EmbeddedPostgres, Options};

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file and directory under `dir`, `dir` included.
fn everything(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < all.len() {
        if fs::symlink_metadata(&all[i]).unwrap().is_dir() {
            let children: Vec<PathBuf> = fs::read_dir(&all[i]).unwrap().map(|e| e.unwrap().path()).collect();
            all.extend(children);
        }
        i += 1;
    }
    all
}

fn assert_private(data_dir: &Path) {
    assert_eq!(mode(data_dir), 0o700, "the data directory");
    assert_eq!(mode(&data_dir.join("postgres")), 0o700, "the cluster");
    assert_eq!(mode(&data_dir.join("password")), 0o600, "the password file");
    assert_eq!(mode(&data_dir.join("postgres.log")), 0o600, "the log");
    assert!(!data_dir.join(".initdb-pw").exists(), "initdb's copy of the password is removed");
    let password = fs::read_to_string(data_dir.join("password")).unwrap();
    let password = password.trim();
    assert_eq!(password.len(), 32);
    for path in everything(data_dir) {
        let shared = mode(&path) & 0o077;
        assert_eq!(shared, 0, "{} is open to other accounts ({:o})", path.display(), mode(&path));
        if fs::symlink_metadata(&path).unwrap().is_file() {
            let holds_password = fs::read(&path).unwrap().windows(password.len()).any(|w| w == password.as_bytes());
            assert!(!holds_password || mode(&path) == 0o600, "{} holds the password", path.display());
        }
    }
}

#[tokio::test]
async fn the_data_directory_and_its_secrets_are_the_owners_alone() {
    let dir = tempfile::tempdir().unwrap();
    // Run as root, PostgreSQL runs as an unprivileged account that must reach the directory.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let data_dir = dir.path().join("data");
    let options = Options { ephemeral: true, ..Options::default() };

    let mut pg = EmbeddedPostgres::start(&data_dir, options).await.unwrap_or_else(|e| panic!("{e}"));
    assert_private(&data_dir);
    pg.stop();

    // A directory left open by an earlier version is narrowed at the next start.
    for (path, wide) in
        [(data_dir.clone(), 0o755), (data_dir.join("password"), 0o644), (data_dir.join("postgres.log"), 0o644)]
    {
        fs::set_permissions(&path, fs::Permissions::from_mode(wide)).unwrap();
    }
    let mut pg = EmbeddedPostgres::start(&data_dir, options).await.unwrap_or_else(|e| panic!("{e}"));
    assert_private(&data_dir);
    sqlx::PgPool::connect(pg.url()).await.expect("the password still works").close().await;
    pg.stop();
}
