-- Letters received from other nodes: from where, the hash of the manifest as received (what
-- the receipt names; a second delivery is compared with it), when.
CREATE TABLE received (
    document_id TEXT PRIMARY KEY REFERENCES documents(id),
    from_node TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    received_at TEXT NOT NULL
);
