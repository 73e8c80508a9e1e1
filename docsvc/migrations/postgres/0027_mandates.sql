-- Mandates: a head lets another official of the agency sign letters on their behalf, atas nama
-- (a.n.), as pelaksana tugas (Plt.) or as pelaksana harian (Plh.), up to a classification and
-- between two days (WIB, inclusive). The grant is the head's CMS signature (with their PIN) over
-- `statement`, which travels in every letter signed under it so that any node can check it; the
-- row carries the node's MAC over every field. Revoked by the head at any time.
CREATE TABLE mandates (
    id TEXT PRIMARY KEY,
    agency TEXT NOT NULL,
    grantor TEXT NOT NULL,
    delegate TEXT NOT NULL,
    -- `an`, `plt` or `plh`.
    kind TEXT NOT NULL,
    max_classification TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    statement TEXT NOT NULL,
    signature BYTEA NOT NULL,
    granted_at TEXT NOT NULL,
    revoked_at TEXT,
    mac TEXT NOT NULL
);
CREATE INDEX mandates_grantor ON mandates (grantor, granted_at);
CREATE INDEX mandates_delegate ON mandates (delegate, grantor);
