-- When each official first opened each letter: the inbox's unread state. The access log has
-- every opening; this is the one fact the inbox needs, indexed for it.
CREATE TABLE reads (
    document_id TEXT NOT NULL,
    nip TEXT NOT NULL,
    first_read_at TEXT NOT NULL,
    PRIMARY KEY (nip, document_id)
);
