-- Letters' content in the content store (one append-only file per letter in the data
-- directory, named by a fresh UUID of its own, never by anything a sender chose): per part, its
-- age header, kept here so that rewrap and destroy touch only the database, the file and where
-- its payload sits in it. Written in the letter's own transaction, once the file is durable; a
-- file named by no row here and no upload is swept.
CREATE TABLE content_files (
    document_id TEXT NOT NULL,
    part BIGINT NOT NULL,
    file TEXT NOT NULL,
    head BYTEA NOT NULL,
    payload_offset BIGINT NOT NULL,
    payload_len BIGINT NOT NULL,
    PRIMARY KEY (document_id, part)
);

CREATE INDEX content_files_by_file ON content_files(file);
