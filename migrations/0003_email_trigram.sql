-- `emails.value co/ew "…"` (RFC 7644 §3.4.2.2) is a LIKE '%…%' that no B-tree index can serve: on
-- 100,000 users it read every user_emails row. A trigram index narrows it to the rows that contain
-- every 3-character piece of the needle; the compiler (src/scim/filter/compile.ts) still re-checks
-- with LIKE. FTS5 with tokenize='trigram' needs SQLite ≥ 3.34; D1 ships FTS5 and the trigram tokenizer.
--
-- External content (content='user_emails'): the index stores only trigrams → rowid, the text stays
-- in user_emails. user_emails has a composite PRIMARY KEY and no WITHOUT ROWID, so it is a rowid
-- table and its rowid is the key; the triggers below keep the index in step (the FTS5 external-content
-- pattern, https://sqlite.org/fts5.html#external_content_tables). Such a rowid is not an INTEGER
-- PRIMARY KEY alias, so anything that renumbers user_emails rows without firing these triggers
-- (an export/import of the database: D1 exports cannot include virtual tables) must be followed by
-- INSERT INTO user_emails_trigram(user_emails_trigram) VALUES('rebuild').
CREATE VIRTUAL TABLE `user_emails_trigram` USING fts5(value_lower, content='user_emails', content_rowid='rowid', tokenize='trigram');
--> statement-breakpoint
CREATE TRIGGER `user_emails_trigram_insert` AFTER INSERT ON `user_emails` BEGIN
  INSERT INTO user_emails_trigram (rowid, value_lower) VALUES (NEW.rowid, NEW.value_lower);
END;
--> statement-breakpoint
-- Also fires for the ON DELETE CASCADE from users (foreign-key actions run as deletes on the child table).
CREATE TRIGGER `user_emails_trigram_delete` AFTER DELETE ON `user_emails` BEGIN
  INSERT INTO user_emails_trigram (user_emails_trigram, rowid, value_lower) VALUES ('delete', OLD.rowid, OLD.value_lower);
END;
--> statement-breakpoint
CREATE TRIGGER `user_emails_trigram_update` AFTER UPDATE ON `user_emails` BEGIN
  INSERT INTO user_emails_trigram (user_emails_trigram, rowid, value_lower) VALUES ('delete', OLD.rowid, OLD.value_lower);
  INSERT INTO user_emails_trigram (rowid, value_lower) VALUES (NEW.rowid, NEW.value_lower);
END;
--> statement-breakpoint
-- Backfill the rows written before this migration.
INSERT INTO user_emails_trigram (rowid, value_lower) SELECT rowid, value_lower FROM user_emails;
