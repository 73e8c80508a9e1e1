-- Threads: the letter a reply answers or a forward passes on, from the signed manifest
-- (`refers`), kept beside the letter so that the letter answered can find its answers.
ALTER TABLE documents ADD COLUMN refers_to TEXT;
CREATE INDEX documents_refers_to ON documents (refers_to);
