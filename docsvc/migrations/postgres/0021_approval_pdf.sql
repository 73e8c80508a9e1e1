-- The approval of a letter rendered as PDF also signs the PDF: the incremental update that
-- fills the letter's "Persetujuan" field with the approver's PAdES signature. The letter's
-- own bytes (part 0, encrypted, bound by the manifest) are not touched; readers get them with
-- this update appended, checked on every read. It holds the approver's signature and stamp,
-- no word of the letter.
ALTER TABLE approvals ADD COLUMN pdf_update BYTEA;
