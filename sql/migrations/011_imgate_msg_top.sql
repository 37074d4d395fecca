-- 011: each conversation's largest stored message id, for the message plugin.
--
-- Message ids come from Redis counters (msg_id_<relateId>, group_msg_id_<gid>). Whoever stores a
-- conversation's messages first takes this row's lock (a primary-key lookup: a lock on that row
-- only), then writes its messages above `top` and raises it, all in one transaction. Two writers of
-- one conversation, on any node, are thus serialised, and an id Redis hands out twice (a counter
-- flushed and re-seeded while another node still held ids, a replica promoted behind its primary)
-- is seen and never stored twice, without locking anything another conversation needs. Rows are
-- created on a conversation's first use (from the largest msgId then stored).
CREATE TABLE IF NOT EXISTS `imgate_msg_top` (
  `kind` tinyint(3) unsigned NOT NULL COMMENT '1 user pair (IMRelationShip.id), 2 group (IMGroup.id)',
  `id` int(11) unsigned NOT NULL COMMENT 'relation or group id',
  `top` int(11) unsigned NOT NULL DEFAULT 0 COMMENT 'largest msgId stored',
  PRIMARY KEY (`kind`, `id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
