-- outbox-relay schema, version 4: validates the headers check that version 3 re-created NOT VALID. In a
-- transaction of its own, VALIDATE CONSTRAINT holds only a SHARE UPDATE EXCLUSIVE lock while it reads the
-- table: inserts, claims and outcomes go on meanwhile.
ALTER TABLE outbox.messages VALIDATE CONSTRAINT headers_are_valid;

INSERT INTO outbox.schema_migrations (version, name) VALUES (4, '0004_validate_headers.sql');
