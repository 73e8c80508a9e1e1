//! `audit export`: the log as JSON lines for a SIEM, read in pages so that a long log streams.

use std::io::Write;

use super::Entry;
use crate::store::Store;
use crate::store::audit_log;
use crate::{Error, Result};

/// Where an export starts.
#[derive(Clone, Copy, Debug)]
pub enum Since {
    Start,
    Seq(u64),
    Time(time::OffsetDateTime),
}

/// Writes entries as JSON lines (`seq`, `leaf_hash` and the entry's fields), reading the log in
/// pages so that a long log streams; returns how many were written.
pub async fn export(store: &Store, since: Since, out: &mut dyn Write) -> Result<u64> {
    let mut next = match since {
        Since::Seq(s) => i64::try_from(s).unwrap_or(i64::MAX),
        Since::Start | Since::Time(_) => 0,
    };
    let mut written = 0u64;
    loop {
        let rows = audit_log::entries_from(store, next).await?;
        let Some(last) = rows.last() else {
            return Ok(written);
        };
        next = last.seq + 1;
        for row in &rows {
            let entry: Entry = serde_json::from_str(&row.entry)
                .map_err(|e| Error::Integrity(format!("audit entry: {e}")))?;
            if let Since::Time(t) = since {
                if crate::parse_time(&entry.at).is_some_and(|at| at < t) {
                    continue;
                }
            }
            let mut line =
                serde_json::to_value(&entry).map_err(|e| Error::encode("an audit entry", e))?;
            line["seq"] = serde_json::json!(row.seq);
            line["leaf_hash"] = serde_json::json!(row.leaf_hash);
            serde_json::to_writer(&mut *out, &line)
                .map_err(|e| Error::encode("an export line", e))?;
            out.write_all(b"\n")
                .map_err(|e| Error::io("writing", "the export", e))?;
            written += 1;
        }
    }
}
