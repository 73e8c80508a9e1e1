-- Letters being uploaded: their chunks are written before the letter's row exists. A row here
-- older than the configured limit (and with no letter) is an abandoned upload, e.g. from a
-- crash, and its chunks are swept.
CREATE TABLE uploads (
    document_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL
);
