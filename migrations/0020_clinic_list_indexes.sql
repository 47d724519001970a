-- `updatedSince` listings of locations and providers page by (updated_at, id) within an organization.
CREATE INDEX locations_updated ON locations (organization_id, updated_at, id);
CREATE INDEX providers_updated ON providers (organization_id, updated_at, id);
