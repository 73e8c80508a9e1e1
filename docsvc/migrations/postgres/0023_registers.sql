-- The agencies' registers (tata naskah dinas): `keluar`, the numbers of outgoing letters, and
-- `agenda`, the incoming letters each receiving agency entered. Numbers run from 1 in each
-- agency, book and year with no gaps: a counter row per book and year, taken under its row
-- lock by each new entry. An outgoing number is reserved before the letter is rendered (the
-- number is printed on it) and becomes `used` in the letter's own transaction, or `void`
-- when the letter is not made; a void number stays in the register. A deleted entry shows as
-- a gap below the counter, and is refused as one.
CREATE TABLE register_counters (
    agency TEXT NOT NULL,
    book TEXT NOT NULL,
    year BIGINT NOT NULL,
    last BIGINT NOT NULL,
    PRIMARY KEY (agency, book, year)
);

CREATE TABLE register_entries (
    agency TEXT NOT NULL,
    book TEXT NOT NULL,
    year BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    number TEXT NOT NULL,
    state TEXT NOT NULL,
    document_id TEXT,
    nip TEXT NOT NULL,
    at TEXT NOT NULL,
    -- The node's MAC over every field above: a database writer cannot renumber, re-point or
    -- un-void an entry unnoticed.
    mac TEXT NOT NULL,
    PRIMARY KEY (agency, book, year, seq)
);

CREATE INDEX register_entries_document ON register_entries (document_id);

-- The register number a stored letter carries (keluar), at most one letter per number: a
-- register set back in the database cannot put its numbers on a second letter.
ALTER TABLE documents ADD COLUMN register_year BIGINT;
ALTER TABLE documents ADD COLUMN register_seq BIGINT;
CREATE UNIQUE INDEX documents_register_number ON documents (agency, register_year, register_seq);
