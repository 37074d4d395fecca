-- 001: indexes on IMTransmitFile for databases that created the table by hand.
--
-- The reference ttopen.sql never created IMTransmitFile, so existing TeamTalk deployments made
-- their own, usually without indexes. sql/schema.sql creates it with its indexes, but
-- CREATE TABLE IF NOT EXISTS leaves such an existing table untouched; this adds what imgate's
-- queries need (offline-file list by receiver, delete by task id).
--
-- Idempotent and portable (MySQL has no ADD INDEX IF NOT EXISTS): each index is added only when
-- information_schema does not list it yet.

SET @imgate_ddl := IF(
  (SELECT COUNT(*) FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'IMTransmitFile'
      AND INDEX_NAME = 'idx_toId_status_created') = 0,
  'ALTER TABLE `IMTransmitFile` ADD INDEX `idx_toId_status_created` (`toId`, `status`, `created`)',
  'DO 0');
PREPARE imgate_stmt FROM @imgate_ddl;
EXECUTE imgate_stmt;
DEALLOCATE PREPARE imgate_stmt;

SET @imgate_ddl := IF(
  (SELECT COUNT(*) FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'IMTransmitFile'
      AND INDEX_NAME = 'idx_taskId') = 0,
  'ALTER TABLE `IMTransmitFile` ADD INDEX `idx_taskId` (`taskId`)',
  'DO 0');
PREPARE imgate_stmt FROM @imgate_ddl;
EXECUTE imgate_stmt;
DEALLOCATE PREPARE imgate_stmt;
