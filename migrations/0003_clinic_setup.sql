-- Locations, providers, where they work and when. Written only by `klinivo clinic import`/`demo`.
CREATE TABLE locations (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    import_key          text NOT NULL,
    name                text NOT NULL,
    timezone            text NOT NULL,
    phone               text,
    address_line1       text,
    address_line2       text,
    address_city        text,
    address_region      text,
    address_postal_code text,
    address_country     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    UNIQUE (organization_id, import_key)
);
CREATE TRIGGER locations_updated_at BEFORE UPDATE ON locations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE providers (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations (id),
    import_key       text NOT NULL,
    first_name       text NOT NULL,
    last_name        text NOT NULL,
    title            text,
    specialty        text,
    email            text,
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    UNIQUE (organization_id, import_key)
);
CREATE TRIGGER providers_updated_at BEFORE UPDATE ON providers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE provider_locations (
    organization_id  uuid NOT NULL,
    provider_id      bigint NOT NULL,
    location_id      bigint NOT NULL,
    PRIMARY KEY (provider_id, location_id),
    FOREIGN KEY (organization_id, provider_id) REFERENCES providers (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, location_id) REFERENCES locations (organization_id, id) ON DELETE CASCADE,
    UNIQUE (organization_id, provider_id, location_id)
);
CREATE INDEX provider_locations_location ON provider_locations (location_id);

-- Weekly working hours in the location's time zone; weekday 1 = Monday … 7 = Sunday.
CREATE TABLE working_hours (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid NOT NULL,
    provider_id      bigint NOT NULL,
    location_id      bigint NOT NULL,
    weekday          smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_time       time NOT NULL,
    end_time         time NOT NULL CHECK (end_time > start_time),
    FOREIGN KEY (organization_id, provider_id, location_id)
        REFERENCES provider_locations (organization_id, provider_id, location_id) ON DELETE CASCADE
);
CREATE INDEX working_hours_provider ON working_hours (provider_id, weekday);
