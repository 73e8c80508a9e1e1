-- Disposisi: an addressee of a letter passes it down inside their agency with an instruction,
-- an optional due day and a note; whoever receives one may pass it on (`parent_id`), and each
-- reports back (tindak lanjut). A disposisi is the only grant of access to a letter besides its
-- addressing, so every row carries the node's MAC: a database writer cannot add a reader.
-- Notes and reports are encrypted to the letter level's archive key (`key_id`, so a retired
-- key is kept while any is wrapped to it); the MAC binds the plaintext's SHA-256, and the
-- disposer's (or reporter's) signature binds the same statement.
CREATE TABLE dispositions (
    id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL,
    parent_id TEXT,
    agency TEXT NOT NULL,
    from_nip TEXT NOT NULL,
    to_nip TEXT NOT NULL,
    instruction TEXT NOT NULL,
    due TEXT,
    note BLOB NOT NULL,
    note_sha256 TEXT NOT NULL,
    key_id TEXT NOT NULL,
    at TEXT NOT NULL,
    signature BLOB NOT NULL,
    mac TEXT NOT NULL,
    -- When the recipient first opened the letter through it: the "read" state, nothing more.
    read_at TEXT
);
CREATE INDEX dispositions_document ON dispositions (document_id, at);
CREATE INDEX dispositions_to ON dispositions (to_nip, at);

CREATE TABLE disposition_reports (
    id TEXT PRIMARY KEY,
    disposition_id TEXT NOT NULL,
    nip TEXT NOT NULL,
    state TEXT NOT NULL,
    -- The text and the files' names (shown on the chain) apart from the files themselves
    -- (read only when one is downloaded).
    body BLOB NOT NULL,
    body_sha256 TEXT NOT NULL,
    files BLOB NOT NULL,
    files_sha256 TEXT NOT NULL,
    key_id TEXT NOT NULL,
    at TEXT NOT NULL,
    signature BLOB NOT NULL,
    mac TEXT NOT NULL
);
CREATE INDEX disposition_reports_of ON disposition_reports (disposition_id, at);
