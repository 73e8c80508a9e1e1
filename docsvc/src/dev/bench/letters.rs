//! The letters the bench writes: one part each, written with the PIN.

use bytes::Bytes;

use crate::Result;
use crate::crypto::envelope::Urgency;
use crate::letters::documents::{Ingest, NewLetter};
use crate::node::Node;
use crate::officials::{Caller, directory};

/// A letter from `from` to `to` begun with the PIN: (nomor, perihal, level).
pub(super) async fn begin<'a>(
    node: &'a Node,
    from: &directory::Official,
    to: &str,
    (nomor, perihal, classification): (String, String, policies::Level),
) -> Result<Ingest<'a>> {
    Ingest::begin(
        node,
        Caller {
            official: from.clone(),
            stepped_up: true,
            client: None,
        },
        NewLetter {
            nomor,
            kode: None,
            perihal,
            classification,
            urgency: Urgency::Biasa,
            recipients: vec![to.to_owned()],
            copies: vec![],
            dated: None,
            refers: None,
            on_behalf: None,
        },
    )
    .await
}

/// A letter of one part, written with the PIN: (nomor, perihal, level), (name, media, bytes).
/// Returns its id.
pub(super) async fn one_part_letter(
    node: &Node,
    from: &directory::Official,
    to: &str,
    head: (String, String, policies::Level),
    (name, media, bytes): (&str, &str, Vec<u8>),
) -> Result<String> {
    let mut ingest = begin(node, from, to, head).await?;
    ingest
        .add_part(
            name,
            media,
            futures_util::stream::iter([Ok::<Bytes, std::convert::Infallible>(Bytes::from(bytes))]),
        )
        .await?;
    Ok(ingest.finish().await?.manifest.id)
}
