-- The W3C traceparent of the span that created the job (the webhook's
-- ingestion, or the API call), so that its deliveries — possibly hours
-- later, by another process — join the same trace.
ALTER TABLE jobs ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
