-- Officials of other nodes as last fetched (their key bindings, verified on every use), so
-- that a letter can be written to them while their node is down: it waits in the outbox.
CREATE TABLE remote_officials (
    address TEXT PRIMARY KEY,
    card TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);
