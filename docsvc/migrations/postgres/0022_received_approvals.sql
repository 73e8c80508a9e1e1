-- The approval of a letter held by dual control, as the receiving node gets it: the
-- incremental update with the approver's PAdES signature (and the document time-stamp after
-- it) that the sending node appends to the letter's PDF. It travels beside the letter in the
-- envelope (SANDI-ENVELOPE-2); readers here get the letter's PDF with it appended, checked
-- on every read as the sender checks it. It holds the approver's signature and stamp, no
-- word of the letter.
CREATE TABLE received_approvals (
    document_id TEXT PRIMARY KEY REFERENCES documents(id),
    pdf_update BYTEA NOT NULL
);
