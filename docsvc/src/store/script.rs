//! Several statements of one transaction sent together. sqlx runs each SQLite connection on a
//! thread of its own, and every statement is a trip there and back (two thread switches); a
//! script of several statements is one trip on SQLite. PostgreSQL takes one statement a
//! prepared query, so there a script is its statements one after another, as before.

use std::borrow::Cow;

pub use sqlx::any::AnyRow as Row;

use super::Tx;
use crate::{Error, Result};

/// A value bound to a statement of a script.
#[derive(Clone)]
pub enum Arg {
    Text(String),
    Blob(Vec<u8>),
    Int(i64),
    /// A text column left empty.
    Null,
    /// A blob column left empty.
    NoBlob,
}

// Blobs may be ciphertext; texts are ids and names. Neither is shown.
impl std::fmt::Debug for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arg::Text(_) => "Text",
            Arg::Blob(_) => "Blob",
            Arg::Int(_) => "Int",
            Arg::Null | Arg::NoBlob => "Null",
        })
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(v.clone())
    }
}

impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Arg::Blob(v.to_vec())
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Arg::Null, Arg::from)
    }
}

/// Statements to run in order in one transaction, each with its own `$1..$n` parameters.
#[derive(Debug, Default)]
pub struct Script {
    statements: Vec<(Cow<'static, str>, Vec<Arg>)>,
}

/// Statements in one script at most: a script's text is cached as one prepared statement
/// per shape, and a long one is better split.
const LONGEST: usize = 64;

impl Script {
    pub fn new() -> Self {
        Script::default()
    }

    /// Adds `sql`, whose parameters are `$1..$n` in the order of `args`.
    pub fn push(&mut self, sql: impl Into<Cow<'static, str>>, args: Vec<Arg>) {
        self.statements.push((sql.into(), args));
    }

    fn first(&mut self, sql: &'static str) {
        self.statements.insert(0, (sql.into(), Vec::new()));
    }

    /// Runs the statements in order inside `tx` and returns the rows they gave (those with
    /// `RETURNING`), in order. A failing statement stops the script: the ones before it have
    /// run, so the caller rolls back (to a savepoint, or the transaction).
    pub async fn run(self, tx: &mut Tx) -> Result<Vec<Row>> {
        self.run_marking(tx, &mut false).await
    }

    /// [`Script::run`], setting `sent` just before the first statement goes to the database:
    /// a script whose text cannot be made sends nothing.
    async fn run_marking(self, tx: &mut Tx, sent: &mut bool) -> Result<Vec<Row>> {
        if self.statements.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = Vec::new();
        if (**tx).backend_name() != "SQLite" {
            *sent = true;
            for (sql, args) in self.statements {
                rows.extend(bind(sqlx::query(&sql), args).fetch_all(&mut **tx).await?);
            }
            return Ok(rows);
        }
        let mut texts = Vec::new();
        let mut statements = self.statements;
        while !statements.is_empty() {
            let rest = statements.split_off(statements.len().min(LONGEST));
            texts.push(joined(statements)?);
            statements = rest;
        }
        *sent = true;
        for (text, args) in texts {
            rows.extend(bind(sqlx::query(&text), args).fetch_all(&mut **tx).await?);
        }
        Ok(rows)
    }
}

/// A piece of work inside a transaction that may fail alone (see `audit::grouped`): its
/// statements go through here, the first of them opening its savepoint and the last keeping
/// it, in the same trips as the piece's own statements. One at a time in a transaction.
#[derive(Debug, Default)]
pub struct Savepoint {
    opened: bool,
    released: bool,
}

const OPEN: &str = "SAVEPOINT piece";
const RELEASE: &str = "RELEASE SAVEPOINT piece";

impl Savepoint {
    /// Opens the savepoint now, if it is not yet open (before statements sent on their own).
    pub async fn open(&mut self, tx: &mut Tx) -> Result<()> {
        self.run(tx, Script::new()).await.map(drop)
    }

    /// Runs `script` inside the savepoint, opening it first if needed.
    pub async fn run(&mut self, tx: &mut Tx, mut script: Script) -> Result<Vec<Row>> {
        if self.released {
            return Err(Error::Invariant {
                what: "a piece writes nothing after what it wrote is kept",
            });
        }
        if !self.opened {
            script.first(OPEN);
        }
        // Open once anything was sent: a script that fails midway may have opened it.
        let mut sent = false;
        let ran = script.run_marking(tx, &mut sent).await;
        self.opened |= sent;
        ran
    }

    /// Runs the piece's last statements and keeps what it wrote.
    pub async fn finish(&mut self, tx: &mut Tx, mut script: Script) -> Result<Vec<Row>> {
        script.push(RELEASE, Vec::new());
        let rows = self.run(tx, script).await?;
        self.released = true;
        Ok(rows)
    }

