-- A delivery id is looked up on the unique (source, delivery_id) index,
-- source by source (ListEventsByDeliveryID), instead of on an index of
-- its own: providers' delivery ids are random, so that index put one more
-- random leaf page into every webhook's commit, and served one console
-- filter only.
DROP INDEX IF EXISTS events_delivery_id;
