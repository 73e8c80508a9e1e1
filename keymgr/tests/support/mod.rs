//! Test fixtures shared by keymgr's tests: a fresh PostgreSQL database per test.
#![allow(dead_code, unreachable_pub)]

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A fresh PostgreSQL database for this test, or None (outside CI) when none is reachable.
pub async fn postgres() -> Option<(String, String)> {
    use sqlx::Connection;
    let admin = std::env::var("SANDI_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) if under_ci() => panic!("PostgreSQL at {admin} is unreachable under CI: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: PostgreSQL at {admin} is unreachable: {e}");
            return None;
        }
    };
    let name = format!("keymgr_test_{}", uuid::Uuid::new_v4().simple());
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

pub async fn drop_postgres(name: &str) {
    use sqlx::Connection;
    let admin = std::env::var("SANDI_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await;
    }
}
