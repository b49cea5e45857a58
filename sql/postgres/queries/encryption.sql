-- Re-encryption (dispatchd encryption rotate), in pages by primary key.
-- Each replace writes a value only while it is still the one read, so an
-- edit committed meanwhile (a spec changed over the API, a re-declared
-- file) is never overwritten by the re-sealed old value.

-- name: ReplaceSourceSpec :execrows
UPDATE sources SET spec = @new_spec WHERE name = @name AND spec = @old_spec;

-- name: ReplaceEndpointSpec :execrows
UPDATE endpoints SET spec = @new_spec WHERE name = @name AND spec = @old_spec;

-- name: ListAttemptExcerpts :many
SELECT id, response_excerpt FROM attempts
WHERE id > @after_id AND response_excerpt <> ''
ORDER BY id LIMIT @page_size;

-- name: ReplaceAttemptExcerpt :execrows
UPDATE attempts SET response_excerpt = @new_value WHERE id = @id AND response_excerpt = @old_value;

-- name: ListRequestExcerpts :many
SELECT id, body_excerpt FROM requests
WHERE id > @after_id AND length(body_excerpt) > 0
ORDER BY id LIMIT @page_size;

-- name: ReplaceRequestExcerpt :execrows
UPDATE requests SET body_excerpt = @new_value WHERE id = @id AND body_excerpt = @old_value;

-- name: ListEventTypeExamples :many
-- The examples counted before the catalog was sharded.
SELECT name, example FROM event_types
WHERE name > @after_id AND example IS NOT NULL AND length(example) > 0
ORDER BY name LIMIT @page_size;

-- name: ReplaceEventTypeExample :execrows
UPDATE event_types SET example = @new_value WHERE name = @name AND example = @old_value;

-- name: ListEventTypeCountExamples :many
SELECT name, shard, example FROM event_type_counts ORDER BY name, shard;

-- name: ReplaceEventTypeCountExample :execrows
UPDATE event_type_counts SET example = @new_value WHERE name = @name AND shard = @shard AND example = @old_value;

-- name: ListEventBodies :many
SELECT id, body FROM events WHERE id > @after_id ORDER BY id LIMIT @page_size;

-- name: ReplaceEventBody :execrows
UPDATE events SET body = @new_value WHERE id = @id AND body = @old_value;

-- name: ListJobPayloads :many
SELECT id, payload FROM jobs
WHERE id > @after_id AND length(payload) > 0
ORDER BY id LIMIT @page_size;

-- name: ReplaceJobPayload :execrows
UPDATE jobs SET payload = @new_value WHERE id = @id AND payload = @old_value;
