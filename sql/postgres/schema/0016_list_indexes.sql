-- The console's list views page newest first by id within one filter.
-- Each filter shape that matters has an index whose order is its keyset
-- order (filter columns, then id), so a page is one range read of the
-- index however rare the rows are (state=dead among a million) and a time
-- range narrows the id range (ids start with their creation time). The
-- store core chooses the query (store.jobQuery and its siblings); filters
-- without an index of their own are checked on the rows that index yields.
-- A state with an endpoint or a source has no index of its own: every
-- index on jobs is written at each insert and each state change, and two
-- more cost SQLite ingest close to a third of its rate (make bench); the core reads
-- a rare state on jobs_state_id and a common one on the endpoint's or
-- the source's index instead.
CREATE INDEX jobs_state_id ON jobs (state, id);
CREATE INDEX jobs_endpoint_id ON jobs (endpoint, id);
-- A time window on its own is read on the time's index and sorted by id:
-- its cost grows with the window, not with the table; with the id in the
-- index only the page's rows are read from the table.
CREATE INDEX jobs_created_at ON jobs (created_at, id);
CREATE INDEX events_source_id ON events (source, id);
CREATE INDEX events_received_at ON events (received_at, id);
CREATE INDEX events_delivery_id ON events (delivery_id) WHERE delivery_id IS NOT NULL;
