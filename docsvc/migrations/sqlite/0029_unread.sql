-- What waits for an official on every page, counted without reading the mailbox: counting
-- unread letters through addressees, documents and reads cost some 60 ms a page at 10,000
-- letters (a row's state sits past its signed manifest and signature, in overflow pages).
-- `unread` holds each (official, letter) addressed and not yet opened, kept as letters are
-- addressed, opened and destroyed; and the approvals count reads documents_awaiting alone.
CREATE TABLE unread (
    nip TEXT NOT NULL,
    document_id TEXT NOT NULL,
    PRIMARY KEY (nip, document_id)
);
INSERT INTO unread (nip, document_id)
SELECT DISTINCT a.nip, a.document_id FROM addressees a JOIN documents d ON d.id = a.document_id
WHERE a.role IN ('recipient', 'copy') AND d.state <> 'destroyed'
AND NOT EXISTS (SELECT 1 FROM reads r WHERE r.nip = a.nip AND r.document_id = a.document_id);
CREATE INDEX documents_awaiting ON documents (state, agency, classification, originator);
