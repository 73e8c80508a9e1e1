//! The kinds of signature sandi makes, each its own CMS content type.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911;

/// What a signature means. Each kind is its own CMS content type (the `eContentType`, bound by
/// the signed content-type attribute, RFC 5652 §11.1), so a signature made for one purpose is
/// never taken for another: an application's signature through `/api/v1/sign` over a letter
/// manifest's digest is not a letter signature, an approval is not a destruction record.
///
/// The OIDs sit under `2.25.3640695297` (the low 32 bits of keymgr's `SANDI_ARC` UUID): the
/// CMS library holds 32-bit arcs, which a full 2.25 UUID arc is not. An integer below 2^32 is
/// no generated UUID (those carry a version nibble above bit 76), so the arc meets no one
/// else's; it gives way to the city's registered arc when there is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A letter's manifest, signed by its originator (or by who reclassified it).
    Manifest,
    /// The second approval of a letter held by dual control, over its manifest.
    Approval,
    /// A destruction record (berita acara pemusnahan).
    Destruction,
    /// Whatever an application has signed through `/api/v1/sign`.
    Api,
    /// A PAdES signature in a letter's PDF (`crypto::pades`): id-data, as EN 319 142-1 asks.
    Pdf,
    /// A disposisi or its tindak lanjut (`letters::disposition`), or a paraf on a draft.
    Disposition,
    /// A head's mandate for another official to sign on their behalf (`letters::mandate`).
    Mandate,
}

/// The arc under which sandi's signature kinds live.
pub const KIND_ARC: &str = "2.25.3640695297.1";

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Manifest,
        Kind::Approval,
        Kind::Destruction,
        Kind::Api,
        Kind::Pdf,
        Kind::Disposition,
        Kind::Mandate,
    ];

    /// The CMS content type of signatures of this kind.
    pub const fn oid(self) -> ObjectIdentifier {
        match self {
            Kind::Manifest => ObjectIdentifier::new_unwrap("2.25.3640695297.1.1"),
            Kind::Approval => ObjectIdentifier::new_unwrap("2.25.3640695297.1.2"),
            Kind::Destruction => ObjectIdentifier::new_unwrap("2.25.3640695297.1.3"),
            // .4 is a node's receipt (`crypto::receipt`), signed with the node's own key.
            Kind::Api => ObjectIdentifier::new_unwrap("2.25.3640695297.1.5"),
            Kind::Pdf => rfc5911::ID_DATA,
            Kind::Disposition => ObjectIdentifier::new_unwrap("2.25.3640695297.1.6"),
            Kind::Mandate => ObjectIdentifier::new_unwrap("2.25.3640695297.1.7"),
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Manifest => "manifest",
            Kind::Approval => "approval",
            Kind::Destruction => "destruction",
            Kind::Api => "api",
            Kind::Pdf => "pdf",
            Kind::Disposition => "disposition",
            Kind::Mandate => "mandate",
        }
    }
}
