//! Housekeeping of what letters being written leave behind when they never finish.

use time::OffsetDateTime;

use crate::Result;
use crate::letters::register;
use crate::node::Node;
use crate::store::{content, parts};

/// Removes what uploads abandoned for longer than `minutes` left (a client that went away
/// mid-upload, a crash of the node), and chunks and content files that belong to no letter
/// and no upload. Returns how many chunks and files were removed.
pub async fn sweep_abandoned(node: &Node, minutes: i64) -> Result<u64> {
    let ago = time::Duration::minutes(minutes);
    let cutoff = crate::rfc3339(OffsetDateTime::now_utc() - ago);
    let mut removed = 0;
    for key in parts::uploads_started_before(&node.store, &cutoff).await? {
        removed += parts::sweep_upload(&node.store, &key).await?;
        if content::remove_unused(&node.store, &key).await {
            removed += 1;
        }
    }
    removed += parts::delete_orphan_chunks(&node.store).await?;
    let since = std::time::SystemTime::now()
        - std::time::Duration::from_secs(u64::try_from(ago.whole_seconds()).unwrap_or(0));
    removed += content::sweep_files(&node.store, since).await?;
    // Numbers reserved by letters that never came (a stopped process, a dropped upload)
    // stay in the register as void.
    removed += register::void_stale(node, &cutoff).await?;
    Ok(removed)
}
