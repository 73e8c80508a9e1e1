-- Mailbox lists read newest first from this index alone: the table's rows carry the signed
-- manifest and signature, and reading past them for the date and state costs overflow pages.
CREATE INDEX documents_by_time ON documents (created_at, id, state, classification, urgency, originator, agency, nomor, perihal);