    /// After the piece: keeps what it wrote (`kept`) or undoes it. An `Err` is a transaction
    /// that can no longer be used.
    pub async fn settle(self, tx: &mut Tx, kept: bool) -> Result<()> {
        match (self.opened, self.released, kept) {
            (false, _, _) | (true, true, true) => Ok(()),
            // Failed after what it wrote was kept: the transaction must not commit.
            (true, true, false) => Err(Error::Invariant {
                what: "a piece that failed after what it wrote was kept",
            }),
            (true, false, true) => {
                sqlx::query(RELEASE).execute(&mut **tx).await?;
                Ok(())
            }
            // Also after a failed statement, which PostgreSQL would otherwise hold against
            // the whole transaction.
            (true, false, false) => {
                sqlx::query("ROLLBACK TO SAVEPOINT piece")
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(RELEASE).execute(&mut **tx).await?;
                Ok(())
            }
        }
    }
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::Text(v) => q.bind(v),
            Arg::Blob(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::Null => q.bind(None::<String>),
            Arg::NoBlob => q.bind(None::<Vec<u8>>),
        };
    }
    q
}

/// One text for SQLite, with anonymous parameters: each `$k` becomes `?`, bound to the
/// statement's `k`th value in the order the parameters appear (sqlx binds anonymous
/// parameters in order across the statements of a text; numbered ones there count from the
/// first statement's, and a gap stops its binding).
fn joined(statements: Vec<(Cow<'static, str>, Vec<Arg>)>) -> Result<(String, Vec<Arg>)> {
    let mut text = String::new();
    let mut all = Vec::new();
    for (sql, args) in statements {
        // Which value each parameter takes, in the order they appear.
        let mut order = Vec::with_capacity(args.len());
        let mut chars = sql.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '$' {
                text.push(c);
                continue;
            }
            let mut n = 0usize;
            while let Some(v) = chars.peek().and_then(|d| d.to_digit(10)) {
                n = n.saturating_mul(10).saturating_add(v as usize);
                chars.next();
            }
            let k = n
                .checked_sub(1)
                .filter(|k| *k < args.len())
                .ok_or(Error::Invariant {
                    what: "a script's parameters are $1..$n, one value each",
                })?;
            text.push('?');
            order.push(k);
        }
        let mut uses = vec![0usize; args.len()];
        for &k in &order {
            if let Some(u) = uses.get_mut(k) {
                *u += 1;
            }
        }
        if uses.contains(&0) {
            return Err(Error::Invariant {
                what: "a script's statement uses every value it is given",
            });
        }
        // Each value moved to its last use, copied only for a parameter named twice.
        let mut slots: Vec<Option<Arg>> = args.into_iter().map(Some).collect();
        for k in order {
            if let (Some(u), Some(slot)) = (uses.get_mut(k), slots.get_mut(k)) {
                *u -= 1;
                all.extend(if *u == 0 { slot.take() } else { slot.clone() });
            }
        }
        text.push_str(";\n");
    }
    Ok((text, all))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(statements: Vec<(&'static str, Vec<Arg>)>) -> Result<(String, Vec<Arg>)> {
        joined(statements.into_iter().map(|(s, a)| (s.into(), a)).collect())
    }

    #[test]
    fn parameters_are_numbered_across_the_statements() {
        let (text, args) = of(vec![
            (
                "INSERT INTO a (x, y) VALUES ($1, $2)",
                vec![1i64.into(), 2i64.into()],
            ),
            (
                "UPDATE b SET z = $2 WHERE w = $1",
                vec![3i64.into(), 4i64.into()],
            ),
            ("SAVEPOINT piece", vec![]),
        ])
        .expect("joined");
        assert_eq!(
            text,
            "INSERT INTO a (x, y) VALUES (?, ?);\nUPDATE b SET z = ? WHERE w = ?;\n\
             SAVEPOINT piece;\n"
        );
        let ints: Vec<i64> = args
            .iter()
            .map(|a| match a {
                Arg::Int(v) => *v,
                _ => -1,
            })
            .collect();
        assert_eq!(ints, [1, 2, 4, 3]);
    }

    #[test]
    fn a_statement_with_the_wrong_number_of_values_is_refused() {
        assert!(of(vec![("SELECT $1, $2", vec![1i64.into()])]).is_err());
        assert!(of(vec![("SELECT $0", vec![])]).is_err());
        assert!(of(vec![("SELECT $", vec![])]).is_err());
        assert!(of(vec![("SELECT $2", vec![1i64.into(), 2i64.into()])]).is_err());
    }
}
