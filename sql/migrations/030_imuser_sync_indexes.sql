-- 030: IMUser indexes for the buddy plugin.
--
-- idx_updated_id (updated, id): the incremental user list reads rows after a (updated, id) cursor
-- in that order, a page at a time; without it every page sorts the whole table.
-- idx_departId (departId): the members of one department, for presence notifications scoped to
-- the department ([plugin.buddy] status_scope = department).
--
-- Idempotent and portable: each index is added only when information_schema does not list it yet.

SET @imgate_ddl := IF(
  (SELECT COUNT(*) FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'IMUser' AND INDEX_NAME = 'idx_updated_id') = 0,
  'ALTER TABLE `IMUser` ADD INDEX `idx_updated_id` (`updated`, `id`)',
  'DO 0');
PREPARE imgate_stmt FROM @imgate_ddl;
EXECUTE imgate_stmt;
DEALLOCATE PREPARE imgate_stmt;

SET @imgate_ddl := IF(
  (SELECT COUNT(*) FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'IMUser' AND INDEX_NAME = 'idx_departId') = 0,
  'ALTER TABLE `IMUser` ADD INDEX `idx_departId` (`departId`)',
  'DO 0');
PREPARE imgate_stmt FROM @imgate_ddl;
EXECUTE imgate_stmt;
DEALLOCATE PREPARE imgate_stmt;
