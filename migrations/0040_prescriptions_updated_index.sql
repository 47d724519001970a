-- `GET /prescriptions?updatedSince=` pages in (updated_at, id) order, like every synced list.
CREATE INDEX prescriptions_updated ON prescriptions (organization_id, updated_at, id);
