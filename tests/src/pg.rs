//! A fresh PostgreSQL database per test, at `SANDI_TEST_DATABASE_URL` (default: the local
//! server with trust auth). Outside CI an unreachable server means the test is skipped (it
//! says so); under CI it fails.

use sqlx::Connection;

fn admin_url() -> String {
    std::env::var("SANDI_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A new database: `(url, name)`, or `None` outside CI when PostgreSQL is unreachable.
pub async fn postgres() -> Option<(String, String)> {
    let admin = admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) if crate::under_ci() => panic!("PostgreSQL at {admin} is unreachable under CI: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: PostgreSQL at {admin} is unreachable: {e}");
            return None;
        }
    };
    let name = format!("sandi_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(b, _)| b)
        .to_string();
    Some((format!("{base}/{name}"), name))
}

/// Drops a database made by [`postgres`].
pub async fn drop_postgres(name: &str) {
    if let Ok(mut c) = sqlx::PgConnection::connect(&admin_url()).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await;
    }
}
