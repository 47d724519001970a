-- `q` is matched against a patient's name, email and phone folded by the application
-- (src/api/patients/search_text.rs): compatibility-decomposed, combining marks dropped,
-- lower-cased, the same whatever the database's locale. The generated `lower(...)` depended on
-- the database's LC_CTYPE (in a C-locale database it leaves `É` as it is) and kept accents, so
-- neither `garcia` nor `GARCÍA` found García. The term is folded by the same function.
--
-- `search_text` becomes a plain column the application writes with every insert and update
-- (same values, same indexes: no rewrite). `search_stale` marks a row whose text the
-- application has not folded from its current name, email and phone: every row written
-- before this migration, and rows written by anything that does not fold (psql, a server of
-- an earlier version during an upgrade), for which the triggers below keep the text as it was
-- made before (lower-cased on insert; unchanged on update). A migration cannot run the Rust
-- folding, and SQL cannot reproduce it in every locale, so the application re-folds stale
-- rows: `klinivo migrate` before it returns, every `klinivo serve` at start and then every
-- minute (the partial index finds them; it is empty once they are done).
ALTER TABLE patients ALTER COLUMN search_text DROP EXPRESSION;
ALTER TABLE patients ALTER COLUMN search_text SET NOT NULL;
ALTER TABLE patients ADD COLUMN search_stale boolean NOT NULL DEFAULT true;
CREATE INDEX patients_search_stale ON patients (id) WHERE search_stale;

CREATE FUNCTION patients_search_text_unfolded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.search_text IS NULL THEN
        NEW.search_text := lower(NEW.first_name || ' ' || NEW.last_name || ' ' || coalesce(NEW.email, '') || ' '
                                 || coalesce(NEW.phone, ''));
    END IF;
    NEW.search_stale := true;
    RETURN NEW;
END $$;

-- The application always writes `search_text`, so these fire only for other writers (or for
-- an update whose new name folds to the old text, where re-folding changes nothing).
CREATE TRIGGER patients_search_text_missing BEFORE INSERT ON patients
    FOR EACH ROW WHEN (NEW.search_text IS NULL)
    EXECUTE FUNCTION patients_search_text_unfolded();
CREATE TRIGGER patients_search_text_outdated BEFORE UPDATE ON patients
    FOR EACH ROW
    WHEN ((NEW.first_name, NEW.last_name, NEW.email, NEW.phone) IS DISTINCT FROM
          (OLD.first_name, OLD.last_name, OLD.email, OLD.phone)
          AND NEW.search_text IS NOT DISTINCT FROM OLD.search_text)
    EXECUTE FUNCTION patients_search_text_unfolded();

-- Re-folding is not a change to the patient: it runs with `klinivo.refolding_search` on, and
-- leaves `updated_at` (and so `updatedSince` syncs) alone.
DROP TRIGGER patients_updated_at ON patients;
CREATE TRIGGER patients_updated_at BEFORE UPDATE ON patients
    FOR EACH ROW WHEN (current_setting('klinivo.refolding_search', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION set_updated_at();
