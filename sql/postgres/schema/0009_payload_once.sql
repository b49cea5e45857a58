-- A job routed from a webhook references its event's body instead of
-- holding a copy: the body is stored once however many endpoints it is
-- routed to, and claims and finishes rewrite small rows. payload is then
-- empty; payload_event_id names the event whose body is the payload (a
-- coalesced job names the newest event). NULL: payload holds it.
ALTER TABLE jobs ADD COLUMN payload_event_id TEXT REFERENCES events (id);
-- Pruning checks that no job still needs an event's body.
CREATE INDEX jobs_payload_event_id ON jobs (payload_event_id) WHERE payload_event_id IS NOT NULL;
