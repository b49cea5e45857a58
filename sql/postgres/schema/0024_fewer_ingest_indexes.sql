-- Indexes that every webhook's commit wrote and no query reads:
-- - events_source_received_at: lists by source read events_source_id,
--   retention reads events_received_at.
-- - requests_received_at: PruneRequests compares received_at with a cutoff
--   that depends on the row (accepted or not), which no index serves; it
--   reads the table in id order, which is time order.
-- requests_bucket_id serves TrimRequests only, which caps refused and
-- duplicate rows per bucket: accepted rows (nearly all of them) leave it.
-- accepted stays a column so that the trim's count of the newest rows
-- reads the index alone (SQLite does not take it from the predicate; both
-- engines keep one shape).
DROP INDEX events_source_received_at;
DROP INDEX requests_received_at;
DROP INDEX requests_bucket_id;
CREATE INDEX requests_bucket_id ON requests (bucket, id, accepted) WHERE NOT accepted;
