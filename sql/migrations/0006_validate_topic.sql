-- outbox-relay schema, version 6: validates the topic check that version 5 re-created NOT VALID. In a
-- transaction of its own, VALIDATE CONSTRAINT holds only a SHARE UPDATE EXCLUSIVE lock while it reads the
-- table: inserts, claims and outcomes go on meanwhile.
ALTER TABLE outbox.messages VALIDATE CONSTRAINT topic_is_one_line;

INSERT INTO outbox.schema_migrations (version, name) VALUES (6, '0006_validate_topic.sql');
